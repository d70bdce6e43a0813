//! `FdStream`: the read/write core shared by sockets, pipes, stdio and terminals.

use crate::buf::{BufResult, BufRing, IoBuf, IoBufMut, RingBuf};
use crate::driver::fd::SharedFd;
use crate::driver::op::{read, recv, send, shutdown, write};
use crate::driver::{Completion, Handle, MultiOp, Op};
use socket2::SockAddr;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The position argument that means "no position": streams have none.
pub(super) const STREAM: u64 = u64::MAX;

/// A stream fd: sockets use `RECV`/`SEND` (`MSG_NOSIGNAL`: EPIPE, never SIGPIPE), anything
/// else `READ`/`WRITE` at the stream position.
#[derive(Debug, Clone)]
pub(crate) struct FdStream {
    fd: SharedFd,
    socket: bool,
}

impl FdStream {
    pub fn socket(fd: SharedFd) -> Self {
        FdStream { fd, socket: true }
    }

    pub fn other(fd: SharedFd) -> Self {
        FdStream { fd, socket: false }
    }

    pub fn fd(&self) -> &SharedFd {
        &self.fd
    }

    pub fn into_fd(self) -> SharedFd {
        self.fd
    }

    /// Whether reads and writes are `RECV`/`SEND` (a socket) rather than `READ`/`WRITE`.
    pub fn is_socket(&self) -> bool {
        self.socket
    }

    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.read_op(buf).await
    }

    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.write_op(buf).await
    }

    pub async fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        let op = read::Readv::new(self.fd.clone(), bufs, STREAM);
        let (done, op) = Op::new(op).await;
        match done.result {
            Ok(n) => BufResult(Ok(n as usize), op.into_bufs(n)),
            Err(e) => BufResult(Err(e), op.bufs),
        }
    }

    pub async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        let op = write::Writev::new(self.fd.clone(), bufs, STREAM);
        let (done, op) = Op::new(op).await;
        BufResult(done.result.map(|n| n as usize), op.bufs)
    }

    pub async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        let op = shutdown::Shutdown {
            fd: self.fd.clone(),
            how,
        };
        Op::new(op).await.0.result.map(drop)
    }
}

impl FdStream {
    /// Sends one datagram to `addr` (`SENDMSG`).
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SockAddr) -> BufResult<usize, B> {
        let op = send::SendTo::new(self.fd.clone(), buf, addr);
        let (done, op) = Op::new(op).await;
        BufResult(done.result.map(|n| n as usize), op.buf)
    }

    /// Receives one datagram and its sender's address, converted by `addr` (`RECVMSG`).
    pub async fn recv_from<B: IoBufMut, A>(
        &self,
        buf: B,
        addr: impl FnOnce(SockAddr) -> io::Result<A>,
    ) -> BufResult<(usize, A), B> {
        let op = recv::RecvFrom::new(self.fd.clone(), buf);
        let (done, op) = Op::new(op).await;
        match done.result {
            Ok(n) => {
                let (buf, from) = op.into_parts(n);
                BufResult(addr(from).map(|a| (n as usize, a)), buf)
            }
            Err(e) => BufResult(Err(e), op.buf),
        }
    }

    /// One receive into a buffer the kernel picks from `ring` when data arrives; `None` at
    /// end of stream.
    pub async fn recv_buf(&self, ring: &BufRing) -> io::Result<Option<RingBuf>> {
        let bgid = Handle::current().register_buf_ring(ring)?;
        let op = recv::RecvBuf {
            fd: self.fd.clone(),
            ring: ring.clone(),
            bgid,
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

/// Receives from one multishot `RECV` on a [`BufRing`]: a completion per arrival, no buffer
/// held while idle. Re-armed when the kernel ends it (for example when the ring ran dry,
/// which is reported as an `ENOBUFS` error first).
pub struct RecvMultishot {
    fd: SharedFd,
    ring: BufRing,
    op: Option<MultiOp<recv::RecvMultiBuf>>,
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
                    let bgid = match Handle::current().register_buf_ring(&self.ring) {
                        Ok(bgid) => bgid,
                        Err(e) => return Some(Err(e)),
                    };
                    let op = recv::RecvMultiBuf {
                        fd: self.fd.clone(),
                        ring: self.ring.clone(),
                        bgid,
                    };
                    self.op.insert(MultiOp::new(op))
                }
            };
            let Some(done) = std::future::poll_fn(|cx| op.poll_next(cx)).await else {
                self.op = None; // the kernel ended it: arm again
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

impl AsRawFd for FdStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
