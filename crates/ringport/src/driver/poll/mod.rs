//! The poll backend: epoll readiness plus the syscall pool, for machines
//! where io_uring is missing or forbidden (the libuv model).
//!
//! It keeps the completion contract: an operation is only queued by `submit`; the next
//! `park` tries it without blocking (sockets with `MSG_DONTWAIT`, streams with
//! `RWF_NOWAIT`), parks it on its fd's readiness on EAGAIN and retries it when the fd is
//! ready, or hands blocking calls (files, paths) to the syscall pool. Every result, whatever
//! its source, completes the same slot through the loop.

mod attempt;
#[cfg(target_os = "linux")]
mod epoll;
#[cfg(not(target_os = "linux"))]
#[path = "kqueue.rs"]
mod epoll;
pub(crate) mod op;

pub(crate) use op::{PollEntry, PollOp};

use super::pool::SyscallPool;
use super::slots::{Cancelled, Slots};
use super::{Backend, BackendInfo, Completion, Config, OpCode, Orphan, Released, Unpark};
use attempt::Outcome;
use epoll::{Epoll, Ready};
use op::Attempt;
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The key of pool jobs nobody waits for (detached closes).
const DETACHED: usize = usize::MAX;
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Threads the syscall pool may start.
const POOL_THREADS: usize = 64;

/// The ops waiting on one fd, and what is known of its readiness: 24 bytes, so one cache line
/// holds the state of two or three fds and a message touches one line here.
///
/// Once the fd is registered (edge-triggered), every arrival of data (every freeing of send
/// space) after it was drained (filled) brings an event. So a read that follows a short read
/// or an EAGAIN, with no readable event since, would only meet EAGAIN: it waits for the
/// event instead of trying (tokio's readiness tracking; it saves a system call per message
/// on a request-response connection). A stale event only costs one try that finds EAGAIN.
struct Waiters {
    /// The first op waiting to read (`[0]`) and to write (`[1]`), or `NONE`. Ops that wait
    /// behind it (two reads at once on one fd: rare) queue in `more`, in order.
    first: [u32; 2],
    more: Option<Box<[VecDeque<usize>; 2]>>,
    registered: bool,
    /// No readable (writable) event has come since a read (write) found the queue drained
    /// (the buffer full): only meaningful once registered.
    drained: bool,
    full: bool,
    /// A hang-up or error was reported: the end of stream (or the error) brings no further
    /// edge, so a read after a short read must try (it finds the end, not EAGAIN). Sticky
    /// for the fd's life.
    closed: bool,
}

/// No op in `Waiters::first`.
const NONE: u32 = u32::MAX;
const READ: usize = 0;
const WRITE: usize = 1;

impl Default for Waiters {
    fn default() -> Waiters {
        Waiters {
            first: [NONE; 2],
            more: None,
            registered: false,
            drained: false,
            full: false,
            closed: false,
        }
    }
}

impl Waiters {
    /// Queues op `key` behind the others waiting in direction `dir`.
    fn push(&mut self, dir: usize, key: usize) {
        let behind = self.more.as_ref().is_some_and(|m| !m[dir].is_empty());
        match u32::try_from(key) {
            Ok(k) if k != NONE && self.first[dir] == NONE && !behind => self.first[dir] = k,
            _ => self.more.get_or_insert_with(Box::default)[dir].push_back(key),
        }
    }

    fn is_empty(&self) -> bool {
        self.first == [NONE; 2]
            && self
                .more
                .as_ref()
                .is_none_or(|m| m.iter().all(VecDeque::is_empty))
    }

    /// Moves the ops waiting in direction `dir` to `out`, in order.
    fn drain(&mut self, dir: usize, out: &mut Vec<usize>) {
        let first = std::mem::replace(&mut self.first[dir], NONE);
        if first != NONE {
            out.push(first as usize);
        }
        if let Some(m) = &mut self.more {
            out.extend(m[dir].drain(..));
        }
    }

    /// Takes op `key` out of whichever queue it waits in.
    fn remove(&mut self, key: usize) {
        for dir in [READ, WRITE] {
            if self.first[dir] as usize == key && self.first[dir] != NONE {
                // The ops behind stay where they are: `drain` takes `more` after an empty
                // `first`, and `push` queues behind them while any wait there.
                self.first[dir] = NONE;
            } else if let Some(m) = &mut self.more {
                m[dir].retain(|&k| k != key);
            }
        }
    }
}

/// The per-fd state, indexed by the fd: the kernel hands out the lowest free numbers, so the
/// table is dense and as long as the highest fd polled (24 bytes per number), and a lookup is
/// one indexed load where a hash map cost a probe of its control bytes and a bucket.
#[derive(Default)]
struct FdTable(Vec<Waiters>);

