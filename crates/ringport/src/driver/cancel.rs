//! Explicit cancellation: a [`CancelToken`] cancels a group of operations, and each one still
//! completes, handing back its buffer with either its result (when the kernel finished first)
//! or the one "cancelled" error that [`is_cancelled`] recognises.
//!
//! Dropping a future also cancels its operations, but then the buffers stay with the driver
//! until the kernel is done; use a token when you want them back.

use slab::Slab;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Cancels every operation started inside [`CancelToken::run`] futures bound to it.
///
/// ```
/// use ringport::{buf::BufResult, cancel::{is_cancelled, CancelToken}};
/// ringport::run(async {
///     let token = CancelToken::new();
///     token.cancel();
///     // Ops started under a cancelled token complete at once with either their result or
///     // the cancelled error, and the buffer always comes back.
///     let res = token.run(ringport::driver::nop()).await;
///     assert!(res.is_ok() || is_cancelled(res.as_ref().unwrap_err()));
/// });
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: Cell<bool>,
    waiters: RefCell<Slab<Waker>>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

thread_local! {
    /// Whether the future being polled runs under a cancelled token.
    static CANCELLED: Cell<bool> = const { Cell::new(false) };
}

/// Whether the operation being polled should ask the kernel to cancel.
#[inline]
pub(crate) fn requested() -> bool {
    CANCELLED.with(Cell::get)
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the group: operations in flight are asked to stop, new ones stop at once.
    pub fn cancel(&self) {
        if self.inner.cancelled.replace(true) {
            return;
        }
        let wakers: Vec<Waker> = self.inner.waiters.borrow_mut().drain().collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.get()
    }

    /// Binds `future` to this token: its operations are cancelled when the token is.
    pub fn run<F: Future>(&self, future: F) -> Cancellable<F> {
        Cancellable {
            token: self.clone(),
            future,
            key: None,
        }
    }
}

/// A future bound to a [`CancelToken`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Cancellable<F> {
    token: CancelToken,
    future: F,
    key: Option<usize>,
}

impl<F: Future> Future for Cancellable<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned (never moved out); the other fields are Unpin
        // and reached through plain references.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = &this.token.inner;
        if !inner.cancelled.get() {
            let mut waiters = inner.waiters.borrow_mut();
            match this.key.and_then(|k| waiters.get_mut(k)) {
                Some(w) if w.will_wake(cx.waker()) => {}
                Some(w) => w.clone_from(cx.waker()),
                None => this.key = Some(waiters.insert(cx.waker().clone())),
            }
        }
        let outer = CANCELLED.with(|c| c.replace(c.get() || inner.cancelled.get()));
        // SAFETY: see above.
        let res = unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx);
        CANCELLED.with(|c| c.set(outer));
        res
    }
}

impl<F> Drop for Cancellable<F> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.token.inner.waiters.borrow_mut().try_remove(key);
        }
    }
}

/// Whether `err` is the error of an operation that was cancelled (ECANCELED on Linux,
/// ERROR_OPERATION_ABORTED on Windows).
pub fn is_cancelled(err: &io::Error) -> bool {
    err.raw_os_error() == Some(super::CANCELLED_CODE)
}

/// Runs `future` under a token that is cancelled after `duration`. Unlike
/// [`time::timeout`](crate::time::timeout), the future is not dropped: it runs to its end, so
/// operations hand their buffers back with their result or the cancelled error.
pub async fn with_timeout<F: Future>(duration: Duration, future: F) -> F::Output {
    let token = CancelToken::new();
    let mut sleep = std::pin::pin!(crate::time::sleep(duration));
    let mut future = std::pin::pin!(token.run(future));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if !token.is_cancelled() && sleep.as_mut().poll(cx).is_ready() {
            token.cancel();
            return future.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await
}
