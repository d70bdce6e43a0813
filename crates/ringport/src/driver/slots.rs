//! The slots of in-flight operations, shared by every backend.
//!
//! A slot's index is the operation's key (io_uring's `user_data`). Its state is a [`Slot`];
//! every completion, whatever the backend, goes through [`Slots::complete`], and every wake-up
//! it causes is handed out through [`Released`] after the driver's borrow.
//!
//! This is the hottest data structure of the runtime: every operation inserts a slot, the
//! completion rewrites it and the future's second poll frees it. So a slot is 24 bytes (a tag
//! and a 16-byte payload: a waker, a boxed orphan, or the raw result) and the free slots form an
//! intrusive list inside the same vector; multishot ops, which are rare and long-lived, keep
//! their completion queues in a side table whose queues (and their capacity) are reused.

use super::faults::Faults;
use super::op::OpCode;
use super::{Completion, Orphan, Released};
use std::collections::VecDeque;
use std::mem;
use std::task::{Context, Poll, Waker};

/// `IORING_CQE_F_MORE`: a multishot op will post more completions. Backends that emulate
/// multishot ops use the same bit.
pub(crate) const FLAG_MORE: u32 = 1 << 1;

/// The end of the free list.
const NONE: u32 = u32::MAX;

/// The state of one slot.
enum Slot {
    /// Not in use; the next free slot.
    Vacant(u32),
    /// Submitted, and this waker waits for the completion.
    Waiting(Waker),
    /// The backend completed it with this raw result (`-errno` on failure) and flags; the
    /// future has yet to collect it.
    Done(i32, u32),
    /// The future was dropped: the op's data is kept alive here until the (last) completion.
    Ignored(Box<dyn Orphan>),
    /// A multishot op: its state is `multi[i]`.
    Multi(u32),
}

/// A multishot op's completions not yet collected, the waiting waker, and whether the backend
/// posted the last one.
#[derive(Default)]
struct MultiState {
    queue: VecDeque<(i32, u32)>,
    waker: Option<Waker>,
    done: bool,
    /// The next free entry, while this one is free.
    next_free: u32,
}

/// What `cancel` did with a dropped op's data.
pub(crate) enum Cancelled {
    /// The op had finished: here is its data back, to drop once the driver is released.
    Finished(Box<dyn Orphan>),
    /// The op is in flight: its data is parked; the backend must ask to cancel it.
    Parked,
}

pub(crate) struct Slots {
    slots: Vec<Slot>,
    free: u32,
    taken: usize,
    multi: Vec<MultiState>,
    free_multi: u32,
    /// The fault layer, when on (`RINGPORT_FAULTS`): one test per submit, completion and park.
    faults: Option<Box<Faults>>,
}

impl Default for Slots {
    fn default() -> Self {
        Slots::with_capacity(0)
    }
}

impl Slots {
    pub fn with_capacity(n: usize) -> Slots {
        Slots {
            slots: Vec::with_capacity(n),
            free: NONE,
            taken: 0,
            multi: Vec::new(),
            free_multi: NONE,
            faults: None,
        }
    }

    /// Turns the fault layer on for this driver.
    pub fn set_faults(&mut self, faults: Option<Box<Faults>>) {
        self.faults = faults;
    }

    /// Whether the fault layer is on (a cold branch on every submission).
    #[inline(always)]
    pub fn faulty(&self) -> bool {
        self.faults.is_some()
    }

    /// A single-shot op was inserted at `key`: the error to complete it with at the next turn
    /// instead of submitting it, when the fault layer chooses one; otherwise the layer may cut
    /// a stream receive or send shorter ([`OpCode::fault_cut`]). Call only when `faulty`.
    #[cold]
    #[inline(never)]
    pub fn fault_submit<T: OpCode>(&mut self, key: usize, data: &mut T) -> Option<i32> {
        let f = self.faults.as_mut()?;
        let class = data.fault_class();
        if let Some(e) = f.submit(key, class) {
            return Some(e);
        }
        if let Some(max) = f.cut(class) {
            data.fault_cut(max);
        }
        None
    }

