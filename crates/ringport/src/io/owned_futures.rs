//! The futures of the owned ops (`ReadOp`, `WriteOp`, `ShutdownOp`) and their `Debug`: the
//! same on every platform, over each platform's op types. A child of `owned.rs` (Unix) and of
//! `owned_windows.rs`, so it sees their private `ReadKind`/`WriteKind`.

use super::{ReadKind, ReadOp, ShutdownOp, WriteKind, WriteOp};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

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
