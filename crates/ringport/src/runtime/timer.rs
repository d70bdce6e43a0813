//! The timer queue: a heap of near deadlines and an unsorted set of far ones over one slab of
//! entries, fired once per loop turn.
//!
//! libuv's semantics: timers with equal deadlines fire in the order they were started (a
//! sequence number breaks ties); a timer never fires before its deadline; firing happens once
//! per turn, before the wait, so a 0 ms timer re-armed by the task it woke fires next turn.
//!
//! Most long timers never fire: they are timeouts (a request's read, a keep-alive wait) that
//! end when what they guard completes. A timer due more than [`FAR`] after the loop's clock
//! therefore goes into the far set, where starting and stopping it is a push and a swap-remove
//! (no heap traffic, no stale heap entries to pop later). Far timers move into the heap in
//! batches, well before they are due: a migration at time `M` moves those due by `M + FAR`,
//! and the next one comes no sooner than `M + FAR / 2` and no later than `FAR` before the
//! earliest far deadline. Every far timer is due after `M + FAR` (it was due more than `FAR`
//! after a clock reading no earlier than `M`), so none can be due before it reaches the heap,
//! and from there the heap orders it exactly. The loop wakes for a migration only when one is
//! due, which for an idle server with minutes-long timeouts is once every few minutes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::task::Waker;
use std::time::{Duration, Instant};

/// A point in time as nanoseconds of `CLOCK_MONOTONIC`, the clock `Instant` reads on Linux:
/// comparing and adding these is one instruction, where `Instant` arithmetic normalises a
/// (seconds, nanoseconds) pair every time. `u64::MAX` is "never".
pub(crate) type Nanos = u64;

/// Now, from `CLOCK_MONOTONIC` (the vDSO: no system call).
#[cfg(unix)]
#[inline]
pub(crate) fn now() -> Nanos {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Now, as nanoseconds since the first reading in this process (Windows has no
/// `clock_gettime`; `Instant` reads `QueryPerformanceCounter` there).
#[cfg(not(unix))]
#[inline]
pub(crate) fn now() -> Nanos {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    // Plus one, so that no reading is 0 (an `Instant` before the first reading maps to 0).
    (base.elapsed().as_nanos().min(u128::from(u64::MAX - 1)) as u64) + 1
}

/// One `Instant` and the clock around it: it was taken at or after `.1` and at or before `.2`.
fn anchor() -> &'static (Instant, Nanos, Nanos) {
    static ANCHOR: OnceLock<(Instant, Nanos, Nanos)> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let before = now();
        let instant = Instant::now();
        (instant, before, now())
    })
}

/// An `Instant` as `Nanos`, never earlier than it really is (so a timer set for it never fires
/// before it): measured from the reading taken just after the anchor.
pub(crate) fn from_instant(t: Instant) -> Nanos {
    let &(instant, _, after) = anchor();
    match t.checked_duration_since(instant) {
        Some(d) => after.saturating_add(d.as_nanos().min(u128::from(u64::MAX)) as u64),
        None => after.saturating_sub(instant.duration_since(t).as_nanos() as u64),
    }
}

/// `Nanos` as an `Instant` (about thirty years out for "never").
pub(crate) fn to_instant(t: Nanos) -> Instant {
    let &(instant, _, after) = anchor();
    let converted = if t >= after {
        instant.checked_add(Duration::from_nanos(t - after))
    } else {
        instant.checked_sub(Duration::from_nanos(after - t))
    };
    converted.unwrap_or_else(|| {
        instant
            .checked_add(Duration::from_secs(86_400 * 365 * 30))
            .unwrap_or(instant)
    })
}

/// How far ahead of the loop's clock a timer must be due to go into the far set (1 s).
const FAR: Nanos = 1_000_000_000;

/// `Entry::far` of a timer in the heap.
const IN_HEAP: u32 = u32::MAX;

struct Entry {
    deadline: Nanos,
    seq: u64,
    waker: Option<Waker>,
    fired: bool,
    /// Its index in `far`, or `IN_HEAP`.
    far: u32,
}

/// The entries, reused through a free list (a slab kept small and inlined: starting and
/// stopping a timer is on every guarded request's path).
#[derive(Default)]
struct Entries {
    slots: Vec<Option<Entry>>,
    /// Free slot indices.
    free: Vec<usize>,
}

impl Entries {
    #[inline]
    fn insert(&mut self, e: Entry) -> usize {
        match self.free.pop() {
            Some(k) => {
                self.slots[k] = Some(e);
                k
            }
            None => {
                self.slots.push(Some(e));
                self.slots.len() - 1
            }
        }
    }

    #[inline]
    fn get(&self, k: usize) -> Option<&Entry> {
        self.slots.get(k)?.as_ref()
    }

