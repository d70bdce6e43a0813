//! A loop's inbox: jobs pushed from other threads, and the wake-up protocol that wakes the
//! loop only when it announced it is going to sleep.
//!
//! The protocol (no lost wake, no kernel call per message) lives in one atomic word with two
//! bits, `HAS_JOBS` and `SLEEPING`, changed only by read-modify-writes, so every change is
//! ordered against every other. A producer pushes under the lock and swaps the word to
//! `HAS_JOBS` (setting it and clearing `SLEEPING` in one step); if it saw `SLEEPING`, it wakes
//! the loop (one producer per sleep). The loop, before a park that may block, sets `SLEEPING`
//! and blocks only if `HAS_JOBS` was clear: whichever of the two RMWs came first, the other
//! sees its bit, so either the loop finds the job before it sleeps or the producer finds the
//! loop asleep. A
//! loop that is awake costs a producer no system call at all. (An earlier version used two
//! flags with `SeqCst` stores and loads, Dekker-style: correct, but not something loom can
//! check, since it treats `SeqCst` accesses as `AcqRel`, loom issue 180; one word of RMWs is
//! both simpler to reason about and checkable.)
//!
//! A single-loop runtime, whose only producers are blocking-pool threads and foreign wakers,
//! does not announce (that costs ~20 instructions per blocking park, on every operation's
//! path): its `sleeping` is set again by each drain instead, so the first producer after a
//! drain wakes the loop (one kernel call per drain, at most) and the others see it is done.
//!
//! Generic over the job so that a loom model (`RUSTFLAGS="--cfg loom"`, the test at the end)
//! can check the protocol itself: under `cfg(loom)` the atomics and the mutex are loom's.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
use std::sync::Mutex;

/// Jobs were pushed since the loop last drained (set under the lock).
const HAS_JOBS: u8 = 1;
/// The loop announced that its next park may block.
const SLEEPING: u8 = 2;

pub(crate) struct Inbox<T> {
    remote: Mutex<Remote<T>>,
    /// `HAS_JOBS | SLEEPING`, changed by read-modify-writes only (see the module doc). The
    /// loop reads it plainly on every turn to skip the lock when no other thread pushed.
    state: AtomicU8,
    /// Whether the loop announces its sleeps (a multi-loop runtime) or is woken once per
    /// drain (a single-loop one).
    announces: bool,
}

struct Remote<T> {
    jobs: Vec<T>,
    /// The loop has shut down: a job pushed now is refused.
    closed: bool,
}

impl<T> Inbox<T> {
    pub fn new(announces: bool) -> Inbox<T> {
        Inbox {
            remote: Mutex::new(Remote {
                jobs: Vec::new(),
                closed: false,
            }),
            state: AtomicU8::new(if announces { 0 } else { SLEEPING }),
            announces,
        }
    }

    /// Whether the loop announces its sleeps (else it is woken once per drain).
    #[inline]
    pub fn announces(&self) -> bool {
        self.announces
    }

    /// Pushes `job` (`None`: only a wake-up). `Ok(true)`: the loop announced sleep and this
    /// producer is the one that must wake it. `Err` with the job once the loop has shut down.
    pub fn push(&self, job: Option<T>) -> Result<bool, Option<T>> {
        let mut remote = lock(&self.remote);
        if remote.closed {
            return Err(job);
        }
        remote.jobs.extend(job);
        // Sets HAS_JOBS and clears SLEEPING in one step (the word has no other bit): of the
        // producers since the loop announced (or drained), only the first sees SLEEPING.
        let seen = self.state.swap(HAS_JOBS, Ordering::AcqRel);
        Ok(seen & SLEEPING != 0)
    }

    /// Called by the loop before a park that may block: announces the sleep, and says whether
    /// it may still block (`false` when a job arrived meanwhile).
    #[inline]
    pub fn announce_sleep(&self) -> bool {
        self.state.fetch_or(SLEEPING, Ordering::AcqRel) & HAS_JOBS == 0
    }

