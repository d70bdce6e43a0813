//! The runtime: a loop thread that polls tasks, fires timers and parks in the driver.
//!
//! One turn of the loop: poll the `block_on` future if it was woken; run up to `budget` ready
//! tasks, ending the turn early once they have queued enough submissions (the driver says when,
//! see `Handle::should_flush`); fire due timers; then one `park` in the driver, which submits
//! everything queued, waits (not at all when work is ready, else until the next timer or a
//! completion) and reaps.

mod blocking;
mod executor;
mod inbox;
mod loops;
pub(crate) mod task;
pub(crate) mod timer;

use crate::driver::faults::FaultConfig;
pub use loops::Handle;
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
    threads: usize,
    pin: bool,
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
            threads: 1,
            pin: false,
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

    /// How many loops: one thread per loop, each with its own ring (or epoll), timers and
    /// `!Send` tasks. `1` (the default) is a single-threaded runtime; `0` means one loop per
    /// CPU this process may use. Loop 0 is the thread that builds the runtime (it runs
    /// `block_on`); loops 1.. get threads of their own, named `ringport-loop-N`.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Pins loop `i` to the `i`-th CPU this process may use (wrapping around), loop 0 (the
    /// building thread) included. Off by default.
    pub fn pin(mut self, on: bool) -> Self {
        self.pin = on;
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

    /// Creates the runtime: loop 0 on this thread, the others (see [`threads`](Self::threads))
    /// each on a thread of its own, whose ring is created on that thread.
    pub fn build(self) -> io::Result<Runtime> {
        let faults = match self.faults {
            Some(f) => f,
            None => FaultConfig::from_env()?,
        };
        let n = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let config = driver::Config {
            backend: self.backend,
            entries: self.entries,
            masked_opcodes: self.masked_opcodes,
            faults,
            io_workers: self.io_workers,
        };
        let cpus = if self.pin {
            loops::allowed_cpus()
        } else {
            Vec::new()
        };
        let cpu_of = |core: usize| (!cpus.is_empty()).then(|| cpus[core % cpus.len()]);
        if let Some(cpu) = cpu_of(0) {
            loops::pin_to(cpu)?;
        }
        // One blocking pool for every loop: a job's result wakes the task that asked, on its
        // own loop, so loops never run blocking work.
        let pool = blocking::Pool::new(self.max_blocking_threads, self.blocking_keep_alive);
        let announces = n > 1;
        let (driver, ctx) = build_loop(&config, 0, pool.clone(), self.budget, announces)?;
        let mut shared = vec![ctx.shared.clone()];
        let mut stops = Vec::new();
        let mut starting = Vec::new();
        for core in 1..n {
            match spawn_loop(&config, core, cpu_of(core), pool.clone(), self.budget) {
                Ok((s, start)) => {
                    shared.push(s);
                    stops.push(start.stop.clone());
                    starting.push(start);
                }
                Err(e) => {
                    for start in starting {
                        start.abandon();
                    }
                    return Err(e);
                }
            }
        }
        stops.insert(0, Arc::new(loops::StopSignal::default()));
        let all = Arc::new(loops::Loops { shared, stops });
        let _ = ctx.loops.set(all.clone());
        let threads = starting.into_iter().map(|s| s.go(all.clone())).collect();
        Ok(Runtime {
            driver,
            ctx,
            loops: all,
            threads,
            owns_pool: true,
        })
    }
}

/// Builds one loop's driver and context on the calling thread.
fn build_loop(
    config: &driver::Config,
    core: usize,
    pool: blocking::Pool,
    budget: usize,
    announces: bool,
) -> io::Result<(driver::Handle, Rc<Context>)> {
    let driver = driver::Handle::new(driver::Driver::build(config)?);
    let shared = executor::Shared::new(driver.unparker(), core, announces);
    Ok((driver, Context::new(shared, pool, budget)))
}

/// A loop thread that built its ring and waits for the list of all loops.
struct Starting {
    thread: std::thread::JoinHandle<()>,
    go: std::sync::mpsc::Sender<Option<Arc<loops::Loops>>>,
    stop: Arc<loops::StopSignal>,
}

impl Starting {
    fn go(self, all: Arc<loops::Loops>) -> std::thread::JoinHandle<()> {
        let _ = self.go.send(Some(all));
        self.thread
    }

    fn abandon(self) {
        let _ = self.go.send(None);
        let _ = self.thread.join();
    }
}

/// Starts loop `core` on a thread of its own: the ring is created there (so `SINGLE_ISSUER`
/// holds and the registered ring fd is that thread's), then the loop runs until stopped.
fn spawn_loop(
    config: &driver::Config,
    core: usize,
    cpu: Option<usize>,
    pool: blocking::Pool,
    budget: usize,
) -> io::Result<(Arc<executor::Shared>, Starting)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<Option<Arc<loops::Loops>>>();
    let stop = Arc::new(loops::StopSignal::default());
    let config = config.clone();
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("ringport-loop-{core}"))
        .spawn(move || {
            if let Some(cpu) = cpu {
                if let Err(e) = loops::pin_to(cpu) {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            }
            let (driver, ctx) = match build_loop(&config, core, pool, budget, true) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(ctx.shared.clone()));
            let all = go_rx.recv().ok().flatten();
            let rt = Runtime {
                driver,
                ctx,
                loops: Arc::new(loops::Loops {
                    shared: Vec::new(),
                    stops: Vec::new(),
                }),
                threads: Vec::new(),
                owns_pool: false,
            };
            if let Some(all) = all {
                let _ = rt.ctx.loops.set(all);
                rt.block_on(thread_stop.wait());
            }
            // Dropping the runtime here, on its thread, drains its tasks and its ring.
        })?;
    match ready_rx.recv() {
        Ok(Ok(shared)) => Ok((
            shared,
            Starting {
                thread,
                go: go_tx,
                stop,
            },
        )),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(io::Error::other(format!(
                "ringport: loop {core} failed to start"
            )))
        }
    }
}

