//! The few operations the copy engines issue on fds directly: positional reads and writes,
//! `ftruncate`, `splice` and a readiness wait, each one `Op` on the current driver.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::op::{fallocate, poll, read, splice, write};
use crate::driver::Op;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Reads up to the buffer's capacity at `pos`.
pub(super) async fn read_at<B: IoBufMut>(fd: &SharedFd, buf: B, pos: u64) -> BufResult<usize, B> {
    let op = read::Read {
        fd: fd.clone(),
        buf,
        offset: pos,
    };
    let (done, op) = Op::new(op).await;
    match done.result {
        Ok(n) => BufResult(Ok(n as usize), op.into_buf(n)),
        Err(e) => BufResult(Err(e), op.buf),
    }
}

/// Writes some of the buffer's bytes at `pos`.
pub(super) async fn write_at<B: IoBuf>(fd: &SharedFd, buf: B, pos: u64) -> BufResult<usize, B> {
    let op = write::Write {
        fd: fd.clone(),
        buf,
        offset: pos,
    };
    let (done, op) = Op::new(op).await;
    BufResult(done.result.map(|n| n as usize), op.buf)
}

/// Sets a file's length.
pub(super) async fn set_len(fd: &SharedFd, len: u64) -> io::Result<()> {
    let op = fallocate::Ftruncate {
        fd: fd.clone(),
        len,
    };
    Op::new(op).await.0.result.map(drop)
}

/// One `splice` of up to `len` bytes; an offset of `None` means the fd's own position.
pub(super) async fn splice(
    fd_in: &SharedFd,
    off_in: Option<u64>,
    fd_out: &SharedFd,
    off_out: Option<u64>,
    len: u32,
) -> io::Result<u32> {
    let off = |o: Option<u64>| match o {
        None => Ok(-1),
        Some(o) => i64::try_from(o)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large")),
    };
    let op = splice::Splice {
        fd_in: fd_in.clone(),
        off_in: off(off_in)?,
        fd_out: fd_out.clone(),
        off_out: off(off_out)?,
        len,
    };
    Op::new(op).await.0.result
}

/// Waits until `fd` is ready for `events` (`POLLIN`, `POLLOUT`).
pub(super) async fn ready(fd: &SharedFd, events: i16) -> io::Result<()> {
    let op = poll::PollAdd {
        fd: fd.clone(),
        events: events as u32,
    };
    Op::new(op).await.0.result.map(drop)
}

/// A duplicate of `fd` (close-on-exec) that the copy owns, so that its operations keep the
/// file open however long they outlive the endpoint they came from.
pub(super) fn dup(fd: &impl AsRawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads the fd number; the result is checked.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// The error a cancelled copy ends with (the one [`is_cancelled`](crate::cancel::is_cancelled)
/// recognises).
pub(super) fn cancelled() -> io::Error {
    io::Error::from_raw_os_error(libc::ECANCELED)
}

/// Whether `e` says the kernel cannot do this copy this way (so another way may work).
pub(super) fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EXDEV | libc::EBADF)
    )
}
