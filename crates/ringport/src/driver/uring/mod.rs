//! The io_uring backend: one ring per loop thread.
//!
//! An in-flight operation is a slot in `ops` whose state is a [`Lifecycle`]; its index is the
//! entry's `user_data`. Submissions queue in the SQ (or, when it is full, a backlog) and reach
//! the kernel in the single `io_uring_enter` of the next `park`, which also waits and lets the
//! kernel run deferred completions. Completions are reaped into the slots, and wakers are
//! woken only after the driver is released.

mod op;
mod setup;

use op::Files;
pub(crate) use op::UringOp;

use super::poll::PollEntry;
use super::pool::SyscallPool;
use super::slots::{Cancelled, Slots};
use super::{BackendInfo, Completion, Config, HandleInner, OpCode, Orphan, Released, Unpark};
use io_uring::{opcode, squeue, types, EnterFlags, IoUring};
use std::collections::VecDeque;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Weak;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// `user_data` of the read that keeps the wake-up eventfd armed.
const TAG_WAKE: u64 = u64::MAX - 1;
/// `user_data` of operations nobody waits for: cancels and detached closes.
const TAG_DETACHED: u64 = u64::MAX;
/// `user_data` of the close that empties a fixed-file slot: this bit, or'd with the slot.
/// (Op keys are slab indices, far below it.)
const TAG_FIXED: u64 = 1 << 62;

/// The most fixed-file slots a ring registers (fewer when `RLIMIT_NOFILE` is lower: the kernel
/// refuses a table larger than it).
const FIXED_SLOTS: u32 = 4096;
/// An fd gets a fixed-file slot at its this-many-th operation: registering costs one system
/// call, and each later operation saves the kernel a file lookup and a reference count (about
/// a tenth of a no-op's round trip). Short-lived fds never pay for it.
const FIXED_AFTER: u16 = 32;

/// How long `shutdown` waits for the kernel to finish cancelled operations before it gives up
/// and leaks their memory (never frees it under the kernel's feet).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub(crate) struct Driver {
    ring: IoUring,
    ops: Slots,
    /// Entries that did not fit in a full submission queue, in order.
    backlog: VecDeque<squeue::Entry>,
    /// Operations in flight that no slot tracks (cancels, detached closes).
    detached: usize,
    wake: Arc<EventFd>,
    wake_buf: Box<u64>,
    wake_armed: bool,
    shutdown: Option<Instant>,
    info: BackendInfo,
    /// The next buffer group id for a `BufRing`.
    next_bgid: u16,
    /// How `io_uring_enter` names the ring: its registered index (no fd lookup per call).
    enter_fd: EnterFd,
    /// Which opcodes the kernel runs; the others go to `pool`.
    supported: [bool; 256],
    /// Runs ops whose opcode the kernel lacks (threads start only when needed).
    pool: SyscallPool,
    /// Results of ops that did not go to the ring, for the next `park`.
    fallback: Vec<(usize, i32)>,
    /// Entries queued since the last enter whose ops a device serves ([`OpCode::eager`]).
    eager_queued: usize,
    /// The table of fixed files: free slots (empty when the kernel has no sparse tables).
    fixed: FixedTable,
    /// The runtime handle this driver is inside, recorded in the fds it registers.
    owner: Weak<HandleInner>,
}

/// Free fixed-file slots, and a system call to fill one.
pub(crate) struct FixedTable {
    free: Vec<u32>,
}

impl FixedTable {
    /// Registers `fd` in a free slot (one `io_uring_register`); `None` when the table is full
    /// or the kernel refuses.
    fn register(&mut self, ring: &IoUring, fd: RawFd) -> Option<u32> {
        let slot = self.free.pop()?;
        match ring.submitter().register_files_update(slot, &[fd]) {
            Ok(1) => Some(slot),
            _ => {
                self.free.push(slot);
                None
            }
        }
    }
}

impl Driver {
    pub fn new(config: &Config, reason: Option<String>) -> io::Result<Driver> {
        let (ring, flags) = setup::build(config.entries)?;
        let (mut info, supported) = setup::describe(&ring, flags, reason, config)?;
        let enter_fd = EnterFd::register(ring.as_raw_fd());
        let wake = Arc::new(EventFd::new()?);
        if enter_fd.registered {
            info.features.push("REGISTERED_RING_FD");
        }
        let fixed = FixedTable {
            free: fixed_table(&ring),
        };
        if !fixed.free.is_empty() {
            info.features.push("FIXED_FILES");
        }
        Ok(Driver {
            ring,
            ops: Slots::with_capacity(config.entries as usize),
            backlog: VecDeque::new(),
            detached: 0,
            wake: wake.clone(),
            wake_buf: Box::new(0),
            wake_armed: false,
            shutdown: None,
            info,
            next_bgid: 0,
            enter_fd,
            supported,
            pool: SyscallPool::new(64, wake.clone()),
            fallback: Vec::new(),
            eager_queued: 0,
            fixed,
            owner: Weak::new(),
        })
    }