    /// The timeout a park may wait: none while the fault layer holds completions back.
    #[inline(always)]
    pub fn park_timeout(
        &self,
        timeout: Option<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        match &self.faults {
            None => timeout,
            Some(f) => {
                if f.holding() {
                    Some(std::time::Duration::ZERO)
                } else {
                    timeout
                }
            }
        }
    }

    /// One turn passed: hands the held completions now due to their slots. Call once per park,
    /// before the turn's own completions.
    #[inline(always)]
    pub fn fault_turn(&mut self, released: &mut Released) {
        if self.faults.is_some() {
            self.fault_turn_slow(released);
        }
    }

    #[cold]
    #[inline(never)]
    fn fault_turn_slow(&mut self, released: &mut Released) {
        let Some(mut f) = self.faults.take() else {
            return;
        };
        for i in 0..f.turn() {
            let (key, res, flags) = f.due(i);
            self.deliver(key, res, flags, released);
        }
        f.clear_due();
        self.faults = Some(f);
    }

    /// A cancel was asked for `key` (counted when the fault layer holds its completion).
    pub fn note_cancel(&mut self, key: usize) {
        if let Some(f) = &mut self.faults {
            f.note_cancel(key);
        }
    }

    #[inline]
    fn take_slot(&mut self, slot: Slot) -> usize {
        if self.free == NONE {
            return self.push_slot(slot);
        }
        self.taken += 1;
        let key = self.free as usize;
        // A free-list entry is always a vacant slot below `len`; it owns nothing, so it is
        // overwritten without a drop.
        let old = mem::replace(&mut self.slots[key], slot);
        match old {
            Slot::Vacant(next) => self.free = next,
            _ => unreachable!("the free list points at a slot in use"),
        }
        mem::forget(old);
        key
    }

    #[cold]
    #[inline(never)]
    fn push_slot(&mut self, slot: Slot) -> usize {
        self.taken += 1;
        self.slots.push(slot);
        self.slots.len() - 1
    }

    #[inline]
    fn release_slot(&mut self, key: usize) -> Slot {
        self.taken -= 1;
        let old = mem::replace(&mut self.slots[key], Slot::Vacant(self.free));
        self.free = key as u32;
        old
    }

    /// A single-shot op, waited for by `waker`.
    #[inline]
    pub fn insert(&mut self, waker: &Waker) -> usize {
        self.take_slot(Slot::Waiting(waker.clone()))
    }

    /// A multishot op.
    pub fn insert_multi(&mut self, waker: &Waker) -> usize {
        let m = if self.free_multi == NONE {
            self.multi.push(MultiState::default());
            self.multi.len() - 1
        } else {
            let m = self.free_multi as usize;
            self.free_multi = self.multi[m].next_free;
            m
        };
        let state = &mut self.multi[m];
        state.waker = Some(waker.clone());
        state.done = false;
        let key = self.take_slot(Slot::Multi(m as u32));
        if let Some(f) = &mut self.faults {
            f.submit_multi(key);
        }
        key
    }

    /// Gives a multishot op's side-table entry back (its queue keeps its capacity).
    fn free_multi(&mut self, m: u32) {
        let state = &mut self.multi[m as usize];
        state.queue.clear();
        state.waker = None;
        state.next_free = self.free_multi;
        self.free_multi = m;
    }

    /// How many slots are taken (in flight, or completed and not yet collected).
    #[inline]
    #[cfg_attr(all(unix, not(target_os = "linux")), allow(dead_code))] // io_uring and IOCP
    pub fn len(&self) -> usize {
        self.taken
    }

