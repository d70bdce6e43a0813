//! The runtime: a loop thread that polls tasks, fires timers and parks in the driver.
//!
//! One turn of the loop: poll the `block_on` future if it was woken; run up to `budget` ready
//! tasks, ending the turn early once they have queued enough submissions (the driver says when,
//! see `Handle::should_flush`); fire due timers; then one `park` in the driver, which submits
//! everything queued, waits (not at all when work is ready, else until the next timer or a
//! completion) and reaps.

mod blocking;
mod executor;
pub(crate) mod task;
pub(crate) mod timer;

use crate::driver::faults::FaultConfig;
pub use task::{JoinError, JoinHandle};

use crate::driver::{self, Backend, BackendInfo};
use executor::Context;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::time::Duration;

pub(crate) use executor::current as current_context;
pub(crate) use executor::try_current as try_current_context;
pub(crate) use executor::with_current as with_current_context;

/// Sets up a [`Runtime`].
///
/// ```
/// use ringport::{Backend, Runtime};
/// let rt = Runtime::builder().backend(Backend::Auto).entries(256).build().unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    backend: Backend,
    entries: u32,
    budget: usize,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    masked_opcodes: Vec<String>,
    faults: Option<Option<FaultConfig>>,
    io_workers: Option<(u32, u32)>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            backend: Backend::Auto,
            entries: 256,
            budget: 128,
            max_blocking_threads: 64,
            blocking_keep_alive: Duration::from_secs(10),
            masked_opcodes: Vec::new(),
            faults: None,
            io_workers: None,
        }
    }
}

impl Builder {
    /// Which backend to use; `Auto` (the default) also honours `RINGPORT_BACKEND`.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Submission queue size (the completion queue is twice as large). More operations than
    /// this may be in flight: the queue is flushed when full and completions never get lost.
    pub fn entries(mut self, entries: u32) -> Self {
        self.entries = entries.max(1);
        self
    }

    /// How many tasks run in one turn before completions are reaped again.
    pub fn budget(mut self, budget: usize) -> Self {
        self.budget = budget.max(1);
        self
    }

    /// The most threads the blocking pool starts.
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits.
    pub fn blocking_keep_alive(mut self, d: Duration) -> Self {
        self.blocking_keep_alive = d;
        self
    }

    /// Treats these io_uring opcodes (names as `ringport info` shows them, e.g. `"STATX"`) as
    /// missing from the kernel, as an older kernel would: their operations then run on the
    /// syscall pool, and a required one makes `Auto` choose the poll backend. For testing the
    /// fallbacks; there is no other reason to use it.
    pub fn mask_opcodes<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.masked_opcodes = names.into_iter().map(Into::into).collect();
        self
    }

    /// Runs the driver under the fault layer (see [`driver::faults`]): seeded short
    /// transfers, legal errors, delayed and reordered completions, lost cancel races. `None`
    /// turns it off even when `RINGPORT_FAULTS` is set; without this call the variable decides.
    pub fn faults(mut self, faults: Option<FaultConfig>) -> Self {
        self.faults = Some(faults);
        self
    }

    /// The most kernel worker threads (io-wq) io_uring may start for this loop: `bounded` for
    /// blocking file work (reads of data not in the page cache), `unbounded` for work that may
    /// wait on another party (splices into sockets and pipes); 0 keeps the kernel's value. By
    /// default bounded stays the kernel's (the SQ size or 4 per CPU, the smaller) and
    /// unbounded is capped at 4 per CPU, at least 16 (the kernel's own cap is the process
    /// limit). Work beyond the cap waits for a worker. `ringport info` shows the caps; ignored
    /// by the poll backend and by kernels before 5.15.
    pub fn max_io_workers(mut self, bounded: u32, unbounded: u32) -> Self {
        self.io_workers = Some((bounded, unbounded));
        self
    }

    /// Creates the runtime on this thread.
    pub fn build(self) -> io::Result<Runtime> {
        let faults = match self.faults {
            Some(f) => f,
            None => FaultConfig::from_env()?,
        };
        let config = driver::Config {
            backend: self.backend,
            entries: self.entries,
            masked_opcodes: self.masked_opcodes,
            faults,
            io_workers: self.io_workers,
        };
        let driver = driver::Handle::new(driver::Driver::build(&config)?);
        let shared = executor::Shared::new(driver.unparker());
        let pool = blocking::Pool::new(self.max_blocking_threads, self.blocking_keep_alive);
        let ctx = Context::new(shared, pool, self.budget);
        Ok(Runtime { driver, ctx })
    }
}

/// A single-threaded completion runtime. It is `!Send`: it lives on the thread that built it.
pub struct Runtime {
    driver: driver::Handle,
    ctx: Rc<Context>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Runtime {
    /// A runtime with the default settings.
    pub fn new() -> io::Result<Runtime> {
        Builder::default().build()
    }

    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.driver.backend()
    }

