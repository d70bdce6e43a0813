//! TCP: `TcpListener` (with multishot accept) and `TcpStream` (with zero-copy `send_file`).

use super::addr::{bind_addr, ToSocketAddrs};
use super::splice_pipes;
use super::{accept_fd, adopt, connect_fd, new_socket, not_inet, sock};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::op::{accept, poll, splice};
use crate::driver::{MultiOp, Op};
use crate::fs::File;
use crate::io::{impl_owned_read, impl_owned_write, impl_socket_readiness};
use crate::io::{impl_read_trait, impl_stream_traits, impl_write_trait, FdStream};
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use socket2::{Domain, SockAddr, Type};
use std::cell::Cell;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// How a listener is set up.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// The accept queue's length.
    pub backlog: i32,
    /// `SO_REUSEADDR`: rebind at once after a restart.
    pub reuse_address: bool,
    /// `SO_REUSEPORT`: several listeners (one per thread) share the port.
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
        }
    }
}

/// The first and the longest pause after an accept failed for lack of fds or memory.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A TCP listening socket.
///
/// When accepting fails for lack of fds (EMFILE, ENFILE) or memory, the error is returned and
/// the next accept first waits a little (10 ms, doubling to 1 s), so a loop that logs and
/// retries does not spin; it serves again as soon as fds are free.
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
    backoff: Cell<Option<(Instant, Duration)>>,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.fd.as_raw_fd())
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    /// Binds with `SO_REUSEADDR` and a backlog of 1024. `addr` is an IP address (or
    /// `localhost`): binding never blocks the loop on a name lookup.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, ListenOptions::default())
    }

    /// Binds with the given options.
    pub fn bind_with(addr: impl ToSocketAddrs, opts: ListenOptions) -> io::Result<TcpListener> {
        let addr = bind_addr(&addr)?;
        let fd = new_socket(Domain::for_address(addr), Type::STREAM)?;
        let s = sock(&fd);
        s.set_reuse_address(opts.reuse_address)?;
        if opts.reuse_port {
            s.set_reuse_port(true)?;
        }
        s.bind(&SockAddr::from(addr))?;
        s.listen(opts.backlog)?;
        Ok(TcpListener::from_fd(fd))
    }

    fn from_fd(fd: SharedFd) -> TcpListener {
        TcpListener {
            fd,
            backoff: Cell::new(None),
        }
    }

    /// Takes over a listening std socket.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener::from_fd(adopt(listener.into())?))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock(&self.fd)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| not_inet("local address"))
    }

    /// Waits out the pause after a resource error, if one is pending.
    async fn wait_backoff(&self) {
        if let Some((until, _)) = self.backoff.get() {
            if until > Instant::now() {
                crate::time::sleep_until(until).await;
            }
        }
    }

    /// Records the outcome of an accept, for the backoff.
    fn note<T>(&self, res: &io::Result<T>) {
        match res {
            Ok(_) => self.backoff.set(None),
            Err(e) if is_resource_error(e) => {
                let step = self
                    .backoff
                    .get()
                    .map_or(BACKOFF_MIN, |(_, s)| (s * 2).min(BACKOFF_MAX));
                self.backoff.set(Some((Instant::now() + step, step)));
            }
            Err(_) => {}
        }
    }

    /// Accepts one connection (`ACCEPT` on the ring).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.wait_backoff().await;
        let res = accept_fd(&self.fd).await;
        self.note(&res);
        let (fd, addr) = res?;
        let addr = addr.as_socket().ok_or_else(|| not_inet("peer address"))?;
        Ok((TcpStream::from_fd(fd), addr))
    }

    /// A stream of connections from one multishot `ACCEPT` (re-armed when the kernel ends it),
    /// falling back to one accept at a time where the kernel has no multishot accept.
    pub fn incoming(&self) -> TcpIncoming<'_> {
        TcpIncoming {
            listener: self,
            multi: None,
            multishot: true,
        }
    }
}

fn is_resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Connections accepted by [`TcpListener::incoming`].
pub struct TcpIncoming<'a> {
    listener: &'a TcpListener,
    multi: Option<MultiOp<accept::AcceptMulti>>,
    multishot: bool,
}

impl fmt::Debug for TcpIncoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpIncoming")
            .field("multishot", &self.multishot)
            .finish()
    }
}

