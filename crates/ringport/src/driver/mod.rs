//! The proactor: hands operations and their memory to the kernel and reports completions.
//!
//! # The backend contract
//!
//! Every backend (`uring` and `poll` on Linux, `iocp` on Windows) provides a `Driver` with:
//!
//! - `submit(entry-maker, waker) -> key`: queue an operation. Nothing reaches the kernel until
//!   the next `park`, so an operation is never completed inside the call that submitted it.
//! - `poll_op(key, cx) -> Poll<Completion>`: `Ready` exactly once, after the loop reaped the
//!   operation's completion; until then the latest waker is kept and woken by the loop.
//! - `cancel(key, data)`: the operation's future was dropped. The backend asks the kernel to
//!   cancel and keeps `data` (buffers, fds) alive until the completion arrives, then drops it.
//! - `park(timeout)`: one kernel entry that flushes queued submissions, waits for at least one
//!   completion or the timeout (`Some(ZERO)`: do not wait), reaps every completion and wakes
//!   their wakers after the driver is released. (IOCP has no batched submission: each queued
//!   overlapped call is its own non-blocking system call, made at the start of `park`, and the
//!   one *blocking* entry is the `GetQueuedCompletionStatusEx` that follows.)
//! - `unparker()`: a `Send + Sync` handle whose `unpark` ends a `park` from any thread.
//! - `shutdown()`: cancel everything in flight and wait until the kernel has finished with every
//!   operation's memory. The runtime calls it before freeing anything.
//! - `info()`: which backend, with which kernel features, and why (see [`BackendInfo`]).
//!
//! The portable code calls the one switch below (`Driver`); backend code lives only in
//! `driver/<backend>/`.

pub mod cancel;
pub mod faults;
#[cfg(unix)]
pub(crate) mod fd;
#[cfg(windows)]
#[path = "fd_windows.rs"]
pub(crate) mod fd;
#[cfg(windows)]
mod iocp;
pub(crate) mod op;
#[cfg(unix)]
mod poll;
#[cfg(unix)]
mod pool;
mod slots;
#[cfg(target_os = "linux")]
mod uring;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

pub use op::nop;
pub(crate) use op::{MultiOp, Op, OpCode, Orphan};

/// Which I/O backend a runtime runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Probe io_uring and use it when it works; honour `RINGPORT_BACKEND` when set.
    Auto,
    /// io_uring. Building a runtime fails, saying why, when it cannot be used.
    Uring,
    /// epoll readiness plus a pool of threads for calls with no non-blocking form.
    Poll,
    /// Windows I/O completion ports (the only backend there, and never available elsewhere).
    Iocp,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Uring => "uring",
            Backend::Poll => "poll",
            Backend::Iocp => "iocp",
        })
    }
}

impl Backend {
    /// Reads `RINGPORT_BACKEND`: `None` when unset or empty, an error naming the valid values
    /// when it holds anything else.
    pub fn from_env() -> io::Result<Option<Backend>> {
        match std::env::var("RINGPORT_BACKEND") {
            Err(_) => Ok(None),
            Ok(v) => Self::from_env_value(&v),
        }
    }

    /// Parses a `RINGPORT_BACKEND` value (see [`from_env`](Self::from_env)).
    pub fn from_env_value(v: &str) -> io::Result<Option<Backend>> {
        match v.trim() {
            "" | "auto" => Ok(None),
            "uring" => Ok(Some(Backend::Uring)),
            "poll" => Ok(Some(Backend::Poll)),
            "iocp" => Ok(Some(Backend::Iocp)),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGPORT_BACKEND={other:?}: expected `uring`, `poll`, `iocp` or `auto`"),
            )),
        }
    }
}

