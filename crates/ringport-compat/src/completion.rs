//! `Compat`: poll-style reads and writes over completion-style operations that the adapter
//! owns, with buffers of its own.

use ringport::buf::{BufResult, IoBuf, Slice};
use ringport::io::{OwnedRead, OwnedWrite, SocketReadiness};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The read buffer's size: the most one read hands the kernel.
pub const DEFAULT_READ_CAPACITY: usize = 16 * 1024;
/// How many bytes the write side buffers before `poll_write` returns `Pending`.
pub const DEFAULT_WRITE_LIMIT: usize = 64 * 1024;
/// The write buffer's first allocation (it grows up to the limit).
const FIRST_WRITE_CAPACITY: usize = 4 * 1024;

/// The completion-mode adapter: futures-io, tokio::io and `hyper::rt` traits over a ringport
/// stream with owned reads and writes ([`OwnedRead`] + [`OwnedWrite`]: every socket stream,
/// or a stream of your own), see the [crate docs](crate) for when writes report their errors.
///
/// The adapter keeps at most one read and one write (or shutdown) in flight, as the stream's
/// own `'static` op futures, and starts a read only after the previous one completed; a write
/// likewise.
///
/// ```no_run
/// # #[cfg(feature = "tokio-io")]
/// # async fn demo(stream: ringport::net::TcpStream) -> std::io::Result<()> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let mut io = ringport_compat::Compat::new(stream);
/// io.write_all(b"hello").await?;
/// io.shutdown().await?; // flushes first
/// let mut rest = Vec::new();
/// io.read_to_end(&mut rest).await?;
/// # Ok(()) }
/// ```
pub struct Compat<S: OwnedRead + OwnedWrite> {
    io: S,
    rd: Reader<S::ReadFuture<Vec<u8>>>,
    wr: Writer<S, S::WriteFuture<Slice<Vec<u8>>>, S::ShutdownFuture>,
}

/// The read side: bytes `buf[pos..]` not yet handed out, or the read in flight.
struct Reader<R> {
    /// `None` while the buffer is inside the read in flight.
    buf: Option<Vec<u8>>,
    pos: usize,
    op: Option<R>,
    capacity: usize,
    /// A read ended the stream while a flush was waiting; the next call reports it.
    held_eof: bool,
}

/// The write side: bytes accepted (`buf`), the write in flight with the other buffer, the
/// error of a write that failed, not yet reported.
struct Writer<S, W, D> {
    buf: Vec<u8>,
    op: Option<W>,
    /// The buffer of the last finished write, cleared, for the next swap.
    spare: Option<Vec<u8>>,
    err: Option<io::Error>,
    limit: usize,
    shutdown: Shutdown<D>,
    /// The stream's non-blocking write, tried first when nothing is queued (sockets only).
    direct: Option<TryWrite<S>>,
    /// The last direct write found the stream full: queue until a queued write finishes.
    full: bool,
    /// The last `poll_flush` returned `Pending`.
    flush_waiting: bool,
}

