//! `Trigger`: a one-shot broadcast on one thread (the server's shutdown), and `race`.

use slab::Slab;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Fired once; every waiter wakes. Clones share the state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trigger {
    inner: Rc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    fired: Cell<bool>,
    waiters: RefCell<Slab<Waker>>,
}

impl Trigger {
    /// Fires: wakes every waiter, now and later.
    pub fn fire(&self) {
        self.inner.fired.set(true);
        let waiters: Vec<Waker> = self.inner.waiters.borrow_mut().drain().collect();
        for waker in waiters {
            waker.wake();
        }
    }

    /// Whether it has fired.
    pub fn is_fired(&self) -> bool {
        self.inner.fired.get()
    }

    /// Completes once fired. The waiter's slot is released when the future is dropped.
    pub async fn wait(&self) {
        let mut slot = Slot {
            inner: &self.inner,
            key: None,
        };
        std::future::poll_fn(|cx| {
            if self.inner.fired.get() {
                return Poll::Ready(());
            }
            let mut waiters = self.inner.waiters.borrow_mut();
            match slot.key {
                Some(key) if waiters.contains(key) => waiters[key].clone_from(cx.waker()),
                _ => slot.key = Some(waiters.insert(cx.waker().clone())),
            }
            Poll::Pending
        })
        .await
    }
}

/// A waiter's place in the slab, removed on drop.
struct Slot<'a> {
    inner: &'a Inner,
    key: Option<usize>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.inner.waiters.borrow_mut().try_remove(key);
        }
    }
}

/// Which of two raced futures finished first.
#[derive(Debug)]
pub(crate) enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Polls `a` then `b` until one is ready; the other is dropped (which cancels its I/O).
///
/// A plain future rather than an `async fn`: an `async fn` would move `a` and `b` from its
/// arguments into pinned locals, and its state would hold each of them twice (an idle
/// connection waits in one of these).
pub(crate) fn race<A: Future, B: Future>(a: A, b: B) -> Race<A, B> {
    Race { a, b }
}

/// The future of [`race`].
pub(crate) struct Race<A, B> {
    a: A,
    b: B,
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `a` and `b` are pinned structurally: they are never moved out of `self`,
        // nor is `self` given out unpinned, and `Race` has no `Drop` of its own.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above, `this.a` lives in pinned memory and stays there.
        let a = unsafe { Pin::new_unchecked(&mut this.a) };
        if let Poll::Ready(out) = a.poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        // SAFETY: as for `a`.
        let b = unsafe { Pin::new_unchecked(&mut this.b) };
        b.poll(cx).map(Either::Right)
    }
}
