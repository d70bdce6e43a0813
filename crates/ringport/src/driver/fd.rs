//! `SharedFd`: an fd shared by its owner and the operations in flight on it.
//!
//! The fd is closed when the last holder drops, so a cancelled operation parked in the driver
//! keeps its fd open (and its number unused by anything else) until the kernel is done.
//!
//! An fd that keeps being used may also be registered in a ring's table of fixed files (see
//! `driver/uring`): its operations then name the table slot, which spares the kernel a file
//! lookup and reference count per operation. The slot holds a reference of its own to the open
//! file, so it is released together with the fd (and before one is handed out raw).

use super::{Handle, HandleInner};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};

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
    /// Operations started on it so far (saturating; `u16::MAX`: never register it).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's fixed files
    uses: Cell<u16>,
    /// The fixed-file slot it is registered in, and (by address) the driver whose table that
    /// is: compared on every operation, so plain copies.
    fixed: Cell<Option<(u32, *const HandleInner)>>,
    /// The same driver, to release the slot through when the fd goes. Set and cleared with
    /// `fixed`; being a `Weak`, it also keeps the driver's allocation from being reused, so
    /// the address in `fixed` can never name a newer driver by accident.
    fixed_owner: RefCell<Weak<HandleInner>>,
}

impl Inner {
    fn new(fd: RawFd, owned: bool) -> Inner {
        Inner {
            fd,
            owned,
            uses: Cell::new(0),
            fixed: Cell::new(None),
            fixed_owner: RefCell::new(Weak::new()),
        }
    }

    /// Gives the fixed-file slot back to the driver that holds it (if that driver still runs).
    fn release_fixed(&self) {
        if let Some((slot, _)) = self.fixed.take() {
            let owner = std::mem::take(&mut *self.fixed_owner.borrow_mut());
            if let Some(owner) = owner.upgrade() {
                Handle { inner: owner }.release_fixed(slot);
            }
        }
    }
}

impl SharedFd {
    /// Takes ownership of `fd`.
    pub fn new(fd: RawFd) -> Self {
        SharedFd {
            inner: Rc::new(Inner::new(fd, true)),
        }
    }

    /// Shares an fd this process keeps open for its whole life (stdio): never closed here.
    pub fn borrowed(fd: RawFd) -> Self {
        SharedFd {
            inner: Rc::new(Inner::new(fd, false)),
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

    /// Gives up ownership when no operation holds the fd any more: `Err(self)` otherwise. A
    /// fixed-file slot is released first (its release is queued ahead of anything the caller
    /// submits next), so the raw fd is then the only reference this process holds, and no
    /// driver of this thread keeps state for it (a poll backend stops watching it).
    pub fn try_unwrap(self) -> Result<RawFd, SharedFd> {
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => {
                inner.release_fixed();
                let fd = inner.fd;
                std::mem::forget(inner);
                Handle::forget_closed(fd, None);
                Ok(fd)
            }
            Err(inner) => Err(SharedFd { inner }),
        }
    }

    /// The fixed-file slot this fd has in `owner`'s table, if any.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring only
    #[inline]
    pub(crate) fn fixed_in(&self, owner: *const HandleInner) -> Option<u32> {
        match self.inner.fixed.get() {
            Some((slot, o)) if o == owner => Some(slot),
            _ => None,
        }
    }

    /// Counts one more operation; `true` when the fd has been used often enough to be worth a
    /// fixed-file slot (and is ours to register, and has none yet).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring only
    #[inline]
    pub(crate) fn note_use(&self, threshold: u16) -> bool {
        let n = self.inner.uses.get();
        if n >= threshold {
            return n != u16::MAX && self.inner.owned && self.inner.fixed.get().is_none();
        }
        self.inner.uses.set(n + 1);
        false
    }

    /// Records the slot `owner` registered this fd in; on failure, stop trying.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring only
    pub(crate) fn set_fixed(&self, slot: Option<(u32, &Weak<HandleInner>)>) {
        match slot {
            Some((slot, owner)) => {
                // A slot in another driver's table (a second runtime on this thread) goes back.
                self.inner.release_fixed();
                self.inner.fixed.set(Some((slot, owner.as_ptr())));
                *self.inner.fixed_owner.borrow_mut() = owner.clone();
            }
            None => self.inner.uses.set(u16::MAX),
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
        self.release_fixed();
        // Close through the driver when a runtime is running here; outside one, directly:
        // nothing else can use the fd any more. The thread's other drivers forget it first.
        let current = Handle::try_current();
        Handle::forget_closed(self.fd, current.as_ref());
        match current {
            Some(handle) => handle.close_detached(self.fd),
            // SAFETY: we own the fd and nothing else refers to it.
            None => unsafe {
                libc::close(self.fd);
            },
        }
    }
}
