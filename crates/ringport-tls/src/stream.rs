//! `TlsStream`: rustls's buffered API driven by a receive and a send that live in the stream.
//!
//! The core is poll-style. The stream owns at most one receive ([`OwnedRead`]) and one send
//! ([`OwnedWrite`]) in flight, each with its own buffer; every `poll_*` method polls those and
//! feeds rustls between them, and keeps no other state across a `Pending`. So a caller's
//! future dropped at any await point loses nothing: the next call polls the same receive, and
//! the ciphertext it brings is fed to rustls in order. The owned-buffer traits
//! ([`AsyncRead`], [`AsyncWrite`]) are `poll_fn`s over the same methods, and a poll-style
//! adapter (futures-io, tokio-io, hyper) can call them directly.
//!
//! Receive path: the kernel fills `rx` (17 KiB by default, a full record), `read_tls` copies it into rustls's deframer
//! as far as rustls takes it (`wants_read`), `process_new_packets` decrypts, and plaintext is
//! copied out to the caller. Send path: `writer()` encrypts the caller's bytes into rustls's
//! record queue (64 KiB at most), `write_tls` moves the records into `tx`, and one send carries
//! them. A write returns once its bytes are encrypted and their send is submitted; an error
//! in that send is reported by the next write, `flush` or `shutdown_write`.

use crate::error::{self, Side, TlsError, TlsErrorKind};
use ringport::buf::{BufResult, IoBuf, IoBufMut, Slice};
use ringport::io::{AsyncRead, AsyncWrite, OwnedRead, OwnedWrite};
use rustls::Connection;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io::{self, Write as _};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The receive buffer's starting size: one read from the kernel, then fed to rustls. One full
/// record (16 KiB of plaintext, its header and tag) fits, and a connection that waits holds no
/// more than this. Unless a size is set ([`TlsStream::set_receive_buffer_size`]), a receive
/// that fills its buffer doubles the next one up to [`MAX_RECEIVE_BUFFER`], and one that brings
/// less than a quarter halves it back towards this size.
pub const DEFAULT_RECEIVE_BUFFER: usize = 17 * 1024;
/// The most a receive grows to by itself: 32 KiB, two records. A receive is fed to rustls
/// right after the kernel fills it, so it pays to fit beside rustls's own buffers in the L1
/// data cache. Measured with `bench -- tls` on 2026-12-04 (one connection echoing 2 GiB through
/// a 64 KiB application buffer; a 48 KiB-L1d Xeon; fixed sizes, 2 rounds of 3 runs each),
/// server CPU-s per GiB: 17 KiB 0.78-0.79, 24 KiB 0.76-0.77, 32 KiB 0.72-0.75, 40 KiB
/// 0.69-0.72, 48 KiB 0.68-0.71, 56 KiB 0.79-0.86, 60 KiB 0.95-0.99, 64 KiB 0.98-1.02, 96 KiB
/// 1.07-1.08; tokio-rustls 0.84-0.95 in the same runs. 32 KiB keeps most of the gain on a
/// 32 KiB L1d too. (On 2026-12-02 one-record receives had measured costlier than 64 KiB
/// ones; what changed since is not established.)
pub const MAX_RECEIVE_BUFFER: usize = 32 * 1024;
/// The first bytes kept from the peer, to tell plain HTTP (or other non-TLS) apart.
const PEEK: usize = 8;

