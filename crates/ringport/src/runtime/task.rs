//! `JoinHandle` and `JoinError`: awaiting a task's output, aborting it, and its panics.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

/// Why a task gave no output.
pub struct JoinError {
    panic: Option<Mutex<Box<dyn Any + Send + 'static>>>,
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError { panic: None }
    }

    pub(crate) fn panicked(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            panic: Some(Mutex::new(payload)),
        }
    }

    /// The task was aborted, or its runtime shut down before it finished.
    pub fn is_cancelled(&self) -> bool {
        self.panic.is_none()
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        self.panic.is_some()
    }

    /// The panic's payload, to resume it with `std::panic::resume_unwind`; `Err(self)` when the
    /// task was cancelled instead.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.panic {
            Some(p) => Ok(p.into_inner().unwrap_or_else(|e| e.into_inner())),
            None => Err(self),
        }
    }

    fn panic_message(&self) -> Option<String> {
        let guard = self.panic.as_ref()?.lock().ok()?;
        let payload: &(dyn Any + Send) = &**guard;
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.panic, self.panic_message()) {
            (None, _) => f.write_str("task was cancelled"),
            (Some(_), Some(msg)) => write!(f, "task panicked: {msg}"),
            (Some(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinError({self})")
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> Self {
        std::io::Error::other(e)
    }
}

/// Awaits a spawned task's output. Dropping it detaches the task; [`abort`](Self::abort)
/// cancels it.
///
/// A `JoinHandle<T>` is `Send` and `Sync` when `T` is `Send`: it can be handed to another
/// thread, which may await it or abort the task (the task itself stays on its loop).
///
/// ```
/// ringport::run(async {
///     let handle = ringport::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
///
///     // `abort` takes `&self`: a handle shared with `Rc` (or sent to another thread)
///     // can cancel its task.
///     let sleeper = std::rc::Rc::new(ringport::spawn(async {
///         ringport::time::sleep(std::time::Duration::from_secs(3600)).await;
///     }));
///     let other = sleeper.clone();
///     other.abort();
///     drop(other);
///     let handle = std::rc::Rc::into_inner(sleeper).unwrap();
///     assert!(handle.await.unwrap_err().is_cancelled());
/// });
/// ```
pub struct JoinHandle<T> {
    /// The task, taken out by `abort` (which may be called from any thread holding a shared
    /// reference, hence the lock; only `abort` and the awaiting poll take it, briefly).
    task: Mutex<Option<async_task::FallibleTask<Result<T, JoinError>>>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: async_task::Task<Result<T, JoinError>>) -> Self {
        JoinHandle {
            task: Mutex::new(Some(task.fallible())),
        }
    }

    fn task(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<async_task::FallibleTask<Result<T, JoinError>>>> {
        self.task.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Cancels the task: its future is dropped at its current await point (which cancels any
    /// I/O it has in flight), on its own loop, at the loop's next turn. Awaiting the handle then
    /// gives a cancelled `JoinError`, unless the task had already finished. Takes `&self`, like
    /// tokio's: a shared handle (or one on another thread) can abort.
    pub fn abort(&self) {
        let mut task = self.task();
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            // Dropping async-task's handle cancels the task: its runnable is scheduled on its
            // own loop, which drops the future there. Should the task finish in between (on
            // its loop, while another thread aborts), its output is dropped here, which
            // `T: Send` (needed to send the handle at all) allows.
            let cancelled = task.take();
            drop(task);
            drop(cancelled);
        }
    }

    /// Whether the task has finished (or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.task().as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut guard = self.task();
        let Some(task) = guard.as_mut() else {
            return Poll::Ready(Err(JoinError::cancelled()));
        };
        match Pin::new(task).poll(cx) {
            Poll::Ready(Some(out)) => Poll::Ready(out),
            Poll::Ready(None) => Poll::Ready(Err(JoinError::cancelled())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Runs a future, turning a panic inside it into a `JoinError`.
pub(crate) struct CatchUnwind<F> {
    future: F,
}

impl<F> CatchUnwind<F> {
    pub fn new(future: F) -> Self {
        CatchUnwind { future }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`.
        let future = unsafe { self.map_unchecked_mut(|s| &mut s.future) };
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(JoinError::panicked(payload))),
        }
    }
}
