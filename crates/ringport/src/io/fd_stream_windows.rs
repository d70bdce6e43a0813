//! `FdStream` on Windows: the read/write core shared by sockets and pipes. Sockets use
//! `WSARecv`/`WSASend`; other handles `ReadFile`/`WriteFile` at their stream position.

use crate::buf::{BufResult, BufRing, IoBuf, IoBufMut, RingBuf};
use crate::driver::fd::SharedFd;
use crate::driver::op::windows::{
    AddrOut, Read, Recv, RecvBuf, RecvFrom, RecvVectored, Send, SendTo, SendVectored, Shutdown,
    Write, STREAM,
};
use crate::driver::op::NO_LIMIT;
use crate::driver::{Completion, MultiOp, Op};
use socket2::SockAddr;
use std::io;

/// A stream handle: a socket, or anything read and written at its position.
#[derive(Debug, Clone)]
pub(crate) struct FdStream {
    fd: SharedFd,
    socket: bool,
}

impl FdStream {
    pub fn socket(fd: SharedFd) -> Self {
        FdStream { fd, socket: true }
    }

    /// Anything that is not a socket: pipes and the standard handles (`ReadFile`/`WriteFile`).
    pub fn other(fd: SharedFd) -> Self {
        FdStream { fd, socket: false }
    }

    pub fn fd(&self) -> &SharedFd {
        &self.fd
    }

    pub fn into_fd(self) -> SharedFd {
        self.fd
    }

    pub fn is_socket(&self) -> bool {
        self.socket
    }

    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        if self.socket {
            let op = Recv {
                fd: self.fd.clone(),
                buf,
                limit: NO_LIMIT,
            };
            let (done, op) = Op::new(op).await;
            match done.result {
                Ok(n) => BufResult(Ok(n as usize), op.into_buf(n)),
                Err(e) => BufResult(Err(e), op.buf),
            }
        } else {
            let op = Read {
                fd: self.fd.clone(),
                buf,
                offset: STREAM,
            };
            let (done, op) = Op::new(op).await;
            match done.result {
                Ok(n) => BufResult(Ok(n as usize), op.into_buf(n)),
                Err(e) => BufResult(Err(e), op.buf),
            }
        }
    }

    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        if self.socket {
            let op = Send {
                fd: self.fd.clone(),
                buf,
                limit: NO_LIMIT,
            };
            let (done, op) = Op::new(op).await;
            BufResult(done.result.map(|n| n as usize), op.buf)
        } else {
            let op = Write {
                fd: self.fd.clone(),
                buf,
                offset: STREAM,
            };
            let (done, op) = Op::new(op).await;
            BufResult(done.result.map(|n| n as usize), op.buf)
        }
    }

    /// A vectored receive (`WSARecv` with several buffers); sockets only.
    pub async fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        let op = RecvVectored::new(self.fd.clone(), bufs);
        let (done, op) = Op::new(op).await;
        match done.result {
            Ok(n) => BufResult(Ok(n as usize), op.into_bufs(n)),
            Err(e) => BufResult(Err(e), op.bufs),
        }
    }

    /// A vectored send (`WSASend` with several buffers); sockets only.
    pub async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        let op = SendVectored::new(self.fd.clone(), bufs);
        let (done, op) = Op::new(op).await;
        BufResult(done.result.map(|n| n as usize), op.bufs)
    }

    pub async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        use windows_sys::Win32::Networking::WinSock::{SD_BOTH, SD_RECEIVE, SD_SEND};
        let how = match how {
            std::net::Shutdown::Read => SD_RECEIVE,
            std::net::Shutdown::Write => SD_SEND,
            std::net::Shutdown::Both => SD_BOTH,
        };
        let op = Shutdown {
            fd: self.fd.clone(),
            how,
        };
        Op::new(op).await.0.result.map(drop)
    }

    /// Sends one datagram to `addr` (`WSASendTo`).
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SockAddr) -> BufResult<usize, B> {
        let op = SendTo {
            fd: self.fd.clone(),
            buf,
            addr: Box::new(addr),
        };
        let (done, op) = Op::new(op).await;
        BufResult(done.result.map(|n| n as usize), op.buf)
    }

    /// Receives one datagram and its sender's address, converted by `addr` (`WSARecvFrom`).
    pub async fn recv_from<B: IoBufMut, A>(
        &self,
        buf: B,
        addr: impl FnOnce(SockAddr) -> io::Result<A>,
    ) -> BufResult<(usize, A), B> {
        let op = RecvFrom {
            fd: self.fd.clone(),
            buf,
            addr: AddrOut::new(),
        };
        let (done, op) = Op::new(op).await;
        match done.result {
            Ok(n) => {
                let (buf, from) = op.into_parts(n);
                BufResult(addr(from).map(|a| (n as usize, a)), buf)
            }
            Err(e) => BufResult(Err(e), op.buf),
        }
    }

    /// One receive into a buffer picked from `ring` when data arrives (a zero-byte `WSARecv`
    /// waits, holding no buffer); `None` at end of stream.
    pub async fn recv_buf(&self, ring: &BufRing) -> io::Result<Option<RingBuf>> {
        crate::driver::Handle::current().register_buf_ring(ring)?;
        let op = RecvBuf {
            fd: self.fd.clone(),
            ring: ring.clone(),
        };
        let (done, op) = Op::new(op).await;
        ring_result(&op.ring, done)
    }

    /// A multishot receive from `ring`.
    pub fn recv_multishot(&self, ring: &BufRing) -> RecvMultishot {
        RecvMultishot {
            fd: self.fd.clone(),
            ring: ring.clone(),
            op: None,
            eof: false,
        }
    }
}

fn ring_result(ring: &BufRing, done: Completion) -> io::Result<Option<RingBuf>> {
    let n = done.result?;
    match crate::driver::buffer_id(done.flags) {
        Some(bid) => Ok(Some(ring.take(bid, n as usize))),
        None if n == 0 => Ok(None),
        None => Err(io::Error::other(
            "a receive completed without its ring buffer",
        )),
    }
}

/// Receives from a [`BufRing`] until the end of the stream: the driver re-arms its zero-byte
/// receive after each buffer, so no buffer is held while idle.
pub struct RecvMultishot {
    fd: SharedFd,
    ring: BufRing,
    op: Option<MultiOp<RecvBuf>>,
    eof: bool,
}

impl std::fmt::Debug for RecvMultishot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvMultishot")
            .field("ring", &self.ring)
            .field("eof", &self.eof)
            .finish()
    }
}

impl RecvMultishot {
    /// The next received buffer; `None` at end of stream.
    pub async fn next(&mut self) -> Option<io::Result<RingBuf>> {
        while !self.eof {
            let op = match &mut self.op {
                Some(op) => op,
                None => {
                    if let Err(e) = crate::driver::Handle::current().register_buf_ring(&self.ring) {
                        return Some(Err(e));
                    }
                    let op = RecvBuf {
                        fd: self.fd.clone(),
                        ring: self.ring.clone(),
                    };
                    self.op.insert(MultiOp::new(op))
                }
            };
            let Some(done) = std::future::poll_fn(|cx| op.poll_next(cx)).await else {
                self.op = None; // ended (after an error): arm again
                continue;
            };
            return match ring_result(&self.ring, done) {
                Ok(Some(buf)) => Some(Ok(buf)),
                Ok(None) => {
                    self.eof = true;
                    None
                }
                Err(e) => Some(Err(e)),
            };
        }
        None
    }
}
