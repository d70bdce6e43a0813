//! UDP sockets on Windows (`WSASendTo`/`WSARecvFrom` through the completion port).

use super::addr::{bind_addr, ToSocketAddrs};
use super::{new_socket, not_inet, sock};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::io::FdStream;
use socket2::{Domain, SockAddr, Type};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// A UDP socket.
///
/// ```no_run
/// use ringport::net::UdpSocket;
/// ringport::run(async {
///     let socket = UdpSocket::bind("127.0.0.1:0")?;
///     let (res, _) = socket.send_to(b"hi".as_slice(), "127.0.0.1:9999").await.into_parts();
///     res?;
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct UdpSocket {
    inner: FdStream,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", self.fd())
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl UdpSocket {
    /// Binds to an IP address (port 0 picks a free one).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addr = bind_addr(&addr)?;
        let fd = new_socket(Domain::for_address(addr), Type::DGRAM)?;
        sock(&fd).bind(&SockAddr::from(addr))?;
        no_connreset(&fd)?;
        Ok(UdpSocket {
            inner: FdStream::socket(fd),
        })
    }

    fn fd(&self) -> &SharedFd {
        self.inner.fd()
    }

    /// Sets the default peer for `send` and the only source `recv` accepts. Takes an IP
    /// address: no lookup on the loop.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addr = bind_addr(&addr)?;
        sock(self.fd()).connect(&SockAddr::from(addr))
    }

    /// Sends one datagram to `addr` (host names are resolved on the blocking pool).
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: impl ToSocketAddrs) -> BufResult<usize, B> {
        match addr.to_target().resolve().await {
            Ok(addrs) => self.inner.send_to(buf, SockAddr::from(addrs[0])).await,
            Err(e) => BufResult(Err(e), buf),
        }
    }

    /// Receives one datagram and its sender's address.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let inet = |a: SockAddr| a.as_socket().ok_or_else(|| not_inet("sender"));
        self.inner.recv_from(buf, inet).await
    }

    /// Sends one datagram to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// This socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let addr = sock(self.fd()).local_addr()?;
        addr.as_socket().ok_or_else(|| not_inet("local address"))
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let addr = sock(self.fd()).peer_addr()?;
        addr.as_socket().ok_or_else(|| not_inet("peer address"))
    }

    /// `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        sock(self.fd()).set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is on.
    pub fn broadcast(&self) -> io::Result<bool> {
        sock(self.fd()).broadcast()
    }

    /// `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        sock(self.fd()).set_ttl_v4(ttl)
    }

    /// Joins an IPv4 multicast group on `interface` (`0.0.0.0`: the default one).
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        sock(self.fd()).join_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        sock(self.fd()).leave_multicast_v4(&group, &interface)
    }

    /// Joins an IPv6 multicast group on interface index `interface` (0: the default).
    pub fn join_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        sock(self.fd()).join_multicast_v6(&group, interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        sock(self.fd()).leave_multicast_v6(&group, interface)
    }

    /// `IP_MULTICAST_LOOP`: whether our own multicast datagrams come back to us.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        sock(self.fd()).set_multicast_loop_v4(on)
    }

    /// `IP_MULTICAST_TTL`.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        sock(self.fd()).set_multicast_ttl_v4(ttl)
    }
}

/// Turns off `SIO_UDP_CONNRESET`: otherwise a datagram that drew an ICMP port-unreachable
/// makes the next receive fail with WSAECONNRESET, which no Unix socket does.
fn no_connreset(fd: &SharedFd) -> io::Result<()> {
    use windows_sys::Win32::Networking::WinSock::{WSAIoctl, SIO_UDP_CONNRESET};
    let off: u32 = 0;
    let mut bytes = 0u32;
    // SAFETY: a plain ioctl on our socket with a 4-byte input; no overlapped.
    let rc = unsafe {
        WSAIoctl(
            fd.raw().raw,
            SIO_UDP_CONNRESET,
            (&off as *const u32).cast(),
            4,
            std::ptr::null_mut(),
            0,
            &mut bytes,
            std::ptr::null_mut(),
            None,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
