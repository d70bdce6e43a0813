//! The executor: tasks on `async-task`, a local run queue, and a remote queue for wake-ups
//! from other threads. It knows nothing about I/O: it is woken through `Unpark`.
//!
//! Tasks are `!Send`, yet their wakers may travel to any thread. `async-task`'s `spawn_local`
//! guards that with a thread-id check on every poll and drop of the future; here the schedule
//! function gives the same guarantee once, where it matters: a woken task's `Runnable` reaches
//! the local queue only on the loop thread and goes through the remote queue from anywhere
//! else, so a future is only ever polled (by `run_tasks`) or dropped (by `shutdown_tasks`, or
//! by running a cancelled task) on the loop thread. See `Context::spawn` for the whole
//! argument.

use super::blocking::Pool;
use super::inbox::Inbox;
use super::task::{CatchUnwind, JoinHandle};
use super::timer::Timers;
use crate::driver::Unpark;
use async_task::Runnable;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::task::Waker;

/// The part of a loop other threads can reach (its inbox): wakers and `Handle`s hold it. The
/// wake-up protocol is `runtime::inbox`'s.
pub(crate) struct Shared {
    inbox: Inbox<Runnable>,
    /// Live tasks placed on this loop by `spawn_on`/`spawn_balanced` (what `spawn_balanced`
    /// compares). Touched only by those, never by a local `spawn` or an operation.
    pub load: AtomicUsize,
    /// This loop's index in its runtime (0 for a single-loop runtime).
    pub core: usize,
    unparker: Arc<dyn Unpark>,
}

impl Shared {
    pub fn new(unparker: Arc<dyn Unpark>, core: usize, announces: bool) -> Arc<Shared> {
        Arc::new(Shared {
            inbox: Inbox::new(announces),
            load: AtomicUsize::new(0),
            core,
            unparker,
        })
    }

    /// This runtime's context, when the calling thread is its loop thread (inside it).
    #[inline]
    fn local_context(&self) -> Option<&Context> {
        let ctx = CONTEXT.with(Cell::get);
        // SAFETY: a non-null pointer is a live `Context` that the innermost `ContextGuard` on
        // this thread keeps alive; the reference is used only within this call.
        let ctx = unsafe { ctx.as_ref()? };
        std::ptr::eq(Arc::as_ptr(&ctx.shared), self).then_some(ctx)
    }

    /// Schedules a woken task: straight onto the local queue on the loop thread, else through
    /// the remote queue and one coalesced wake-up of the loop.
    #[inline]
    pub(crate) fn schedule(&self, runnable: Runnable) {
        match self.local_context() {
            Some(ctx) => ctx.local.borrow_mut().push_back(runnable),
            None => self.push_remote(Some(runnable)),
        }
    }

    /// Makes sure the loop wakes up (when called from another thread).
    #[inline]
    pub fn notify(&self) {
        if !self.is_loop_thread() {
            self.push_remote(None);
        }
    }

    /// Whether the calling thread is this runtime's loop thread, inside it.
    #[inline]
    pub fn is_loop_thread(&self) -> bool {
        self.local_context().is_some()
    }

    #[cold]
    fn push_remote(&self, job: Option<Runnable>) {
        if let Err(job) = self.try_push(job) {
            // The loop is gone: nothing will run or drop this job on its thread, and dropping
            // it here could drop a `!Send` future on the wrong thread. Leak it instead (only a
            // task that outlived shutdown gets here).
            std::mem::forget(job);
        }
    }

    /// Pushes a job into the inbox (`None`: only wake the loop) and wakes the loop if it
    /// announced sleep; `Err` with the job when the loop has shut down.
    pub fn try_push(&self, job: Option<Runnable>) -> Result<(), Option<Runnable>> {
        if self.inbox.push(job)? {
            self.unparker.unpark();
        }
        Ok(())
    }

    /// Whether the loop announces its sleeps (a multi-loop runtime) or is woken once per
    /// drain (a single-loop one).
    #[inline]
    pub fn announces(&self) -> bool {
        self.inbox.announces()
    }

    /// Called by the loop before a park that may block: announces the sleep, and says whether
    /// it may still block (`false` when a job arrived meanwhile). See `runtime::inbox`.
    #[inline]
    pub fn announce_sleep(&self) -> bool {
        self.inbox.announce_sleep()
    }

    /// Called by the loop after the park: awake again, producers need not wake it.
    #[inline]
    pub fn awake(&self) {
        self.inbox.awake()
    }

