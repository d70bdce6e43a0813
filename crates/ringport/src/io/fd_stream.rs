//! `FdStream`: the read/write core shared by sockets, pipes, stdio and terminals.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::op::{read, recv, send, shutdown, write};
use crate::driver::Op;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The position argument that means "no position": streams have none.
const STREAM: u64 = u64::MAX;

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

    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        if self.socket {
            let op = recv::Recv {
                fd: self.fd.clone(),
                buf,
            };
            let (done, op) = Op::new(op).await;
            match done.result {
                Ok(n) => BufResult(Ok(n as usize), op.into_buf(n)),
                Err(e) => BufResult(Err(e), op.buf),
            }
        } else {
            let op = read::Read {
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
            let op = send::Send {
                fd: self.fd.clone(),
                buf,
            };
            let (done, op) = Op::new(op).await;
            BufResult(done.result.map(|n| n as usize), op.buf)
        } else {
            let op = write::Write {
                fd: self.fd.clone(),
                buf,
                offset: STREAM,
            };
            let (done, op) = Op::new(op).await;
            BufResult(done.result.map(|n| n as usize), op.buf)
        }
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

impl AsRawFd for FdStream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
