//! Owned operations: stream reads, writes and shutdowns whose futures hold the stream's fd and
//! the buffer, not a borrow of the stream.
//!
//! [`AsyncRead::read`](super::AsyncRead::read) borrows the stream, so a layer above it (an
//! encryption layer, a poll-style adapter) cannot keep that read in flight past the call that
//! started it: when the caller's future is dropped the read is cancelled, and bytes the kernel
//! had already received go with it. [`OwnedRead::read_owned`] returns a `'static`, `Unpin`
//! future instead. The layer stores it in itself and polls it again on its next call, so a
//! caller's future dropped at any await point loses nothing. No allocation: the future is the
//! operation itself ([`ReadOp`], [`WriteOp`], [`ShutdownOp`]).
//!
//! Sockets also have [`SocketReadiness`], the other way to serve a poll-style caller: a
//! readiness wait ([`ReadyOp`], also `'static` and `Unpin`) and calls that never block, which
//! read into and write from the caller's own slice.
//!
//! ```
//! use ringport::io::{OwnedRead, OwnedWrite};
//! use ringport::net::{TcpListener, TcpStream};
//! ringport::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let client = TcpStream::connect(listener.local_addr()?).await?;
//!     let (server, _) = listener.accept().await?;
//!     // Started here, kept in a struct, polled later: the stream is not borrowed meanwhile.
//!     let read = server.read_owned(vec![0u8; 16]);
//!     client.write_owned(b"ping".as_slice()).await.0?;
//!     let (n, buf) = read.await.into_parts();
//!     assert_eq!(&buf[..n?], b"ping");
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```

use super::FdStream;
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::op::{poll, read, recv, send, shutdown, write, NO_LIMIT};
use crate::driver::Op;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use super::owned_traits::{OwnedRead, OwnedWrite};

/// An owned read on a stream fd: `RECV` on sockets, `READ` on anything else.
pub struct ReadOp<B: IoBufMut>(ReadKind<B>);

enum ReadKind<B: IoBufMut> {
    Recv(Op<recv::Recv<B>>),
    Read(Op<read::Read<B>>),
}

/// An owned write on a stream fd: `SEND` (`MSG_NOSIGNAL`) on sockets, `WRITE` on anything else.
pub struct WriteOp<B: IoBuf>(WriteKind<B>);

enum WriteKind<B: IoBuf> {
    Send(Op<send::Send<B>>),
    Write(Op<write::Write<B>>),
}

/// An owned write-side shutdown: `SHUTDOWN(SHUT_WR)` on sockets, done at once otherwise.
pub struct ShutdownOp(Option<Op<shutdown::Shutdown>>);

impl FdStream {
    pub(crate) fn read_op<B: IoBufMut>(&self, buf: B) -> ReadOp<B> {
        let fd = self.fd().clone();
        ReadOp(if self.is_socket() {
            ReadKind::Recv(Op::new(recv::Recv {
                fd,
                buf,
                limit: NO_LIMIT,
            }))
        } else {
            ReadKind::Read(Op::new(read::Read {
                fd,
                buf,
                offset: super::fd_stream::STREAM,
            }))
        })
    }

    pub(crate) fn write_op<B: IoBuf>(&self, buf: B) -> WriteOp<B> {
        let fd = self.fd().clone();
        WriteOp(if self.is_socket() {
            WriteKind::Send(Op::new(send::Send {
                fd,
                buf,
                limit: NO_LIMIT,
            }))
        } else {
            WriteKind::Write(Op::new(write::Write {
                fd,
                buf,
                offset: super::fd_stream::STREAM,
            }))
        })
    }

    pub(crate) fn shutdown_write_op(&self, half_close: bool) -> ShutdownOp {
        ShutdownOp(half_close.then(|| {
            Op::new(shutdown::Shutdown {
                fd: self.fd().clone(),
                how: libc::SHUT_WR,
            })
        }))
    }
}

// The futures and `Debug` of the ops above: the same on every platform (owned_futures.rs).
#[path = "owned_futures.rs"]
mod futures;

/// What a readiness wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Bytes to read, end of stream, or an error.
    Readable,
    /// Room to write, or an error.
    Writable,
}

/// Sockets driven by readiness: a wait that ends when the socket is ready, and calls that
/// never block (`MSG_DONTWAIT`; the socket itself stays in blocking mode).
///
/// The kernel reads into and writes from the caller's slice, so a poll-style adapter needs no
/// buffer of its own and copies nothing, at the cost of a system call per read and per write
/// outside the loop's batched submission. A call that finds nothing to do fails with
/// `WouldBlock`: wait with [`ready_op`](Self::ready_op) and try again.
///
/// ```
/// use ringport::io::{Interest, SocketReadiness};
/// use ringport::net::UnixStream;
/// use std::mem::MaybeUninit;
///
/// ringport::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let mut buf = [MaybeUninit::<u8>::uninit(); 16];
///     assert_eq!(b.try_recv(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
///     a.try_send(b"ping")?;
///     b.ready_op(Interest::Readable).await?; // the wait can be stored and polled later too
///     assert_eq!(b.try_recv(&mut buf)?, 4);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
///
/// # Panics
///
/// [`ready_op`](Self::ready_op) panics outside a ringport runtime.
pub trait SocketReadiness: OwnedRead + OwnedWrite {
    /// Waits until the socket is ready for `interest` (`POLL_ADD`; the poll backend's epoll).
    /// Dropping the future in flight cancels the wait.
    fn ready_op(&self, interest: Interest) -> ReadyOp;