    #[inline]
    fn drain_remote(&self, into: &RefCell<VecDeque<Runnable>>) {
        self.inbox.drain(&mut *into.borrow_mut());
    }
}

thread_local! {
    /// The context of the runtime running on this thread: a strong reference owned by the
    /// innermost `ContextGuard` (null outside a runtime).
    static CONTEXT: Cell<*const Context> = const { Cell::new(std::ptr::null()) };
}

/// The loop thread's part of a runtime.
pub(crate) struct Context {
    pub shared: Arc<Shared>,
    local: RefCell<VecDeque<Runnable>>,
    /// Wakers of every live task, so shutdown can drop their futures.
    active: RefCell<Slab<Waker>>,
    pub timers: RefCell<Timers>,
    pub pool: Pool,
    budget: usize,
    /// Every loop of this runtime (set once, right after the loops are built).
    pub loops: std::cell::OnceCell<Arc<super::loops::Loops>>,
}

impl Context {
    pub fn new(shared: Arc<Shared>, pool: Pool, budget: usize) -> Rc<Context> {
        Rc::new(Context {
            shared,
            local: RefCell::new(VecDeque::with_capacity(256)),
            active: RefCell::new(Slab::new()),
            timers: RefCell::new(Timers::default()),
            pool,
            budget: budget.max(1),
            loops: std::cell::OnceCell::new(),
        })
    }

    /// Records a task placed here from elsewhere (by `spawn_on`) in the active set, so that
    /// shutdown drops its future; returns its key. Called on this loop, at its first poll.
    pub fn register_active(&self, waker: &Waker) -> usize {
        self.active.borrow_mut().insert(waker.clone())
    }

    /// Removes a task registered by [`register_active`](Self::register_active).
    pub fn unregister_active(&self, key: usize) {
        self.active.borrow_mut().try_remove(key);
    }

    /// Makes this context the thread's current one until the guard drops, which restores
    /// the previous one.
    pub fn enter(self: &Rc<Self>) -> ContextGuard {
        let ptr = Rc::into_raw(self.clone());
        let prev = CONTEXT.with(|c| c.replace(ptr));
        ContextGuard { prev }
    }

    /// Runs up to `budget` ready tasks, stopping early once `enough_io()` says the tasks have
    /// queued enough work for the kernel; `true` when more are ready.
    #[inline]
    pub fn run_tasks(&self, mut enough_io: impl FnMut() -> bool) -> bool {
        self.shared.drain_remote(&self.local);
        if self.local.borrow().is_empty() {
            return false;
        }
        for _ in 0..self.budget {
            if enough_io() {
                break;
            }
            let next = self.local.borrow_mut().pop_front();
            match next {
                Some(runnable) => {
                    runnable.run();
                }
                None => return false,
            }
        }
        !self.local.borrow().is_empty()
    }

    #[inline]
    pub fn has_ready(&self) -> bool {
        !self.local.borrow().is_empty()
    }

    /// Fires due timers and wakes their tasks (they run next turn); returns how long until
    /// the next deadline. Reads the clock (once) only when a timer is armed.
    #[inline]
    pub fn fire_timers(&self) -> Option<std::time::Duration> {
        if self.timers.borrow().is_empty() {
            return None;
        }
        self.fire_timers_slow()
    }

    fn fire_timers_slow(&self) -> Option<std::time::Duration> {
        let now = super::timer::now();
        let mut fired = self.timers.borrow_mut().fire(now);
        if !fired.is_empty() {
            for w in fired.drain(..) {
                w.wake();
            }
        }
        let mut timers = self.timers.borrow_mut();
        timers.recycle(fired);
        // Measured from the same reading: the wait then ends a little after the deadline (by
        // the time the rest of this turn takes), never before it.
        timers
            .next_deadline()
            .map(|d| std::time::Duration::from_nanos(d.saturating_sub(now)))
    }

