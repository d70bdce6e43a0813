//! The IOCP backend: Windows I/O completion ports.
//!
//! - **One port per loop** ([`port::Port`]); each handle is attached to it once, at its first
//!   operation, with `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` on files and stream sockets.
//! - **Submit queues, park issues.** `submit` records the op's prepared call ([`Entry`]) in
//!   its slot; `park` starts every queued call (each overlapped call is its own non-blocking
//!   system call), then makes the turn's one *blocking* kernel entry: one
//!   `GetQueuedCompletionStatusEx` that drains a batch of packets.
//! - **The OVERLAPPED lives in the op's slot** ([`Ov`], `#[repr(C)]`, the OVERLAPPED first):
//!   one boxed slot per key, reused with the key, so an op allocates nothing, and the packet's
//!   OVERLAPPED pointer is the slot.
//! - **Never inline.** A call that finished at once (a synchronous success under skip mode,
//!   or a failure whose OVERLAPPED status says the I/O was never queued) is delivered through
//!   the ready list at the end of the park, like any packet.
//! - **Cancel** = `CancelIoEx(handle, &slot.raw)`: the slot and the op's memory stay until the
//!   op's own packet arrives (it may still report success). Queued calls are withdrawn.
//! - **The pool** ([`pool::Pool`]) runs the calls with no overlapped form and posts each
//!   result to the port with the op's slot, so every completion comes through the port.
//! - **Shutdown** cancels everything and drains; after 10 s it leaks the slots and the ops'
//!   memory rather than free them under the kernel.

mod beneath;
mod call;
mod error;
mod ext;
mod op;
mod pool;
mod port;

pub(crate) use op::IocpOp;

use super::fd::{Kind, RawFd};
use super::slots::{Cancelled, Slots, FLAG_MORE};
use super::{Backend, BackendInfo, Completion, Config, OpCode, Orphan, Released, Unpark};
use call::{Bufs, Io, Started, ACCEPT_ADDR_LEN};
use pool::{Call, Pool};
use port::{Port, Wake, KEY_DETACHED, KEY_IO, KEY_POOL, KEY_WAIT, KEY_WAKE};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use windows_sys::Win32::Networking::WinSock::WSABUF;
use windows_sys::Win32::System::Threading::{
    RegisterWaitForSingleObject, UnregisterWaitEx, WT_EXECUTEONLYONCE,
};
use windows_sys::Win32::System::IO::{CancelIoEx, OVERLAPPED, OVERLAPPED_ENTRY};

const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Threads the pool may start.
const POOL_THREADS: usize = 64;
/// Packets one `GetQueuedCompletionStatusEx` may drain.
const BATCH: usize = 256;
/// The key of pool jobs nobody waits for.
const DETACHED: usize = usize::MAX;
/// `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE`.
const SKIP_MODES: u8 = 1 | 2;

/// What an op asks of the driver.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// A packet posted to the port by the driver itself.
    Nop,
    /// An overlapped call.
    Io(Io),
    /// A blocking call for the pool.
    Pool(Call),
    /// A thread-pool wait on a kernel object, whose callback posts the slot.
    Wait { handle: usize },
}

/// Where a slot's op is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Free,
    /// Submitted, to be started at the next park.
    Queued,
    /// Started; its packet will come. The handle is the one to name in `CancelIoEx`.
    Kernel(usize),
    /// On the pool (queued or running).
    Pool,
    /// A nop's packet is in the port.
    Posted,
    /// A thread-pool wait is registered (its wait handle), or its callback posted.
    Wait(usize),
}

/// One op's slot: the OVERLAPPED the kernel writes, and the scratch its call needs.
#[repr(C)]
pub(crate) struct Ov {
    /// First, so the OVERLAPPED pointer of a packet is the slot's.
    raw: OVERLAPPED,
    key: usize,
    stage: Stage,
    entry: Option<Entry>,
    multi: bool,
    /// A cancel was asked for: a multishot op is not re-armed.
    cancel: bool,
    wsabuf: WSABUF,
    flags: u32,
    /// The socket `AcceptEx` accepts into, until the op finishes.
    accepted: usize,
    accept_buf: [u8; 2 * ACCEPT_ADDR_LEN as usize],
    /// A pool job's result, written by its thread before it posts the slot.
    pool_result: AtomicI32,
    /// The port a wait callback posts to, and whether it ran.
    port: usize,
    waited: AtomicBool,
}