impl TcpIncoming<'_> {
    /// The next connection, or the error accepting it (the stream goes on after an error).
    pub async fn next(&mut self) -> io::Result<TcpStream> {
        loop {
            if !self.multishot {
                return self.listener.accept().await.map(|(s, _)| s);
            }
            self.listener.wait_backoff().await;
            let fd = self.listener.fd.clone();
            let op = self
                .multi
                .get_or_insert_with(|| MultiOp::new(accept::AcceptMulti { fd }));
            let Some(done) = std::future::poll_fn(|cx| op.poll_next(cx)).await else {
                // The kernel ended the multishot accept (after an error): arm a new one.
                self.multi = None;
                continue;
            };
            let res = done.result.map(|fd| SharedFd::new(fd as i32));
            if matches!(&res, Err(e) if e.raw_os_error() == Some(libc::EINVAL)) {
                // No multishot accept in this kernel.
                self.multi = None;
                self.multishot = false;
                continue;
            }
            self.listener.note(&res);
            return res.map(TcpStream::from_fd);
        }
    }
}

/// A TCP connection. Reads and writes take `&self`, so one task can read while another
/// writes: share it with `Rc` (a runtime's tasks share its thread), or split it with
/// [`into_split`](Self::into_split).
///
/// The looping helpers work on a shared stream too, two ways: `read_exact`, `read_to_end`
/// and `write_all` are inherent methods on `&self` (no trait to import), and `&TcpStream`
/// implements [`AsyncRead`] and [`AsyncWrite`] as std's `&TcpStream` implements `Read` and
/// `Write`, so generic code (and every `*Ext` helper) takes `&mut &TcpStream`. The traits
/// keep `&mut self`, which stateful streams (TLS, adapters) need.
///
/// ```
/// use ringport::buf::BufResult;
/// use ringport::io::{AsyncWrite, AsyncWriteExt};
/// use ringport::net::{TcpListener, TcpStream};
/// use std::rc::Rc;
///
/// ringport::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let echo = ringport::spawn(async move {
///         let (s, _) = listener.accept().await?;
///         let BufResult(res, buf) = s.read_to_end(Vec::new()).await;
///         res?;
///         s.write_all(buf).await.0
///     });
///
///     let stream = Rc::new(TcpStream::connect(addr).await?);
///     // One task waits for the whole answer while another writes.
///     let reader = stream.clone();
///     let read = ringport::spawn(async move { reader.read_exact(vec![0u8; 10]).await.into_parts() });
///     let writer = stream.clone();
///     let write = ringport::spawn(async move {
///         writer.write_all(b"hello".as_slice()).await.0?;
///         // The trait's helpers through `&TcpStream`, as generic code calls them.
///         let mut w: &TcpStream = &writer;
///         AsyncWriteExt::write_all(&mut w, b"world".as_slice()).await.0?;
///         AsyncWrite::shutdown_write(&mut w).await
///     });
///     write.await??;
///     let (res, buf) = read.await?;
///     res?;
///     assert_eq!(buf, b"helloworld");
///     echo.await??;
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
///
/// [`AsyncRead`]: crate::io::AsyncRead
/// [`AsyncWrite`]: crate::io::AsyncWrite
pub struct TcpStream {
    inner: FdStream,
    shut: Cell<(bool, bool)>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.inner.as_raw_fd())
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

    /// Connects (`CONNECT` on the ring), trying each address in turn. Host names are resolved
    /// on the blocking pool. A refused or unreachable peer is an error, never a hang.
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
        connect_fd(&fd, SockAddr::from(addr)).await?;
        Ok(TcpStream::from_fd(fd))
    }

    /// Takes over a connected std stream.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream::from_fd(adopt(stream.into())?))
    }

    /// Gives the connection back as a std stream (still non-blocking), e.g. to hand it to
    /// another loop (`spawn_balanced(move || async move { TcpStream::from_std(s) ... })`):
    /// the std stream is `Send`, this one is not. Fails (`ResourceBusy`) while an operation
    /// of this stream is still in flight.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        let fd = self
            .inner
            .into_fd()
            .try_unwrap()
            .map_err(|_| crate::io::fd_in_flight())?;
        // SAFETY: `try_unwrap` handed over the only reference to this open fd.
        Ok(unsafe { <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) })
    }

    /// Reads up to the buffer's capacity; `Ok(0)` when the peer has shut down writing.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// Writes some of the buffer's bytes. A closed peer is EPIPE or ECONNRESET (no SIGPIPE).
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
                "this direction of the connection is already shut down",
            ));
        }
        self.inner.shutdown(how).await?;
        self.shut.set((r || want_r, w || want_w));
        Ok(())
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

    /// Shuts down writing: the peer reads end of stream after the data already sent.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write).await
    }

    /// Sends `len` bytes of `file` from `offset` with `SPLICE` through a pipe: the bytes never
    /// enter user space. Returns the bytes sent: fewer than `len` when the file ends first, or
    /// when an error stopped the transfer after some bytes went out (the next call then
    /// reports it), as `write` does.
    ///
    /// Each chunk waits until the socket can take bytes (`POLL_ADD`), sizes itself to the room
    /// in the send buffer (half of it, the pipe's size at most), borrows a pipe from the
    /// loop thread's small pool (see `net/splice_pipes.rs`: 16 pipes of up to 1 MiB, however
    /// many streams send), fills it from the file and drains it into the socket. So a slow
    /// reader holds a pipe only while its next chunk drains, and the user's pipe budget is
    /// never used up by many downloads.
    pub async fn send_file(&self, file: &File, offset: u64, len: u64) -> io::Result<u64> {
        let mut sent = 0u64;
        while sent < len {
            let res = self
                .send_chunk(file.shared_fd(), offset + sent, len - sent)
                .await;
            match res {
                Ok(0) => break, // end of file
                Ok(n) => sent += n,
                Err((e, moved)) => {
                    sent += moved;
                    return if sent > 0 { Ok(sent) } else { Err(e) };
                }
            }
        }
        Ok(sent)
    }

    /// One chunk of [`send_file`](Self::send_file): the bytes it moved into the socket, with
    /// the error that stopped it if one did.
    async fn send_chunk(
        &self,
        file: &SharedFd,
        offset: u64,
        left: u64,
    ) -> Result<u64, (io::Error, u64)> {
        let sock = self.inner.fd();
        let ready = Op::new(poll::PollAdd {
            fd: sock.clone(),
            events: libc::POLLOUT as u32,
        });
        ready.await.0.result.map_err(|e| (e, 0))?;
        let mut lease = splice_pipes::lease().await.map_err(|e| (e, 0))?;
        let pipe = lease.pipe();
        // Half the room the send buffer reports (its limit counts buffer overhead too), so
        // that the drain below finds room and does not sit in the kernel (or, on the poll
        // backend, block a pool thread) waiting for a slow reader.
        let want = left
            .min(u64::from(pipe.cap))
            .min((send_room(sock) / 2).max(MIN_CHUNK)) as u32;
        let off = i64::try_from(offset).map_err(|_| {
            (
                io::Error::new(io::ErrorKind::InvalidInput, "offset too large"),
                0,
            )
        })?;
        let filled = splice_once(file, off, &pipe.w, -1, want)
            .await
            .map_err(|e| (e, 0))?;
        let mut moved = 0u32;
        while moved < filled {
            match splice_once(&pipe.r, -1, sock, -1, filled - moved).await {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::WriteZero, "the socket took 0 bytes");
                    return Err((e, u64::from(moved)));
                }
                Ok(n) => moved += n,
                Err(e) => return Err((e, u64::from(moved))),
            }
        }
        lease.set_empty();
        Ok(u64::from(filled))
    }

    /// `TCP_NODELAY`: send small writes at once.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sock(self.inner.fd()).set_tcp_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is on.
    pub fn nodelay(&self) -> io::Result<bool> {
        sock(self.inner.fd()).tcp_nodelay()
    }

    /// `SO_KEEPALIVE`.
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        sock(self.inner.fd()).set_keepalive(on)
    }

    /// `SO_LINGER`. `Some(Duration::ZERO)` makes close send a reset (RST) and drop unsent data.
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

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
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