/// A TLS connection over a ringport stream `S` (a `TcpStream`, `UnixStream`, or anything with
/// owned reads and writes).
///
/// Reads and writes go through ringport's [`AsyncRead`] and [`AsyncWrite`] with owned buffers,
/// or the `poll_*` methods. Dropping a read, write or handshake future at any await point loses
/// no data: the operation in flight stays in the stream, and the next call carries on.
///
/// End of stream: [`read`](AsyncRead::read) returns `Ok(0)` once the peer sent
/// `close_notify`; a connection that ends without it is an `UnexpectedEof` error
/// ([`TlsErrorKind::Truncated`]), since the data may have been cut short.
/// [`shutdown_write`](AsyncWrite::shutdown_write) sends `close_notify`, then shuts the
/// stream's writing half down. Writes are encrypted and handed to the kernel before they
/// return; call [`flush`](AsyncWrite::flush) (or `shutdown_write`) before dropping the
/// stream, or the last records may be cancelled with it.
pub struct TlsStream<S: OwnedRead + OwnedWrite> {
    io: S,
    conn: Connection,
    rx: Rx<S::ReadFuture<Vec<u8>>>,
    tx: Tx<S::WriteFuture<Slice<Vec<u8>>>>,
    shutdown: Option<S::ShutdownFuture>,
    /// Sticky: once rustls failed, every call reports it.
    failed: Option<TlsError>,
    /// Sticky: a send failed; the connection cannot carry more (kind and text, re-made per call).
    tx_error: Option<(io::ErrorKind, String)>,
    /// The kernel reported end of stream; rustls knows.
    eof: bool,
    close_notify_sent: bool,
    write_shut: bool,
    first_bytes: Vec<u8>,
    server_name: Option<String>,
    /// The size of the next receive's buffer.
    rx_size: usize,
    /// The size was set by the user: it does not grow or shrink.
    rx_fixed: bool,
}

enum Rx<F> {
    /// `buf[pos..]` is ciphertext received but not yet taken by rustls.
    Idle {
        buf: Vec<u8>,
        pos: usize,
    },
    Busy(F),
}

enum Tx<F> {
    Idle(Vec<u8>),
    Busy(F),
}

impl<S: OwnedRead + OwnedWrite> TlsStream<S> {
    /// A stream over `io` with a rustls connection that has not shaken hands yet: the handshake
    /// runs on the first read, write or flush, or on [`handshake`](Self::handshake).
    /// [`TlsConnector`](crate::TlsConnector) and [`TlsAcceptor`](crate::TlsAcceptor) make the
    /// connection from their configuration and run the handshake before handing the stream out.
    pub fn new(io: S, conn: impl Into<Connection>) -> TlsStream<S> {
        TlsStream {
            io,
            conn: conn.into(),
            rx: Rx::Idle {
                buf: Vec::new(),
                pos: 0,
            },
            tx: Tx::Idle(Vec::new()),
            shutdown: None,
            failed: None,
            tx_error: None,
            eof: false,
            close_notify_sent: false,
            write_shut: false,
            first_bytes: Vec::new(),
            server_name: None,
            rx_size: DEFAULT_RECEIVE_BUFFER,
            rx_fixed: false,
        }
    }

    /// Hands the stream bytes already received from `io` (a server that looked at the first
    /// bytes of a connection before deciding to speak TLS on it): they are fed to rustls before
    /// anything more is received. Call it before the first read, write or handshake.
    pub fn set_received(&mut self, received: Vec<u8>) {
        let take = received.len().min(PEEK);
        self.first_bytes = received[..take].to_vec();
        self.rx = Rx::Idle {
            buf: received,
            pos: 0,
        };
    }

    /// Sets how many bytes every receive from the stream below may bring (at least 1), and
    /// stops the size adapting by itself (by default it starts at
    /// [`DEFAULT_RECEIVE_BUFFER`], one record, and grows to [`MAX_RECEIVE_BUFFER`] while
    /// receives come back full). More means fewer receives and longer reads for a bulk
    /// download, and more memory held by each connection waiting for bytes. Takes effect at
    /// the next receive.
    pub fn set_receive_buffer_size(&mut self, bytes: usize) {
        self.rx_size = bytes.max(1);
        self.rx_fixed = true;
    }

    /// The size of the next receive's buffer.
    pub fn receive_buffer_size(&self) -> usize {
        self.rx_size
    }

    /// Adapts the next receive's size to what this one brought (`n` bytes of `cap`).
    fn adapt_receive(&mut self, n: usize, cap: usize) {
        if self.rx_fixed || cap != self.rx_size {
            return;
        }
        if n == cap && cap < MAX_RECEIVE_BUFFER {
            self.rx_size = (cap * 2).min(MAX_RECEIVE_BUFFER);
        } else if n < cap / 4 && cap > DEFAULT_RECEIVE_BUFFER {
            self.rx_size = (cap / 2).max(DEFAULT_RECEIVE_BUFFER);
        }
    }