    #[inline]
    fn try_remove(&mut self, k: usize) -> Option<Entry> {
        let e = self.slots.get_mut(k)?.take()?;
        self.free.push(k);
        Some(e)
    }
}

impl std::ops::Index<usize> for Entries {
    type Output = Entry;
    #[inline]
    fn index(&self, k: usize) -> &Entry {
        self.slots[k]
            .as_ref()
            .expect("a timer the queue does not know")
    }
}

impl std::ops::IndexMut<usize> for Entries {
    #[inline]
    fn index_mut(&mut self, k: usize) -> &mut Entry {
        self.slots[k]
            .as_mut()
            .expect("a timer the queue does not know")
    }
}

#[derive(Default)]
pub(crate) struct Timers {
    entries: Entries,
    heap: BinaryHeap<Reverse<(Nanos, u64, usize)>>,
    /// Keys of timers due more than `FAR` after the clock when they started.
    far: Vec<usize>,
    /// No far deadline is earlier than this (it may be earlier than the earliest live one:
    /// removals do not raise it).
    far_min: Option<Nanos>,
    /// When far timers were last moved into the heap (or the far set last became non-empty).
    migrated: Option<Nanos>,
    /// The loop's clock: the `now` of the latest `fire`.
    clock: Option<Nanos>,
    next_seq: u64,
    /// Heap items whose entry was removed before firing.
    stale: usize,
    /// Wakers of fired timers, handed out to be woken after the borrow ends.
    fired: Vec<Waker>,
}