/// What the runtime found when it chose its backend: shown by `ringport info`.
#[derive(Debug, Clone)]
pub struct BackendInfo {
    /// The backend in use.
    pub backend: Backend,
    /// Why this backend, when it was not simply the first choice (a forced backend, a fallback).
    pub reason: Option<String>,
    /// Ring setup flags the kernel accepted (`SINGLE_ISSUER`, `DEFER_TASKRUN`, ...).
    pub setup_flags: Vec<&'static str>,
    /// Kernel features reported by `io_uring_setup` (`NODROP`, `EXT_ARG`, ...).
    pub features: Vec<&'static str>,
    /// Each opcode ringport uses, and whether the kernel's probe has it.
    pub opcodes: Vec<(&'static str, bool)>,
    /// Submission and completion queue sizes.
    pub entries: (u32, u32),
    /// The fault layer's seed and rate, when it is on (`RINGPORT_FAULTS`).
    pub faults: Option<faults::FaultConfig>,
    /// io_uring's kernel worker threads (io-wq) per loop thread, as `(bounded, unbounded)`:
    /// bounded ones run blocking file work, unbounded ones work that may wait on another
    /// party (a splice into a socket). `None` where the kernel cannot cap them (before 5.15)
    /// or on the poll backend.
    pub io_workers: Option<(u32, u32)>,
}

/// How a runtime's driver is set up.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub backend: Backend,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's ring size
    pub entries: u32,
    /// Opcodes to treat as missing from the kernel's io_uring (their ops use the pool).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring only
    pub masked_opcodes: Vec<String>,
    /// The fault layer, when on.
    pub faults: Option<faults::FaultConfig>,
    /// The most io-wq workers per loop, `(bounded, unbounded)`; `None`: ringport's default.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring only
    pub io_workers: Option<(u32, u32)>,
}

/// The outcome of one operation, as the kernel reported it.
#[derive(Debug)]
pub(crate) struct Completion {
    pub result: io::Result<u32>,
    pub flags: u32,
}

impl Completion {
    /// Converts a raw result, `-errno` on failure, in exactly one place.
    #[inline]
    pub fn from_raw(res: i32, flags: u32) -> Self {
        let result = if res < 0 {
            Err(io::Error::from_raw_os_error(-res))
        } else {
            Ok(res as u32)
        };
        Completion { result, flags }
    }
}

/// The ring buffer a completion used, from its flags (`IORING_CQE_F_BUFFER`, id in the high
/// 16 bits).
pub(crate) fn buffer_id(flags: u32) -> Option<u16> {
    (flags & 1 != 0).then_some((flags >> 16) as u16)
}

/// Ends a `park` from any thread.
pub(crate) trait Unpark: Send + Sync + 'static {
    fn unpark(&self);
}

/// What every op implements: its form on each backend this platform has.
#[cfg(target_os = "linux")]
pub(crate) trait BackendOp: uring::UringOp + poll::PollOp {}
#[cfg(target_os = "linux")]
impl<T: uring::UringOp + poll::PollOp> BackendOp for T {}
#[cfg(windows)]
pub(crate) use iocp::IocpOp as BackendOp;
#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) use poll::PollOp as BackendOp;

/// The OS error code of a cancelled operation ([`cancel::is_cancelled`]).
#[cfg(unix)]
pub(crate) const CANCELLED_CODE: i32 = libc::ECANCELED;
/// The OS error code of a cancelled operation ([`cancel::is_cancelled`]):
/// `ERROR_OPERATION_ABORTED`.
#[cfg(windows)]
pub(crate) const CANCELLED_CODE: i32 = 995;

/// The one switch between backends.
// One per runtime, inside an Rc: boxing the larger variant would only add a pointer chase to
// every operation.
#[cfg(target_os = "linux")]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Uring(uring::Driver),
    Poll(poll::Driver),
}

/// The one switch between backends: macOS and the BSDs have the poll backend (on kqueue).
#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) enum Driver {
    Poll(poll::Driver),
}

/// Calls the same method on whichever backend runs.
#[cfg(all(unix, not(target_os = "linux")))]
macro_rules! backend {
    ($driver:expr, $d:ident => $e:expr) => {
        match $driver {
            Driver::Poll($d) => $e,
        }
    };
}

/// The one switch between backends: Windows has one.
#[cfg(windows)]
pub(crate) enum Driver {
    Iocp(iocp::Driver),
}

/// Calls the same method on whichever backend runs.
#[cfg(windows)]
macro_rules! backend {
    ($driver:expr, $d:ident => $e:expr) => {
        match $driver {
            Driver::Iocp($d) => $e,
        }
    };
}

/// Calls the same method on whichever backend runs.
#[cfg(target_os = "linux")]
macro_rules! backend {
    ($driver:expr, $d:ident => $e:expr) => {
        match $driver {
            Driver::Uring($d) => $e,
            Driver::Poll($d) => $e,
        }
    };
}