    /// Turns the fault layer on (see `driver/faults.rs`).
    pub fn set_faults(&mut self, config: crate::driver::faults::FaultConfig) {
        self.ops
            .set_faults(Some(crate::driver::faults::Faults::new(config)));
        self.info.faults = Some(config);
    }

    pub fn info(&self) -> &BackendInfo {
        &self.info
    }

    /// Records the runtime handle this driver lives in (fds name it with their fixed slot).
    pub fn set_owner(&mut self, owner: Weak<HandleInner>) {
        self.owner = owner;
    }

    /// Empties a fixed-file slot at once, with `io_uring_register` (from outside the loop, where
    /// no enter may come soon); queued like [`release_fixed`](Self::release_fixed) if refused.
    pub fn release_fixed_now(&mut self, slot: u32) {
        match self.ring.submitter().register_files_update(slot, &[-1]) {
            Ok(_) => self.fixed.free.push(slot),
            Err(_) => self.release_fixed(slot),
        }
    }

    /// Empties a fixed-file slot (its fd is being closed or handed out); the slot is free again
    /// once the kernel has done it.
    pub fn release_fixed(&mut self, slot: u32) {
        self.detached += 1;
        let entry = opcode::Close::new(types::Fixed(slot)).build();
        self.push(entry.user_data(TAG_FIXED | u64::from(slot)));
    }

    /// Holds the eventfd weakly: it closes with the driver even while `Handle`s and wakers
    /// of the loop live on, and waking a loop that is gone does nothing.
    pub fn unparker(&self) -> Arc<dyn Unpark> {
        Arc::new(WeakWake(Arc::downgrade(&self.wake)))
    }

    #[inline]
    pub fn submit<T: OpCode>(&mut self, data: &mut T, waker: &Waker) -> usize {
        let key = self.ops.insert(waker);
        if self.ops.faulty() {
            if let Some(res) = self.ops.fault_submit(key, data) {
                self.fallback.push((key, res));
                return key;
            }
        }
        self.start(key, data);
        key
    }

    #[inline]
    pub fn submit_multi<T: OpCode>(&mut self, data: &mut T, waker: &Waker) -> usize {
        let key = self.ops.insert_multi(waker);
        self.start(key, data);
        key
    }

    #[inline]
    fn start<T: OpCode>(&mut self, key: usize, data: &mut T) {
        let mut files = Files {
            table: &mut self.fixed,
            ring: &self.ring,
            owner: &self.owner,
            after: FIXED_AFTER,
        };
        let entry = data.uring_entry(&mut files);
        if self.supported[entry.get_opcode() as usize] {
            self.eager_queued += usize::from(data.eager());
            self.push(entry.user_data(key as u64));
            return;
        }
        // Per-op fallback: the kernel lacks this opcode, so its blocking form runs on the pool.
        let call = match data.poll_entry() {
            PollEntry::Ready(res) => return self.fallback.push((key, res)),
            PollEntry::Pool(call) => Some(call),
            PollEntry::Try(attempt) => attempt.blocking(),
        };
        match call {
            Some(call) => self.pool.submit(key, call),
            None => self.fallback.push((key, -libc::EOPNOTSUPP)),
        }
    }

    #[inline]
    pub fn poll_multi(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        self.ops.poll_multi(key, cx)
    }

