//! Unix-domain sockets: streams and datagrams, path and abstract names.

use super::{accept_fd, connect_fd, new_socket, sock};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::io::{impl_owned_read, impl_owned_write, impl_socket_readiness};
use crate::io::{impl_stream_traits, FdStream};
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
#[cfg(target_os = "macos")]
use crate::libc_compat::CloexecExt as _;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat::SocketAddrExt;
use socket2::{Domain, SockAddr, Socket, Type};
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
#[cfg(target_os = "linux")]
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::SocketAddr;
use std::path::Path;

/// A socket address for a path name.
fn path_addr(path: &Path) -> io::Result<SockAddr> {
    SockAddr::unix(path)
}

/// A socket address in the abstract namespace (Linux): no file, gone with the socket.
fn abstract_addr(name: &[u8]) -> io::Result<SockAddr> {
    let mut bytes = Vec::with_capacity(name.len() + 1);
    bytes.push(0);
    bytes.extend_from_slice(name);
    SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))
}

/// A std address for any Unix-domain address: path, abstract name, or unnamed.
fn unix_addr(addr: SockAddr) -> io::Result<SocketAddr> {
    if addr.family() != libc::AF_UNIX as libc::sa_family_t {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a unix socket address",
        ));
    }
    if let Some(path) = addr.as_pathname() {
        return SocketAddr::from_pathname(path);
    }
    if let Some(name) = addr.as_abstract_namespace() {
        return SocketAddr::from_abstract_name(name);
    }
    unnamed()
}

/// The unnamed address (a client that never bound), which std cannot build directly: taken
/// once from an unbound socket.
fn unnamed() -> io::Result<SocketAddr> {
    static UNNAMED: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
    if let Some(addr) = UNNAMED.get() {
        return Ok(addr.clone());
    }
    let addr = std::os::unix::net::UnixDatagram::unbound()?.local_addr()?;
    Ok(UNNAMED.get_or_init(|| addr).clone())
}

fn pair(ty: Type) -> io::Result<(SharedFd, SharedFd)> {
    let (a, b) = Socket::pair(Domain::UNIX, ty.cloexec(), None)?;
    Ok((
        SharedFd::new(a.into_raw_fd()),
        SharedFd::new(b.into_raw_fd()),
    ))
}

/// A Unix-domain listening socket.
pub struct UnixListener {
    fd: SharedFd,
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl UnixListener {
    /// Binds to a path (which must not exist yet) and listens.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Self::bind_addr(&path_addr(path.as_ref())?)
    }

    /// Binds to a name in the abstract namespace and listens.
    pub fn bind_abstract(name: &[u8]) -> io::Result<UnixListener> {
        Self::bind_addr(&abstract_addr(name)?)
    }

    fn bind_addr(addr: &SockAddr) -> io::Result<UnixListener> {
        let fd = new_socket(Domain::UNIX, Type::STREAM)?;
        sock(&fd).bind(addr)?;
        sock(&fd).listen(1024)?;
        Ok(UnixListener { fd })
    }

    /// Accepts one connection.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (fd, addr) = accept_fd(&self.fd).await?;
        Ok((UnixStream::from_fd(fd), unix_addr(addr)?))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        unix_addr(sock(&self.fd).local_addr()?)
    }
}

/// A Unix-domain stream.
pub struct UnixStream {
    inner: FdStream,
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}

impl UnixStream {
    fn from_fd(fd: SharedFd) -> UnixStream {
        UnixStream {
            inner: FdStream::socket(fd),
        }
    }

    /// Connects to a path.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        Self::connect_addr(path_addr(path.as_ref())?).await
    }

    /// Connects to a name in the abstract namespace.
    pub async fn connect_abstract(name: &[u8]) -> io::Result<UnixStream> {
        Self::connect_addr(abstract_addr(name)?).await
    }

    async fn connect_addr(addr: SockAddr) -> io::Result<UnixStream> {
        let fd = new_socket(Domain::UNIX, Type::STREAM)?;
        connect_fd(&fd, addr).await?;
        Ok(UnixStream::from_fd(fd))
    }

    /// Two connected streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = pair(Type::STREAM)?;
        Ok((UnixStream::from_fd(a), UnixStream::from_fd(b)))
    }

    /// Reads up to the buffer's capacity; `Ok(0)` at end of stream.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// Writes some of the buffer's bytes.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// Shuts down reading, writing or both.
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how).await
    }

    /// Shuts down writing.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        self.inner.shutdown(Shutdown::Write).await
    }

    /// Receives into a buffer the kernel picks from `ring` only when data arrives, so a
    /// pending receive holds no buffer. `None` at end of stream.
    pub async fn recv_buf(
        &self,
        ring: &crate::buf::BufRing,
    ) -> io::Result<Option<crate::buf::RingBuf>> {
        self.inner.recv_buf(ring).await
    }

    /// A multishot receive from `ring`: one submission, a buffer per arrival.
    pub fn recv_multishot(&self, ring: &crate::buf::BufRing) -> crate::io::RecvMultishot {
        self.inner.recv_multishot(ring)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        unix_addr(sock(self.inner.fd()).peer_addr()?)
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        unix_addr(sock(self.inner.fd()).local_addr()?)
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl_stream_traits!(UnixStream);
impl_owned_read!(UnixStream);
impl_owned_write!(UnixStream => half_close: true);
impl_socket_readiness!(UnixStream);

/// A Unix-domain datagram socket.
pub struct UnixDatagram {
    inner: FdStream,
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.inner.as_raw_fd())
            .finish()
    }
}

impl UnixDatagram {
    fn from_fd(fd: SharedFd) -> UnixDatagram {
        UnixDatagram {
            inner: FdStream::socket(fd),
        }
    }

    /// Binds to a path.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        Self::bind_addr(&path_addr(path.as_ref())?)
    }

    /// Binds to a name in the abstract namespace.
    pub fn bind_abstract(name: &[u8]) -> io::Result<UnixDatagram> {
        Self::bind_addr(&abstract_addr(name)?)
    }

    fn bind_addr(addr: &SockAddr) -> io::Result<UnixDatagram> {
        let fd = new_socket(Domain::UNIX, Type::DGRAM)?;
        sock(&fd).bind(addr)?;
        Ok(UnixDatagram::from_fd(fd))
    }

    /// A socket with no name (it can send, and receive replies only when connected).
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram::from_fd(new_socket(
            Domain::UNIX,
            Type::DGRAM,
        )?))
    }

    /// Two connected datagram sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = pair(Type::DGRAM)?;
        Ok((UnixDatagram::from_fd(a), UnixDatagram::from_fd(b)))
    }

    /// Sets the default peer (connecting a datagram socket does not block).
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        sock(self.inner.fd()).connect(&path_addr(path.as_ref())?)
    }

    /// Sends one datagram to a path.
    pub async fn send_to<B: IoBuf>(&self, buf: B, path: impl AsRef<Path>) -> BufResult<usize, B> {
        match path_addr(path.as_ref()) {
            Ok(addr) => self.inner.send_to(buf, addr).await,
            Err(e) => BufResult(Err(e), buf),
        }
    }

    /// Receives one datagram and its sender's address.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        self.inner.recv_from(buf, unix_addr).await
    }

    /// Sends one datagram to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// Receives one datagram.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// This socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        unix_addr(sock(self.inner.fd()).local_addr()?)
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
