//! The loops of a multi-core runtime: their inboxes, placing tasks across them
//! ([`Handle::spawn_on`], [`Handle::spawn_balanced`]) and stopping them.
//!
//! Shared-nothing: each loop is a whole single-threaded runtime (its own ring or epoll, timers
//! and `!Send` tasks) on its own thread. A task never migrates. What crosses threads is a
//! task's *initial state* (the `Send` closure that makes its future) and wake-ups, both through
//! the target loop's inbox (`executor::Shared`), whose protocol wakes a loop only when it
//! announced it is going to sleep.

use super::executor::{self, Shared};
use super::task::{CatchUnwind, JoinHandle};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Every loop of one runtime, by core index.
pub(crate) struct Loops {
    pub shared: Vec<Arc<Shared>>,
    /// One per loop: set when the runtime drops, ending the loop threads' `block_on`.
    pub stops: Vec<Arc<StopSignal>>,
}

/// A handle to a runtime's loops: `Send + Sync + Clone`, it places tasks on any loop from any
/// thread (a loop thread, a blocking-pool thread, a plain thread).
///
/// ```
/// let rt = ringport::Runtime::builder().threads(2).build().unwrap();
/// let handle = rt.handle();
/// let core = rt.block_on(async move {
///     // The closure is sent to loop 1; the future it makes need not be `Send` (it holds an
///     // `Rc` across an await), only its output must be.
///     handle
///         .spawn_on(1, || async {
///             let here = std::rc::Rc::new(ringport::current_core());
///             ringport::yield_now().await;
///             *here
///         })
///         .await
/// });
/// assert_eq!(core.unwrap(), 1);
/// ```
#[derive(Clone)]
pub struct Handle {
    loops: Arc<Loops>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("cores", &self.cores())
            .finish()
    }
}

impl Handle {
    pub(crate) fn new(loops: Arc<Loops>) -> Handle {
        Handle { loops }
    }

    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    ///
    /// Outside a ringport runtime.
    pub fn current() -> Handle {
        Self::try_current().expect("Handle::current() must be called inside a ringport runtime")
    }

    /// The handle of the runtime running on this thread, if any.
    pub fn try_current() -> Option<Handle> {
        executor::with_current(|ctx| ctx.loops.get().cloned())
            .flatten()
            .map(Handle::new)
    }

    /// How many loops the runtime has.
    pub fn cores(&self) -> usize {
        self.loops.shared.len()
    }

    /// Live tasks that `spawn_on`/`spawn_balanced` placed on loop `core` (what
    /// `spawn_balanced` compares).
    ///
    /// # Panics
    ///
    /// When `core >= cores()`.
    pub fn load(&self, core: usize) -> usize {
        self.target(core).load.load(Ordering::Relaxed)
    }

    fn target(&self, core: usize) -> &Arc<Shared> {
        let n = self.cores();
        self.loops
            .shared
            .get(core)
            .unwrap_or_else(|| panic!("spawn_on: core {core} out of range (the runtime has {n})"))
    }

    /// Runs `f()` as a task on loop `core`. `f` is sent there and called there; the future it
    /// returns stays there and need not be `Send`. The `JoinHandle` is `Send` (its output is),
    /// and may be awaited or aborted from any thread.
    ///
    /// When the loop has shut down, the task is dropped unrun and the handle gives a cancelled
    /// `JoinError` at once: it never hangs.
    ///
    /// # Panics
    ///
    /// When `core >= cores()`.
    pub fn spawn_on<F, Fut>(&self, core: usize, f: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let target = self.target(core).clone();
        target.load.fetch_add(1, Ordering::Relaxed);
        let placed = Placed {
            state: PlacedState::Start(f),
            load: LoadGuard(target.clone()),
            active: None,
        };
        let future = CatchUnwind::new(placed);
        let shared = target.clone();
        // SAFETY: `spawn_unchecked`'s contract. The future and the schedule function are
        // `'static`; the schedule function is `Send + Sync` (an `Arc<Shared>`). The future is
        // not `Send` once started, so it must be polled and dropped on the target loop only:
        // - until its first poll it is `Placed::Start(f)` plus two guards, all `Send`, so it
        //   may be dropped anywhere (below, when the loop has shut down);
        // - every `Runnable` goes through `Shared::schedule` of the target, which queues it
        //   locally only on the target's thread and otherwise in the target's inbox, drained
        //   only by the target's thread (the argument of `Context::spawn`);
        // - at its first poll (on the target) the task enters the target's active set, so the
        //   target's shutdown drops it there, before its memory or driver goes away;
        // - the output is `Send`, so the `Task` handle may read it on any thread.
        let (runnable, task) =
            unsafe { async_task::spawn_unchecked(future, move |r| shared.schedule(r)) };
        if target.is_loop_thread() {
            runnable.schedule();
        } else if let Err(job) = target.try_push(Some(runnable)) {
            // Never polled: dropping it here drops only `f` and the guards.
            drop(job);
        }
        JoinHandle::new(task)
    }

    /// Runs `f()` on the loop with the fewest live placed tasks (ties go to the first loop
    /// after the caller's, so a run of spawns from one loop spreads out). Otherwise as
    /// [`spawn_on`](Self::spawn_on).
    pub fn spawn_balanced<F, Fut>(&self, f: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.spawn_on(self.least_loaded(), f)
    }

    /// The loop `spawn_balanced` would pick now.
    pub fn least_loaded(&self) -> usize {
        let n = self.cores();
        let start = executor::with_current(|ctx| ctx.shared.core + 1).unwrap_or(0);
        let mut best = (usize::MAX, 0);
        for i in 0..n {
            let core = (start + i) % n;
            let load = self.loops.shared[core].load.load(Ordering::Relaxed);
            if load < best.0 {
                best = (load, core);
            }
        }
        best.1
    }
}