    /// Sets the name error messages use for the server (the connector sets it).
    pub(crate) fn set_server_name(&mut self, name: String) {
        self.server_name = Some(name);
    }

    /// Runs the handshake to its end (at once if it is done), and hands rustls's last flight to
    /// the kernel. Cancel-safe: dropping the future and calling again carries on.
    pub async fn handshake(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_handshake(cx)).await
    }

    /// The stream below and the rustls connection.
    pub fn get_ref(&self) -> (&S, &Connection) {
        (&self.io, &self.conn)
    }

    /// The stream below and the rustls connection, mutably. Reading or writing the stream
    /// directly breaks the TLS session.
    pub fn get_mut(&mut self) -> (&mut S, &mut Connection) {
        (&mut self.io, &mut self.conn)
    }

    /// The stream below and the rustls connection. A receive or send in flight is cancelled,
    /// and ciphertext received but not yet processed is dropped.
    pub fn into_inner(self) -> (S, Connection) {
        (self.io, self.conn)
    }

    /// The application protocol agreed by ALPN (`b"h2"`, `b"http/1.1"`), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The TLS version agreed, once the handshake got that far.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.conn.protocol_version()
    }

    /// The cipher suite agreed.
    pub fn cipher_suite(&self) -> Option<rustls::SupportedCipherSuite> {
        self.conn.negotiated_cipher_suite()
    }

    /// Whether the handshake resumed an earlier session (no certificate exchanged).
    pub fn is_resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// The server name the client asked for (SNI), on the server side.
    pub fn sni_hostname(&self) -> Option<&str> {
        match &self.conn {
            Connection::Server(c) => c.server_name(),
            Connection::Client(_) => None,
        }
    }

    /// The peer's certificate chain, leaf first, when it sent one.
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    fn side(&self) -> Side {
        match self.conn {
            Connection::Client(_) => Side::Client,
            Connection::Server(_) => Side::Server,
        }
    }

    /// Records a rustls failure (explained once, then sticky) and returns it.
    fn fail(&mut self, err: rustls::Error) -> io::Error {
        let explained = error::explain(
            err,
            &error::Context {
                side: self.side(),
                server_name: self.server_name.as_deref(),
                first_bytes: &self.first_bytes,
                handshaking: self.conn.is_handshaking(),
            },
        );
        self.failed = Some(explained.clone());
        explained.into_io()
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone().into_io()),
            None => Ok(()),
        }
    }

    fn check_tx(&self) -> io::Result<()> {
        match &self.tx_error {
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }

    /// Drives the send side: takes in a finished send (resubmitting the rest of a short one,
    /// keeping an error for later), and hands the records rustls has queued to a new send.
    /// `Ready` when nothing is queued or in flight; `Pending` while a send is in flight.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut self.tx {
                Tx::Busy(op) => {
                    let BufResult(res, slice) = ready!(Pin::new(op).poll(cx));
                    let (begin, end) = (slice.begin(), slice.end());
                    let mut buf = slice.into_inner();
                    match res {
                        Ok(n) if n > 0 && begin + n < end => {
                            self.tx = Tx::Busy(self.io.write_owned(buf.slice(begin + n..end)));
                            continue;
                        }
                        Ok(n) if n > 0 => {}
                        Ok(_) => {
                            self.tx_error = Some((
                                io::ErrorKind::WriteZero,
                                "TLS: the stream below accepted no bytes".into(),
                            ))
                        }
                        Err(e) => self.tx_error = Some((e.kind(), e.to_string())),
                    }
                    buf.clear();
                    self.tx = Tx::Idle(buf);
                }
                Tx::Idle(buf) => {
                    if !self.conn.wants_write() || self.tx_error.is_some() {
                        return Poll::Ready(());
                    }
                    let mut buf = std::mem::take(buf);
                    buf.clear();
                    // Writing into a Vec cannot fail; it moves every queued record.
                    while self.conn.wants_write() {
                        if self.conn.write_tls(&mut buf).unwrap_or(0) == 0 {
                            break;
                        }
                    }
                    if buf.is_empty() {
                        self.tx = Tx::Idle(buf);
                        return Poll::Ready(());
                    }
                    let len = buf.len();
                    self.tx = Tx::Busy(self.io.write_owned(buf.slice(..len)));
                }
            }
        }
    }

    /// Feeds ciphertext already received to rustls, as far as rustls takes it, processing each
    /// piece. Returns whether it fed anything.
    fn feed(&mut self) -> io::Result<bool> {
        let Rx::Idle { buf, pos } = &mut self.rx else {
            return Ok(false);
        };
        let start = *pos;
        while *pos < buf.len() && self.conn.wants_read() {
            let mut rest = &buf[*pos..];
            let n = match self.conn.read_tls(&mut rest) {
                Ok(0) => break, // close_notify came: rustls takes nothing more
                Ok(n) => n,
                Err(e) => {
                    let err = rustls::Error::General(e.to_string());
                    return Err(self.fail(err));
                }
            };
            *pos += n;
            if let Err(e) = self.conn.process_new_packets() {
                return Err(self.fail(e));
            }
        }
        let Rx::Idle { pos, .. } = &self.rx else {
            unreachable!()
        };
        Ok(*pos > start)
    }

    /// Whether ciphertext is waiting in the receive buffer.
    fn unfed(&self) -> bool {
        matches!(&self.rx, Rx::Idle { buf, pos } if *pos < buf.len())
    }

    /// Starts or polls the receive of more ciphertext. `Ready(Ok(()))` when bytes arrived or
    /// the stream ended (then rustls has been told).
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.rx {
                Rx::Busy(op) => {
                    let BufResult(res, buf) = ready!(Pin::new(op).poll(cx));
                    let n = buf.len();
                    if res.is_ok() {
                        self.adapt_receive(n, buf.capacity());
                    }
                    if self.first_bytes.len() < PEEK {
                        let take = (PEEK - self.first_bytes.len()).min(n);
                        self.first_bytes.extend_from_slice(&buf[..take]);
                    }
                    self.rx = Rx::Idle { buf, pos: 0 };
                    return Poll::Ready(match res {
                        Ok(0) => {
                            self.eof = true;
                            // An empty read tells rustls the transport ended.
                            let _ = self.conn.read_tls(&mut &[][..]);
                            Ok(())
                        }
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    });
                }
                Rx::Idle { buf, .. } => {
                    let mut buf = std::mem::take(buf);
                    buf.clear();
                    if buf.capacity() != self.rx_size {
                        // All of it was fed to rustls: nothing is lost with a new one.
                        buf = Vec::with_capacity(self.rx_size);
                    }
                    self.rx = Rx::Busy(self.io.read_owned(buf));
                }
            }
        }
    }

    /// Drives the handshake: sends rustls's flights, receives and feeds the peer's, until the
    /// handshake is over and its last flight is handed to the kernel.
    pub fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.failed.is_some() {
                // Let the alert rustls queued reach the peer (it says why), then fail.
                ready!(self.poll_send(cx));
                return Poll::Ready(self.check());
            }
            let sent = self.poll_send(cx).is_ready();
            self.check_tx()?;
            if !self.conn.is_handshaking() {
                return if sent {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                };
            }
            match self.feed() {
                Ok(true) => continue,
                Ok(false) => {}
                // rustls queued an alert: the top of the loop sends it.
                Err(_) if self.failed.is_some() => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
            if self.conn.wants_read() && !self.unfed() {
                if self.eof {
                    return Poll::Ready(Err(self.handshake_eof()));
                }
                ready!(self.poll_receive(cx))?;
                continue;
            }
            if !sent {
                return Poll::Pending; // our flight is on its way; the peer answers after it
            }
            return Poll::Ready(Err(io::Error::other(
                "TLS: the handshake stalled (rustls wants neither to read nor to write)",
            )));
        }
    }

    fn handshake_eof(&self) -> io::Error {
        let peer = match self.side() {
            Side::Client => "server",
            Side::Server => "client",
        };
        TlsError::new(
            TlsErrorKind::HandshakeEof,
            format!(
                "TLS: the {peer} closed the connection during the handshake (is this a TLS port, \
                 and does the {peer} accept this side's TLS versions?)"
            ),
        )
        .into_io()
    }

    /// Makes decrypted bytes available, reading and processing ciphertext as needed.
    /// `Ready(Ok(()))` when rustls holds plaintext or the peer closed cleanly.
    fn poll_plaintext(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.conn.is_handshaking() {
            ready!(self.poll_handshake(cx))?;
        }
        loop {
            self.check()?;
            // Alerts, KeyUpdate answers: on their way, without waiting for them.
            let _ = self.poll_send(cx);
            match self.conn.reader().into_first_chunk() {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Err(self.truncated()))
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
            if self.feed()? {
                continue;
            }
            if self.unfed() {
                return Poll::Ready(Err(io::Error::other(
                    "TLS: rustls takes no more ciphertext and has no plaintext",
                )));
            }
            if self.eof {
                return Poll::Ready(Err(self.truncated()));
            }
            ready!(self.poll_receive(cx))?;
        }
    }

    fn truncated(&self) -> io::Error {
        let peer = match self.side() {
            Side::Client => "server",
            Side::Server => "client",
        };
        TlsError::new(
            TlsErrorKind::Truncated,
            format!(
                "TLS: the {peer} closed the connection without close_notify: what was read may be \
                 cut short"
            ),
        )
        .into_io()
    }

    /// Decrypted bytes, reading from the stream below when none are waiting: the chunk rustls
    /// holds (empty once the peer closed cleanly). Call [`consume`](Self::consume) with what
    /// was used.
    pub fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        ready!(self.poll_plaintext(cx))?;
        Poll::Ready(self.conn.reader().into_first_chunk())
    }

    /// Marks `amt` bytes of the last [`poll_fill_buf`](Self::poll_fill_buf) chunk as used.
    pub fn consume(&mut self, amt: usize) {
        use std::io::BufRead;
        self.conn.reader().consume(amt);
    }

    /// Reads decrypted bytes into `dst`: as many as are ready, at least one unless the peer
    /// closed cleanly (`Ok(0)`).
    pub fn poll_read(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        // SAFETY: `dst` is valid for writes of `dst.len()` bytes.
        unsafe { self.poll_read_raw(cx, dst.as_mut_ptr(), dst.len()) }
    }

    /// [`poll_read`](Self::poll_read) into raw memory, which need not be initialised.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of `cap` bytes for the duration of the call.
    unsafe fn poll_read_raw(
        &mut self,
        cx: &mut Context<'_>,
        dst: *mut u8,
        cap: usize,
    ) -> Poll<io::Result<usize>> {
        if cap == 0 {
            return Poll::Ready(Ok(0));
        }
        ready!(self.poll_plaintext(cx))?;
        let mut done = 0;
        // Copy what rustls holds, then decrypt more of what was already received, without
        // waiting for the stream below. A failure here is kept (sticky) for the next call.
        while done < cap {
            let n = match self.conn.reader().into_first_chunk() {
                Ok(chunk) => {
                    let n = chunk.len().min(cap - done);
                    // SAFETY: `dst + done .. dst + done + n` lies inside the `cap` writable
                    // bytes the caller promised; `chunk` is rustls's own memory, so the two do
                    // not overlap.
                    unsafe { std::ptr::copy_nonoverlapping(chunk.as_ptr(), dst.add(done), n) };
                    n
                }
                Err(_) => 0,
            };
            if n > 0 {
                self.consume(n);
                done += n;
            } else if !(self.unfed() && self.feed().unwrap_or(false)) {
                break;
            }
        }
        Poll::Ready(Ok(done))
    }

    /// Encrypts some of `src` and hands the records to the stream below: `Ready(Ok(n))` once
    /// `n > 0` bytes are taken. Waits only while rustls's record queue is full.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, src: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(src)])
    }

    /// As [`poll_write`](Self::poll_write) for several buffers in order: as much of them as
    /// rustls's record queue takes is encrypted together (a response head and a small body in
    /// one record) and handed to the stream below in one send.
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.conn.is_handshaking() {
            ready!(self.poll_handshake(cx))?;
        }
        self.check()?;
        self.check_tx()?;
        if self.close_notify_sent {
            return Poll::Ready(Err(TlsError::new(
                TlsErrorKind::WriteAfterShutdown,
                "TLS: write after shutdown_write",
            )
            .into_io()));
        }
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        loop {
            let n = self.conn.writer().write_vectored(bufs)?;
            if n > 0 {
                let _ = self.poll_send(cx);
                return Poll::Ready(Ok(n));
            }
            // The record queue is full: room comes when the send in flight is done.
            let idle = self.poll_send(cx).is_ready();
            self.check_tx()?;
            if idle && self.conn.wants_write() {
                continue;
            }
            if !idle && self.conn.wants_write() {
                return Poll::Pending;
            }
            if idle {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "TLS: rustls took no bytes with an empty record queue",
                )));
            }
        }
    }

    /// Hands every queued record to the stream below and waits until it took them.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.conn.is_handshaking() {
            ready!(self.poll_handshake(cx))?;
        }
        self.check_tx()?;
        ready!(self.poll_send(cx));
        self.check_tx()?;
        Poll::Ready(Ok(()))
    }

    /// Sends `close_notify`, flushes, then shuts the stream's writing half down. Calling it
    /// again after it finished does nothing.
    pub fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.close_notify_sent {
            if self.conn.is_handshaking() {
                ready!(self.poll_handshake(cx))?;
            }
            self.conn.send_close_notify();
            self.close_notify_sent = true;
        }
        ready!(self.poll_flush(cx))?;
        if self.write_shut {
            return Poll::Ready(Ok(()));
        }
        let io = &self.io;
        let op = self
            .shutdown
            .get_or_insert_with(|| io.shutdown_write_owned());
        let res = ready!(Pin::new(op).poll(cx));
        self.shutdown = None;
        match res {
            Ok(()) => {}
            // The peer is already gone: nothing left to shut.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
        self.write_shut = true;
        Poll::Ready(Ok(()))
    }
}

