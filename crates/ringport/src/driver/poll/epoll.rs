//! A thin epoll: each fd registered once, edge-triggered, for both directions; millisecond
//! waits; an eventfd to wake it.
//!
//! Edge-triggered is safe because an operation always tries its call before it waits, and its
//! waiter is recorded before the loop's next `epoll_wait`: an edge that comes after the EAGAIN
//! is reported to it. Registering once saves the `epoll_ctl` a one-shot scheme pays per wait.
//!
//! The `polling` crate arms a timerfd and re-arms its notifier on every wait (for nanosecond
//! timeouts): four system calls per loop turn that the loop pays for nothing, since its timers
//! only need the wait rounded up to the next millisecond (late by under 1 ms, never early).
//! Here a turn costs one `epoll_wait`, plus one eventfd read when another thread woke it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The `data` of the wake-up eventfd's registration (fds are never this large).
const WAKE: u64 = u64::MAX;

/// What one wait reports per fd.
pub(crate) type Event = libc::epoll_event;

fn check(rc: i32) -> io::Result<i32> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// One readiness report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    pub fd: RawFd,
    pub readable: bool,
    pub writable: bool,
    /// The peer hung up or the fd failed: no later edge is sure to come, so readiness
    /// tracking must stop assuming one will.
    pub closed: bool,
}

pub(crate) struct Epoll {
    epfd: OwnedFd,
    wake: OwnedFd,
    /// A wake-up is written and not yet drained: later ones need not write again.
    woken: AtomicBool,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscalls; results checked, fds owned at once.
        let (epfd, wake) = unsafe {
            let epfd = OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?);
            let flags = libc::EFD_CLOEXEC | libc::EFD_NONBLOCK;
            let wake = OwnedFd::from_raw_fd(check(libc::eventfd(0, flags))?);
            (epfd, wake)
        };
        let ep = Epoll {
            epfd,
            wake,
            woken: AtomicBool::new(false),
        };
        ep.ctl(
            libc::EPOLL_CTL_ADD,
            ep.wake.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE,
        )?;
        Ok(ep)
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: a valid epoll fd and event; the kernel copies the event.
        check(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// Registers `fd` for both directions, edge-triggered. A number already registered (a
    /// closed fd's, reused) keeps its registration, which is the same.
    pub fn register(&self, fd: RawFd) -> io::Result<()> {
        let ev = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        match self.ctl(libc::EPOLL_CTL_ADD, fd, ev, fd as u64) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Forgets `fd` (before it is closed).
    pub fn delete(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Waits up to `timeout` (`None`: until something is ready), rounded up to a millisecond,
    /// and appends what is ready to `out`.
    pub fn wait(
        &self,
        events: &mut Vec<libc::epoll_event>,
        out: &mut Vec<Ready>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let ms = match timeout {
            None => -1,
            Some(t) => {
                let ms = t.as_nanos().div_ceil(1_000_000);
                ms.min(i32::MAX as u128) as i32
            }
        };
        events.clear();
        let cap = events.capacity().max(1) as i32;
        // SAFETY: the kernel writes at most `cap` events into the vector's spare capacity.
        let n = unsafe { libc::epoll_wait(self.epfd.as_raw_fd(), events.as_mut_ptr(), cap, ms) };
        let n = match check(n) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { events.set_len(n) };
        for ev in events.iter() {
            let (data, bits) = (ev.u64, ev.events);
            if data == WAKE {
                self.drain_wake();
                continue;
            }
            // An error or hang-up wakes both directions: every waiter retries and sees it.
            let fault = bits & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            out.push(Ready {
                fd: data as RawFd,
                readable: fault || bits & (libc::EPOLLIN | libc::EPOLLRDHUP) as u32 != 0,
                writable: fault || bits & libc::EPOLLOUT as u32 != 0,
                closed: fault || bits & libc::EPOLLRDHUP as u32 != 0,
            });
        }
        Ok(())
    }

    fn drain_wake(&self) {
        let mut buf = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd.
        unsafe { libc::read(self.wake.as_raw_fd(), (&mut buf as *mut u64).cast(), 8) };
        // Only now: a `notify` between clearing the flag and the read would have its write
        // drained here and leave the flag set, so every later `notify` would skip its write
        // and the loop could sleep with work pending. One that comes after the read and before
        // this store skips its write harmlessly: the loop is awake and checks every source.
        self.woken.store(false, Ordering::SeqCst);
    }

    /// Ends a `wait` from any thread.
    pub fn notify(&self) {
        if self.woken.swap(true, Ordering::SeqCst) {
            return;
        }
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}
