//! Sockets on the completion port: TCP and UDP. Sockets are created overlapped
//! (`WSA_FLAG_OVERLAPPED`, by socket2), attached to the loop's port at their first operation,
//! and read and written with `WSARecv`/`WSASend`; `AcceptEx` and `ConnectEx` accept and
//! connect. Named pipes ([`NamedPipeListener`], [`NamedPipeStream`]) stand where Unix
//! sockets do elsewhere.

#[path = "../acceptor.rs"]
mod acceptor;
#[path = "../addr.rs"]
mod addr;
mod named_pipe;
mod tcp;
mod udp;

pub use acceptor::{Acceptor, Handed, LiveGuard};
pub use addr::{lookup_host, ToSocketAddrs};
pub use named_pipe::{NamedPipeListener, NamedPipeStream};
pub use std::net::Shutdown;
pub use tcp::{ListenOptions, OwnedReadHalf, OwnedWriteHalf, TcpIncoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

use crate::driver::fd::{Kind, RawFd, SharedFd};
use socket2::{Domain, SockRef, Socket, Type};
use std::io;
use std::os::windows::io::IntoRawSocket;

/// A new overlapped socket, not inherited by child processes.
fn new_socket(domain: Domain, ty: Type) -> io::Result<SharedFd> {
    let socket = Socket::new(domain, ty, None)?;
    let kind = if ty == Type::DGRAM {
        Kind::Datagram
    } else {
        Kind::Stream
    };
    Ok(SharedFd::new(RawFd::new(
        socket.into_raw_socket() as usize,
        kind,
    )))
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
