//! TCP on Windows: `TcpListener` (`AcceptEx`, several queued for `incoming`) and `TcpStream`
//! (`ConnectEx`, `WSARecv`/`WSASend`, `TransmitFile` for `send_file`).

use super::addr::{bind_addr, ToSocketAddrs};
use super::{new_socket, not_inet, sock};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::{Kind, RawFd, SharedFd};
use crate::driver::op::windows::{Accept, AddrOut, Connect, TransmitFile};
use crate::driver::Op;
use crate::fs::File;
use crate::io::{impl_read_trait, impl_stream_traits, impl_write_trait, FdStream};
use socket2::{Domain, SockAddr, Type};
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// How many `AcceptEx` calls `incoming()` keeps queued (libuv keeps 32): a burst of clients
/// is accepted without a turn per connection. Each holds a pre-created socket.
pub(crate) const QUEUED_ACCEPTS: usize = 8;

/// How a listener is set up.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// The accept queue's length.
    pub backlog: i32,
    /// `SO_REUSEADDR`. On Windows it lets another socket take the port over, so it is off by
    /// default there.
    pub reuse_address: bool,
    /// No Windows counterpart; ignored.
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_address: false,
            reuse_port: false,
        }
    }
}

/// A TCP listening socket.
///
/// ```no_run
/// use ringport::net::TcpListener;
/// ringport::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let (stream, peer) = listener.accept().await?;
///     # drop((stream, peer));
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct TcpListener {
    fd: SharedFd,
    family: u16,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.fd)
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    /// Binds and listens on `addr` (a literal address; resolve names first with
    /// [`lookup_host`](super::lookup_host)).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, ListenOptions::default())
    }

    /// Binds with the given options.
    pub fn bind_with(addr: impl ToSocketAddrs, opts: ListenOptions) -> io::Result<TcpListener> {
        let addr = bind_addr(&addr)?;
        let fd = new_socket(Domain::for_address(addr), Type::STREAM)?;
        let s = sock(&fd);
        if opts.reuse_address {
            s.set_reuse_address(true)?;
        }
        s.bind(&SockAddr::from(addr))?;
        s.listen(opts.backlog)?;
        let family = family_of(&addr);
        Ok(TcpListener { fd, family })
    }

    /// Takes over a listening std socket (std creates its sockets overlapped, as the port
    /// needs). Its address family is read from the bound address.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        use std::os::windows::io::IntoRawSocket;
        let family = family_of(&listener.local_addr()?);
        let fd = SharedFd::new(RawFd::new(
            listener.into_raw_socket() as usize,
            Kind::Stream,
        ));
        Ok(TcpListener { fd, family })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock(&self.fd)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| not_inet("local address"))
    }

    fn accept_op(&self) -> Op<Accept> {
        Op::new(Accept {
            fd: self.fd.clone(),
            family: self.family,
            addr: AddrOut::new(),
        })
    }

    /// Accepts one connection (`AcceptEx` into a socket the driver creates).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (done, op) = self.accept_op().await;
        let new = done.result?;
        let stream = TcpStream::from_fd(SharedFd::new(RawFd::new(new as usize, Kind::Stream)));
        let addr = op.addr.into_addr();
        let addr = addr.as_socket().ok_or_else(|| not_inet("peer address"))?;
        Ok((stream, addr))
    }

    /// A stream of connections: several `AcceptEx` calls stay queued (Windows has no
    /// multishot accept), each replaced as it completes. Dropping the stream cancels them;
    /// a connection accepted meanwhile is closed.
    pub fn incoming(&self) -> TcpIncoming<'_> {
        TcpIncoming {
            listener: self,
            queued: Vec::with_capacity(QUEUED_ACCEPTS),
        }
    }
}

/// The address family `AcceptEx`'s socket is made in: AF_INET or AF_INET6.
fn family_of(addr: &SocketAddr) -> u16 {
    if addr.is_ipv4() {
        2
    } else {
        23
    }
}