impl Timers {
    /// Whether no timer is armed (cancelled ones still in the heap count until popped).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.far.is_empty()
    }

    /// Starts a timer; it fires at the first turn that begins at or after `deadline`.
    pub fn insert(&mut self, deadline: Nanos, waker: &Waker) -> usize {
        let seq = self.next_seq;
        self.next_seq += 1;
        let far = self.clock.is_some_and(|c| deadline > c.saturating_add(FAR));
        let key = self.entries.insert(Entry {
            deadline,
            seq,
            waker: Some(waker.clone()),
            fired: false,
            far: if far { self.far.len() as u32 } else { IN_HEAP },
        });
        if far {
            if self.far.is_empty() {
                self.migrated = self.clock;
            }
            self.far.push(key);
            self.far_min = Some(self.far_min.map_or(deadline, |m| m.min(deadline)));
        } else {
            self.heap.push(Reverse((deadline, seq, key)));
        }
        key
    }

    /// `true` once the timer fired; otherwise keeps the newest waker.
    #[inline]
    pub fn poll(&mut self, key: usize, waker: &Waker) -> bool {
        let entry = &mut self.entries[key];
        if entry.fired {
            return true;
        }
        match &mut entry.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        false
    }

    /// Stops a timer (or forgets a fired one).
    pub fn remove(&mut self, key: usize) {
        let Some(entry) = self.entries.try_remove(key) else {
            return;
        };
        if entry.far != IN_HEAP {
            self.far_remove(entry.far as usize);
        } else if !entry.fired {
            self.stale += 1;
            self.compact();
        }
    }

    /// Takes position `i` out of the far set.
    fn far_remove(&mut self, i: usize) {
        self.far.swap_remove(i);
        if let Some(&moved) = self.far.get(i) {
            self.entries[moved].far = i as u32;
        }
        if self.far.is_empty() {
            self.far_min = None;
        }
    }

    /// Rebuilds the heap when cancelled timers make up most of it (timeouts that never fire).
    fn compact(&mut self) {
        if self.stale < 1024 || self.stale * 2 < self.heap.len() {
            return;
        }
        let entries = &self.entries;
        self.heap.retain(|Reverse((_, seq, key))| {
            entries
                .get(*key)
                .is_some_and(|e| e.seq == *seq && e.far == IN_HEAP)
        });
        self.stale = 0;
    }

    fn is_live(&self, seq: u64, key: usize) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| e.seq == seq && !e.fired)
    }

    /// When the next migration is due: no sooner than `FAR / 2` after the last one, no later
    /// than `FAR` before the earliest far deadline.
    fn next_migration(&self) -> Option<Nanos> {
        let far_min = self.far_min?;
        let latest = far_min.saturating_sub(FAR);
        Some(match self.migrated {
            Some(m) => m.saturating_add(FAR / 2).max(latest),
            None => latest,
        })
    }

    /// Moves the far timers due by `now + FAR` into the heap.
    fn migrate(&mut self, now: Nanos) {
        let horizon = now.saturating_add(FAR);
        let mut i = 0;
        let mut far_min = None::<Nanos>;
        while i < self.far.len() {
            let key = self.far[i];
            let e = &self.entries[key];
            if e.deadline <= horizon {
                self.heap.push(Reverse((e.deadline, e.seq, key)));
                self.entries[key].far = IN_HEAP;
                self.far_remove(i);
            } else {
                far_min = Some(far_min.map_or(e.deadline, |m| m.min(e.deadline)));
                i += 1;
            }
        }
        self.far_min = far_min;
        self.migrated = Some(now);
    }

    /// Fires every timer due at `now`, in deadline then start order; returns their wakers.
    pub fn fire(&mut self, now: Nanos) -> Vec<Waker> {
        self.clock = Some(now);
        if self.next_migration().is_some_and(|m| now >= m) {
            self.migrate(now);
        }
        let mut fired = std::mem::take(&mut self.fired);
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if !self.is_live(seq, key) {
                self.stale = self.stale.saturating_sub(1);
                continue;
            }
            let entry = &mut self.entries[key];
            entry.fired = true;
            if let Some(w) = entry.waker.take() {
                fired.push(w);
            }
        }
        fired
    }

    /// Gives back the (emptied) list from `fire` so its capacity is reused.
    pub fn recycle(&mut self, fired: Vec<Waker>) {
        debug_assert!(fired.is_empty());
        self.fired = fired;
    }

    /// When the loop must next fire timers: the earliest live heap deadline, or the next
    /// migration of far timers if that comes first.
    pub fn next_deadline(&mut self) -> Option<Nanos> {
        let mut near = None;
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if self.is_live(seq, key) {
                near = Some(deadline);
                break;
            }
            self.heap.pop();
            self.stale = self.stale.saturating_sub(1);
        }
        match (near, self.next_migration()) {
            (Some(n), Some(m)) => Some(n.min(m)),
            (n, m) => n.or(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire_at(t: &mut Timers, now: Nanos) -> usize {
        let fired = t.fire(now);
        let n = fired.len();
        drop(fired);
        t.recycle(Vec::new());
        n
    }

    #[test]
    fn far_timers_skip_the_heap_until_they_are_near() {
        let mut t = Timers::default();
        let w = Waker::noop();
        let t0 = super::now();
        assert_eq!(fire_at(&mut t, t0), 0); // sets the clock
        let near = t.insert(t0 + 10_000_000, w);
        let far = t.insert(t0 + 10_000_000_000, w);
        assert_eq!(t.heap.len(), 1, "only the near timer is in the heap");
        assert_eq!(t.far, vec![far]);
        // The loop is told to wake for the near timer first.
        assert_eq!(t.next_deadline(), Some(t0 + 10_000_000));
        assert_eq!(fire_at(&mut t, t0 + 10_000_000), 1);
        t.remove(near);
        // Then for the migration, a second before the far deadline.
        let m = t.next_deadline().unwrap();
        assert_eq!(m, t0 + 9_000_000_000);
        assert_eq!(fire_at(&mut t, m), 0);
        assert!(t.far.is_empty(), "migrated into the heap");
        assert_eq!(t.next_deadline(), Some(t0 + 10_000_000_000));
        assert_eq!(fire_at(&mut t, t0 + 10_000_000_000), 1);
        assert!(t.poll(far, w));
    }

    #[test]
    fn removing_far_timers_keeps_the_set_consistent() {
        let mut t = Timers::default();
        let w = Waker::noop();
        let t0 = super::now();
        fire_at(&mut t, t0);
        let keys: Vec<usize> = (0..100)
            .map(|i| t.insert(t0 + 5_000_000_000 + i * 1_000_000, w))
            .collect();
        for &k in keys.iter().step_by(2) {
            t.remove(k);
        }
        assert_eq!(t.far.len(), 50);
        for (i, &k) in t.far.iter().enumerate() {
            assert_eq!(t.entries[k].far as usize, i);
        }
        // Everything left fires, at or after its deadline, in deadline order.
        let mut now = t0;
        let mut fired = 0;
        while let Some(next) = t.next_deadline() {
            now = now.max(next);
            fired += fire_at(&mut t, now);
        }
        assert_eq!(fired, 50);
        assert!(t.is_empty() || t.heap.iter().all(|Reverse((_, s, k))| !t.is_live(*s, *k)));
    }

    #[test]
    fn a_far_timer_never_fires_before_its_deadline() {
        let mut t = Timers::default();
        let w = Waker::noop();
        let t0 = super::now();
        fire_at(&mut t, t0);
        let k = t.insert(t0 + 3_000_000_000, w);
        // Turns every 100 ms: it fires at the first turn at or after its deadline.
        for i in 1..=40u64 {
            let now = t0 + 100_000_000 * i;
            let n = fire_at(&mut t, now);
            if now < t0 + 3_000_000_000 {
                assert_eq!(n, 0, "fired early at {i}");
            } else {
                assert_eq!(n, 1);
                assert!(t.poll(k, w));
                return;
            }
        }
        panic!("never fired");
    }
}