impl FdTable {
    fn get_mut(&mut self, fd: RawFd) -> Option<&mut Waiters> {
        usize::try_from(fd).ok().and_then(|i| self.0.get_mut(i))
    }

    /// The fd's state, made if this is its first wait. `None` for a negative fd.
    fn entry(&mut self, fd: RawFd) -> Option<&mut Waiters> {
        let i = usize::try_from(fd).ok()?;
        if self.0.len() <= i {
            self.0.resize_with(i + 1, Waiters::default);
        }
        Some(&mut self.0[i])
    }

    /// Forgets the fd (it is closing): its state is reset for the next fd of that number.
    fn remove(&mut self, fd: RawFd) -> Option<Waiters> {
        self.get_mut(fd).map(std::mem::take)
    }
}

pub(crate) struct Driver {
    poller: Arc<Epoll>,
    events: Vec<epoll::Event>,
    ops: Slots,
    /// The attempt of each op that is pending or waiting for readiness, by key.
    attempts: Vec<Option<Attempt>>,
    /// Submitted since the last `park`, not tried yet (never inside `submit`).
    pending: VecDeque<usize>,
    /// Completions produced outside `park` or not yet handed over.
    ready: Vec<(usize, i32, u32)>,
    fds: FdTable,
    /// Fds whose interest changed since they were last armed.
    dirty: Vec<RawFd>,
    pool: SyscallPool,
    results: Vec<(usize, i32)>,
    /// Reused lists, so a turn allocates nothing: fds the poller reported, keys to retry.
    fired: Vec<Ready>,
    retry: Vec<usize>,
    /// Detached pool jobs in flight.
    detached: usize,
    shutdown: Option<Instant>,
    next_bgid: u16,
    info: BackendInfo,
}

/// Wakes the poller from any thread. It holds the poller weakly: the driver alone owns it, so
/// its fds close when the driver drops, and waking a runtime that is gone does nothing.
struct PollWake(Weak<Epoll>);

impl Unpark for PollWake {
    fn unpark(&self) {
        if let Some(poller) = self.0.upgrade() {
            poller.notify();
        }
    }
}