#[cfg(target_os = "linux")]
impl Driver {
    pub fn new(config: &Config) -> io::Result<Driver> {
        let forced = Backend::from_env()?;
        let (backend, reason) = match (config.backend, forced) {
            (Backend::Auto, Some(b)) => (b, Some(format!("forced by RINGPORT_BACKEND={b}"))),
            (Backend::Auto, None) => (Backend::Auto, None),
            (b, _) => (b, Some(format!("chosen by the builder ({b})"))),
        };
        match backend {
            Backend::Uring => uring::Driver::new(config, reason).map(Driver::Uring),
            Backend::Poll => poll::Driver::new(config, reason).map(Driver::Poll),
            Backend::Auto => match uring::Driver::new(config, None) {
                Ok(d) => Ok(Driver::Uring(d)),
                Err(e) => {
                    warn_fallback_once(&e);
                    let reason = Some(format!("io_uring cannot be used: {e}"));
                    poll::Driver::new(config, reason).map(Driver::Poll)
                }
            },
            Backend::Iocp => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the iocp backend exists only on Windows",
            )),
        }
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
impl Driver {
    pub fn new(config: &Config) -> io::Result<Driver> {
        let forced = Backend::from_env()?;
        let reason = match (config.backend, forced) {
            (Backend::Auto, None | Some(Backend::Poll)) | (Backend::Poll, _) => {
                Some("io_uring exists only on Linux".to_owned())
            }
            (Backend::Auto, Some(b)) | (b, _) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the {b} backend does not exist here (poll, on kqueue, does)"),
                ))
            }
        };
        poll::Driver::new(config, reason).map(Driver::Poll)
    }
}

#[cfg(windows)]
impl Driver {
    pub fn new(config: &Config) -> io::Result<Driver> {
        let forced = Backend::from_env()?;
        let reason = match (config.backend, forced) {
            (Backend::Auto, None | Some(Backend::Iocp)) | (Backend::Iocp, _) => None,
            (Backend::Auto, Some(b)) | (b, _) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the {b} backend does not exist on Windows (iocp does)"),
                ))
            }
        };
        iocp::Driver::new(config, reason).map(Driver::Iocp)
    }
}

impl Driver {
    /// The backend `config` asks for, under the fault layer when `config.faults` is set.
    pub fn build(config: &Config) -> io::Result<Driver> {
        let mut driver = Driver::new(config)?;
        if let Some(f) = config.faults {
            // Said on every runtime: a failing test's captured output names the seed to replay.
            eprintln!("ringport: fault layer on: RINGPORT_FAULTS={f} (replay with this value)");
            backend!(&mut driver, d => d.set_faults(f));
        }
        Ok(driver)
    }

    pub fn info(&self) -> &BackendInfo {
        backend!(self, d => d.info())
    }

    pub fn unparker(&self) -> Arc<dyn Unpark> {
        backend!(self, d => d.unparker())
    }
}

/// Says once per process that ringport fell back from io_uring, and why.
#[cfg(target_os = "linux")]
fn warn_fallback_once(e: &io::Error) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| tracing::warn!("io_uring cannot be used ({e}); using the poll backend"));
}

impl Driver {}

/// A cheap, cloneable reference to the current thread's driver, held by in-flight operations.
#[derive(Clone)]
pub(crate) struct Handle {
    inner: Rc<HandleInner>,
}

pub(crate) struct HandleInner {
    driver: RefCell<Driver>,
    /// Fds whose last holder dropped while the driver was busy: closed at the next park.
    closing: RefCell<Vec<fd::RawFd>>,
    /// Fixed-file slots released while the driver was busy: released at the next park.
    releasing: RefCell<Vec<u32>>,
    /// Whether `closing` or `releasing` holds anything (one check per park).
    deferred: Cell<bool>,
    /// Filled by a `park` while the driver is borrowed, drained right after it is not.
    released: RefCell<Released>,
    /// The waker of the future `block_on` runs, by identity (data and vtable pointers; null
    /// outside `block_on`): its ops store [`MAIN_MARKER`] instead of a clone of it.
    main: Cell<(*const (), *const RawWakerVTable)>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("driver::Handle")
    }
}