    #[inline]
    pub fn poll_op(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Completion> {
        self.ops.poll_op(key, cx)
    }

    /// Whether the queued submissions are worth an early `park`: at least 2 device operations
    /// (positional reads and writes, syncs: [`OpCode::eager`]), and at least an eighth of the
    /// operations in flight. A device kept busy by a few dozen reads wants them back in its
    /// queue at once (random reads at queue depth 32 gain about a third). Socket operations
    /// never end a turn early: their completions wait for a peer, and every extra enter costs
    /// a system call (counting them in made an echo server enter the kernel once per 4
    /// messages instead of once per 30).
    #[inline]
    pub fn should_flush(&mut self) -> bool {
        self.eager_queued >= 2 && self.eager_queued >= self.ops.len() / 8
    }

    /// Parks a dropped op's data until its completion; returns the data when it already came.
    pub fn cancel(&mut self, key: usize, data: Box<dyn Orphan>) -> Option<Box<dyn Orphan>> {
        match self.ops.cancel(key, data) {
            Cancelled::Finished(data) => Some(data),
            Cancelled::Parked => {
                self.ops.note_cancel(key);
                self.cancel_in_flight(key);
                None
            }
        }
    }

    /// Asks the kernel to cancel an op whose future keeps waiting for the completion.
    pub fn request_cancel(&mut self, key: usize) {
        if self.ops.is_pending(key) {
            self.ops.note_cancel(key);
            self.cancel_in_flight(key);
        }
    }

    /// A queued pool call is withdrawn; anything else gets an `ASYNC_CANCEL` (which finds
    /// nothing, harmlessly, for a call already running on the pool).
    fn cancel_in_flight(&mut self, key: usize) {
        if self.pool.withdraw(key) {
            self.fallback.push((key, -libc::ECANCELED));
        } else {
            self.push_detached(opcode::AsyncCancel::new(key as u64).build());
        }
    }

    pub fn register_buf_ring(&mut self, ring: &crate::buf::BufRing) -> io::Result<u16> {
        let bgid = self.next_bgid;
        // SAFETY: the ring's slots are page-aligned memory of `count` entries that stays
        // allocated until it is unregistered (`BufRing`'s drop calls back into the driver
        // first, and leaks the memory when it cannot).
        unsafe {
            self.ring.submitter().register_buf_ring_with_flags(
                ring.ring_addr(),
                ring.count(),
                bgid,
                0,
            )?;
        }
        self.next_bgid = self.next_bgid.wrapping_add(1);
        Ok(bgid)
    }

    /// `true` once the kernel no longer knows the group.
    pub fn unregister_buf_ring(&mut self, bgid: u16) -> bool {
        self.ring.submitter().unregister_buf_ring(bgid).is_ok()
    }

    pub fn close_detached(&mut self, fd: RawFd) {
        self.push_detached(opcode::Close::new(types::Fd(fd)).build());
    }

    fn push_detached(&mut self, entry: squeue::Entry) {
        self.detached += 1;
        self.push(entry.user_data(TAG_DETACHED));
    }

    #[inline]
    fn push(&mut self, entry: squeue::Entry) {
        if self.backlog.is_empty() && self.try_push(&entry) {
            return;
        }
        // The SQ is full: hand it to the kernel now (the one extra entry a turn may need),
        // then queue behind whatever is still waiting.
        if self.backlog.is_empty() && self.submit_now() && self.try_push(&entry) {
            return;
        }
        self.backlog.push_back(entry);
    }

    /// Hands the queued entries to the kernel without waiting (the submission queue is full).
    fn submit_now(&mut self) -> bool {
        let n = self.ring.submission().len() as u32;
        self.eager_queued = 0;
        self.enter_fd.enter(n, 0, 0, None).is_ok()
    }

    #[inline]
    fn try_push(&mut self, entry: &squeue::Entry) -> bool {
        // SAFETY: every entry points only at memory its op owns through a heap pointer (the
        // `OpCode` contract) or at the driver's own boxed wake buffer; the op's data lives in
        // its future or in `ops` as `Ignored` until the completion is reaped.
        unsafe { self.ring.submission().push(entry).is_ok() }
    }

    #[cold]
    fn flush_backlog(&mut self) {
        while let Some(entry) = self.backlog.pop_front() {
            if !self.try_push(&entry) {
                self.backlog.push_front(entry);
                break;
            }
        }
    }

    #[cold]
    fn arm_wake(&mut self) {
        if self.wake_armed || self.shutdown.is_some() {
            return;
        }
        let buf = (&mut *self.wake_buf as *mut u64).cast::<u8>();
        let entry = opcode::Read::new(types::Fd(self.wake.fd.as_raw_fd()), buf, 8)
            .build()
            .user_data(TAG_WAKE);
        if self.try_push(&entry) {
            self.wake_armed = true;
        }
    }

    /// One kernel entry: submit what is queued, wait per `timeout`, then reap everything.
    pub fn park(&mut self, timeout: Option<Duration>, released: &mut Released) -> io::Result<()> {
        if !self.backlog.is_empty() {
            self.flush_backlog();
        }
        if !self.wake_armed {
            self.arm_wake();
        }
        let timeout = self.ops.park_timeout(timeout);
        let to_submit = self.ring.submission().len() as u32;
        // The kernel checks for completions already posted before it sleeps.
        let wait = timeout != Some(Duration::ZERO) && self.fallback.is_empty();
        // GETEVENTS always: with DEFER_TASKRUN completions are only posted inside an enter.
        let flags = EnterFlags::GETEVENTS.bits();
        let res = match timeout {
            Some(t) if wait => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                let flags = flags | EnterFlags::EXT_ARG.bits();
                self.enter_fd.enter(to_submit, 1, flags, Some(&args))
            }
            _ => self.enter_fd.enter(to_submit, u32::from(wait), flags, None),
        };
        self.eager_queued = 0;
        if let Err(e) = res {
            // Timed out, interrupted by a signal, or the CQ is backed up: reap and go on.
            let benign = matches!(
                e.raw_os_error(),
                Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
            );
            if !benign {
                return Err(e);
            }
        }
        self.reap(released);
        Ok(())
    }