impl Ov {
    fn new(key: usize) -> Box<Ov> {
        Box::new(Ov {
            // SAFETY: OVERLAPPED is a plain C struct; zero is its initial value.
            raw: unsafe { std::mem::zeroed() },
            key,
            stage: Stage::Free,
            entry: None,
            multi: false,
            cancel: false,
            wsabuf: WSABUF {
                len: 0,
                buf: std::ptr::null_mut(),
            },
            flags: 0,
            accepted: 0,
            accept_buf: [0; 2 * ACCEPT_ADDR_LEN as usize],
            pool_result: AtomicI32::new(0),
            port: 0,
            waited: AtomicBool::new(false),
        })
    }

    /// Clears the OVERLAPPED before a call; its status reads "never queued" until the kernel
    /// takes the I/O.
    fn reset(&mut self) {
        // SAFETY: as in `new`.
        self.raw = unsafe { std::mem::zeroed() };
        self.raw.Internal = error::NOT_STARTED;
    }

    /// The WSABUF array for a call: the slot's own for one buffer.
    fn bufs(&mut self, bufs: Bufs) -> (*const WSABUF, u32) {
        match bufs {
            Bufs::One(buf, len) => {
                self.wsabuf = WSABUF { len, buf };
                (&self.wsabuf, 1)
            }
            Bufs::Many(p, n) => (p, n),
        }
    }
}

pub(crate) struct Driver {
    port: Arc<Port>,
    ops: Slots,
    /// The slot of each key, boxed so that its address never changes.
    ovs: Vec<Option<Box<Ov>>>,
    /// Submitted since the last park, to be started then.
    queued: VecDeque<usize>,
    /// Results known without a packet, delivered at the end of the park.
    ready: Vec<(usize, i32, u32)>,
    entries: Vec<OVERLAPPED_ENTRY>,
    /// Handles attached to the port, and whether their synchronous successes skip the port.
    attached: HashMap<usize, bool>,
    pool: Pool,
    /// Detached pool jobs (closes) in flight.
    detached: usize,
    shutdown: Option<Instant>,
    next_bgid: u16,
    info: BackendInfo,
}

impl Driver {
    pub fn new(_config: &Config, reason: Option<String>) -> io::Result<Driver> {
        let port = Arc::new(Port::new()?);
        let pool = Pool::new(POOL_THREADS, port.clone());
        let mut features = vec!["GetQueuedCompletionStatusEx", "POOL"];
        if wine_version().is_some() {
            features.push("WINE");
        }
        let info = BackendInfo {
            backend: Backend::Iocp,
            reason,
            setup_flags: vec![
                "SKIP_COMPLETION_PORT_ON_SUCCESS",
                "SKIP_SET_EVENT_ON_HANDLE",
            ],
            features,
            opcodes: Vec::new(),
            entries: (BATCH as u32, BATCH as u32),
            io_workers: None,
            faults: None,
        };
        // SAFETY: OVERLAPPED_ENTRY is a plain C struct; zero is a valid value.
        let entry: OVERLAPPED_ENTRY = unsafe { std::mem::zeroed() };
        Ok(Driver {
            port,
            ops: Slots::with_capacity(256),
            ovs: Vec::new(),
            queued: VecDeque::new(),
            ready: Vec::new(),
            entries: vec![entry; BATCH],
            attached: HashMap::new(),
            pool,
            detached: 0,
            shutdown: None,
            next_bgid: 0,
            info,
        })
    }

    /// Turns the fault layer on (`driver/faults.rs`): errors before a call starts, shortened
    /// positional transfers, held and reordered completions, cancels that lose their race.
    pub fn set_faults(&mut self, config: crate::driver::faults::FaultConfig) {
        self.ops
            .set_faults(Some(crate::driver::faults::Faults::new(config)));
        self.info.faults = Some(config);
    }

    pub fn info(&self) -> &BackendInfo {
        &self.info
    }