/// A completion runtime. It is `!Send`: it lives on the thread that built it, which is its
/// loop 0; with [`Builder::threads`] above 1 it owns more loops, each on its own thread.
pub struct Runtime {
    driver: driver::Handle,
    ctx: Rc<Context>,
    /// Every loop (only loop 0's runtime fills this in).
    loops: Arc<loops::Loops>,
    /// The threads of loops 1.. (only loop 0's runtime has them).
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Loop 0 shuts the shared blocking pool down, after every loop has stopped.
    owns_pool: bool,
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

    /// A `Send + Sync` handle that places tasks on this runtime's loops from any thread.
    pub fn handle(&self) -> Handle {
        Handle::new(self.loops.clone())
    }

    /// How many loops the runtime has.
    pub fn cores(&self) -> usize {
        self.loops.shared.len()
    }

    /// Runs the future `factory()` makes on every loop at once (loop 0 on this thread) and
    /// returns their outputs by loop index: the way to start one server per loop.
    ///
    /// ```
    /// let rt = ringport::Runtime::builder().threads(2).build().unwrap();
    /// let cores = rt.block_on_all(|| async { ringport::current_core() });
    /// assert_eq!(cores, vec![0, 1]);
    /// ```
    ///
    /// # Panics
    ///
    /// When a loop's future panics (the panic is resumed here), or as [`block_on`](Self::block_on).
    pub fn block_on_all<F, Fut>(&self, factory: F) -> Vec<Fut::Output>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let factory = Arc::new(factory);
        let handle = self.handle();
        let others: Vec<_> = (1..self.cores())
            .map(|core| {
                let f = factory.clone();
                handle.spawn_on(core, move || f())
            })
            .collect();
        self.block_on(async move {
            let mut out = vec![factory().await];
            for join in others {
                match join.await {
                    Ok(v) => out.push(v),
                    Err(e) => match e.try_into_panic() {
                        Ok(p) => std::panic::resume_unwind(p),
                        Err(e) => panic!("ringport: a loop stopped before its future ended: {e}"),
                    },
                }
            }
            out
        })
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
        // The driver's slots keep a marker for this waker, not clones of it (the guard drops
        // before `main`, which owns the flag).
        let _main = self.driver.enter_main(&waker, &main.local);
        let mut cx = std::task::Context::from_waker(&waker);
        let mut future = pin!(future);
        // Read through once: the sleep announcement below is on every blocking park's path.
        let shared: &executor::Shared = &self.ctx.shared;
        let announces = shared.announces();
        loop {
            if main.take() {
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    // What was dropped on the way out (a listener, an accept waiting on it) is
                    // released now, not at the next `block_on`.
                    self.driver.settle();
                    return out;
                }
            }
            self.ctx.run_tasks(|| self.driver.should_flush());
            let next_timer = self.ctx.fire_timers();
            let mut timeout = if self.ctx.has_ready() || main.is_set() {
                Some(Duration::ZERO)
            } else {
                next_timer
            };
            // A park that may block is announced, so that other threads wake it (and only
            // then); a job that arrived meanwhile makes it a poll. (Single-loop runtimes are
            // woken once per drain instead: see `executor::Shared`.)
            let may_block = announces && timeout != Some(Duration::ZERO);
            if may_block && !shared.announce_sleep() {
                timeout = Some(Duration::ZERO);
            }
            if let Err(e) = self.driver.park(timeout) {
                panic!("ringport: the loop's wait in the kernel failed: {e}");
            }
            if may_block {
                shared.awake();
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The other loops first: each drains its own tasks and ring on its own thread.
        for stop in self.loops.stops.iter().skip(1) {
            stop.stop();
        }
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a ringport loop thread panicked");
            }
        }
        let _driver = self.driver.enter();
        let _ctx = self.ctx.enter();
        // Drop every task's future first (their in-flight ops are cancelled and parked in the
        // driver), then wait until the kernel is done with all memory, then free it.
        self.ctx.shutdown_tasks();
        self.driver.shutdown();
        if self.owns_pool {
            self.ctx.pool.shutdown();
        }
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

/// Runs `f()` as a task on loop `core` of the current runtime; see [`Handle::spawn_on`].
///
/// # Panics
///
/// Outside a ringport runtime, or when `core >= cores()`.
pub fn spawn_on<F, Fut>(core: usize, f: F) -> JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    Handle::current().spawn_on(core, f)
}

/// Runs `f()` on the current runtime's least-loaded loop; see [`Handle::spawn_balanced`].
///
/// # Panics
///
/// Outside a ringport runtime.
pub fn spawn_balanced<F, Fut>(f: F) -> JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    Handle::current().spawn_balanced(f)
}

/// The index of the loop running on this thread (0 on a single-loop runtime).
///
/// # Panics
///
/// Outside a ringport runtime.
pub fn current_core() -> usize {
    executor::with_current(|ctx| ctx.shared.core)
        .expect("current_core() must be called inside a ringport runtime")
}

/// How many loops the current runtime has (1 for `ringport::run`).
///
/// # Panics
///
/// Outside a ringport runtime.
pub fn cores() -> usize {
    Handle::current().cores()
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