    pub fn spawn<F>(self: &Rc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let key = self.active.borrow().vacant_key();
        // The guard is moved into the task, so it is dropped with the future, polled or not.
        // A struct, not an `async move` block: a block would hold `future` twice (captured,
        // and again once moved into the awaited `CatchUnwind`), doubling every task.
        let future = Tracked {
            inner: CatchUnwind::new(future),
            _active: Active(key),
        };
        let shared = self.shared.clone();
        // SAFETY: `spawn_unchecked`'s contract, point by point. The future is `'static`, and so
        // is the schedule function, which is `Send + Sync` (it holds an `Arc<Shared>`). The
        // future is not `Send`, so its `Runnable` must be used and dropped on this thread:
        // - a `Runnable` exists only while the task is scheduled, and every one reaches the
        //   loop thread: this one is scheduled below, on it; `Shared::schedule` puts one woken
        //   on the loop thread straight onto the local queue, and one woken anywhere else
        //   onto the remote queue, which only the loop thread drains;
        // - the loop thread runs them (`run_tasks`) or drops them (`shutdown_tasks`), and
        //   drops the queues with the `Context` on that thread;
        // - `async-task` drops a future only by running or dropping its `Runnable`: a
        //   cancelled or detached task that still has its future is scheduled once more for
        //   that (its `Task` handle never drops the future itself; it only drops an output,
        //   which is `Send` whenever the handle can move to another thread);
        // - after shutdown every future has been dropped (the `active` set is empty), so a
        //   `Runnable` left in the remote queue holds no future; should a task outlive
        //   shutdown anyway, the remote queue is closed and leaks what is pushed to it.
        let (runnable, task) =
            unsafe { async_task::spawn_unchecked(future, move |r| shared.schedule(r)) };
        let inserted = self.active.borrow_mut().insert(runnable.waker());
        debug_assert_eq!(inserted, key);
        runnable.schedule();
        JoinHandle::new(task)
    }

    /// Drops every task's future on this thread (cancelling its I/O), then the queues.
    pub fn shutdown_tasks(&self) {
        self.drop_tasks();
        // From now on a foreign wake-up can no longer hand the loop a job.
        let jobs = self.shared.inbox.close();
        // Dropped here, on the loop thread.
        drop(jobs);
    }

    fn drop_tasks(&self) {
        for _ in 0..1000 {
            let wakers: Vec<Waker> = self
                .active
                .borrow()
                .iter()
                .map(|(_, w)| w.clone())
                .collect();
            for w in wakers {
                w.wake();
            }
            loop {
                self.shared.drain_remote(&self.local);
                let next = self.local.borrow_mut().pop_front();
                match next {
                    // Dropping a runnable without running it drops the task's future.
                    Some(runnable) => drop(runnable),
                    None => break,
                }
            }
            if self.active.borrow().is_empty() {
                return;
            }
        }
        tracing::error!("tasks kept spawning during shutdown; leaving them");
    }
}

/// Restores the thread's previous context.
pub(crate) struct ContextGuard {
    prev: *const Context,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let ours = CONTEXT.with(|c| c.replace(self.prev));
        // SAFETY: `ours` is the reference `enter` made with `Rc::into_raw` (guards drop in
        // reverse order of entering, so the current pointer is this guard's).
        drop(unsafe { Rc::from_raw(ours) });
    }
}

/// A task's future with the guard that takes it out of the active set when dropped.
struct Tracked<F> {
    inner: CatchUnwind<F>,
    _active: Active,
}

impl<F: Future> Future for Tracked<F> {
    type Output = <CatchUnwind<F> as Future>::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`, and
        // `Tracked` has no `Drop` of its own (the guard's drop does not touch `inner`).
        unsafe { self.map_unchecked_mut(|t| &mut t.inner) }.poll(cx)
    }
}

/// Removes a task from the active set when its future is dropped.
struct Active(usize);

impl Drop for Active {
    fn drop(&mut self) {
        with_current(|ctx| ctx.active.borrow_mut().try_remove(self.0));
    }
}

/// The current thread's runtime context.
///
/// # Panics
///
/// Outside a ringport runtime.
pub(crate) fn current() -> Rc<Context> {
    try_current().expect("this must be called from inside a ringport runtime (ringport::run)")
}

pub(crate) fn try_current() -> Option<Rc<Context>> {
    let ptr = CONTEXT.try_with(Cell::get).ok()?;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null pointer is a strong reference held by the innermost `ContextGuard`
    // (made by `Rc::into_raw`); the new `Rc` takes one more.
    unsafe {
        Rc::increment_strong_count(ptr);
        Some(Rc::from_raw(ptr))
    }
}

/// Runs `f` on the current thread's runtime context without touching its reference count;
/// `None` outside a runtime (or while the thread's locals are being torn down).
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Context) -> R) -> Option<R> {
    let ptr = CONTEXT.try_with(Cell::get).ok()?;
    // SAFETY: a non-null pointer is a live `Context` kept alive by the innermost
    // `ContextGuard`; the reference does not outlive this call.
    unsafe { ptr.as_ref() }.map(f)
}