    #[inline]
    fn reap(&mut self, released: &mut Released) {
        self.ops.fault_turn(released);
        self.pool.drain(&mut self.fallback);
        if !self.fallback.is_empty() {
            for (key, res) in self.fallback.drain(..) {
                self.ops.complete(key, res, 0, released);
            }
        }
        loop {
            // Split borrows: the CQ view borrows the ring while completions update the slots.
            let Driver {
                ring,
                ops,
                detached,
                wake_armed,
                fixed,
                ..
            } = self;
            for cqe in ring.completion() {
                match cqe.user_data() {
                    TAG_WAKE => *wake_armed = false,
                    TAG_DETACHED => *detached -= 1,
                    tag if tag & TAG_FIXED != 0 => {
                        *detached -= 1;
                        fixed.free.push(tag as u32);
                    }
                    key => ops.complete(key as usize, cqe.result(), cqe.flags(), released),
                }
            }
            // Completions the CQ had no room for wait in the kernel's overflow list until an
            // enter with GETEVENTS flushes them: never lost, never left behind.
            if !self.ring.submission().cq_overflow() {
                break;
            }
            let _ = self
                .enter_fd
                .enter(0, 0, EnterFlags::GETEVENTS.bits(), None);
        }
    }

    /// Operations the kernel may still be using memory of.
    fn in_flight(&self) -> usize {
        self.ops.in_flight() + self.detached + usize::from(self.wake_armed)
    }

    /// Nothing queued for the kernel and no dropped op still holding its data.
    pub fn settled(&mut self) -> bool {
        self.backlog.is_empty() && self.ring.submission().is_empty() && self.ops.orphans() == 0
    }

    /// One step of shutdown: cancel everything, then wait. `true` once nothing is in flight.
    pub fn shutdown_step(&mut self, released: &mut Released) -> bool {
        let started = *self.shutdown.get_or_insert_with(Instant::now);
        if self.in_flight() == 0 {
            return true;
        }
        if started.elapsed() > SHUTDOWN_GRACE {
            tracing::error!(
                in_flight = self.in_flight(),
                "io_uring operations did not finish after cancel; leaking their memory"
            );
            self.leak_in_flight();
            return true;
        }
        // (Re-)ask the kernel to cancel whatever is left: a cancel can race a fresh submit.
        for key in self.ops.pending_keys() {
            self.push_detached(opcode::AsyncCancel::new(key as u64).build());
        }
        if self.wake_armed {
            self.push_detached(opcode::AsyncCancel::new(TAG_WAKE).build());
        }
        if let Err(e) = self.park(Some(Duration::from_millis(100)), released) {
            tracing::error!("io_uring_enter failed during shutdown: {e}");
            self.leak_in_flight();
            return true;
        }
        false
    }

    /// Forgets everything the kernel may still write into, so it is never freed.
    fn leak_in_flight(&mut self) {
        self.ops.leak();
        if self.wake_armed {
            mem::forget(mem::replace(&mut self.wake_buf, Box::new(0)));
        }
        self.detached = 0;
        self.wake_armed = false;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.pool.shutdown(Duration::from_secs(1));
        self.enter_fd.unregister(self.ring.as_raw_fd());
        // The runtime drains the driver first; if it could not, never free memory the kernel
        // may still write into.
        if self.in_flight() > 0 {
            self.leak_in_flight();
        }
    }
}

