//! Anonymous pipes as async streams.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::io::FdStream;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A pipe's two ends as raw shared fds `(read, write)`, close-on-exec, blocking mode (the
/// ring waits for readiness itself).
pub(crate) fn raw_pipe() -> io::Result<(SharedFd, SharedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two fds; the result is checked.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((SharedFd::new(fds[0]), SharedFd::new(fds[1])))
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

/// The writing end of a pipe. Dropping it (and every operation using it) closes it: the
/// reader then sees end of stream.
#[derive(Debug)]
pub struct Sender {
    inner: FdStream,
}

/// The reading end of a pipe.
#[derive(Debug)]
pub struct Receiver {
    inner: FdStream,
}

impl Sender {
    /// Takes over the writing end of a pipe (or any stream fd).
    pub fn from_owned_fd(fd: OwnedFd) -> Sender {
        Sender {
            inner: FdStream::other(SharedFd::from_owned(fd)),
        }
    }

    /// Writes some of the buffer's bytes; EPIPE once the reader is gone.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// A pipe has no half-close: drop the `Sender` to end the stream. This only flushes
    /// nothing and returns `Ok`.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

impl Receiver {
    /// Takes over the reading end of a pipe (or any stream fd).
    pub fn from_owned_fd(fd: OwnedFd) -> Receiver {
        Receiver {
            inner: FdStream::other(SharedFd::from_owned(fd)),
        }
    }

    /// Reads up to the buffer's capacity; `Ok(0)` once every writer is gone.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }
}

crate::io::impl_read_trait!(Receiver);
crate::io::impl_write_trait!(Sender => half_close: false);
crate::io::impl_owned_read!(Receiver);
crate::io::impl_owned_write!(Sender => half_close: false);

impl AsRawFd for Sender {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsRawFd for Receiver {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl From<std::process::ChildStdin> for Sender {
    fn from(s: std::process::ChildStdin) -> Sender {
        Sender::from_owned_fd(s.into())
    }
}

impl From<std::process::ChildStdout> for Receiver {
    fn from(s: std::process::ChildStdout) -> Receiver {
        Receiver::from_owned_fd(s.into())
    }
}

impl From<std::process::ChildStderr> for Receiver {
    fn from(s: std::process::ChildStderr) -> Receiver {
        Receiver::from_owned_fd(s.into())
    }
}
