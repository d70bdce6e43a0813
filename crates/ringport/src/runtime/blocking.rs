//! The blocking pool: a bounded set of threads, separate from the loop, for work that has no
//! asynchronous form. Idle threads exit after a while; the most recently idle thread is woken
//! first (LIFO), so a light load keeps few threads warm.

use async_task::Runnable;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A handle to the pool; clones share it.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    max_threads: usize,
    keep_alive: Duration,
    /// Jobs handed to the pool since it started (`Runtime::blocking_jobs`).
    jobs: AtomicU64,
}

struct State {
    queue: VecDeque<Runnable>,
    /// Idle threads, most recently idle last.
    idle: Vec<Arc<Handoff>>,
    threads: usize,
    shutdown: bool,
}

/// Where a job is handed to one idle thread.
#[derive(Default)]
struct Handoff {
    job: Mutex<Option<Runnable>>,
    cv: Condvar,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock().unwrap();
        f.debug_struct("Pool")
            .field("threads", &state.threads)
            .field("idle", &state.idle.len())
            .field("queued", &state.queue.len())
            .finish()
    }
}

impl Pool {
    pub fn new(max_threads: usize, keep_alive: Duration) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    idle: Vec::new(),
                    threads: 0,
                    shutdown: false,
                }),
                max_threads: max_threads.max(1),
                keep_alive,
                jobs: AtomicU64::new(0),
            }),
        }
    }

    /// Counts one `spawn_blocking` job.
    pub fn count_job(&self) {
        self.inner.jobs.fetch_add(1, Ordering::Relaxed);
    }

    /// The jobs counted so far.
    pub fn jobs(&self) -> u64 {
        self.inner.jobs.load(Ordering::Relaxed)
    }

    /// Runs `job` on a pool thread: an idle one (the newest), a new one, or the next free.
    pub fn execute(&self, job: Runnable) {
        let mut state = self.inner.state.lock().unwrap();
        if state.shutdown {
            // Dropping the runnable cancels the task; its JoinHandle reports it.
            drop(state);
            drop(job);
            return;
        }
        if let Some(handoff) = state.idle.pop() {
            drop(state);
            *handoff.job.lock().unwrap() = Some(job);
            handoff.cv.notify_one();
        } else if state.threads < self.inner.max_threads {
            state.threads += 1;
            drop(state);
            let inner = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name("ringport-blocking".into())
                .spawn(move || inner.work(job));
            if let Err(e) = spawned {
                // The job went down with the closure; the thread count must not leak.
                self.inner.state.lock().unwrap().threads -= 1;
                tracing::error!("could not start a blocking-pool thread: {e}");
            }
        } else {
            state.queue.push_back(job);
        }
    }

    /// Lets idle threads exit and refuses new work; running jobs finish on their own.
    pub fn shutdown(&self) {
        let mut state = self.inner.state.lock().unwrap();
        state.shutdown = true;
        state.queue.clear();
        for handoff in state.idle.drain(..) {
            handoff.cv.notify_one();
        }
    }
}

impl Inner {
    fn work(self: Arc<Self>, first: Runnable) {
        let handoff = Arc::new(Handoff::default());
        let mut job = Some(first);
        while let Some(runnable) = job.take() {
            runnable.run();
            job = self.next_job(&handoff);
        }
    }

    /// The next job: queued work first, else wait idle for a handoff until `keep_alive`.
    fn next_job(&self, handoff: &Arc<Handoff>) -> Option<Runnable> {
        let mut state = self.state.lock().unwrap();
        if let Some(job) = state.queue.pop_front() {
            return Some(job);
        }
        if state.shutdown {
            state.threads -= 1;
            return None;
        }
        state.idle.push(handoff.clone());
        drop(state);

        let slot = handoff.job.lock().unwrap();
        let (mut slot, _) = handoff
            .cv
            .wait_timeout_while(slot, self.keep_alive, |job| {
                job.is_none() && !self.is_shutdown()
            })
            .unwrap();
        if let Some(job) = slot.take() {
            return Some(job);
        }
        drop(slot);
        // Timed out (or shut down): leave the idle list, unless a job was handed over meanwhile.
        let mut state = self.state.lock().unwrap();
        if let Some(pos) = state.idle.iter().position(|h| Arc::ptr_eq(h, handoff)) {
            state.idle.remove(pos);
            state.threads -= 1;
            return None;
        }
        drop(state);
        // Popped from the idle list: a job is about to be handed over, or the pool shut down.
        let slot = handoff.job.lock().unwrap();
        let mut slot = handoff
            .cv
            .wait_while(slot, |job| job.is_none() && !self.is_shutdown())
            .unwrap();
        let job = slot.take();
        if job.is_none() {
            self.state.lock().unwrap().threads -= 1;
        }
        job
    }

    fn is_shutdown(&self) -> bool {
        self.state.lock().map(|s| s.shutdown).unwrap_or(true)
    }
}
