//! Stream operations as nameable, `'static` futures, and the readiness calls of sockets.
//!
//! `stream.read(buf).await` borrows the stream for as long as its future lives, and that
//! future's type has no name. A poll-style adapter (futures-io, tokio::io, hyper's `rt`) must
//! keep one read and one write in flight across calls, in fields of its own, without a box per
//! operation. The futures here hold a handle on the fd (not a borrow of the stream), so they
//! can be stored, polled from any later call, and dropped at any point: dropping one in flight
//! cancels it and parks its buffer in the driver, as for every operation.
//!
//! ```
//! use ringport::buf::BufResult;
//! use ringport::io::{ReadOp, StreamOps};
//! use ringport::net::UnixStream;
//!
//! ringport::run(async {
//!     let (a, b) = UnixStream::pair()?;
//!     // The operation can live in a struct field; it needs no borrow of `b`.
//!     let pending: ReadOp<Vec<u8>> = b.read_op(Vec::with_capacity(16));
//!     let BufResult(res, _) = a.write_op(b"ping".to_vec()).await;
//!     res?;
//!     let BufResult(res, buf) = pending.await;
//!     assert_eq!(&buf[..res?], b"ping");
//!     Ok::<_, std::io::Error>(())
//! })
//! .unwrap();
//! ```

use super::FdStream;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::op::{poll, read, recv, send, shutdown, write};
use crate::driver::Op;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The position argument that means "no position": streams have none.
const STREAM: u64 = u64::MAX;

/// Streams whose reads, writes and write shutdown start as owned, nameable operations.
///
/// The returned futures are `Unpin + 'static` and hold no borrow of the stream: store them,
/// poll them from later calls, drop them at any point (a drop in flight cancels). They are
/// tied to the runtime of the thread that created them and must be polled there.
///
/// # Panics
///
/// Each method panics outside a ringport runtime.
pub trait StreamOps {
    /// A read of up to the buffer's capacity, into the start of the buffer; `Ok(0)` at end
    /// of stream.
    fn read_op<B: IoBufMut>(&self, buf: B) -> ReadOp<B>;

    /// A write of some of the buffer's initialised bytes.
    fn write_op<B: IoBuf>(&self, buf: B) -> WriteOp<B>;

    /// Shuts down writing: the peer reads end of stream after the bytes already written.
    fn shutdown_write_op(&self) -> ShutdownOp;
}

/// What a readiness wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Bytes to read, end of stream, or an error.
    Readable,
    /// Room to write, or an error.
    Writable,
}

/// Sockets, driven by readiness: a wait that ends when the socket is ready, and calls that
/// never block (`MSG_DONTWAIT`; the socket itself stays in blocking mode).
///
/// This is the other way to give poll-style traits their bytes: no copy through a buffer of
/// the adapter's own, at the cost of a system call per read and per write outside the loop's
/// batched submission. A call that finds nothing to do fails with `WouldBlock`; wait with
/// [`ready_op`](Self::ready_op) and try again.
pub trait SocketReadiness: StreamOps {
    /// Waits until the socket is ready for `interest` (`POLL_ADD`; the poll backend's epoll).
    fn ready_op(&self, interest: Interest) -> ReadyOp;

    /// Receives into `buf` without blocking; returns how many bytes were written into it
    /// (`Ok(0)` at end of stream). The bytes written are initialised.
    fn try_recv(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize>;

    /// Sends from `buf` without blocking (a closed peer is EPIPE, never SIGPIPE).
    fn try_send(&self, buf: &[u8]) -> io::Result<usize>;

    /// Sends from several buffers in order without blocking.
    fn try_send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

enum ReadKind<B: IoBufMut> {
    Recv(Op<recv::Recv<B>>),
    Read(Op<read::Read<B>>),
}

/// The future of [`StreamOps::read_op`].
#[must_use = "an operation does nothing unless polled"]
pub struct ReadOp<B: IoBufMut>(ReadKind<B>);

impl<B: IoBufMut> Future for ReadOp<B> {
    type Output = BufResult<usize, B>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (done, buf) = match &mut self.0 {
            ReadKind::Recv(op) => {
                let (done, op) = std::task::ready!(Pin::new(op).poll(cx));
                match done.result {
                    Ok(n) => return Poll::Ready(BufResult(Ok(n as usize), op.into_buf(n))),
                    Err(e) => (e, op.buf),
                }
            }
            ReadKind::Read(op) => {
                let (done, op) = std::task::ready!(Pin::new(op).poll(cx));
                match done.result {
                    Ok(n) => return Poll::Ready(BufResult(Ok(n as usize), op.into_buf(n))),
                    Err(e) => (e, op.buf),
                }
            }
        };
        Poll::Ready(BufResult(Err(done), buf))
    }
}

enum WriteKind<B: IoBuf> {
    Send(Op<send::Send<B>>),
    Write(Op<write::Write<B>>),
}

/// The future of [`StreamOps::write_op`].
#[must_use = "an operation does nothing unless polled"]
pub struct WriteOp<B: IoBuf>(WriteKind<B>);

impl<B: IoBuf> Future for WriteOp<B> {
    type Output = BufResult<usize, B>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (res, buf) = match &mut self.0 {
            WriteKind::Send(op) => {
                let (done, op) = std::task::ready!(Pin::new(op).poll(cx));
                (done.result, op.buf)
            }
            WriteKind::Write(op) => {
                let (done, op) = std::task::ready!(Pin::new(op).poll(cx));
                (done.result, op.buf)
            }
        };
        Poll::Ready(BufResult(res.map(|n| n as usize), buf))
    }
}

