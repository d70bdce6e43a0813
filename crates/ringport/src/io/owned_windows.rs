//! Owned operations on Windows: stream reads, writes and shutdowns whose futures hold the
//! handle and the buffer, not a borrow of the stream (see [`OwnedRead`]). Sockets use
//! `WSARecv`/`WSASend`/`shutdown(SD_SEND)`, other handles `ReadFile`/`WriteFile` at their
//! position. The readiness side (`SocketReadiness`) has no Windows form yet.

pub use super::owned_traits::{OwnedRead, OwnedWrite};

use super::FdStream;
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::op::windows::{Read, Recv, Send, Shutdown, Write, STREAM};
use crate::driver::op::NO_LIMIT;
use crate::driver::Op;
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
            ReadKind::Recv(Op::new(Recv {
                fd,
                buf,
                limit: NO_LIMIT,
            }))
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
            WriteKind::Send(Op::new(Send {
                fd,
                buf,
                limit: NO_LIMIT,
            }))
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

// The futures and `Debug` of the ops above: the same on every platform (owned_futures.rs).
#[path = "owned_futures.rs"]
mod futures;