    #[inline]
    pub fn poll_op(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Completion> {
        match &mut self.slots[key] {
            Slot::Done(res, flags) => {
                let c = Completion::from_raw(*res, *flags);
                self.release_slot(key);
                Poll::Ready(c)
            }
            Slot::Waiting(w) => {
                if !w.will_wake(cx.waker()) {
                    w.clone_from(cx.waker());
                }
                Poll::Pending
            }
            _ => unreachable!("polled a free, cancelled or multishot op as single-shot"),
        }
    }

    pub fn poll_multi(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        let Slot::Multi(m) = self.slots[key] else {
            unreachable!("polled an op the driver does not know as multishot");
        };
        let state = &mut self.multi[m as usize];
        if let Some((res, flags)) = state.queue.pop_front() {
            return Poll::Ready(Some(Completion::from_raw(res, flags)));
        }
        if state.done {
            self.release_slot(key);
            self.free_multi(m);
            return Poll::Ready(None);
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The op's future was dropped: park its data until the last completion.
    pub fn cancel(&mut self, key: usize, mut data: Box<dyn Orphan>) -> Cancelled {
        match self.slots[key] {
            Slot::Done(res, flags) => {
                // Completed but never collected: release what the backend handed over.
                data.completed(res, flags);
                self.release_slot(key);
                return Cancelled::Finished(data);
            }
            Slot::Multi(m) => {
                let state = &mut self.multi[m as usize];
                for (res, flags) in state.queue.drain(..) {
                    data.completed(res, flags);
                }
                let done = state.done;
                self.free_multi(m);
                if done {
                    self.release_slot(key);
                    return Cancelled::Finished(data);
                }
            }
            Slot::Waiting(_) => {}
            Slot::Vacant(_) | Slot::Ignored(_) => {
                unreachable!("cancelled an op the driver does not know")
            }
        }
        self.slots[key] = Slot::Ignored(data);
        Cancelled::Parked
    }

    /// Whether the op still waits for the backend (a cancel request makes sense).
    pub fn is_pending(&self, key: usize) -> bool {
        match self.slots.get(key) {
            Some(Slot::Waiting(_) | Slot::Ignored(_)) => true,
            Some(Slot::Multi(m)) => !self.multi[*m as usize].done,
            _ => false,
        }
    }

    /// Records a completion; wakers to wake and data to drop go to `released`.
    #[inline(always)]
    pub fn complete(&mut self, key: usize, res: i32, flags: u32, released: &mut Released) {
        if self.faults.is_some() {
            return self.complete_faulty(key, res, flags, released);
        }
        self.deliver(key, res, flags, released);
    }

    /// `complete` through the fault layer: single-shot completions may be shortened or held.
    #[cold]
    #[inline(never)]
    fn complete_faulty(&mut self, key: usize, res: i32, flags: u32, released: &mut Released) {
        if let (Some(Slot::Waiting(_) | Slot::Ignored(_)), Some(f)) =
            (self.slots.get(key), self.faults.as_mut())
        {
            if flags & FLAG_MORE == 0 {
                match f.complete(key, res, flags) {
                    Some(res) => return self.deliver(key, res, flags, released),
                    None => return,
                }
            }
        }
        self.deliver(key, res, flags, released);
    }

    /// Records a completion past the fault layer.
    #[inline(always)]
    fn deliver(&mut self, key: usize, res: i32, flags: u32, released: &mut Released) {
        let Some(slot) = self.slots.get_mut(key) else {
            debug_assert!(false, "a completion for op {key}, which is not in flight");
            return;
        };
        if let Slot::Waiting(_) = slot {
            if let Slot::Waiting(w) = mem::replace(slot, Slot::Done(res, flags)) {
                released.wakers.push(w);
            }
            return;
        }
        self.complete_other(key, res, flags, released);
    }

    /// `complete` for the rarer states: multishot, cancelled.
    #[inline(never)]
    fn complete_other(&mut self, key: usize, res: i32, flags: u32, released: &mut Released) {
        let slot = &mut self.slots[key];
        match slot {
            Slot::Waiting(_) => unreachable!("handled by complete"),
            Slot::Multi(m) => {
                let state = &mut self.multi[*m as usize];
                state.queue.push_back((res, flags));
                state.done = flags & FLAG_MORE == 0;
                if let Some(w) = state.waker.take() {
                    released.wakers.push(w);
                }
            }
            Slot::Ignored(data) => {
                data.completed(res, flags);
                if flags & FLAG_MORE == 0 {
                    if let Slot::Ignored(data) = self.release_slot(key) {
                        released.dropped.push(data);
                    }
                }
            }
            Slot::Done(..) | Slot::Vacant(_) => {
                debug_assert!(false, "a completion for op {key}, which is not in flight")
            }
        }
    }

    /// Ops the backend may still be using memory of.
    pub fn in_flight(&self) -> usize {
        (0..self.slots.len())
            .filter(|&k| self.is_pending(k))
            .count()
    }

    /// Ops whose future was dropped while they were in flight: their data (buffers, the fd
    /// they use) is held until the backend completes them.
    pub fn orphans(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Ignored(_)))
            .count()
    }

    /// The keys of ops still in flight.
    pub fn pending_keys(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&k| self.is_pending(k))
            .collect()
    }