/// The future of [`StreamOps::shutdown_write_op`].
#[must_use = "an operation does nothing unless polled"]
pub struct ShutdownOp(Result<Op<shutdown::Shutdown>, Option<io::Error>>);

impl ShutdownOp {
    /// A shutdown refused before any system call (the direction was already shut down).
    pub(crate) fn failed(e: io::Error) -> ShutdownOp {
        ShutdownOp(Err(Some(e)))
    }
}

impl Future for ShutdownOp {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.0 {
            Ok(op) => Pin::new(op).poll(cx).map(|(done, _)| done.result.map(drop)),
            Err(e) => Poll::Ready(Err(e.take().expect("ShutdownOp polled after it completed"))),
        }
    }
}

/// The future of [`SocketReadiness::ready_op`].
#[must_use = "an operation does nothing unless polled"]
pub struct ReadyOp(Op<poll::PollAdd>);

impl Future for ReadyOp {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|(done, _)| done.result.map(drop))
    }
}

macro_rules! debug_op {
    ($($name:ident $(<$b:ident: $bound:path>)?),*) => {$(
        impl$(<$b: $bound>)? std::fmt::Debug for $name$(<$b>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
debug_op!(ReadOp<B: IoBufMut>, WriteOp<B: IoBuf>, ShutdownOp, ReadyOp);

impl FdStream {
    pub(crate) fn read_op<B: IoBufMut>(&self, buf: B) -> ReadOp<B> {
        let fd = self.fd().clone();
        ReadOp(if self.is_socket() {
            ReadKind::Recv(Op::new(recv::Recv { fd, buf }))
        } else {
            ReadKind::Read(Op::new(read::Read {
                fd,
                buf,
                offset: STREAM,
            }))
        })
    }

    pub(crate) fn write_op<B: IoBuf>(&self, buf: B) -> WriteOp<B> {
        let fd = self.fd().clone();
        WriteOp(if self.is_socket() {
            WriteKind::Send(Op::new(send::Send { fd, buf }))
        } else {
            WriteKind::Write(Op::new(write::Write {
                fd,
                buf,
                offset: STREAM,
            }))
        })
    }

    pub(crate) fn shutdown_op(&self, how: Shutdown) -> ShutdownOp {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        let fd = self.fd().clone();
        ShutdownOp(Ok(Op::new(shutdown::Shutdown { fd, how })))
    }

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
        msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        // SAFETY: the header names only the borrowed slices, valid for the call.
        retry(|| unsafe { libc::sendmsg(self.as_raw_fd(), &msg, flags) })
    }
}

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

/// Implements [`StreamOps`] and [`SocketReadiness`] for socket streams whose `inner` field
/// is an `FdStream`.
macro_rules! impl_socket_ops {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::io::StreamOps for $ty {
            fn read_op<B: $crate::buf::IoBufMut>(&self, buf: B) -> $crate::io::ReadOp<B> {
                self.inner.read_op(buf)
            }

            fn write_op<B: $crate::buf::IoBuf>(&self, buf: B) -> $crate::io::WriteOp<B> {
                self.inner.write_op(buf)
            }

            fn shutdown_write_op(&self) -> $crate::io::ShutdownOp {
                self.shutdown_write_op_inner()
            }
        }

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
pub(crate) use impl_socket_ops;
