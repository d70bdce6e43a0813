//! Owned operations on Windows: stream reads, writes and shutdowns whose futures hold the
//! handle and the buffer, not a borrow of the stream (see [`OwnedRead`]). Sockets use
//! `WSARecv`/`WSASend`/`shutdown(SD_SEND)`, other handles `ReadFile`/`WriteFile` at their
//! position. The readiness side (`SocketReadiness`) has no Windows form yet.

pub use super::owned_traits::{OwnedRead, OwnedWrite};

use super::FdStream;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::op::windows::{Read, Recv, Send, Shutdown, Write, STREAM};
use crate::driver::Op;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use windows_sys::Win32::Networking::WinSock::SD_SEND;

/// An owned read on a stream handle: `WSARecv` on sockets, `ReadFile` on anything else.
pub struct ReadOp<B: IoBufMut>(ReadKind<B>);

enum ReadKind<B: IoBufMut> {
    Recv(Op<Recv<B>>),
    Read(Op<Read<B>>),
}

/// An owned write on a stream handle: `WSASend` on sockets, `WriteFile` on anything else.
pub struct WriteOp<B: IoBuf>(WriteKind<B>);

enum WriteKind<B: IoBuf> {
    Send(Op<Send<B>>),
    Write(Op<Write<B>>),
}

/// An owned write-side shutdown: `shutdown(SD_SEND)` on sockets, done at once otherwise.
pub struct ShutdownOp(Option<Op<Shutdown>>);

impl FdStream {
    pub(crate) fn read_op<B: IoBufMut>(&self, buf: B) -> ReadOp<B> {
        let fd = self.fd().clone();
        ReadOp(if self.is_socket() {
            ReadKind::Recv(Op::new(Recv { fd, buf }))
        } else {
            ReadKind::Read(Op::new(Read {
                fd,
                buf,
                offset: STREAM,
            }))
        })
    }

    pub(crate) fn write_op<B: IoBuf>(&self, buf: B) -> WriteOp<B> {
        let fd = self.fd().clone();
        WriteOp(if self.is_socket() {
            WriteKind::Send(Op::new(Send { fd, buf }))
        } else {
            WriteKind::Write(Op::new(Write {
                fd,
                buf,
                offset: STREAM,
            }))
        })
    }

    pub(crate) fn shutdown_write_op(&self, half_close: bool) -> ShutdownOp {
        ShutdownOp((half_close && self.is_socket()).then(|| {
            Op::new(Shutdown {
                fd: self.fd().clone(),
                how: SD_SEND,
            })
        }))
    }
}

impl<B: IoBufMut> Future for ReadOp<B> {
    type Output = BufResult<usize, B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match &mut self.get_mut().0 {
            ReadKind::Recv(op) => {
                let (done, op) = std::task::ready!(Pin::new(op).poll(cx));
                match done.result {
                    Ok(n) => BufResult(Ok(n as usize), op.into_buf(n)),
                    Err(e) => BufResult(Err(e), op.buf),
                }
            }
            ReadKind::Read(op) => {
                let (done, op) = std::task::ready!(Pin::new(op).poll(cx));
                match done.result {
                    Ok(n) => BufResult(Ok(n as usize), op.into_buf(n)),
                    Err(e) => BufResult(Err(e), op.buf),
                }
            }
        })
    }
}

impl<B: IoBuf> Future for WriteOp<B> {
    type Output = BufResult<usize, B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match &mut self.get_mut().0 {
            WriteKind::Send(op) => {
                let (done, op) = std::task::ready!(Pin::new(op).poll(cx));
                BufResult(done.result.map(|n| n as usize), op.buf)
            }
            WriteKind::Write(op) => {
                let (done, op) = std::task::ready!(Pin::new(op).poll(cx));
                BufResult(done.result.map(|n| n as usize), op.buf)
            }
        })
    }
}

impl Future for ShutdownOp {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Some(op) => Pin::new(op).poll(cx).map(|(done, _)| done.result.map(drop)),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl<B: IoBufMut> fmt::Debug for ReadOp<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadOp")
    }
}

impl<B: IoBuf> fmt::Debug for WriteOp<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteOp")
    }
}

impl fmt::Debug for ShutdownOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShutdownOp")
    }
}

/// Implements [`OwnedRead`] for types whose `inner` field is an `FdStream`.
macro_rules! impl_owned_read {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::io::OwnedRead for $ty {
            type ReadFuture<B: $crate::buf::IoBufMut> = $crate::io::ReadOp<B>;

            fn read_owned<B: $crate::buf::IoBufMut>(&self, buf: B) -> $crate::io::ReadOp<B> {
                self.inner.read_op(buf)
            }
        }
    )*};
}
pub(crate) use impl_owned_read;

/// Implements [`OwnedWrite`] for types whose `inner` field is an `FdStream`; `half_close`
/// says whether the shutdown is a socket's `SD_SEND`.
macro_rules! impl_owned_write {
    ($($ty:ty => half_close: $half:expr),* $(,)?) => {$(
        impl $crate::io::OwnedWrite for $ty {
            type WriteFuture<B: $crate::buf::IoBuf> = $crate::io::WriteOp<B>;
            type ShutdownFuture = $crate::io::ShutdownOp;

            fn write_owned<B: $crate::buf::IoBuf>(&self, buf: B) -> $crate::io::WriteOp<B> {
                self.inner.write_op(buf)
            }

            fn shutdown_write_owned(&self) -> $crate::io::ShutdownOp {
                self.inner.shutdown_write_op($half)
            }
        }
    )*};
}
pub(crate) use impl_owned_write;
