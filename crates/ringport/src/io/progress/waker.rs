//! `AtomicWaker`: one task's waker, registered by that task and woken from any thread, without
//! a lock.
//!
//! The protocol is the usual one for this primitive: a state word with a REGISTERING bit (the
//! task is storing its waker) and a WAKING bit (another thread is taking it). Whoever finds
//! the other bit set leaves the waking to the one that set it, so a wake is never lost and the
//! waker cell is never touched by two threads at once.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Waker;

const IDLE: u8 = 0;
/// The registering task owns the cell.
const REGISTERING: u8 = 1;
/// A waking thread owns the cell, or asked the registering task to wake itself.
const WAKING: u8 = 2;

/// A waker slot for one registering task and any number of waking threads.
#[derive(Default)]
pub(crate) struct AtomicWaker {
    state: AtomicU8,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cell is only accessed by the thread that moved `state` from IDLE to REGISTERING
// or to WAKING, so never by two threads at once; `Waker` itself is Send + Sync.
unsafe impl Send for AtomicWaker {}
// SAFETY: as above.
unsafe impl Sync for AtomicWaker {}

impl AtomicWaker {
    /// Stores `waker` to be woken by the next [`wake`](Self::wake). Only one task may register
    /// (the copy's); a wake that races with this call wakes `waker` directly.
    pub fn register(&self, waker: &Waker) {
        match self
            .state
            .compare_exchange(IDLE, REGISTERING, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) => {
                // SAFETY: REGISTERING gives this thread the cell until the state changes back.
                let slot = unsafe { &mut *self.waker.get() };
                match slot {
                    Some(w) if w.will_wake(waker) => {}
                    _ => *slot = Some(waker.clone()),
                }
                let back = self.state.compare_exchange(
                    REGISTERING,
                    IDLE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if back.is_err() {
                    // A wake came in meanwhile and left the waking to us.
                    // SAFETY: the waking thread saw REGISTERING and did not touch the cell.
                    let w = unsafe { (*self.waker.get()).take() };
                    self.state.store(IDLE, Ordering::Release);
                    if let Some(w) = w {
                        w.wake();
                    }
                }
            }
            // A wake is in progress: it may have taken the old waker; wake the new one.
            Err(_) => waker.wake_by_ref(),
        }
    }

    /// Wakes the registered task, if any.
    pub fn wake(&self) {
        if self.state.fetch_or(WAKING, Ordering::AcqRel) == IDLE {
            // SAFETY: the state went from IDLE to WAKING: this thread owns the cell.
            let w = unsafe { (*self.waker.get()).take() };
            self.state.fetch_and(!WAKING, Ordering::Release);
            if let Some(w) = w {
                w.wake();
            }
        }
        // Otherwise the registering task (or another waker) sees WAKING and wakes.
    }
}

impl std::fmt::Debug for AtomicWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicWaker")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}
