//! The slots of in-flight operations, shared by every backend.
//!
//! A slot's index is the operation's key (io_uring's `user_data`). Its state is a
//! [`Lifecycle`]; every completion, whatever the backend, goes through [`Slots::complete`],
//! and every wake-up it causes is handed out through [`Released`] after the driver's borrow.

use super::{Completion, Orphan, Released};
use slab::Slab;
use std::collections::VecDeque;
use std::mem;
use std::task::{Context, Poll, Waker};

/// `IORING_CQE_F_MORE`: a multishot op will post more completions. Backends that emulate
/// multishot ops use the same bit.
pub(crate) const FLAG_MORE: u32 = 1 << 1;

/// The state of one in-flight operation.
enum Lifecycle {
    /// Submitted, and this waker waits for the completion.
    Waiting(Waker),
    /// The future was dropped: the op's data is kept alive here until the (last) completion.
    Ignored(Box<dyn Orphan>),
    /// The backend completed it; the future has yet to collect the result.
    Completed(Completion),
    /// A multishot op: completions not yet collected, the waiting waker, and whether the
    /// backend posted the last one.
    Multi {
        queue: VecDeque<Completion>,
        waker: Option<Waker>,
        done: bool,
    },
}

/// What `cancel` did with a dropped op's data.
pub(crate) enum Cancelled {
    /// The op had finished: here is its data back, to drop once the driver is released.
    Finished(Box<dyn Orphan>),
    /// The op is in flight: its data is parked; the backend must ask to cancel it.
    Parked,
}

#[derive(Default)]
pub(crate) struct Slots {
    ops: Slab<Lifecycle>,
}

impl Slots {
    pub fn with_capacity(n: usize) -> Slots {
        Slots {
            ops: Slab::with_capacity(n),
        }
    }

    /// A single-shot op, waited for by `waker`.
    pub fn insert(&mut self, waker: &Waker) -> usize {
        self.ops.insert(Lifecycle::Waiting(waker.clone()))
    }

    /// A multishot op.
    pub fn insert_multi(&mut self, waker: &Waker) -> usize {
        self.ops.insert(Lifecycle::Multi {
            queue: VecDeque::new(),
            waker: Some(waker.clone()),
            done: false,
        })
    }

    /// How many slots are taken (in flight, or completed and not yet collected).
    #[cfg_attr(all(unix, not(target_os = "linux")), allow(dead_code))] // io_uring and IOCP
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn poll_op(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Completion> {
        let slot = self
            .ops
            .get_mut(key)
            .expect("polled an op the driver does not know");
        match slot {
            Lifecycle::Completed(_) => match self.ops.remove(key) {
                Lifecycle::Completed(c) => Poll::Ready(c),
                _ => unreachable!(),
            },
            Lifecycle::Waiting(w) => {
                if !w.will_wake(cx.waker()) {
                    w.clone_from(cx.waker());
                }
                Poll::Pending
            }
            Lifecycle::Ignored(_) | Lifecycle::Multi { .. } => {
                unreachable!("polled a cancelled or multishot op as single-shot")
            }
        }
    }

    pub fn poll_multi(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        let Some(Lifecycle::Multi { queue, waker, done }) = self.ops.get_mut(key) else {
            unreachable!("polled a multishot op the driver does not know");
        };
        if let Some(c) = queue.pop_front() {
            return Poll::Ready(Some(c));
        }
        if *done {
            self.ops.remove(key);
            return Poll::Ready(None);
        }
        match waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The op's future was dropped: park its data until the last completion.
    pub fn cancel(&mut self, key: usize, mut data: Box<dyn Orphan>) -> Cancelled {
        let slot = self
            .ops
            .get_mut(key)
            .expect("cancelled an op the driver does not know");
        match slot {
            Lifecycle::Completed(c) => {
                // Completed but never collected: release what the backend handed over.
                data.completed(c.raw(), c.flags);
                self.ops.remove(key);
                return Cancelled::Finished(data);
            }
            Lifecycle::Multi { queue, done, .. } => {
                for c in queue.drain(..) {
                    data.completed(c.raw(), c.flags);
                }
                if *done {
                    self.ops.remove(key);
                    return Cancelled::Finished(data);
                }
            }
            _ => {}
        }
        *slot = Lifecycle::Ignored(data);
        Cancelled::Parked
    }

    /// Whether the op still waits for the backend (a cancel request makes sense).
    pub fn is_pending(&self, key: usize) -> bool {
        match self.ops.get(key) {
            Some(Lifecycle::Waiting(_) | Lifecycle::Ignored(_)) => true,
            Some(Lifecycle::Multi { done, .. }) => !done,
            _ => false,
        }
    }

    /// Records a completion; wakers to wake and data to drop go to `released`.
    pub fn complete(&mut self, key: usize, res: i32, flags: u32, released: &mut Released) {
        let Some(slot) = self.ops.get_mut(key) else {
            debug_assert!(false, "a completion for op {key}, which is not in flight");
            return;
        };
        let more = flags & FLAG_MORE != 0;
        match slot {
            Lifecycle::Multi { queue, waker, done } => {
                queue.push_back(Completion::from_raw(res, flags));
                *done = !more;
                if let Some(w) = waker.take() {
                    released.wakers.push(w);
                }
                return;
            }
            Lifecycle::Ignored(data) => {
                data.completed(res, flags);
                if !more {
                    if let Lifecycle::Ignored(data) = self.ops.remove(key) {
                        released.dropped.push(data);
                    }
                }
                return;
            }
            _ => {}
        }
        let done = Lifecycle::Completed(Completion::from_raw(res, flags));
        match mem::replace(slot, done) {
            Lifecycle::Waiting(w) => released.wakers.push(w),
            _ => debug_assert!(false, "op {key} completed twice"),
        }
    }

    /// Ops the backend may still be using memory of.
    pub fn in_flight(&self) -> usize {
        self.ops.iter().filter(|&(k, _)| self.is_pending(k)).count()
    }

    /// The keys of ops still in flight.
    pub fn pending_keys(&self) -> Vec<usize> {
        self.ops
            .iter()
            .map(|(k, _)| k)
            .filter(|&k| self.is_pending(k))
            .collect()
    }

    /// Forgets every parked op's data, so memory the backend may still write into is never
    /// freed.
    pub fn leak(&mut self) {
        for (_, slot) in self.ops.iter_mut() {
            if let Lifecycle::Ignored(data) = mem::replace(
                slot,
                Lifecycle::Multi {
                    queue: VecDeque::new(),
                    waker: None,
                    done: true,
                },
            ) {
                mem::forget(data);
            }
        }
        mem::forget(mem::take(&mut self.ops));
    }
}