    pub fn unparker(&self) -> Arc<dyn Unpark> {
        Arc::new(Wake(Arc::downgrade(&self.port)))
    }

    fn ov(&mut self, key: usize) -> &mut Ov {
        if self.ovs.len() <= key {
            self.ovs.resize_with(key + 1, || None);
        }
        self.ovs[key].get_or_insert_with(|| Ov::new(key))
    }

    pub fn submit<T: OpCode>(&mut self, data: &mut T, waker: &Waker) -> usize {
        let key = self.ops.insert(waker);
        if self.ops.faulty() {
            if let Some(res) = self.ops.fault_submit(key, data) {
                // Failed before any call: reported at the end of the next park, never inline.
                self.ov(key).stage = Stage::Free;
                self.ready.push((key, res, 0));
                return key;
            }
        }
        self.queue(key, data.iocp_entry(), false);
        key
    }

    pub fn submit_multi<T: OpCode>(&mut self, data: &mut T, waker: &Waker) -> usize {
        let key = self.ops.insert_multi(waker);
        self.queue(key, data.iocp_entry(), true);
        key
    }

    fn queue(&mut self, key: usize, entry: Entry, multi: bool) {
        let ov = self.ov(key);
        ov.entry = Some(entry);
        ov.multi = multi;
        ov.cancel = false;
        ov.stage = Stage::Queued;
        self.queued.push_back(key);
    }