    /// Receives into `buf` without blocking; returns how many bytes were written into it
    /// (`Ok(0)` at end of stream). The bytes written are initialised.
    fn try_recv(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize>;

    /// Sends from `buf` without blocking (a closed peer is EPIPE, never SIGPIPE).
    fn try_send(&self, buf: &[u8]) -> io::Result<usize>;

    /// Sends from several buffers in order without blocking.
    fn try_send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// The future of [`SocketReadiness::ready_op`]: `'static` and `Unpin`.
#[must_use = "an operation does nothing unless polled"]
pub struct ReadyOp(Op<poll::PollAdd>);

impl Future for ReadyOp {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0)
            .poll(cx)
            .map(|(done, _)| done.result.map(drop))
    }
}

impl fmt::Debug for ReadyOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadyOp")
    }
}

impl FdStream {
    pub(crate) fn ready_op(&self, interest: Interest) -> ReadyOp {
        let events = match interest {
            Interest::Readable => libc::POLLIN,
            Interest::Writable => libc::POLLOUT,
        };
        ReadyOp(Op::new(poll::PollAdd {
            fd: self.fd().clone(),
            events: events as u32,
        }))
    }

    pub(crate) fn try_recv(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into memory we borrow mutably.
        retry(|| unsafe {
            libc::recv(
                self.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        })
    }

    pub(crate) fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        // SAFETY: the kernel reads `buf.len()` bytes from memory we borrow.
        retry(|| unsafe { libc::send(self.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) })
    }

    pub(crate) fn try_send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: msghdr is a plain struct; zero is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // `IoSlice` is ABI-compatible with `iovec` on Unix; the kernel only reads through it.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len().min(MAX_IOVECS) as _;
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        // SAFETY: the header names only the borrowed slices, valid for the call.
        retry(|| unsafe { libc::sendmsg(self.as_raw_fd(), &msg, flags) })
    }
}

/// The most buffers one `sendmsg` takes (`IOV_MAX`: 1024 on Linux, macOS and FreeBSD); a
/// longer list is a short write.
const MAX_IOVECS: usize = 1024;

/// A non-blocking call, retried on EINTR.
fn retry(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Implements [`SocketReadiness`] for socket streams whose `inner` field is an `FdStream`
/// (they must have [`OwnedRead`] and [`OwnedWrite`] too).
macro_rules! impl_socket_readiness {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::io::SocketReadiness for $ty {
            fn ready_op(&self, interest: $crate::io::Interest) -> $crate::io::ReadyOp {
                self.inner.ready_op(interest)
            }

            fn try_recv(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> std::io::Result<usize> {
                self.inner.try_recv(buf)
            }

            fn try_send(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.try_send(buf)
            }

            fn try_send_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.inner.try_send_vectored(bufs)
            }
        }
    )*};
}
pub(crate) use impl_socket_readiness;