    /// Forgets every parked op's data, so memory the backend may still write into is never
    /// freed.
    pub fn leak(&mut self) {
        for slot in &mut self.slots {
            if let Slot::Ignored(data) = mem::replace(slot, Slot::Vacant(NONE)) {
                mem::forget(data);
            }
        }
        mem::forget(mem::take(&mut self.slots));
        mem::forget(mem::take(&mut self.multi));
        self.free = NONE;
        self.free_multi = NONE;
        self.taken = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_small() {
        // Every in-flight op has one: a tag and a 16-byte payload.
        assert!(mem::size_of::<Slot>() <= 24, "{}", mem::size_of::<Slot>());
    }

    #[test]
    fn free_slots_are_reused_last_freed_first() {
        let mut slots = Slots::default();
        let w = Waker::noop();
        let a = slots.insert(w);
        let b = slots.insert(w);
        let mut released = Released::default();
        slots.complete(a, 5, 0, &mut released);
        slots.complete(b, -libc::EAGAIN, 0, &mut released);
        assert_eq!(released.wakers.len(), 2);
        let mut cx = Context::from_waker(w);
        let Poll::Ready(c) = slots.poll_op(a, &mut cx) else {
            panic!("completed op not ready")
        };
        assert_eq!(c.result.unwrap(), 5);
        let Poll::Ready(c) = slots.poll_op(b, &mut cx) else {
            panic!("completed op not ready")
        };
        assert_eq!(c.result.unwrap_err().raw_os_error(), Some(libc::EAGAIN));
        assert_eq!(slots.len(), 0);
        assert_eq!(slots.insert(w), b);
        assert_eq!(slots.insert(w), a);
        assert_eq!(slots.insert(w), 2);
        assert_eq!(slots.len(), 3);
    }

    #[test]
    fn multishot_state_is_reused_and_ends_on_the_last_completion() {
        let mut slots = Slots::default();
        let w = Waker::noop();
        let mut cx = Context::from_waker(w);
        let mut released = Released::default();
        let k = slots.insert_multi(w);
        slots.complete(k, 1, FLAG_MORE, &mut released);
        slots.complete(k, 2, 0, &mut released);
        assert!(!slots.is_pending(k));
        assert!(
            matches!(slots.poll_multi(k, &mut cx), Poll::Ready(Some(c)) if c.result.as_ref().ok() == Some(&1))
        );
        assert!(
            matches!(slots.poll_multi(k, &mut cx), Poll::Ready(Some(c)) if c.result.as_ref().ok() == Some(&2))
        );
        assert!(matches!(slots.poll_multi(k, &mut cx), Poll::Ready(None)));
        assert_eq!(slots.len(), 0);
        let again = slots.insert_multi(w);
        assert_eq!(again, k);
        assert_eq!(slots.multi.len(), 1, "the side table entry is reused");
        assert!(slots.is_pending(again));
    }
}