/// A non-blocking vectored write: `WouldBlock` when the stream is full.
type TryWrite<S> = fn(&S, &[IoSlice<'_>]) -> io::Result<usize>;

enum Shutdown<D> {
    Open,
    InFlight(D),
    Done,
}

// No field is ever pinned: the operations are `Unpin`, and the stream is only reached through
// `&mut`.
impl<S: OwnedRead + OwnedWrite> Unpin for Compat<S> {}

impl<S: OwnedRead + OwnedWrite> Compat<S> {
    /// The adapter with a [`DEFAULT_READ_CAPACITY`] read buffer and a
    /// [`DEFAULT_WRITE_LIMIT`] write limit. Buffers are allocated on first use.
    pub fn new(io: S) -> Self {
        Self::with_capacity(DEFAULT_READ_CAPACITY, DEFAULT_WRITE_LIMIT, io)
    }

    /// The adapter with a read buffer of `read` bytes and at most `write_limit` bytes buffered
    /// for writing (both at least 1).
    pub fn with_capacity(read: usize, write_limit: usize, io: S) -> Self {
        Compat {
            io,
            rd: Reader {
                buf: None,
                pos: 0,
                op: None,
                capacity: read.max(1),
                held_eof: false,
            },
            wr: Writer {
                buf: Vec::new(),
                op: None,
                spare: None,
                err: None,
                limit: write_limit.max(1),
                shutdown: Shutdown::Open,
                direct: None,
                full: false,
                flush_waiting: false,
            },
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream, mutably. Reading or writing it directly while the adapter holds bytes or
    /// has operations in flight mixes the byte streams.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Whether bytes accepted by `poll_write` have not reached the kernel yet.
    pub fn has_pending_write(&self) -> bool {
        !self.wr.buf.is_empty() || self.wr.op.is_some()
    }

    /// The stream back, with the bytes read but not yet handed out. `Err(self)` while a read
    /// or write is in flight or bytes wait to be written (flush first).
    pub fn into_inner(self) -> Result<(S, Vec<u8>), Self> {
        if self.rd.op.is_some() || self.has_pending_write() {
            return Err(self);
        }
        let rest = match self.rd.buf {
            Some(buf) => buf[self.rd.pos..].to_vec(),
            None => Vec::new(),
        };
        Ok((self.io, rest))
    }

    /// The bytes read and not yet handed out, reading more when there are none: an empty
    /// slice means end of stream. [`consume`](Self::consume) marks bytes as handed out.
    ///
    /// The read in flight stays in the adapter when this returns `Pending`: calling again
    /// later (or never) loses no byte.
    pub fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let rd = &mut self.rd;
        loop {
            if let Some(op) = &mut rd.op {
                let BufResult(res, buf) = ready!(Pin::new(op).poll(cx));
                rd.op = None;
                rd.buf = Some(buf);
                rd.pos = 0;
                match res {
                    // The end of the stream, in the same turn as the completion a waiting
                    // flush needs: let the flush finish first (crate docs, "End of stream").
                    Ok(0) if self.wr.flush_waiting => {
                        rd.held_eof = true;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    Ok(_) => break,
                    Err(e) => {
                        if let Some(buf) = &mut rd.buf {
                            buf.clear();
                        }
                        return Poll::Ready(Err(e));
                    }
                }
            }
            let held = std::mem::take(&mut rd.held_eof);
            if held || rd.buf.as_ref().is_some_and(|b| rd.pos < b.len()) {
                break;
            }
            let mut buf = rd
                .buf
                .take()
                .unwrap_or_else(|| Vec::with_capacity(rd.capacity));
            buf.clear();
            rd.op = Some(self.io.read_owned(buf));
        }
        let buf = rd.buf.as_deref().unwrap_or_default();
        Poll::Ready(Ok(&buf[rd.pos..]))
    }

    /// Marks `n` bytes of [`poll_fill_buf`](Self::poll_fill_buf)'s slice as handed out.
    pub fn consume(&mut self, n: usize) {
        let len = self.rd.buf.as_ref().map_or(0, Vec::len);
        self.rd.pos = (self.rd.pos + n).min(len);
    }

    /// Copies read bytes into the start of `dst` (reading more when none are waiting) and
    /// returns how many; `Ok(0)` at end of stream or when `dst` is empty. Only the bytes
    /// copied are written: nothing is zero-filled first.
    pub fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let avail = ready!(self.poll_fill_buf(cx))?;
        let n = crate::copy_to_uninit(avail, dst);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Accepts bytes from `bufs` in order, up to the write limit; `Pending` (taking nothing)
    /// only when the buffer is full. An earlier write's error comes out here first.
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !matches!(self.wr.shutdown, Shutdown::Open) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        // Finish what the kernel already did: frees room, surfaces an error.
        if let Err(e) = self.progress(cx) {
            return Poll::Ready(Err(e));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let wr = &mut self.wr;
        match wr.direct {
            Some(try_write) if !wr.full && wr.op.is_none() && wr.buf.is_empty() => {
                match try_write(&self.io, bufs) {
                    Ok(n) => {
                        // A short write means the socket is full: queue until it drains.
                        wr.full = n < total;
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => wr.full = true,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            _ => {}
        }
        let room = wr.limit.saturating_sub(wr.buf.len());
        if room == 0 {
            // Full: a write is in flight (progress submits whenever none is), and it was
            // polled with this waker just now.
            return Poll::Pending;
        }
        if wr.buf.capacity() == 0 {
            let want = total.max(FIRST_WRITE_CAPACITY).min(wr.limit);
            wr.buf = wr.spare.take().unwrap_or_else(|| Vec::with_capacity(want));
        }
        let mut taken = 0;
        for b in bufs {
            let n = b.len().min(room - taken);
            wr.buf.extend_from_slice(&b[..n]);
            taken += n;
            if taken == room {
                break;
            }
        }
        // Start the write now when none is in flight; its error waits for the next call.
        if let Err(e) = self.progress(cx) {
            self.wr.err = Some(e);
        }
        Poll::Ready(Ok(taken))
    }

    /// [`poll_write_vectored`](Self::poll_write_vectored) with one slice.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Waits until the kernel has taken every accepted byte; reports a write's error.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = self.progress(cx);
        self.wr.flush_waiting = res.is_ok() && self.has_pending_write();
        if self.wr.flush_waiting {
            return Poll::Pending;
        }
        Poll::Ready(res)
    }

    /// Flushes, then shuts the writing side down (once; later calls return `Ok`).
    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.wr.shutdown {
                Shutdown::Done => return Poll::Ready(Ok(())),
                Shutdown::InFlight(op) => {
                    let res = ready!(Pin::new(op).poll(cx));
                    self.wr.shutdown = Shutdown::Done;
                    return Poll::Ready(res);
                }
                Shutdown::Open => {
                    ready!(self.poll_flush(cx))?;
                    self.wr.shutdown = Shutdown::InFlight(self.io.shutdown_write_owned());
                }
            }
        }
    }

    /// Moves the write side on without waiting: completes the write in flight if the kernel
    /// is done with it (resubmitting what it did not take), then starts the next one when
    /// bytes wait. Returns (and clears) the error of a write that failed.
    fn progress(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let wr = &mut self.wr;
        if let Some(e) = wr.err.take() {
            return Err(e);
        }
        loop {
            if let Some(op) = &mut wr.op {
                let Poll::Ready(BufResult(res, slice)) = Pin::new(op).poll(cx) else {
                    return Ok(());
                };
                wr.op = None;
                let (begin, end) = (slice.begin(), slice.end());
                let mut buf = slice.into_inner();
                match res {
                    Ok(n) if n > 0 && begin + n < end => {
                        // A short write: the rest goes next, before anything accepted since.
                        wr.op = Some(self.io.write_owned(buf.slice(begin + n..end)));
                        continue;
                    }
                    Ok(n) if n > 0 => {
                        buf.clear();
                        wr.spare = Some(buf);
                        // The kernel took a whole queued write: there is room again.
                        wr.full = false;
                    }
                    Ok(_) => {
                        wr.buf.clear();
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the stream took 0 bytes",
                        ));
                    }
                    Err(e) => {
                        // The connection is broken: what was buffered behind it is dropped.
                        wr.buf.clear();
                        buf.clear();
                        wr.spare = Some(buf);
                        return Err(e);
                    }
                }
            }
            if wr.buf.is_empty() {
                return Ok(());
            }
            let next = wr.spare.take().unwrap_or_default();
            let buf = std::mem::replace(&mut wr.buf, next);
            let len = buf.len();
            wr.op = Some(self.io.write_owned(buf.slice(..len)));
        }
    }
}

impl<S: SocketReadiness> Compat<S> {
    /// Whether a write with nothing queued ahead of it first tries the socket's own
    /// non-blocking send ([`SocketReadiness::try_send_vectored`]; off by default). The bytes it
    /// takes are not copied, and its error is returned at once; what it leaves goes through the
    /// buffer as usual. Off: every write is copied and sent by a write operation, submitted
    /// with the loop's other operations in its one kernel entry per turn.
    pub fn direct_writes(mut self, on: bool) -> Self {
        self.wr.direct = on.then_some(try_send::<S> as TryWrite<S>);
        self
    }
}

/// The socket's non-blocking send, as [`Compat::direct_writes`] stores it.
fn try_send<S: SocketReadiness>(io: &S, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    match bufs {
        [one] => io.try_send(one),
        _ => io.try_send_vectored(bufs),
    }
}

impl<S: OwnedRead + OwnedWrite + fmt::Debug> fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat")
            .field("io", &self.io)
            .field("reading", &self.rd.op.is_some())
            .field("buffered_to_write", &self.wr.buf.len())
            .field("writing", &self.wr.op.is_some())
            .finish()
    }
}
