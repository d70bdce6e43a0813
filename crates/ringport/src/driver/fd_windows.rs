//! `SharedFd` on Windows: a handle or socket shared by its owner and the operations in flight
//! on it.
//!
//! As on Unix, the handle closes when the last holder drops, so a cancelled operation parked
//! in the driver keeps it open (and its value unused by anything else) until the kernel is
//! done. The handle's [`Kind`] says how the IOCP backend runs its operations.

use super::Handle;
use std::fmt;
use std::rc::Rc;

/// What a handle is, which decides how its operations run and how it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A file opened with `FILE_FLAG_OVERLAPPED`: `ReadFile`/`WriteFile` at offsets.
    File,
    /// A stream socket: `WSARecv`/`WSASend`, with `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS`.
    Stream,
    /// A datagram socket: no skip mode (a truncated datagram's warning status makes it
    /// unreliable, iocp.md pitfall 5).
    Datagram,
    /// An overlapped named pipe: through the port, without skip mode (message pipes report
    /// `ERROR_MORE_DATA` as a warning).
    Pipe,
    /// A handle opened without `FILE_FLAG_OVERLAPPED` (inherited stdio, the console, an
    /// anonymous pipe): its calls block, so they run on the driver's pool.
    Sync,
}

/// A raw handle (or socket) and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawFd {
    pub raw: usize,
    pub kind: Kind,
}

impl RawFd {
    pub fn new(raw: usize, kind: Kind) -> RawFd {
        RawFd { raw, kind }
    }

    /// A handle taken over from elsewhere (std, a child's pipe), with its kind found out:
    /// files and pipes opened with `FILE_FLAG_OVERLAPPED` go through the port, others
    /// (`FILE_SYNCHRONOUS_IO_*` in their mode, consoles) to the pool, as libuv decides.
    pub fn adopt(raw: usize) -> RawFd {
        use windows_sys::Wdk::Storage::FileSystem::{FileModeInformation, NtQueryInformationFile};
        use windows_sys::Win32::Storage::FileSystem::{
            GetFileType, FILE_TYPE_DISK, FILE_TYPE_PIPE,
        };
        use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;
        // SAFETY: queries on a handle the caller owns; the outputs are locals of the right size.
        let (ty, mode) = unsafe {
            let ty = GetFileType(raw as _);
            let mut iosb: IO_STATUS_BLOCK = std::mem::zeroed();
            let mut mode = 0u32;
            let status = NtQueryInformationFile(
                raw as _,
                &mut iosb,
                (&mut mode as *mut u32).cast(),
                4,
                FileModeInformation,
            );
            // Unknown: treat as synchronous (the pool is always safe).
            (ty, if status < 0 { 0x20 } else { mode })
        };
        const FILE_SYNCHRONOUS_IO: u32 = 0x10 | 0x20;
        let overlapped = mode & FILE_SYNCHRONOUS_IO == 0;
        let kind = match ty {
            FILE_TYPE_DISK if overlapped => Kind::File,
            FILE_TYPE_PIPE if overlapped => Kind::Pipe,
            _ => Kind::Sync,
        };
        RawFd { raw, kind }
    }

    pub fn is_socket(&self) -> bool {
        matches!(self.kind, Kind::Stream | Kind::Datagram)
    }

    /// Closes it now (`closesocket` may block while a linger runs): for when no runtime is
    /// running here, or on a pool thread.
    pub fn close_now(self) -> i32 {
        use windows_sys::Win32::Foundation::{CloseHandle, GetLastError};
        use windows_sys::Win32::Networking::WinSock::{closesocket, WSAGetLastError};
        // SAFETY: the caller owns the handle and nothing uses it any more.
        unsafe {
            if self.is_socket() {
                if closesocket(self.raw) != 0 {
                    return -WSAGetLastError();
                }
            } else if CloseHandle(self.raw as _) == 0 {
                return -(GetLastError() as i32);
            }
        }
        0
    }
}

/// A handle owned jointly by a file or socket and its in-flight operations.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    fd: RawFd,
    /// Whether dropping the last holder closes the handle (not for the standard handles).
    owned: bool,
}

impl SharedFd {
    /// Takes ownership of `fd`.
    pub fn new(fd: RawFd) -> Self {
        SharedFd {
            inner: Rc::new(Inner { fd, owned: true }),
        }
    }

    /// Shares a handle this process keeps open for its whole life (stdio): never closed here.
    pub fn borrowed(fd: RawFd) -> Self {
        SharedFd {
            inner: Rc::new(Inner { fd, owned: false }),
        }
    }

    /// The handle and its kind.
    pub fn raw(&self) -> RawFd {
        self.inner.fd
    }

    /// Gives up ownership when no operation holds the handle any more: `Err(self)` otherwise.
    pub fn try_unwrap(self) -> Result<RawFd, SharedFd> {
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => {
                let fd = inner.fd;
                std::mem::forget(inner);
                Handle::forget_closed(fd, None);
                Ok(fd)
            }
            Err(inner) => Err(SharedFd { inner }),
        }
    }
}

impl std::os::windows::io::AsSocket for SharedFd {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        // SAFETY: the socket stays open at least as long as this SharedFd (and so the borrow).
        unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(self.inner.fd.raw as _) }
    }
}

impl fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SharedFd({:#x}, {:?})",
            self.inner.fd.raw, self.inner.fd.kind
        )
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // Close through the driver when a runtime is running here (it forgets the handle's
        // port association and closes on its pool); outside one, directly. The thread's
        // other drivers forget it first.
        let current = Handle::try_current();
        Handle::forget_closed(self.fd, current.as_ref());
        match current {
            Some(handle) => handle.close_detached(self.fd),
            None => {
                self.fd.close_now();
            }
        }
    }
}
