//! Sockets on the ring: TCP, UDP and Unix-domain streams and datagrams.
//!
//! Sockets stay in blocking mode: io_uring waits for readiness itself (an `O_NONBLOCK`
//! socket would surface EAGAIN instead).

#[cfg(target_os = "macos")]
use crate::libc_compat::CloexecExt as _;
mod acceptor;
mod addr;
mod splice_pipes;
mod tcp;
mod udp;
mod unix;

pub use acceptor::{Acceptor, Handed, LiveGuard};
pub use addr::{lookup_host, ToSocketAddrs};
pub use std::net::Shutdown;
pub use tcp::{ListenOptions, OwnedReadHalf, OwnedWriteHalf, TcpIncoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

use crate::driver::fd::SharedFd;
use crate::driver::op::{accept, connect};
use crate::driver::Op;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use std::io;
use std::os::fd::IntoRawFd;

/// A new socket, close-on-exec and in blocking mode.
fn new_socket(domain: Domain, ty: Type) -> io::Result<SharedFd> {
    let socket = Socket::new(domain, ty.cloexec(), None)?;
    Ok(SharedFd::new(socket.into_raw_fd()))
}

/// Puts a socket taken over from std into blocking mode, which io_uring needs.
fn adopt(fd: std::os::fd::OwnedFd) -> io::Result<SharedFd> {
    let fd = SharedFd::from_owned(fd);
    SockRef::from(&fd).set_nonblocking(false)?;
    Ok(fd)
}

async fn connect_fd(fd: &SharedFd, addr: SockAddr) -> io::Result<()> {
    let op = connect::Connect {
        fd: fd.clone(),
        addr: Box::new(addr),
    };
    Op::new(op).await.0.result.map(drop)
}

async fn accept_fd(fd: &SharedFd) -> io::Result<(SharedFd, SockAddr)> {
    let op = accept::Accept {
        fd: fd.clone(),
        addr: accept::AddrOut::new(),
    };
    let (done, op) = Op::new(op).await;
    let new = done.result?;
    Ok((SharedFd::new(new as i32), (*op.addr).into_addr()))
}

fn sock(fd: &SharedFd) -> SockRef<'_> {
    SockRef::from(fd)
}

fn not_inet(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what} is not an IP address"),
    )
}