impl<S: OwnedRead + OwnedWrite> AsyncRead for TlsStream<S> {
    async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        let (ptr, cap) = (buf.stable_mut_ptr(), buf.bytes_total());
        // SAFETY: an `IoBufMut` is valid for writes of `bytes_total()` bytes from
        // `stable_mut_ptr()`, and the buffer is owned by this future across every poll.
        let res = poll_fn(|cx| unsafe { self.poll_read_raw(cx, ptr, cap) }).await;
        if let Ok(n) = res {
            // SAFETY: `poll_read_raw` wrote the first `n` bytes.
            unsafe { buf.set_init(n) };
        }
        BufResult(res, buf)
    }
}

impl<S: OwnedRead + OwnedWrite> AsyncWrite for TlsStream<S> {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        // SAFETY: an `IoBuf`'s first `bytes_init()` bytes from `stable_ptr()` are
        // initialised, and the buffer is owned by this future while the slice is used.
        let src = unsafe { std::slice::from_raw_parts(buf.stable_ptr(), buf.bytes_init()) };
        let res = poll_fn(|cx| self.poll_write(cx, src)).await;
        BufResult(res, buf)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        poll_fn(|cx| self.poll_flush(cx))
    }

    fn shutdown_write(&mut self) -> impl Future<Output = io::Result<()>> {
        poll_fn(|cx| self.poll_shutdown_write(cx))
    }
}

impl<S: OwnedRead + OwnedWrite + fmt::Debug> fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("io", &self.io)
            .field("side", &self.side())
            .field("handshaking", &self.conn.is_handshaking())
            .field("version", &self.conn.protocol_version())
            .field(
                "alpn",
                &self.conn.alpn_protocol().map(String::from_utf8_lossy),
            )
            .finish_non_exhaustive()
    }
}