/// Decrements a loop's placed-task count when the task ends (with its future).
struct LoadGuard(Arc<Shared>);

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.0.load.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Removes a placed task from its loop's active set when its future drops (on that loop).
struct ActiveGuard(usize);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        executor::with_current(|ctx| ctx.unregister_active(self.0));
    }
}

enum PlacedState<F, Fut> {
    Start(F),
    Running(Fut),
    Taken,
}

/// A task placed on another loop: the closure until its first poll there, then its future.
struct Placed<F, Fut> {
    state: PlacedState<F, Fut>,
    // Drop order: the future (in `state`) first, then these.
    active: Option<ActiveGuard>,
    load: LoadGuard,
}

impl<F, Fut> Future for Placed<F, Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    type Output = Fut::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        // SAFETY: `state` is structurally pinned (a `Running` future is never moved: it is
        // only replaced by dropping it in place); the other fields are never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _ = &this.load;
        if let PlacedState::Start(_) = this.state {
            let PlacedState::Start(f) = std::mem::replace(&mut this.state, PlacedState::Taken)
            else {
                unreachable!()
            };
            this.active =
                executor::with_current(|ctx| ActiveGuard(ctx.register_active(cx.waker())));
            this.state = PlacedState::Running(f());
        }
        match &mut this.state {
            // SAFETY: see above; the future stays where it is until it is dropped.
            PlacedState::Running(fut) => unsafe { Pin::new_unchecked(fut) }.poll(cx),
            _ => unreachable!("a placed task polled after it finished"),
        }
    }
}

/// Ends a loop thread's `block_on`: set once, from the thread that drops the runtime.
#[derive(Default)]
pub(crate) struct StopSignal {
    state: Mutex<(bool, Option<Waker>)>,
}

impl StopSignal {
    pub fn stop(&self) {
        let waker = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.0 = true;
            s.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Resolves once `stop` was called.
    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.0 {
                Poll::Ready(())
            } else {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Pins the calling thread to one CPU.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it (checked below).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("cannot pin to CPU {cpu}"),
            ));
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this process may run on, in order.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a zeroed, correctly sized cpu_set_t; CPU_ISSET reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to one CPU (`SetThreadAffinityMask`; the first 64 CPUs, the
/// process's processor group).
#[cfg(windows)]
pub(crate) fn pin_to(cpu: usize) -> std::io::Result<()> {
    use windows_sys::Win32::System::Threading::{GetCurrentThread, SetThreadAffinityMask};
    if cpu >= usize::BITS as usize {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("cannot pin to CPU {cpu}"),
        ));
    }
    // SAFETY: the pseudo-handle of the calling thread, and a mask within the word.
    if unsafe { SetThreadAffinityMask(GetCurrentThread(), 1 << cpu) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs this process may run on, in order (its affinity mask).
#[cfg(windows)]
pub(crate) fn allowed_cpus() -> Vec<usize> {
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessAffinityMask};
    let (mut process, mut system) = (0usize, 0usize);
    // SAFETY: the pseudo-handle of this process; both outputs are locals of the right size.
    if unsafe { GetProcessAffinityMask(GetCurrentProcess(), &mut process, &mut system) } == 0 {
        return Vec::new();
    }
    (0..usize::BITS as usize)
        .filter(|&c| process & (1 << c) != 0)
        .collect()
}

/// Pins the calling thread to one CPU (`cpuset_setaffinity` on the thread, id -1 = the
/// caller). Type-checked in CI, not run: no FreeBSD host.
#[cfg(target_os = "freebsd")]
pub(crate) fn pin_to(cpu: usize) -> std::io::Result<()> {
    // The set's bits, whatever the FreeBSD version's CPU_SETSIZE (the struct is opaque).
    let bits = std::mem::size_of::<libc::cpuset_t>() * 8;
    if cpu >= bits {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("cannot pin to CPU {cpu}"),
        ));
    }
    // SAFETY: a zeroed cpuset_t is an empty set; CPU_SET writes within it (checked above);
    // the kernel reads `size_of` bytes of the local set.
    unsafe {
        let mut set: libc::cpuset_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::cpuset_setaffinity(
            libc::CPU_LEVEL_WHICH,
            libc::CPU_WHICH_TID,
            -1,
            std::mem::size_of::<libc::cpuset_t>(),
            &set,
        );
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this process may run on, in order (its cpuset).
#[cfg(target_os = "freebsd")]
pub(crate) fn allowed_cpus() -> Vec<usize> {
    let bits = std::mem::size_of::<libc::cpuset_t>() * 8;
    // SAFETY: cpuset_getaffinity fills a zeroed, correctly sized local set; CPU_ISSET reads
    // bits within it.
    unsafe {
        let mut set: libc::cpuset_t = std::mem::zeroed();
        let rc = libc::cpuset_getaffinity(
            libc::CPU_LEVEL_WHICH,
            libc::CPU_WHICH_PID,
            -1,
            std::mem::size_of::<libc::cpuset_t>(),
            &mut set,
        );
        if rc != 0 {
            return Vec::new();
        }
        (0..bits).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}

/// Pinning is not implemented on macOS and the other BSDs (macOS has no hard affinity at all).
#[cfg(all(
    unix,
    not(any(target_os = "linux", target_os = "android", target_os = "freebsd"))
))]
pub(crate) fn pin_to(_cpu: usize) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "pinning loops to CPUs is not implemented on this OS",
    ))
}

/// Every CPU (pinning fails here anyway, see [`pin_to`]).
#[cfg(all(
    unix,
    not(any(target_os = "linux", target_os = "android", target_os = "freebsd"))
))]
pub(crate) fn allowed_cpus() -> Vec<usize> {
    (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
}