thread_local! {
    /// Every driver made on this thread, weakly (see `Handle::forget_closed`).
    static DRIVERS: RefCell<Vec<std::rc::Weak<HandleInner>>> = const { RefCell::new(Vec::new()) };
    /// The current driver: a strong reference owned by the innermost `EnterGuard` (null when
    /// none), read without a borrow flag because every operation starts by reading it.
    static CURRENT: Cell<*const HandleInner> = const { Cell::new(std::ptr::null()) };
}

impl Handle {
    pub fn new(driver: Driver) -> Handle {
        let handle = Handle {
            inner: Rc::new(HandleInner {
                driver: RefCell::new(driver),
                closing: RefCell::new(Vec::new()),
                releasing: RefCell::new(Vec::new()),
                deferred: Cell::new(false),
                released: RefCell::new(Released::default()),
                main: Cell::new((std::ptr::null(), std::ptr::null())),
            }),
        };
        // The ring's fixed files are recorded in their fds together with the driver they
        // belong to; only io_uring has them (the other backends ignore the owner).
        let owner = Rc::downgrade(&handle.inner);
        DRIVERS.with(|all| {
            let mut all = all.borrow_mut();
            all.retain(|d| d.strong_count() > 0);
            all.push(owner.clone());
        });
        backend!(&mut *handle.inner.driver.borrow_mut(), d => d.set_owner(owner));
        handle
    }

    /// An fd of this thread leaves ringport: it is being closed by `closer` (`None`: directly,
    /// outside any runtime), or handed out raw (`None`). Every driver made on this thread but
    /// `closer` forgets it. The poll backend keeps
    /// state per fd number (its registration, whether the queue was drained) and IOCP the
    /// handles it attached; left behind, that state would belong to the next fd given the
    /// same number, whose waits would then never be woken. An fd is never used by a driver
    /// of another thread (it is not `Send`), so this thread's drivers are all there are.
    pub(crate) fn forget_closed(fd: fd::RawFd, closer: Option<&Handle>) {
        DRIVERS.with(|all| {
            for d in all.borrow().iter() {
                if closer.is_some_and(|c| std::ptr::eq(d.as_ptr(), Rc::as_ptr(&c.inner))) {
                    continue;
                }
                // `forget_fd` closes nothing, so nothing re-enters this list.
                if let Some(inner) = d.upgrade() {
                    Handle { inner }.forget_fd(fd);
                }
            }
        });
    }

    /// The driver of the runtime running on this thread.
    ///
    /// # Panics
    ///
    /// Outside a ringport runtime.
    #[inline]
    pub fn current() -> Handle {
        Self::try_current().expect("this must be called from inside a ringport runtime")
    }

    #[inline]
    pub fn try_current() -> Option<Handle> {
        let ptr = CURRENT.with(Cell::get);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: a non-null pointer is a strong reference that the innermost `EnterGuard` on
        // this thread holds (made by `Rc::into_raw`), so the allocation is alive; taking one
        // more reference for the new `Handle` keeps the count balanced.
        unsafe {
            Rc::increment_strong_count(ptr);
            Some(Handle {
                inner: Rc::from_raw(ptr),
            })
        }
    }

    /// Makes this driver the thread's current one until the guard drops.
    pub fn enter(&self) -> EnterGuard {
        let ptr = Rc::into_raw(self.inner.clone());
        let prev = CURRENT.with(|c| c.replace(ptr));
        EnterGuard { prev }
    }

    /// The backend in use, without copying the whole report.
    pub fn backend(&self) -> Backend {
        self.inner.driver.borrow().info().backend
    }

    pub fn info(&self) -> BackendInfo {
        self.inner.driver.borrow().info().clone()
    }

    pub fn unparker(&self) -> Arc<dyn Unpark> {
        self.inner.driver.borrow().unparker()
    }

    #[inline(always)]
    pub fn submit<T: OpCode>(&self, data: &mut T, waker: &Waker) -> usize {
        let waker = self.stored(waker);
        backend!(&mut *self.inner.driver.borrow_mut(), d => d.submit(data, waker))
    }

