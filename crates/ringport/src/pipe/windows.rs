//! Pipes as async streams on Windows. Anonymous Windows pipes have no overlapped form, so
//! `pipe()` makes a uniquely named pipe (libuv does the same): both ends overlapped, read and
//! written through the completion port, cancellable.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::{Kind, RawFd, SharedFd};
use crate::io::FdStream;
use std::io;
use std::os::windows::io::{IntoRawHandle, OwnedHandle};
use std::sync::atomic::{AtomicU64, Ordering};
use windows_sys::Win32::Foundation::{GENERIC_WRITE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
    PIPE_ACCESS_INBOUND,
};
use windows_sys::Win32::System::Pipes::{CreateNamedPipeW, PIPE_REJECT_REMOTE_CLIENTS};

/// A pipe's two ends as raw shared handles `(read, write)`, both overlapped.
pub(crate) fn raw_pipe() -> io::Result<(SharedFd, SharedFd)> {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        r"\\.\pipe\ringport-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
    // SAFETY: the name is NUL-terminated; one instance, local clients only. Neither call does
    // I/O that can block (the client end opens the instance just created).
    unsafe {
        let r = CreateNamedPipeW(
            wide.as_ptr(),
            PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
            PIPE_REJECT_REMOTE_CLIENTS,
            1,
            64 * 1024,
            64 * 1024,
            0,
            std::ptr::null(),
        );
        if r == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        let r = SharedFd::new(RawFd::new(r as usize, Kind::Pipe));
        let w = CreateFileW(
            wide.as_ptr(),
            GENERIC_WRITE,
            0,
            std::ptr::null(),
            OPEN_EXISTING,
            FILE_FLAG_OVERLAPPED,
            std::ptr::null_mut(),
        );
        if w == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        Ok((r, SharedFd::new(RawFd::new(w as usize, Kind::Pipe))))
    }
}

/// A new pipe: what is written to the [`Sender`] is read from the [`Receiver`].
///
/// ```
/// use ringport::io::{AsyncReadExt, AsyncWriteExt};
/// ringport::run(async {
///     let (mut tx, mut rx) = ringport::pipe::pipe()?;
///     tx.write_all(b"ping".as_slice()).await.0?;
///     let (res, buf) = rx.read_exact(vec![0u8; 4]).await.into_parts();
///     res?;
///     assert_eq!(buf, b"ping");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub fn pipe() -> io::Result<(Sender, Receiver)> {
    let (r, w) = raw_pipe()?;
    Ok((
        Sender {
            inner: FdStream::other(w),
        },
        Receiver {
            inner: FdStream::other(r),
        },
    ))
}

/// The writing end of a pipe. Dropping it closes it: the reader then sees end of stream.
#[derive(Debug)]
pub struct Sender {
    inner: FdStream,
}

/// The reading end of a pipe.
#[derive(Debug)]
pub struct Receiver {
    inner: FdStream,
}

fn adopt(h: OwnedHandle) -> SharedFd {
    SharedFd::new(RawFd::adopt(h.into_raw_handle() as usize))
}

impl Sender {
    /// Takes over the writing end of a pipe (overlapped ends go through the port, others to
    /// the pool).
    pub fn from_owned_handle(h: OwnedHandle) -> Sender {
        Sender {
            inner: FdStream::other(adopt(h)),
        }
    }

    /// Writes some of the buffer's bytes; an error once the reader is gone.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// A pipe has no half-close: drop the `Sender` to end the stream. Returns `Ok`.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

impl Receiver {
    /// Takes over the reading end of a pipe.
    pub fn from_owned_handle(h: OwnedHandle) -> Receiver {
        Receiver {
            inner: FdStream::other(adopt(h)),
        }
    }

    /// Reads up to the buffer's capacity; `Ok(0)` once the writer is gone.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }
}

crate::io::impl_read_trait!(Receiver);
crate::io::impl_write_trait!(Sender => half_close: false);

impl From<std::process::ChildStdin> for Sender {
    fn from(s: std::process::ChildStdin) -> Sender {
        Sender::from_owned_handle(s.into())
    }
}

impl From<std::process::ChildStdout> for Receiver {
    fn from(s: std::process::ChildStdout) -> Receiver {
        Receiver::from_owned_handle(s.into())
    }
}

impl From<std::process::ChildStderr> for Receiver {
    fn from(s: std::process::ChildStderr) -> Receiver {
        Receiver::from_owned_handle(s.into())
    }
}

crate::io::impl_owned_read!(Receiver);
crate::io::impl_owned_write!(Sender => half_close: false);