/// Registers a sparse table of fixed files (Linux 5.19) as large as `RLIMIT_NOFILE` allows, up
/// to [`FIXED_SLOTS`]; returns its free slots, lowest first to hand out (none on failure).
fn fixed_table(ring: &IoUring) -> Vec<u32> {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it in.
    let mut lim: libc::rlimit = unsafe { mem::zeroed() };
    // SAFETY: `lim` is valid for writes.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        0
    };
    let n = soft.min(u64::from(FIXED_SLOTS)) as u32;
    if n == 0 || ring.submitter().register_files_sparse(n).is_err() {
        return Vec::new();
    }
    (0..n).rev().collect()
}

/// The eventfd that other threads write to end a `park`.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }
}

impl Unpark for EventFd {
    fn unpark(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd we own. EAGAIN (counter full)
        // means a wake-up is pending anyway.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// Wakes a loop through its eventfd, if the loop still exists.
struct WeakWake(std::sync::Weak<EventFd>);

impl Unpark for WeakWake {
    fn unpark(&self) {
        if let Some(fd) = self.0.upgrade() {
            fd.unpark();
        }
    }
}

/// `IORING_REGISTER_RING_FDS` / `IORING_UNREGISTER_RING_FDS` and `IORING_ENTER_REGISTERED_RING`:
/// the io-uring crate remembers a registration only in a temporary `Submitter`, so the driver
/// keeps it here and enters the ring itself.
const REGISTER_RING_FDS: libc::c_uint = 20;
const UNREGISTER_RING_FDS: libc::c_uint = 21;
const ENTER_REGISTERED_RING: u32 = 1 << 4;

/// The kernel's `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

struct EnterFd {
    /// The registered index, or the raw ring fd when registration is not available.
    fd: i32,
    registered: bool,
    /// The thread that created the ring: the only one that may enter it (`SINGLE_ISSUER`
    /// makes the kernel refuse others with EEXIST; a registered index means another ring, or
    /// none, on any other thread). Checked in debug builds.
    thread: std::thread::ThreadId,
}

impl EnterFd {
    /// Registers the ring fd for this thread (Linux 5.18+); the raw fd otherwise.
    fn register(ring_fd: RawFd) -> EnterFd {
        let mut up = RsrcUpdate {
            offset: u32::MAX,
            resv: 0,
            data: ring_fd as u64,
        };
        // SAFETY: io_uring_register with one valid rsrc_update; the kernel writes the index
        // it chose into `offset`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring_fd,
                REGISTER_RING_FDS,
                &mut up as *mut RsrcUpdate,
                1,
            )
        };
        let thread = std::thread::current().id();
        if rc == 1 {
            EnterFd {
                fd: up.offset as i32,
                registered: true,
                thread,
            }
        } else {
            EnterFd {
                fd: ring_fd,
                registered: false,
                thread,
            }
        }
    }

    fn unregister(&mut self, ring_fd: RawFd) {
        if !self.registered {
            return;
        }
        let up = RsrcUpdate {
            offset: self.fd as u32,
            resv: 0,
            data: 0,
        };
        // SAFETY: io_uring_register with one valid rsrc_update naming our registration.
        unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                ring_fd,
                UNREGISTER_RING_FDS,
                &up as *const RsrcUpdate,
                1,
            )
        };
        self.registered = false;
        self.fd = ring_fd;
    }

    /// `io_uring_enter(2)`, with the registered ring when there is one.
    #[inline]
    fn enter(
        &self,
        to_submit: u32,
        min_complete: u32,
        flags: u32,
        arg: Option<&types::SubmitArgs<'_, '_>>,
    ) -> io::Result<usize> {
        debug_assert_eq!(
            std::thread::current().id(),
            self.thread,
            "a ring was entered by a thread other than its loop's"
        );
        let flags = if self.registered {
            flags | ENTER_REGISTERED_RING
        } else {
            flags
        };
        let (ptr, size) = match arg {
            Some(a) => (
                (a as *const types::SubmitArgs<'_, '_>).cast::<libc::c_void>(),
                mem::size_of::<types::SubmitArgs<'_, '_>>(),
            ),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: the ring (or its registered index) is live; `arg`, when given, is a valid
        // io_uring_getevents_arg (SubmitArgs is repr(transparent) over it) that outlives the
        // call, and the kernel reads it only with EXT_ARG set by the caller.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd,
                to_submit,
                min_complete,
                flags,
                ptr,
                size,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }
}