    /// The waker a slot keeps for `waker`: [`MAIN_MARKER`] for the main future's.
    #[inline(always)]
    fn stored<'a>(&self, waker: &'a Waker) -> &'a Waker {
        if self.inner.main.get() == (waker.data(), waker.vtable() as *const RawWakerVTable) {
            &MAIN_MARKER
        } else {
            waker
        }
    }

    /// Makes `waker` (set through `flag`) the main future's until the guard drops: see
    /// [`MAIN_MARKER`]. `flag` must stay valid until then.
    pub fn enter_main(&self, waker: &Waker, flag: *const AtomicBool) -> MainGuard {
        let prev_id = self
            .inner
            .main
            .replace((waker.data(), waker.vtable() as *const RawWakerVTable));
        let prev_flag = MAIN_FLAG.with(|f| f.replace(flag));
        MainGuard {
            handle: self.clone(),
            prev_id,
            prev_flag,
        }
    }

    /// Whether enough submissions are queued that the loop should end its turn and hand them
    /// to the kernel now rather than run more tasks first.
    #[inline]
    pub fn should_flush(&self) -> bool {
        backend!(&mut *self.inner.driver.borrow_mut(), d => d.should_flush())
    }

    /// Asks the kernel to cancel an op whose future still waits for it.
    pub fn request_cancel(&self, key: usize) {
        backend!(&mut *self.inner.driver.borrow_mut(), d => d.request_cancel(key))
    }

    #[inline]
    pub fn submit_multi<T: OpCode>(&self, data: &mut T, waker: &Waker) -> usize {
        let waker = self.stored(waker);
        backend!(&mut *self.inner.driver.borrow_mut(), d => d.submit_multi(data, waker))
    }

    #[inline]
    pub fn poll_multi(&self, key: usize, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        let mut main_cx;
        let cx = if std::ptr::eq(self.stored(cx.waker()), &MAIN_MARKER) {
            main_cx = Context::from_waker(&MAIN_MARKER);
            &mut main_cx
        } else {
            cx
        };
        backend!(&mut *self.inner.driver.borrow_mut(), d => d.poll_multi(key, cx))
    }

    #[inline(always)]
    pub fn poll_op(&self, key: usize, cx: &mut Context<'_>) -> Poll<Completion> {
        // A pending op polled again by the main future keeps its marker (no clone).
        let mut main_cx;
        let cx = if std::ptr::eq(self.stored(cx.waker()), &MAIN_MARKER) {
            main_cx = Context::from_waker(&MAIN_MARKER);
            &mut main_cx
        } else {
            cx
        };
        backend!(&mut *self.inner.driver.borrow_mut(), d => d.poll_op(key, cx))
    }

    /// The op's future was dropped while in flight: keep `data` alive until the kernel is done.
    pub fn cancel(&self, key: usize, data: Box<dyn Orphan>) {
        let leftover = backend!(&mut *self.inner.driver.borrow_mut(), d => d.cancel(key, data));
        // Dropped after the borrow ends: the data may hold an fd whose drop submits a close.
        drop(leftover);
    }

    /// Closes an fd through the backend, without waiting. When the driver is busy (the fd
    /// was dropped from inside it), the close is queued for the next park: the backend must
    /// see every close (the poll backend forgets the fd's registration first).
    pub fn close_detached(&self, fd: fd::RawFd) {
        match self.inner.driver.try_borrow_mut() {
            Ok(mut d) => backend!(&mut *d, d => d.close_detached(fd)),
            Err(_) => {
                self.inner.closing.borrow_mut().push(fd);
                self.inner.deferred.set(true);
            }
        }
    }

    /// Releases a fixed-file slot of an fd that is being closed or handed out raw (io_uring
    /// only: no other backend registers fds). Queued for the next park when the driver is busy.
    ///
    /// Inside this runtime the release rides on the next `io_uring_enter`, as closes do. From
    /// outside it (an fd dropped after `block_on` returned, or inside another runtime on this
    /// thread) nothing may enter the ring for a while, so the slot is emptied at once with a
    /// system call: otherwise the file would stay open, and a peer would wait for the close.
    #[cfg_attr(windows, allow(dead_code))] // fds on Windows are never fixed files
    pub fn release_fixed(&self, slot: u32) {
        let inside = CURRENT.with(Cell::get) == Rc::as_ptr(&self.inner);
        match self.inner.driver.try_borrow_mut() {
            Ok(mut d) => {
                if inside {
                    backend!(&mut *d, d => d.release_fixed(slot));
                } else {
                    backend!(&mut *d, d => d.release_fixed_now(slot));
                }
            }
            Err(_) => {
                self.inner.releasing.borrow_mut().push(slot);
                self.inner.deferred.set(true);
            }
        }
    }

    /// The fd leaves this driver open (handed out raw, e.g. to another loop): the poll
    /// backend drops its registration, so the number is not watched here any more.
    #[cfg(unix)]
    pub fn forget_fd(&self, fd: std::os::fd::RawFd) {
        if let Ok(mut d) = self.inner.driver.try_borrow_mut() {
            #[allow(irrefutable_let_patterns)] // the BSDs and macOS have only the poll backend
            if let Driver::Poll(d) = &mut *d {
                d.forget_fd(fd);
            }
        }
    }

    /// The handle leaves this driver open (handed out raw, e.g. to another loop): the IOCP
    /// backend forgets it was attached, so a new handle with the same number is attached
    /// again.
    #[cfg(windows)]
    pub fn forget_fd(&self, fd: fd::RawFd) {
        if let Ok(mut d) = self.inner.driver.try_borrow_mut() {
            backend!(&mut *d, d => d.forget_fd(fd));
        }
    }

    /// Hands the queued closes to the backend.
    fn flush_closes(&self, d: &mut Driver) {
        self.inner.deferred.set(false);
        for slot in self.inner.releasing.borrow_mut().drain(..) {
            backend!(&mut *d, d => d.release_fixed(slot));
        }
        let mut closing = self.inner.closing.borrow_mut();
        for fd in closing.drain(..) {
            backend!(&mut *d, d => d.close_detached(fd));
        }
    }

    /// Flushes, waits up to `timeout` (`None`: until something completes), reaps, then wakes.
    pub fn park(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut released = self.inner.released.borrow_mut();
        {
            let mut d = self.inner.driver.borrow_mut();
            if self.inner.deferred.get() {
                self.flush_closes(&mut d);
            }
            backend!(&mut *d, d => d.park(timeout, &mut released)?);
        }
        // The driver is free again: waking or dropping may re-enter it.
        released.wake_all();
        Ok(())
    }

    /// Gives what the loop's last turn left behind a few more turns that do not wait: queued
    /// closes and submissions reach the kernel, and ops whose futures were dropped complete
    /// and release what they held (an accept holds its listener's fd). `block_on` calls it as
    /// it returns, when no turn may come for a while: a listener dropped inside stops
    /// listening by the time `block_on` returns, not at the next one (the poll and IOCP
    /// backends close on their pool: those closes are waited for). At most a few turns (the
    /// fault layer holds a completion for up to three), the first without waiting, the others
    /// for a millisecond at most each, ended by the first completion.
    pub fn settle(&self) {
        for turn in 0..SETTLE_TURNS {
            let idle = !self.inner.deferred.get()
                && backend!(&mut *self.inner.driver.borrow_mut(), d => d.settled());
            let wait = if turn == 0 {
                Duration::ZERO
            } else {
                Duration::from_millis(1)
            };
            if idle || self.park(Some(wait)).is_err() {
                return;
            }
        }
    }

    /// Cancels every operation still in flight and waits until the kernel is done with them.
    /// Data released by a step is dropped between steps, and may start more work (an fd's
    /// close): shutdown ends only after a step that released nothing found nothing in flight.
    pub fn shutdown(&self) {
        loop {
            let mut released = self.inner.released.borrow_mut();
            let done = {
                let mut d = self.inner.driver.borrow_mut();
                self.flush_closes(&mut d);
                backend!(&mut *d, d => d.shutdown_step(&mut released))
            };
            let released_any = !released.dropped.is_empty() || !released.wakers.is_empty();
            released.wake_all();
            if done && !released_any {
                break;
            }
        }
    }
}

