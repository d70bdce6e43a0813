//! The timer queue: a heap of deadlines over a slab of entries, fired once per loop turn.
//!
//! libuv's semantics: timers with equal deadlines fire in the order they were started (a
//! sequence number breaks ties); a timer never fires before its deadline; firing happens once
//! per turn, before the wait, so a 0 ms timer re-armed by the task it woke fires next turn.

use slab::Slab;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

struct Entry {
    seq: u64,
    waker: Option<Waker>,
    fired: bool,
}

#[derive(Default)]
pub(crate) struct Timers {
    entries: Slab<Entry>,
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    next_seq: u64,
    /// Heap items whose entry was removed before firing.
    stale: usize,
    /// Wakers of fired timers, handed out to be woken after the borrow ends.
    fired: Vec<Waker>,
}

impl Timers {
    /// Whether no timer is armed (cancelled ones still in the heap count until popped).
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Starts a timer; it fires at the first turn that begins at or after `deadline`.
    pub fn insert(&mut self, deadline: Instant, waker: &Waker) -> usize {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.entries.insert(Entry {
            seq,
            waker: Some(waker.clone()),
            fired: false,
        });
        self.heap.push(Reverse((deadline, seq, key)));
        key
    }

    /// `true` once the timer fired; otherwise keeps the newest waker.
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
        if let Some(entry) = self.entries.try_remove(key) {
            if !entry.fired {
                self.stale += 1;
                self.compact();
            }
        }
    }

    /// Rebuilds the heap when cancelled timers make up most of it (timeouts that never fire).
    fn compact(&mut self) {
        if self.stale < 1024 || self.stale * 2 < self.heap.len() {
            return;
        }
        let entries = &self.entries;
        self.heap
            .retain(|Reverse((_, seq, key))| entries.get(*key).is_some_and(|e| e.seq == *seq));
        self.stale = 0;
    }

    fn is_live(&self, seq: u64, key: usize) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| e.seq == seq && !e.fired)
    }

    /// Fires every timer due at `now`, in deadline then start order; returns their wakers.
    pub fn fire(&mut self, now: Instant) -> Vec<Waker> {
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

    /// The earliest live deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, seq, key))) = self.heap.peek() {
            if self.is_live(seq, key) {
                return Some(deadline);
            }
            self.heap.pop();
            self.stale = self.stale.saturating_sub(1);
        }
        None
    }
}