/// The writing half of a [`TcpStream`]. Dropping it does not shut the connection down; call
/// [`shutdown_write`](Self::shutdown_write).
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
impl_owned_read!(TcpStream, OwnedReadHalf);
impl_owned_write!(TcpStream => half_close: true, OwnedWriteHalf => half_close: true);
impl_socket_readiness!(TcpStream);

/// The smallest chunk `send_file` moves at once (after `POLLOUT` said there is room).
const MIN_CHUNK: u64 = 4096;

/// Bytes the socket's send buffer has room for now: `SO_SNDBUF` less what is queued and not
/// yet acknowledged (`SIOCOUTQ`). A hint: 0 when either call fails.
fn send_room(sock: &SharedFd) -> u64 {
    let mut size: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let mut queued: libc::c_int = 0;
    // SAFETY: plain socket calls writing into live locals of the sizes given.
    let ok = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut size as *mut libc::c_int).cast(),
            &mut len,
        ) == 0
            && libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &mut queued) == 0
    };
    if !ok {
        return 0;
    }
    (size.max(0) as u64).saturating_sub(queued.max(0) as u64)
}

async fn splice_once(
    fd_in: &SharedFd,
    off_in: i64,
    fd_out: &SharedFd,
    off_out: i64,
    len: u32,
) -> io::Result<u32> {
    let op = splice::Splice {
        fd_in: fd_in.clone(),
        off_in,
        fd_out: fd_out.clone(),
        off_out,
        len,
    };
    Op::new(op).await.0.result
}