/// The most non-blocking turns [`Handle::settle`] takes.
const SETTLE_TURNS: usize = 8;

/// Wakers and data released by a `park`, handed out after the driver's borrow ended so that
/// waking or dropping may re-enter the driver.
#[derive(Default)]
pub(crate) struct Released {
    pub wakers: Vec<Waker>,
    pub dropped: Vec<Box<dyn Orphan>>,
}

impl Released {
    #[inline]
    fn wake_all(&mut self) {
        if !self.dropped.is_empty() {
            self.dropped.clear();
        }
        let n = self.wakers.len();
        let base = self.wakers.as_ptr();
        // SAFETY: the length is cleared first, so each of the `n` wakers is read out exactly
        // once and owned by the loop below; if a wake panics, the ones left are leaked, never
        // dropped twice. The buffer is not touched again until the loop ends (waking never
        // reaches this list: it is borrowed by the caller).
        unsafe {
            self.wakers.set_len(0);
            for i in 0..n {
                std::ptr::read(base.add(i)).wake();
            }
        }
    }
}

thread_local! {
    /// The wake-up flag of the future `block_on` runs on this thread (null outside one), which
    /// [`MAIN_MARKER`] sets.
    static MAIN_FLAG: Cell<*const AtomicBool> = const { Cell::new(std::ptr::null()) };
}