    /// The backend in use, with the kernel features found and the reason for the choice.
    pub fn backend_info(&self) -> BackendInfo {
        self.driver.info()
    }

    /// How many jobs [`spawn_blocking`] has handed to this runtime's blocking pool so far:
    /// for tests and diagnostics that check some work never leaves the loop.
    pub fn blocking_jobs(&self) -> u64 {
        self.ctx.pool.jobs()
    }

    /// Runs `future` to the end on this thread, with tasks spawned meanwhile.
    ///
    /// # Panics
    ///
    /// When called inside another runtime on the same thread, or when the kernel refuses the
    /// loop's wait (which would mean the ring itself broke).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(
            try_current_context().is_none(),
            "cannot start a ringport runtime inside another one on the same thread"
        );
        let _driver = self.driver.enter();
        let _ctx = self.ctx.enter();
        let main = Arc::new(MainWake {
            local: AtomicBool::new(true),
            remote: AtomicBool::new(false),
            shared: self.ctx.shared.clone(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if main.take() {
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return out;
                }
            }
            self.ctx.run_tasks(|| self.driver.should_flush());
            let next_timer = self.ctx.fire_timers();
            let timeout = if self.ctx.has_ready() || main.is_set() {
                Some(Duration::ZERO)
            } else {
                next_timer
            };
            if let Err(e) = self.driver.park(timeout) {
                panic!("ringport: the loop's wait in the kernel failed: {e}");
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _driver = self.driver.enter();
        let _ctx = self.ctx.enter();
        // Drop every task's future first (their in-flight ops are cancelled and parked in the
        // driver), then wait until the kernel is done with all memory, then free it.
        self.ctx.shutdown_tasks();
        self.driver.shutdown();
        self.ctx.pool.shutdown();
    }
}

/// The waker of the `block_on` future: a flag, plus a wake-up when set from another thread.
///
/// Two flags, so that the common case costs no locked instruction: `local` is written only by
/// the loop thread (set by a wake-up there, cleared before each poll), so plain loads and
/// stores suffice; `remote` is set by other threads and taken with a swap, which orders their
/// writes before the poll it causes.
struct MainWake {
    local: AtomicBool,
    remote: AtomicBool,
    shared: Arc<executor::Shared>,
}

impl MainWake {
    /// Whether the future was woken since the last call; clears the flags.
    #[inline]
    fn take(&self) -> bool {
        let local = self.local.load(Ordering::Relaxed);
        if local {
            self.local.store(false, Ordering::Relaxed);
        }
        let remote =
            self.remote.load(Ordering::Relaxed) && self.remote.swap(false, Ordering::AcqRel);
        local || remote
    }

    #[inline]
    fn is_set(&self) -> bool {
        self.local.load(Ordering::Relaxed) || self.remote.load(Ordering::Relaxed)
    }
}

impl Wake for MainWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    #[inline]
    fn wake_by_ref(self: &Arc<Self>) {
        if self.shared.is_loop_thread() {
            self.local.store(true, Ordering::Relaxed);
        } else {
            self.remote.store(true, Ordering::Release);
            self.shared.notify();
        }
    }
}

/// The backend of the runtime running on this thread, or `None` outside one.
///
/// ```
/// assert_eq!(ringport::runtime::current_backend(), None);
/// let rt = ringport::Runtime::new().unwrap();
/// rt.block_on(async {
///     assert_eq!(ringport::runtime::current_backend(), Some(rt.backend()));
/// });
/// ```
pub fn current_backend() -> Option<Backend> {
    crate::driver::Handle::try_current().map(|h| h.backend())
}

/// Starts a runtime on this thread with the default settings and runs `future` to the end.
///
/// ```
/// let n = ringport::run(async { 40 + 2 });
/// assert_eq!(n, 42);
/// ```
///
/// # Panics
///
/// When no runtime can be created (the error says why: no io_uring, a seccomp filter, a
/// memlock limit), or inside another runtime.
pub fn run<F: Future>(future: F) -> F::Output {
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => panic!("ringport: cannot start a runtime: {e}"),
    };
    rt.block_on(future)
}

/// Spawns a task on the current runtime. The future need not be `Send`: it stays on this thread.
///
/// # Panics
///
/// Outside a ringport runtime.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    current_context().spawn(future)
}

/// Runs blocking work on the runtime's separate, bounded thread pool; never on the loop.
///
/// ```
/// ringport::run(async {
///     let n = ringport::spawn_blocking(|| (1..=10).sum::<u32>()).await.unwrap();
///     assert_eq!(n, 55);
/// });
/// ```
///
/// # Panics
///
/// Outside a ringport runtime.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let pool = current_context().pool.clone();
    pool.count_job();
    let future = async move {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(JoinError::panicked)
    };
    let (runnable, task) = async_task::spawn(future, move |r| pool.execute(r));
    runnable.schedule();
    JoinHandle::new(task)
}

/// Lets other ready tasks run before this one continues.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
