//! The poll backend's readiness on macOS and the BSDs: a thin kqueue with the same shape as
//! `epoll.rs` (each fd registered once, edge-triggered with `EV_CLEAR`, for both directions;
//! millisecond waits, never early; an `EVFILT_USER` event to wake it). Built and
//! type-checked in CI (`cargo check --target x86_64-apple-darwin` and
//! `x86_64-unknown-freebsd`); no test runs it yet.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The ident of the wake-up event (fds are never this large).
const WAKE: usize = usize::MAX;

/// What one wait reports per filter.
pub(crate) type Event = libc::kevent;

/// The kqueue, under the name the poll backend uses for its poller.
pub(crate) type Epoll = Kqueue;

fn check(rc: i32) -> io::Result<i32> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A ready fd, as the backend consumes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    pub fd: RawFd,
    pub readable: bool,
    pub writable: bool,
    /// The peer hung up or the fd failed (`EV_EOF`, `EV_ERROR`): no later edge is sure to
    /// come, so readiness tracking must stop assuming one will.
    pub closed: bool,
}

pub(crate) struct Kqueue {
    kq: OwnedFd,
    /// Set by the first `notify` since the last wake-up was reaped.
    woken: AtomicBool,
}

fn event(ident: usize, filter: i16, flags: u16, fflags: u32) -> libc::kevent {
    // SAFETY: kevent is a plain C struct; zero is a valid value for every field.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as _;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev.fflags = fflags as _;
    ev
}

impl Kqueue {
    pub fn new() -> io::Result<Kqueue> {
        // SAFETY: creates a kqueue; the result is checked and owned at once.
        let kq = unsafe { OwnedFd::from_raw_fd(check(libc::kqueue())?) };
        // SAFETY: sets close-on-exec on our own fd.
        check(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        let kq = Kqueue {
            kq,
            woken: AtomicBool::new(false),
        };
        let wake = event(WAKE, libc::EVFILT_USER, libc::EV_ADD | libc::EV_CLEAR, 0);
        kq.apply(&[wake])?;
        Ok(kq)
    }

    fn apply(&self, changes: &[libc::kevent]) -> io::Result<()> {
        // SAFETY: `changes` is valid for its length; no events are received.
        let rc = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                changes.as_ptr(),
                changes.len() as _,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            )
        };
        check(rc).map(drop)
    }

    /// Registers `fd` for both directions, edge-triggered (adding again only updates it).
    pub fn register(&self, fd: RawFd) -> io::Result<()> {
        let flags = libc::EV_ADD | libc::EV_CLEAR;
        self.apply(&[
            event(fd as usize, libc::EVFILT_READ, flags, 0),
            event(fd as usize, libc::EVFILT_WRITE, flags, 0),
        ])
    }

    /// Forgets `fd` (closing it does too; this is for an fd about to be closed elsewhere).
    pub fn delete(&self, fd: RawFd) {
        let _ = self.apply(&[event(fd as usize, libc::EVFILT_READ, libc::EV_DELETE, 0)]);
        let _ = self.apply(&[event(fd as usize, libc::EVFILT_WRITE, libc::EV_DELETE, 0)]);
    }

    /// Waits up to `timeout` (rounded up to a millisecond) and appends the ready fds to `out`.
    pub fn wait(
        &self,
        events: &mut Vec<libc::kevent>,
        out: &mut Vec<Ready>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let ts = timeout.map(|t| {
            let ms = t.as_nanos().div_ceil(1_000_000).min(i64::MAX as u128) as i64;
            libc::timespec {
                tv_sec: (ms / 1000) as _,
                tv_nsec: ((ms % 1000) * 1_000_000) as _,
            }
        });
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        events.clear();
        let cap = events.capacity().max(1);
        // SAFETY: the event buffer has room for `cap` entries; the timeout outlives the call.
        let n = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                std::ptr::null(),
                0,
                events.as_mut_ptr(),
                cap as _,
                ts_ptr,
            )
        };
        let n = match check(n) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { events.set_len(n) };
        for ev in events.iter() {
            if ev.filter == libc::EVFILT_USER as _ {
                self.woken.store(false, Ordering::SeqCst);
                continue;
            }
            let fault = ev.flags & (libc::EV_EOF | libc::EV_ERROR) != 0;
            out.push(Ready {
                fd: ev.ident as RawFd,
                readable: fault || ev.filter == libc::EVFILT_READ as _,
                writable: fault || ev.filter == libc::EVFILT_WRITE as _,
                closed: fault,
            });
        }
        Ok(())
    }

    /// Wakes a `wait` from any thread; one trigger per burst.
    pub fn notify(&self) {
        if self.woken.swap(true, Ordering::SeqCst) {
            return;
        }
        let trigger = event(WAKE, libc::EVFILT_USER, 0, libc::NOTE_TRIGGER);
        if let Err(e) = self.apply(&[trigger]) {
            tracing::error!("waking the loop failed: {e}");
            self.woken.store(false, Ordering::SeqCst);
        }
    }
}