/// What a slot keeps instead of a clone of the main future's waker: no reference count to
/// raise at submission and drop at completion (two atomic operations per op, a fifth of the
/// runtime's cost in a NOP round trip). Waking it sets the flag of the main future that runs
/// on this thread now. That is the same future whose waker it stands for, or a later one
/// (which is then polled once for nothing, as after any spurious wake-up). The marker never
/// leaves the driver: slots hand their wakers only to [`Released`], which wakes them on the
/// loop thread, so it is never woken on another thread.
static MAIN_MARKER: Waker = {
    static VTABLE: RawWakerVTable = RawWakerVTable::new(
        main_marker_clone,
        main_marker_wake,
        main_marker_wake,
        |_| {},
    );
    fn main_marker_clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn main_marker_wake(_: *const ()) {
        let flag = MAIN_FLAG.with(Cell::get);
        if !flag.is_null() {
            // SAFETY: a non-null flag belongs to the `block_on` running on this thread, whose
            // `MainGuard` clears it before the flag's owner is dropped.
            unsafe { (*flag).store(true, Ordering::Relaxed) };
        }
    }
    // SAFETY: the vtable's functions ignore the data pointer, and the ones that wake only
    // touch this thread's flag, as documented above.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
};

/// Restores the main future's waker and flag that were current before `enter_main`.
pub(crate) struct MainGuard {
    handle: Handle,
    prev_id: (*const (), *const RawWakerVTable),
    prev_flag: *const AtomicBool,
}

impl Drop for MainGuard {
    fn drop(&mut self) {
        self.handle.inner.main.set(self.prev_id);
        MAIN_FLAG.with(|f| f.set(self.prev_flag));
    }
}

/// Restores the previous current driver.
pub(crate) struct EnterGuard {
    prev: *const HandleInner,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let ours = CURRENT.with(|c| c.replace(self.prev));
        // SAFETY: `ours` is the reference `enter` made with `Rc::into_raw` (guards drop in
        // reverse order of entering, so the current pointer is this guard's).
        drop(unsafe { Rc::from_raw(ours) });
    }
}

impl Handle {
    /// Registers `ring` with this driver (once) and returns its buffer group id.
    pub fn register_buf_ring(&self, ring: &crate::buf::BufRing) -> io::Result<u16> {
        let owner = Rc::as_ptr(&self.inner) as usize;
        if let Some((bgid, o)) = ring.registration() {
            if o == owner {
                return Ok(bgid);
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "this BufRing is registered with another runtime",
            ));
        }
        let bgid = backend!(&mut *self.inner.driver.borrow_mut(), d => d.register_buf_ring(ring)?);
        let weak = Rc::downgrade(&self.inner);
        let unregister = Box::new(move || match weak.upgrade() {
            // The driver is gone, and with it the ring's registration.
            None => true,
            Some(inner) => match inner.driver.try_borrow_mut() {
                Ok(mut d) => backend!(&mut *d, d => d.unregister_buf_ring(bgid)),
                Err(_) => false,
            },
        });
        ring.set_registration(crate::buf::Registration {
            bgid,
            owner,
            unregister,
        });
        Ok(bgid)
    }
}
