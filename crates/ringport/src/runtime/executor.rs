//! The executor: tasks on `async-task`, a local run queue, and a remote queue for wake-ups
//! from other threads. It knows nothing about I/O: it is woken through `Unpark`.

use super::blocking::Pool;
use super::task::{CatchUnwind, JoinHandle};
use super::timer::Timers;
use crate::driver::Unpark;
use async_task::Runnable;
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

/// The part of a runtime other threads can reach: wakers hold it.
pub(crate) struct Shared {
    remote: Mutex<Remote>,
    /// Set (under the lock) whenever `remote` changed since the loop last drained it, so the
    /// loop skips the lock on the common turn where no other thread woke anything.
    has_remote: AtomicBool,
    unparker: Arc<dyn Unpark>,
}

struct Remote {
    jobs: Vec<Runnable>,
    /// A wake-up was sent since the loop last drained `jobs`: later ones need not send another.
    notified: bool,
}

impl Shared {
    pub fn new(unparker: Arc<dyn Unpark>) -> Arc<Shared> {
        Arc::new(Shared {
            remote: Mutex::new(Remote {
                jobs: Vec::new(),
                notified: false,
            }),
            has_remote: AtomicBool::new(false),
            unparker,
        })
    }

    fn is_current(self: &Arc<Self>) -> bool {
        LOOP.with(|l| l.get() == Arc::as_ptr(self))
    }

    /// Schedules a woken task: straight onto the local queue on the loop thread, else through
    /// the remote queue and one coalesced wake-up of the loop.
    fn schedule(self: &Arc<Self>, runnable: Runnable) {
        if !self.is_current() {
            return self.push_remote(Some(runnable));
        }
        CONTEXT.with(|c| match &*c.borrow() {
            Some(ctx) => ctx.local.borrow_mut().push_back(runnable),
            None => self.push_remote(Some(runnable)),
        })
    }

    /// Makes sure the loop wakes up (when called from another thread).
    pub fn notify(self: &Arc<Self>) {
        if !self.is_current() {
            self.push_remote(None);
        }
    }

    fn push_remote(&self, job: Option<Runnable>) {
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        remote.jobs.extend(job);
        self.has_remote.store(true, Ordering::Release);
        if !remote.notified {
            remote.notified = true;
            drop(remote);
            self.unparker.unpark();
        }
    }

    fn drain_remote(&self, into: &mut VecDeque<Runnable>) {
        if !self.has_remote.load(Ordering::Acquire) {
            return;
        }
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        self.has_remote.store(false, Ordering::Relaxed);
        into.extend(remote.jobs.drain(..));
        remote.notified = false;
    }
}

thread_local! {
    /// The `Shared` of the runtime running on this thread, compared by address.
    static LOOP: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
    static CONTEXT: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
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
        })
    }

    /// Makes this context the thread's current one until the guard drops, which restores
    /// the previous one.
    pub fn enter(self: &Rc<Self>) -> ContextGuard {
        let prev = CONTEXT.with(|c| c.borrow_mut().replace(self.clone()));
        let prev_loop = LOOP.with(|l| l.replace(Arc::as_ptr(&self.shared)));
        ContextGuard { prev, prev_loop }
    }

    /// Runs up to `budget` ready tasks, stopping early once `enough_io()` says the tasks have
    /// queued enough work for the kernel; `true` when more are ready.
    pub fn run_tasks(&self, mut enough_io: impl FnMut() -> bool) -> bool {
        self.shared.drain_remote(&mut self.local.borrow_mut());
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

    pub fn has_ready(&self) -> bool {
        !self.local.borrow().is_empty()
    }

    /// Fires due timers and wakes their tasks (they run next turn); returns the next
    /// deadline. Reads the clock only when a timer is armed.
    pub fn fire_timers(&self) -> Option<std::time::Instant> {
        if self.timers.borrow().is_empty() {
            return None;
        }
        let now = std::time::Instant::now();
        let mut fired = self.timers.borrow_mut().fire(now);
        for w in fired.drain(..) {
            w.wake();
        }
        let mut timers = self.timers.borrow_mut();
        timers.recycle(fired);
        timers.next_deadline()
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
        let (runnable, task) = async_task::spawn_local(future, move |r| shared.schedule(r));
        let inserted = self.active.borrow_mut().insert(runnable.waker());
        debug_assert_eq!(inserted, key);
        runnable.schedule();
        JoinHandle::new(task)
    }

    /// Drops every task's future on this thread (cancelling its I/O), then the queues.
    pub fn shutdown_tasks(&self) {
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
                self.shared.drain_remote(&mut self.local.borrow_mut());
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
    prev: Option<Rc<Context>>,
    prev_loop: *const Shared,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CONTEXT.with(|c| *c.borrow_mut() = prev);
        LOOP.with(|l| l.set(self.prev_loop));
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
        let _ = CONTEXT.try_with(|c| {
            if let Some(ctx) = &*c.borrow() {
                ctx.active.borrow_mut().try_remove(self.0);
            }
        });
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
    CONTEXT.try_with(|c| c.borrow().clone()).ok().flatten()
}