    pub fn poll_op(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Completion> {
        self.ops.poll_op(key, cx)
    }

    pub fn poll_multi(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        self.ops.poll_multi(key, cx)
    }

    /// As io_uring's: enough queued calls that the loop should start them now.
    pub fn should_flush(&mut self) -> bool {
        let queued = self.queued.len();
        queued >= 2 && queued >= self.ops.len() / 8
    }

    pub fn cancel(&mut self, key: usize, data: Box<dyn Orphan>) -> Option<Box<dyn Orphan>> {
        match self.ops.cancel(key, data) {
            Cancelled::Finished(data) => Some(data),
            Cancelled::Parked => {
                self.ops.note_cancel(key);
                self.abort(key);
                None
            }
        }
    }

    pub fn request_cancel(&mut self, key: usize) {
        if self.ops.is_pending(key) {
            self.ops.note_cancel(key);
            self.abort(key);
        }
    }

    /// Stops an op that has not finished. A queued call is withdrawn (it completes with
    /// `ERROR_OPERATION_ABORTED`); a started one is cancelled with `CancelIoEx` and reports
    /// through its own packet; a pool job is withdrawn if no thread took it.
    fn abort(&mut self, key: usize) {
        let ov = self.ov(key);
        ov.cancel = true;
        match ov.stage {
            Stage::Queued => {
                ov.stage = Stage::Free;
                if let Some(pos) = self.queued.iter().position(|&k| k == key) {
                    self.queued.remove(pos);
                }
                self.ready.push((key, -(error::ABORTED as i32), 0));
            }
            Stage::Kernel(handle) => {
                // ERROR_NOT_FOUND: it is completing anyway; its packet is on the way.
                // SAFETY: the OVERLAPPED is the one the call was started with, still alive.
                unsafe { CancelIoEx(handle as _, &ov.raw) };
            }
            Stage::Pool => {
                if self.pool.withdraw(key) {
                    self.ov(key).stage = Stage::Free;
                    self.ready.push((key, -(error::ABORTED as i32), 0));
                }
            }
            Stage::Wait(wait) => {
                // SAFETY: the wait handle is ours and not yet unregistered.
                let unregistered = unsafe { UnregisterWaitEx(wait as _, std::ptr::null_mut()) };
                let ov = self.ov(key);
                if unregistered != 0 && !ov.waited.load(Ordering::Acquire) {
                    // The callback never ran and now never will: no packet comes.
                    ov.stage = Stage::Free;
                    self.ready.push((key, -(error::ABORTED as i32), 0));
                } else {
                    // Its packet is on the way; the wait handle is released.
                    ov.stage = Stage::Wait(0);
                }
            }
            Stage::Posted | Stage::Free => {}
        }
    }

    /// Only io_uring has fixed files: nothing to record.
    pub fn set_owner(&mut self, _owner: std::rc::Weak<super::HandleInner>) {}

    /// Only io_uring has fixed files: never called with a slot here.
    #[cfg_attr(windows, allow(dead_code))]
    pub fn release_fixed(&mut self, _slot: u32) {}

    /// Only io_uring has fixed files: never called with a slot here.
    #[cfg_attr(windows, allow(dead_code))]
    pub fn release_fixed_now(&mut self, _slot: u32) {}

    pub fn close_detached(&mut self, fd: RawFd) {
        self.attached.remove(&fd.raw);
        self.detached += 1;
        self.pool
            .submit(DETACHED, std::ptr::null_mut(), Call::Close { fd });
    }

    /// The handle leaves this loop open (handed to another one).
    pub fn forget_fd(&mut self, fd: RawFd) {
        self.attached.remove(&fd.raw);
    }

    pub fn register_buf_ring(&mut self, _ring: &crate::buf::BufRing) -> io::Result<u16> {
        // Ring buffers are picked by the driver after the zero-byte receive: nothing to tell
        // the kernel.
        self.next_bgid = self.next_bgid.wrapping_add(1);
        Ok(self.next_bgid)
    }

    pub fn unregister_buf_ring(&mut self, _bgid: u16) -> bool {
        true
    }

    /// Attaches a handle to the port the first time it is used; whether it skips the port on
    /// synchronous success.
    fn attach(&mut self, fd: RawFd) -> Result<bool, u32> {
        if let Some(&skip) = self.attached.get(&fd.raw) {
            return Ok(skip);
        }
        self.port.attach(fd.raw)?;
        let skip = matches!(fd.kind, Kind::File | Kind::Stream) && {
            use windows_sys::Win32::Storage::FileSystem::SetFileCompletionNotificationModes;
            // SAFETY: the handle is open and now attached to our port.
            unsafe { SetFileCompletionNotificationModes(fd.raw as _, SKIP_MODES) != 0 }
        };
        self.attached.insert(fd.raw, skip);
        Ok(skip)
    }

    /// Starts a queued op.
    fn issue(&mut self, key: usize) {
        let Some(entry) = self.ov(key).entry.take() else {
            return;
        };
        match &entry {
            Entry::Nop => {
                let port = self.port.clone();
                let ov = self.ov(key);
                match port.post(0, KEY_IO, &ov.raw) {
                    Ok(()) => ov.stage = Stage::Posted,
                    Err(code) => {
                        ov.stage = Stage::Free;
                        self.ready.push((key, -(code as i32), 0));
                    }
                }
            }
            Entry::Pool(call) => self.send_to_pool(key, *call),
            Entry::Wait { handle } => self.register_wait(key, *handle),
            Entry::Io(io) => self.start_io(key, io),
        }
        self.ov(key).entry = Some(entry);
    }

    fn send_to_pool(&mut self, key: usize, call: Call) {
        if let Call::Close { fd } = call {
            self.attached.remove(&fd.raw);
        }
        let ov = self.ov(key);
        ov.stage = Stage::Pool;
        let ov: *mut Ov = ov;
        self.pool.submit(key, ov, call);
    }

    /// Registers a thread-pool wait whose callback posts the slot (compio's and libuv's
    /// fallback where wait completion packets are missing, as in Wine 8).
    fn register_wait(&mut self, key: usize, handle: usize) {
        let port = self.port.raw() as usize;
        let ov = self.ov(key);
        ov.port = port;
        ov.waited.store(false, Ordering::Relaxed);
        let mut wait: windows_sys::Win32::Foundation::HANDLE = std::ptr::null_mut();
        let ctx: *const Ov = ov;
        // SAFETY: the slot outlives the wait (the driver keeps it until the packet or the
        // unregistration); the handle is held open by the op.
        let ok = unsafe {
            RegisterWaitForSingleObject(
                &mut wait,
                handle as _,
                Some(wait_fired),
                ctx.cast(),
                u32::MAX, // INFINITE
                WT_EXECUTEONLYONCE,
            )
        };
        if ok == 0 {
            ov.stage = Stage::Free;
            // SAFETY: reads the calling thread's last error.
            let code = unsafe { windows_sys::Win32::Foundation::GetLastError() };
            self.ready.push((key, -(code as i32), 0));
            return;
        }
        ov.stage = Stage::Wait(wait as usize);
    }

    fn start_io(&mut self, key: usize, io: &Io) {
        let fd = io.fd();
        if fd.kind == Kind::Sync {
            // No overlapped form on this handle: its read or write blocks, so on the pool.
            let call = match *io {
                Io::ReadFile { buf, len, .. } => Call::ReadSync {
                    handle: fd.raw,
                    buf,
                    len,
                },
                Io::WriteFile { buf, len, .. } => Call::WriteSync {
                    handle: fd.raw,
                    buf,
                    len,
                },
                _ => {
                    self.ov(key).stage = Stage::Free;
                    self.ready.push((key, -50, 0)); // ERROR_NOT_SUPPORTED
                    return;
                }
            };
            return self.send_to_pool(key, call);
        }
        let skip = match self.attach(fd) {
            Ok(skip) => skip,
            Err(code) => {
                self.ov(key).stage = Stage::Free;
                self.ready.push((key, -(code as i32), 0));
                return;
            }
        };
        let ov = self.ov(key);
        match call::start(io, ov, skip) {
            Started::Pending => ov.stage = Stage::Kernel(fd.raw),
            Started::Now(res) => {
                ov.stage = Stage::Free;
                self.done(key, io, res);
            }
        }
    }

    /// A started call finished (packet or at once): finish it, report it, re-arm a multishot
    /// op that goes on.
    fn done(&mut self, key: usize, io: &Io, res: i32) {
        let ov = self.ov(key);
        let multi = ov.multi;
        let (res, mut flags) = call::finish(io, ov, res, multi);
        if flags & FLAG_MORE != 0 {
            if ov.cancel {
                // Cancelled: this result is the last one.
                flags &= !FLAG_MORE;
            } else {
                ov.stage = Stage::Queued;
                self.queued.push_back(key);
            }
        }
        self.ready.push((key, res, flags));
    }

    /// Handles one packet.
    fn reap(&mut self, entry: OVERLAPPED_ENTRY) {
        match entry.lpCompletionKey {
            KEY_WAKE => self.port.woken(),
            KEY_DETACHED => self.detached = self.detached.saturating_sub(1),
            KEY_WAIT if !entry.lpOverlapped.is_null() => {
                // SAFETY: as below: the OVERLAPPED is a live slot's.
                let ov = unsafe { &mut *entry.lpOverlapped.cast::<Ov>() };
                if let Stage::Wait(wait) = ov.stage {
                    if wait != 0 {
                        // Releases the wait (its callback may still be returning: fine).
                        // SAFETY: our wait handle, unregistered once.
                        unsafe { UnregisterWaitEx(wait as _, std::ptr::null_mut()) };
                    }
                }
                ov.stage = Stage::Free;
                self.ready.push((ov.key, 0, 0));
            }
            KEY_POOL | KEY_IO if !entry.lpOverlapped.is_null() => {
                // SAFETY: every OVERLAPPED ringport hands out is the first field of a boxed
                // `Ov` that stays alive until its packet is reaped, here.
                let ov = unsafe { &mut *entry.lpOverlapped.cast::<Ov>() };
                let key = ov.key;
                match ov.stage {
                    Stage::Pool => {
                        ov.stage = Stage::Free;
                        let res = ov.pool_result.load(Ordering::Acquire);
                        self.ready.push((key, res, 0));
                    }
                    Stage::Posted => {
                        ov.stage = Stage::Free;
                        self.ready.push((key, 0, 0));
                    }
                    Stage::Kernel(_) => {
                        ov.stage = Stage::Free;
                        let status = ov.raw.Internal;
                        let Some(Entry::Io(io)) = ov.entry.take() else {
                            debug_assert!(false, "a packet for op {key}, which has no call");
                            return;
                        };
                        let reading = io.reading();
                        let bytes = entry.dwNumberOfBytesTransferred;
                        let res = error::from_status(status, bytes, reading);
                        self.done(key, &io, res);
                        self.ov(key).entry = Some(Entry::Io(io));
                    }
                    Stage::Free | Stage::Queued | Stage::Wait(_) => {
                        debug_assert!(false, "a packet for op {key}, which is not in flight");
                    }
                }
            }
            _ => {}
        }
    }

    /// One loop turn's I/O: start the queued calls, wait per `timeout` in one
    /// `GetQueuedCompletionStatusEx`, handle the packets, report.
    pub fn park(&mut self, timeout: Option<Duration>, released: &mut Released) -> io::Result<()> {
        let queued = self.queued.len();
        for _ in 0..queued {
            let Some(key) = self.queued.pop_front() else {
                break;
            };
            self.issue(key);
        }
        let timeout = if self.ready.is_empty() {
            self.ops.park_timeout(timeout)
        } else {
            Some(Duration::ZERO)
        };
        let mut entries = std::mem::take(&mut self.entries);
        let n = self.port.wait(&mut entries, timeout);
        if let Ok(n) = n {
            for &e in &entries[..n] {
                self.reap(e);
            }
        }
        self.entries = entries;
        // The fault layer's held completions now due go first, as on the other backends.
        self.ops.fault_turn(released);
        self.complete_all(released);
        n.map(drop)
    }

    fn complete_all(&mut self, released: &mut Released) {
        for (key, res, flags) in self.ready.drain(..) {
            self.ops.complete(key, res, flags, released);
        }
    }

    fn in_flight(&self) -> usize {
        self.ops.in_flight() + self.detached
    }

    /// No dropped op still holding its data, and no close still running on the pool.
    pub fn settled(&mut self) -> bool {
        self.detached == 0 && self.ops.orphans() == 0
    }

    /// One step of shutdown: cancel everything, then wait. `true` once nothing is in flight.
    pub fn shutdown_step(&mut self, released: &mut Released) -> bool {
        let started = *self.shutdown.get_or_insert_with(Instant::now);
        for key in self.ops.pending_keys() {
            self.abort(key);
        }
        self.complete_all(released);
        if self.in_flight() == 0 {
            return true;
        }
        if started.elapsed() > SHUTDOWN_GRACE {
            tracing::error!(
                in_flight = self.in_flight(),
                "operations did not finish; leaking their memory"
            );
            self.leak();
            return true;
        }
        if let Err(e) = self.park(Some(Duration::from_millis(100)), released) {
            tracing::error!("waiting during shutdown failed: {e}");
        }
        false
    }

    /// Forgets every slot and parked op, so memory the kernel may still write into is never
    /// freed.
    fn leak(&mut self) {
        self.ops.leak();
        for ov in self.ovs.drain(..).flatten() {
            std::mem::forget(ov);
        }
        self.detached = 0;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The kernel or a pool thread may still write into slots: never free them under it.
        let grace = if self.in_flight() > 0 {
            self.leak();
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        };
        self.pool.shutdown(grace);
    }
}

/// A thread-pool wait fired: posts the slot to the loop's port.
///
/// # Safety
///
/// `ctx` is the slot registered with the wait, alive until its packet is reaped.
unsafe extern "system" fn wait_fired(ctx: *mut std::ffi::c_void, _timed_out: bool) {
    let ov = ctx.cast::<Ov>();
    // SAFETY: see above; only the atomic flag and the slot's address are used here.
    unsafe {
        (*ov).waited.store(true, Ordering::Release);
        let raw: *const OVERLAPPED = &(*ov).raw;
        windows_sys::Win32::System::IO::PostQueuedCompletionStatus(
            (*ov).port as _,
            0,
            KEY_WAIT,
            raw,
        );
    }
}

/// Wine's version when running under Wine (`wine_get_version` in ntdll), else `None`.
pub(crate) fn wine_version() -> Option<String> {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: looks up a function by name in a loaded module; calls it only when present, as
    // `const char *wine_get_version(void)`.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        if module.is_null() {
            return None;
        }
        let f = GetProcAddress(module, c"wine_get_version".as_ptr().cast())?;
        let f: unsafe extern "C" fn() -> *const std::ffi::c_char = std::mem::transmute(f);
        let v = f();
        (!v.is_null()).then(|| std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned())
    }
}