    /// Called by the loop after the park: awake again, producers need not wake it.
    #[inline]
    pub fn awake(&self) {
        self.state.fetch_and(!SLEEPING, Ordering::Relaxed);
    }

    /// Moves the jobs pushed since the last drain into `into` (the lock only when there are).
    #[inline]
    pub fn drain(&self, into: &mut impl Extend<T>) {
        if self.state.load(Ordering::Acquire) & HAS_JOBS != 0 {
            self.drain_slow(into);
        }
    }

    #[cold]
    fn drain_slow(&self, into: &mut impl Extend<T>) {
        let mut remote = lock(&self.remote);
        if self.announces {
            self.state.fetch_and(!HAS_JOBS, Ordering::AcqRel);
        } else {
            // Under the lock, as the producers' swap: the first producer after this drain
            // finds `SLEEPING` and wakes the loop (once per drain).
            self.state.swap(SLEEPING, Ordering::AcqRel);
        }
        into.extend(remote.jobs.drain(..));
    }

    /// Refuses every later push and hands back what is queued.
    pub fn close(&self) -> Vec<T> {
        let mut remote = lock(&self.remote);
        remote.closed = true;
        std::mem::take(&mut remote.jobs)
    }
}

#[cfg(not(loom))]
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(loom)]
fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap()
}

/// The protocol under loom: every interleaving of a loop that drains, announces and parks
/// with producers that push and wake. A lost wake-up leaves the loop parked forever with a
/// job queued, which loom reports as a deadlock; a job run twice or never fails the counts.
#[cfg(all(test, loom))]
mod loom_model {
    use super::Inbox;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;

    /// The unparker: a token that a wake sets and a park waits for and takes, as the
    /// runtime's eventfd (a write before the read is kept, not lost).
    #[derive(Default)]
    struct Token {
        set: Mutex<bool>,
        cv: Condvar,
    }

    impl Token {
        fn unpark(&self) {
            *self.set.lock().unwrap() = true;
            self.cv.notify_one();
        }

        fn park(&self) {
            let mut set = self.set.lock().unwrap();
            while !*set {
                set = self.cv.wait(set).unwrap();
            }
            *set = false;
        }
    }

    /// The loop: drain, run, announce, park if it still may; until `expected` jobs ran.
    fn run_loop(inbox: &Inbox<usize>, token: &Token, expected: usize, ran: &AtomicUsize) {
        let mut done = 0;
        while done < expected {
            let mut jobs = Vec::new();
            inbox.drain(&mut jobs);
            done += jobs.len();
            ran.fetch_add(jobs.len(), Ordering::SeqCst);
            if done == expected {
                break;
            }
            if inbox.announces {
                if inbox.announce_sleep() {
                    token.park();
                }
                inbox.awake();
            } else {
                // A single-loop runtime parks without announcing (see the module doc).
                token.park();
            }
        }
    }

    fn model(producers: usize, jobs_each: usize, announces: bool) {
        loom::model(move || {
            let inbox = Arc::new(Inbox::new(announces));
            let token = Arc::new(Token::default());
            let ran = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..producers)
                .map(|p| {
                    let (inbox, token) = (inbox.clone(), token.clone());
                    thread::spawn(move || {
                        for j in 0..jobs_each {
                            if inbox.push(Some(p * 10 + j)).expect("open") {
                                token.unpark();
                            }
                        }
                    })
                })
                .collect();
            run_loop(&inbox, &token, producers * jobs_each, &ran);
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(ran.load(Ordering::SeqCst), producers * jobs_each);
            assert!(inbox.close().is_empty(), "a job was left in the inbox");
        });
    }

    #[test]
    fn one_producer_one_job_announcing() {
        model(1, 1, true);
    }

    #[test]
    fn one_producer_two_jobs_announcing() {
        model(1, 2, true);
    }

    #[test]
    fn two_producers_announcing() {
        model(2, 1, true);
    }

    #[test]
    fn one_producer_two_jobs_single_loop_mode() {
        model(1, 2, false);
    }

    #[test]
    fn two_producers_single_loop_mode() {
        model(2, 1, false);
    }
}