impl Driver {
    pub fn new(_config: &Config, reason: Option<String>) -> io::Result<Driver> {
        let poller = Arc::new(Epoll::new()?);
        let pool = SyscallPool::new(POOL_THREADS, Arc::new(PollWake(Arc::downgrade(&poller))));
        let info = BackendInfo {
            backend: Backend::Poll,
            reason,
            setup_flags: vec!["EPOLLET"],
            features: vec!["SYSCALL_POOL"],
            opcodes: Vec::new(),
            entries: (0, 0),
            io_workers: None,
            faults: None,
        };
        Ok(Driver {
            poller,
            events: Vec::with_capacity(256),
            ops: Slots::with_capacity(256),
            attempts: Vec::new(),
            pending: VecDeque::new(),
            ready: Vec::new(),
            fds: FdTable::default(),
            dirty: Vec::new(),
            pool,
            results: Vec::new(),
            fired: Vec::new(),
            retry: Vec::new(),
            detached: 0,
            shutdown: None,
            next_bgid: 0,
            info,
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

    pub fn unparker(&self) -> Arc<dyn Unpark> {
        Arc::new(PollWake(Arc::downgrade(&self.poller)))
    }

    #[inline]
    pub fn submit<T: OpCode>(&mut self, data: &mut T, waker: &Waker) -> usize {
        let key = self.ops.insert(waker);
        if self.ops.faulty() {
            if let Some(res) = self.ops.fault_submit(key, data) {
                self.ready.push((key, res, 0));
                return key;
            }
        }
        self.start(key, data.poll_entry());
        key
    }

    #[inline]
    pub fn submit_multi<T: OpCode>(&mut self, data: &mut T, waker: &Waker) -> usize {
        let key = self.ops.insert_multi(waker);
        self.start(key, data.poll_entry());
        key
    }

    fn start(&mut self, key: usize, entry: PollEntry) {
        match entry {
            PollEntry::Ready(res) => self.ready.push((key, res, 0)),
            PollEntry::Pool(call) => self.pool.submit(key, call),
            PollEntry::Try(attempt) => {
                self.set_attempt(key, attempt);
                self.pending.push_back(key);
            }
        }
    }

    fn set_attempt(&mut self, key: usize, attempt: Attempt) {
        if self.attempts.len() <= key {
            self.attempts.resize_with(key + 1, || None);
        }
        self.attempts[key] = Some(attempt);
    }

    #[inline]
    pub fn poll_op(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Completion> {
        self.ops.poll_op(key, cx)
    }

    #[inline]
    pub fn poll_multi(&mut self, key: usize, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        self.ops.poll_multi(key, cx)
    }

    /// Never: attempts are system calls made on the loop thread anyway, so ending a turn early
    /// only adds waits (the budget alone bounds a turn).
    #[inline]
    pub fn should_flush(&mut self) -> bool {
        false
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

    /// Stops an op that has not finished: withdrawn from wherever it waits, it completes with
    /// ECANCELED. One already running on the pool finishes and reports its own result.
    fn abort(&mut self, key: usize) {
        let waiting = self.attempts.get_mut(key).and_then(Option::take);
        if let Some(attempt) = waiting {
            if let Some(pos) = self.pending.iter().position(|&k| k == key) {
                self.pending.remove(pos);
            } else if let Some(w) = self.fds.get_mut(attempt.fd()) {
                w.remove(key);
                self.dirty.push(attempt.fd());
            }
            self.ready.push((key, -libc::ECANCELED, 0));
        } else if self.pool.withdraw(key) {
            self.ready.push((key, -libc::ECANCELED, 0));
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
        self.forget_fd(fd);
        self.detached += 1;
        self.pool
            .submit(DETACHED, super::pool::Syscall::Close { fd });
    }

    /// Removes a closing fd from the poller (it must not stay registered under a number the
    /// kernel may hand out again).
    pub fn forget_fd(&mut self, fd: RawFd) {
        if let Some(w) = self.fds.remove(fd) {
            if w.registered {
                self.poller.delete(fd);
            }
        }
    }

    pub fn register_buf_ring(&mut self, _ring: &crate::buf::BufRing) -> io::Result<u16> {
        // The poll backend hands ring buffers out itself: nothing to tell the kernel.
        self.next_bgid = self.next_bgid.wrapping_add(1);
        Ok(self.next_bgid)
    }

    pub fn unregister_buf_ring(&mut self, _bgid: u16) -> bool {
        true
    }

    /// Tries an op; completes it, parks it on its fd, or sends it to the pool.
    fn attempt(&mut self, key: usize) {
        let Some(mut attempt) = self.attempts.get_mut(key).and_then(Option::take) else {
            return;
        };
        let transfer = attempt.transfer();
        if let Some((write, _)) = transfer {
            if let Some(w) = self.fds.get_mut(attempt.fd()) {
                let known_blocked = if write { w.full } else { w.drained };
                if w.registered && known_blocked && !w.closed {
                    // Nothing changed since the last try met an empty queue (a full buffer).
                    w.push(if write { WRITE } else { READ }, key);
                    self.attempts[key] = Some(attempt);
                    return;
                }
            }
        }
        loop {
            match attempt.run() {
                Outcome::Done(res, flags) => {
                    // A short read drained the queue (every later arrival brings an event). A
                    // short write is not taken as "full": only EAGAIN is sure to bring a
                    // writable event later.
                    if let Some((false, len)) = transfer {
                        if res >= 0 && (res as usize) < len {
                            self.note_drained(attempt.fd());
                        }
                    }
                    self.ready.push((key, res, flags));
                    return;
                }
                Outcome::More(res, flags) => self.ready.push((key, res, flags)),
                Outcome::Wait { write } => {
                    let fd = attempt.fd();
                    let Some(w) = self.fds.entry(fd) else {
                        self.ready.push((key, -libc::EBADF, 0));
                        return;
                    };
                    if write {
                        w.push(WRITE, key);
                        w.full = true;
                    } else {
                        w.push(READ, key);
                        w.drained = true;
                    }
                    self.dirty.push(fd);
                    self.attempts[key] = Some(attempt);
                    return;
                }
                Outcome::Pool(call) => {
                    self.pool.submit(key, call);
                    return;
                }
            }
        }
    }

    /// A short read left the fd's queue empty: later reads wait for the next event. Only for
    /// registered fds, which get one.
    fn note_drained(&mut self, fd: RawFd) {
        if let Some(w) = self.fds.get_mut(fd) {
            w.drained = true;
        }
    }

    /// Registers the fds that ops started waiting on (once per fd: interest is persistent).
    fn rearm(&mut self) {
        while let Some(fd) = self.dirty.pop() {
            let Some(w) = self.fds.get_mut(fd) else {
                continue;
            };
            if w.registered || w.is_empty() {
                continue;
            }
            match self.poller.register(fd) {
                Ok(()) => w.registered = true,
                Err(e) => {
                    // The fd cannot be polled (a regular file, or closed): fail its waiters.
                    let err = -e.raw_os_error().unwrap_or(libc::EBADF);
                    let mut failed = std::mem::take(&mut self.retry);
                    w.drain(READ, &mut failed);
                    w.drain(WRITE, &mut failed);
                    for key in failed.drain(..) {
                        self.attempts[key] = None;
                        self.ready.push((key, err, 0));
                    }
                    self.retry = failed;
                }
            }
        }
    }

    /// One loop turn's I/O: try new ops, wait per `timeout`, retry ready fds, complete.
    pub fn park(&mut self, timeout: Option<Duration>, released: &mut Released) -> io::Result<()> {
        while let Some(key) = self.pending.pop_front() {
            self.attempt(key);
        }
        self.rearm();
        self.pool.drain(&mut self.results);
        let quick = !self.ready.is_empty() || !self.results.is_empty();
        let timeout = if quick {
            Some(Duration::ZERO)
        } else {
            self.ops.park_timeout(timeout)
        };
        let mut fired = std::mem::take(&mut self.fired);
        self.poller.wait(&mut self.events, &mut fired, timeout)?;
        for &ready in &fired {
            self.wake_fd(ready);
        }
        fired.clear();
        self.fired = fired;
        self.rearm();
        self.pool.drain(&mut self.results);
        self.complete_all(released);
        Ok(())
    }

    /// Retries the ops waiting on a ready fd; those that meet EAGAIN again wait for the next
    /// edge.
    fn wake_fd(&mut self, ready: Ready) {
        let Ready {
            fd,
            readable,
            writable,
            closed,
        } = ready;
        let Some(w) = self.fds.get_mut(fd) else {
            return;
        };
        if !w.registered {
            // A late event for an fd forgotten in this turn (its number may be taken again).
            return;
        }
        w.closed |= closed;
        // An error or hang-up shows as both: every waiter retries and sees it.
        let mut retry = std::mem::take(&mut self.retry);
        if readable {
            w.drained = false;
            w.drain(READ, &mut retry);
        }
        if writable {
            w.full = false;
            w.drain(WRITE, &mut retry);
        }
        for &key in &retry {
            self.attempt(key);
        }
        retry.clear();
        self.retry = retry;
    }

    fn complete_all(&mut self, released: &mut Released) {
        self.ops.fault_turn(released);
        for (key, res, flags) in self.ready.drain(..) {
            self.ops.complete(key, res, flags, released);
        }
        for (key, res) in self.results.drain(..) {
            if key == DETACHED {
                self.detached -= 1;
            } else {
                self.ops.complete(key, res, 0, released);
            }
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
                "pool calls did not finish; leaking their memory"
            );
            self.ops.leak();
            self.detached = 0;
            return true;
        }
        if let Err(e) = self.park(Some(Duration::from_millis(100)), released) {
            tracing::error!("waiting during shutdown failed: {e}");
        }
        false
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Pool threads may still write into ops' memory: never free it under them.
        let grace = if self.in_flight() > 0 {
            self.ops.leak();
            Duration::ZERO
        } else {
            // Every call has returned: the threads are idle and leave at once.
            Duration::from_secs(1)
        };
        self.pool.shutdown(grace);
    }
}

#[cfg(test)]
mod tests {
    use super::{FdTable, Waiters, NONE, READ, WRITE};

    fn drained(w: &mut Waiters, dir: usize) -> Vec<usize> {
        let mut out = Vec::new();
        w.drain(dir, &mut out);
        out
    }

    #[test]
    fn waiters_keep_their_order_through_removals() {
        let mut w = Waiters::default();
        w.push(READ, 5);
        w.push(READ, 7);
        w.push(WRITE, 9);
        w.remove(5);
        w.push(READ, 11);
        w.remove(12);
        assert!(!w.is_empty());
        assert_eq!(drained(&mut w, READ), [7, 11]);
        assert_eq!(drained(&mut w, WRITE), [9]);
        assert!(w.is_empty());
        // A key that does not fit the inline slot queues behind, in order.
        w.push(WRITE, NONE as usize);
        w.push(WRITE, 3);
        w.push(READ, 4);
        w.remove(4);
        assert_eq!(drained(&mut w, WRITE), [NONE as usize, 3]);
        assert_eq!(drained(&mut w, READ), Vec::<usize>::new());
        assert!(w.is_empty());
        // The first of three leaves (a cancelled read): the other two keep their order, and
        // one that comes later waits behind them.
        for key in [20, 21, 22] {
            w.push(READ, key);
        }
        w.remove(20);
        w.push(READ, 23);
        assert_eq!(drained(&mut w, READ), [21, 22, 23]);
        assert!(w.is_empty());
    }

    #[test]
    fn the_fd_table_is_indexed_by_fd_and_forgets_an_fd_whole() {
        assert!(std::mem::size_of::<Waiters>() <= 24);
        let mut t = FdTable::default();
        assert!(t.entry(-1).is_none());
        assert!(t.get_mut(40).is_none());
        let w = t.entry(40).unwrap();
        w.registered = true;
        w.push(READ, 1);
        assert!(t.get_mut(3).is_some_and(|w| w.is_empty() && !w.registered));
        let old = t.remove(40).unwrap();
        assert!(old.registered && !old.is_empty());
        assert!(t.get_mut(40).is_some_and(|w| w.is_empty() && !w.registered));
    }
}