/// Connections accepted by [`TcpListener::incoming`].
pub struct TcpIncoming<'a> {
    listener: &'a TcpListener,
    /// The queued accepts; they live here, not in `next`'s future, so a `next` that is
    /// dropped (a timeout) leaves them queued.
    queued: Vec<Op<Accept>>,
}

impl fmt::Debug for TcpIncoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpIncoming")
            .field("queued", &self.queued.len())
            .finish()
    }
}

impl TcpIncoming<'_> {
    /// The next connection, or the error accepting it (the stream goes on after an error).
    pub async fn next(&mut self) -> io::Result<TcpStream> {
        while self.queued.len() < QUEUED_ACCEPTS {
            self.queued.push(self.listener.accept_op());
        }
        let queued = &mut self.queued;
        let (i, (done, _op)) = std::future::poll_fn(|cx| {
            // The first poll submits them all; later ones find the completed one.
            for (i, op) in queued.iter_mut().enumerate() {
                if let Poll::Ready(out) = Pin::new(op).poll(cx) {
                    return Poll::Ready((i, out));
                }
            }
            Poll::Pending
        })
        .await;
        // A completed op holds nothing: dropping it cancels nothing.
        self.queued.swap_remove(i);
        let fd = done.result?;
        let fd = SharedFd::new(RawFd::new(fd as usize, Kind::Stream));
        Ok(TcpStream::from_fd(fd))
    }
}

/// A TCP connection. Reads and writes take `&self`, so one task can read while another
/// writes.
pub struct TcpStream {
    inner: FdStream,
    shut: Cell<(bool, bool)>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", self.inner.fd())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl TcpStream {
    fn from_fd(fd: SharedFd) -> TcpStream {
        TcpStream {
            inner: FdStream::socket(fd),
            shut: Cell::new((false, false)),
        }
    }

