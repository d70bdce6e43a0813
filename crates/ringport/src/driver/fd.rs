//! `SharedFd`: an fd shared by its owner and the operations in flight on it.
//!
//! The fd is closed when the last holder drops, so a cancelled operation parked in the driver
//! keeps its fd open (and its number unused by anything else) until the kernel is done.

use super::Handle;
use std::fmt;
use std::os::fd::AsRawFd;
use std::rc::Rc;

/// The raw OS handle the driver closes (`Handle::close_detached`); on Windows a handle or
/// socket with its kind (`fd_windows.rs`).
pub(crate) use std::os::fd::RawFd;

/// An fd owned jointly by a file or socket and its in-flight operations.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    fd: RawFd,
    /// Whether dropping the last holder closes the fd (not for stdin, stdout, stderr).
    owned: bool,
}

impl SharedFd {
    /// Takes ownership of `fd`.
    pub fn new(fd: RawFd) -> Self {
        SharedFd {
            inner: Rc::new(Inner { fd, owned: true }),
        }
    }

    /// Shares an fd this process keeps open for its whole life (stdio): never closed here.
    pub fn borrowed(fd: RawFd) -> Self {
        SharedFd {
            inner: Rc::new(Inner { fd, owned: false }),
        }
    }

    /// Takes ownership of an `OwnedFd`.
    pub fn from_owned(fd: std::os::fd::OwnedFd) -> Self {
        Self::new(std::os::fd::IntoRawFd::into_raw_fd(fd))
    }

    /// Whether ringport owns the fd (it may then change its flags), as opposed to stdio.
    pub fn is_owned(&self) -> bool {
        self.inner.owned
    }

    /// Gives up ownership when no operation holds the fd any more: `Err(self)` otherwise.
    pub fn try_unwrap(self) -> Result<RawFd, SharedFd> {
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => {
                let fd = inner.fd;
                std::mem::forget(inner);
                Ok(fd)
            }
            Err(inner) => Err(SharedFd { inner }),
        }
    }
}

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd
    }
}

impl std::os::fd::AsFd for SharedFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the fd stays open at least as long as this SharedFd (and so the borrow).
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.inner.fd) }
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedFd({})", self.inner.fd)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // Close through the driver when a runtime is running here; outside one, directly:
        // nothing else can use the fd any more.
        match Handle::try_current() {
            Some(handle) => handle.close_detached(self.fd),
            // SAFETY: we own the fd and nothing else refers to it.
            None => unsafe {
                libc::close(self.fd);
            },
        }
    }
}
