//! `TlsCompat`: the poll-style faces over a [`TlsStream`], which is poll-style at its core,
//! so no buffer is added.

use ringport::io::{OwnedRead, OwnedWrite};
use ringport_tls::TlsStream;
use std::fmt;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::task::{ready, Context, Poll};

/// futures-io, tokio::io and `hyper::rt` traits over a [`TlsStream`] (feature `tls`).
///
/// A thin wrapper (the traits and `TlsStream` both live in other crates, so they can only meet
/// in a type of this one): every call goes straight to the stream's own `poll_*` methods. The
/// receive and the send in flight live in the `TlsStream`, so a `poll_read` abandoned while
/// `Pending` loses nothing, as with [`Compat`](crate::Compat); and the decrypted bytes are
/// copied once, from rustls's plaintext buffer into the caller's (with `put_slice`, nothing
/// zero-filled), never through a buffer of the adapter's.
///
/// Writes behave as [`Compat`](crate::Compat)'s do: `poll_write` returns once the bytes are
/// encrypted and their send is submitted, and a failed send is reported by the next write,
/// flush or shutdown. `poll_shutdown` sends `close_notify`, flushes, then shuts the stream's
/// writing half down. The handshake runs on the first call if it has not run yet
/// ([`TlsAcceptor::accept_lazy`](ringport_tls::TlsAcceptor::accept_lazy)).
///
/// `is_write_vectored` is false: `TlsStream` encrypts one slice per call, so hyper flattens
/// a response's head and body into one buffer first, which makes one TLS record (and one send)
/// of them instead of two.
///
/// ```no_run
/// # #[cfg(feature = "hyper")]
/// # async fn demo(tcp: ringport::net::TcpStream, acceptor: ringport_tls::TlsAcceptor)
/// # -> std::io::Result<()> {
/// use ringport_compat::TlsCompat;
/// let tls = acceptor.accept(tcp).await?;
/// let service = hyper::service::service_fn(|_req| async {
///     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("hi")))
/// });
/// hyper::server::conn::http1::Builder::new()
///     .serve_connection(TlsCompat::new(tls), service)
///     .await
///     .map_err(std::io::Error::other)?;
/// # Ok(()) }
/// ```
pub struct TlsCompat<S: OwnedRead + OwnedWrite> {
    tls: TlsStream<S>,
    /// The last `poll_flush` (or `poll_shutdown`) returned `Pending`.
    flush_waiting: bool,
    /// The end of the stream was held back once already.
    eof_held: bool,
}

impl<S: OwnedRead + OwnedWrite> TlsCompat<S> {
    /// The adapter over `tls`.
    pub fn new(tls: TlsStream<S>) -> Self {
        TlsCompat {
            tls,
            flush_waiting: false,
            eof_held: false,
        }
    }

    /// The TLS stream (for its ALPN protocol, peer certificates, ...).
    pub fn get_ref(&self) -> &TlsStream<S> {
        &self.tls
    }

    /// The TLS stream, mutably.
    pub fn get_mut(&mut self) -> &mut TlsStream<S> {
        &mut self.tls
    }

    /// The TLS stream back; nothing is lost, since the adapter holds no bytes of its own.
    pub fn into_inner(self) -> TlsStream<S> {
        self.tls
    }

    /// Copies decrypted bytes into the start of `dst` (receiving more when none are waiting)
    /// and returns how many; `Ok(0)` after the peer's `close_notify` or when `dst` is empty.
    pub fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = crate::copy_to_uninit(ready!(self.tls.poll_fill_buf(cx))?, dst);
        if n == 0 && self.hold_eof(cx) {
            return Poll::Pending;
        }
        self.tls.consume(n);
        Poll::Ready(Ok(n))
    }

    /// [`TlsStream::poll_fill_buf`]: the decrypted bytes waiting, empty at the clean end.
    pub fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let at_end = ready!(self.tls.poll_fill_buf(cx))?.is_empty();
        if at_end && self.hold_eof(cx) {
            return Poll::Pending;
        }
        // The same chunk again, at once (rustls holds it); a second call because the borrow
        // of the first cannot be returned from one branch and outlive the other.
        self.tls.poll_fill_buf(cx)
    }

    /// [`TlsStream::consume`].
    pub fn consume(&mut self, n: usize) {
        self.tls.consume(n);
    }

    /// Whether to hold back the end of the stream for one call, waking the task: when a flush
    /// is waiting, so that it completes first (crate docs, "End of stream").
    fn hold_eof(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.flush_waiting || self.eof_held {
            return false;
        }
        self.eof_held = true;
        cx.waker().wake_by_ref();
        true
    }

    /// Encrypts some of the first non-empty slice ([`TlsStream::poll_write`]).
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        self.tls.poll_write(cx, first)
    }

    /// Encrypts some of `buf` ([`TlsStream::poll_write`]).
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.tls.poll_write(cx, buf)
    }

    /// [`TlsStream::poll_flush`]: every record handed to the stream below, or a send's error.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = self.tls.poll_flush(cx);
        self.flush_waiting = res.is_pending();
        res
    }

    /// [`TlsStream::poll_shutdown_write`]: `close_notify`, flushed, then the write half shut.
    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = self.tls.poll_shutdown_write(cx);
        self.flush_waiting = res.is_pending();
        res
    }
}

impl<S: OwnedRead + OwnedWrite> From<TlsStream<S>> for TlsCompat<S> {
    fn from(tls: TlsStream<S>) -> Self {
        TlsCompat::new(tls)
    }
}

impl<S: OwnedRead + OwnedWrite + fmt::Debug> fmt::Debug for TlsCompat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsCompat").field(&self.tls).finish()
    }
}

// No field is ever pinned: the stream's operations are `Unpin`, and it is only reached through
// `&mut`.
impl<S: OwnedRead + OwnedWrite> Unpin for TlsCompat<S> {}