    /// Takes over a connected std stream (overlapped, as std creates its sockets). It is
    /// attached to this loop's port at its first operation: a socket that was ever used on
    /// another loop's port cannot be (Windows ties a handle to one port for its life).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        use std::os::windows::io::IntoRawSocket;
        Ok(TcpStream::from_fd(SharedFd::new(RawFd::new(
            stream.into_raw_socket() as usize,
            Kind::Stream,
        ))))
    }

    /// Gives the connection back as a std stream, e.g. to hand it to another loop (the std
    /// stream is `Send`, this one is not). Fails (`ResourceBusy`) while an operation of this
    /// stream is still in flight. A stream that has done no I/O here (one just accepted) can
    /// be adopted by any loop; one that has is tied to this loop's port, and would fail its
    /// first operation on another.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        use std::os::windows::io::FromRawSocket;
        let fd = self
            .inner
            .into_fd()
            .try_unwrap()
            .map_err(|_| crate::io::fd_in_flight())?;
        // SAFETY: `try_unwrap` handed over the only reference to this open socket.
        Ok(unsafe { std::net::TcpStream::from_raw_socket(fd.raw as _) })
    }

    /// Connects (`ConnectEx`), trying each address in turn. Host names are resolved on the
    /// blocking pool.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = addr.to_target().resolve().await?;
        let mut last = None;
        for addr in addrs {
            match Self::connect_one(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = new_socket(Domain::for_address(addr), Type::STREAM)?;
        // ConnectEx needs a bound socket.
        let any: SocketAddr = if addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        sock(&fd).bind(&SockAddr::from(any))?;
        let op = Connect {
            fd: fd.clone(),
            addr: Box::new(SockAddr::from(addr)),
        };
        Op::new(op).await.0.result?;
        Ok(TcpStream::from_fd(fd))
    }

    /// Reads up to the buffer's capacity; `Ok(0)` when the peer has shut down writing.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// Writes some of the buffer's bytes.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// Reads into several buffers in order.
    pub async fn read_vectored<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        self.inner.read_vectored(bufs).await
    }

    /// Writes several buffers in order.
    pub async fn write_vectored<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        self.inner.write_vectored(bufs).await
    }

    /// Shuts down reading, writing or both. Shutting a direction down twice is an error
    /// (`NotConnected`).
    pub async fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let (r, w) = self.shut.get();
        let (want_r, want_w) = match how {
            Shutdown::Read => (true, false),
            Shutdown::Write => (false, true),
            Shutdown::Both => (true, true),
        };
        if (want_r && r) || (want_w && w) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "this direction is already shut down",
            ));
        }
        self.inner.shutdown(how).await?;
        self.shut.set((r || want_r, w || want_w));
        Ok(())
    }

    /// One receive into a buffer picked from `ring` when data arrives; `None` at end of
    /// stream. While waiting, the connection holds no buffer (a zero-byte `WSARecv`).
    pub async fn recv_buf(
        &self,
        ring: &crate::buf::BufRing,
    ) -> io::Result<Option<crate::buf::RingBuf>> {
        self.inner.recv_buf(ring).await
    }

    /// Receives from `ring` until the end of the stream.
    pub fn recv_multishot(&self, ring: &crate::buf::BufRing) -> crate::io::RecvMultishot {
        self.inner.recv_multishot(ring)
    }

    /// Shuts down writing.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write).await
    }

    /// Sends `len` bytes of `file` from `offset` (`TransmitFile`, several calls for more than
    /// 2 GiB); the bytes sent.
    pub async fn send_file(&self, file: &File, offset: u64, len: u64) -> io::Result<u64> {
        let mut sent = 0u64;
        while sent < len {
            let chunk = (len - sent).min(1 << 30) as u32;
            let op = TransmitFile {
                sock: self.inner.fd().clone(),
                file: file.shared_fd().clone(),
                offset: offset + sent,
                len: chunk,
            };
            let n = Op::new(op).await.0.result?;
            if n == 0 {
                break;
            }
            sent += u64::from(n);
        }
        Ok(sent)
    }

    /// `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sock(self.inner.fd()).set_tcp_nodelay(on)
    }

    /// The `TCP_NODELAY` setting.
    pub fn nodelay(&self) -> io::Result<bool> {
        sock(self.inner.fd()).tcp_nodelay()
    }

    /// `SO_KEEPALIVE`.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        sock(self.inner.fd()).set_keepalive(on)
    }

    /// `SO_LINGER`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sock(self.inner.fd()).set_linger(linger)
    }

    /// The `SO_LINGER` setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sock(self.inner.fd()).linger()
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let addr = sock(self.inner.fd()).local_addr()?;
        addr.as_socket().ok_or_else(|| not_inet("local address"))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let addr = sock(self.inner.fd()).peer_addr()?;
        addr.as_socket().ok_or_else(|| not_inet("peer address"))
    }

    /// Splits into a read half and a write half that can live in different tasks.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let inner = self.inner;
        (
            OwnedReadHalf {
                inner: inner.clone(),
            },
            OwnedWriteHalf { inner },
        )
    }
}

/// The reading half of a [`TcpStream`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: FdStream,
}

impl OwnedReadHalf {
    /// Reads up to the buffer's capacity.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }
}

/// The writing half of a [`TcpStream`].
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: FdStream,
}

impl OwnedWriteHalf {
    /// Writes some of the buffer's bytes.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// Shuts down writing.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        self.inner.shutdown(Shutdown::Write).await
    }
}

impl_stream_traits!(TcpStream);
impl_read_trait!(OwnedReadHalf);
impl_write_trait!(OwnedWriteHalf => half_close: true);
crate::io::impl_owned_read!(TcpStream, OwnedReadHalf);
crate::io::impl_owned_write!(TcpStream => half_close: true, OwnedWriteHalf => half_close: true);
