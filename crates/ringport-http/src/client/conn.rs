//! One client connection's bytes: the request written whole, the response head read and
//! parsed, and the body read completion-style into the caller's owned buffers (bytes left
//! over from the head are copied; the rest is received straight into the caller's buffer).

use crate::parse::{parse_response, ChunkedDecoder, ResponseFraming, ResponseHead};
use crate::ParseError;
use ringport::buf::{BufResult, IoBuf, IoBufMut};
use ringport::cancel::{is_cancelled, with_timeout};
use ringport::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

/// The least free space offered to one read of a head.
const HEAD_READ: usize = 16 * 1024;
/// The most interim (1xx) responses skipped before a final one: a server that sends them
/// without end would otherwise hold the request forever, each one resetting the read timeout.
const MAX_INTERIM: usize = 32;

/// When reads and writes must end: the request's deadline, and the longest wait for one read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    pub deadline: Option<Instant>,
    pub read_timeout: Option<Duration>,
}

impl Limits {
    /// The longest the next operation may take (`None`: no limit).
    fn next(&self) -> Option<Duration> {
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        match (left, self.read_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Runs an owned-buffer operation under `limit`: on expiry it is cancelled (the buffer comes
/// back) and the error is `TimedOut`.
pub(crate) async fn timed<T, B>(
    limit: Option<Duration>,
    op: impl Future<Output = BufResult<T, B>>,
) -> BufResult<T, B> {
    let Some(limit) = limit else {
        return op.await;
    };
    let start = Instant::now();
    let BufResult(res, buf) = with_timeout(limit, op).await;
    match res {
        Err(e) if is_cancelled(&e) && start.elapsed() >= limit => {
            let msg = format!("no data from the server for {:.1} s", limit.as_secs_f64());
            BufResult(Err(io::Error::new(io::ErrorKind::TimedOut, msg)), buf)
        }
        other => BufResult(other, buf),
    }
}

/// A parse error's words for a response: its `Display` speaks of requests (the server's
/// 400s), and a client reporting "bad request" about a server's answer misleads.
pub(crate) fn about_response(e: &ParseError) -> String {
    match e {
        ParseError::Malformed(why) => why.to_string(),
        ParseError::HeadTooLarge => "the response head is too large".into(),
        ParseError::UriTooLong => "the status line is too long".into(),
        other => other.to_string(),
    }
}

/// Why reading a head failed.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The connection ended (or was reset) before any byte of a response: on a reused
    /// connection, the server had closed it while it sat in the pool.
    Closed(io::Error),
    /// A read failed or timed out.
    Io(io::Error),
    /// The bytes are not an HTTP response.
    Parse(ParseError),
    /// The bytes are a TLS record: a plain-HTTP request reached a TLS port.
    Tls,
}

/// A connection and the bytes received on it that are not consumed yet.
#[derive(Debug)]
pub(crate) struct Conn<S> {
    pub stream: S,
    buf: Vec<u8>,
    pos: usize,
}

impl<S: AsyncRead + AsyncWrite> Conn<S> {
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Received bytes not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` buffered bytes consumed.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Writes a request's head and body, and flushes them (a TLS stream's last record).
    pub async fn send(&mut self, head: Vec<u8>, limits: Limits) -> io::Result<()> {
        let BufResult(res, _) = timed(limits.next(), self.stream.write_all(head)).await;
        res?;
        self.stream.flush().await
    }

    /// Reads until a whole final response head is buffered, skipping interim (1xx) ones.
    pub async fn read_head(
        &mut self,
        limits: Limits,
        max_head: usize,
        max_headers: usize,
    ) -> Result<ResponseHead, HeadError> {
        let mut any = false;
        let mut interim = 0;
        // The whole head, interim ones included, must come within one read timeout: a server
        // trickling it a byte at a time would otherwise reset the timeout with every byte.
        let head_end = limits.read_timeout.map(|t| Instant::now() + t);
        let limits = Limits {
            deadline: match (limits.deadline, head_end) {
                (Some(d), Some(h)) => Some(d.min(h)),
                (d, h) => d.or(h),
            },
            ..limits
        };
        loop {
            if !self.buffered().is_empty() {
                any = true;
                match parse_response(self.buffered(), max_head, max_headers) {
                    Err(_) if looks_like_tls(self.buffered()) => return Err(HeadError::Tls),
                    Err(e) => return Err(HeadError::Parse(e)),
                    Ok(Some((head, used))) => {
                        self.consume(used);
                        if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                            // The client never asks for an upgrade (RFC 9110 §15.2.2: a server
                            // must not switch unasked); what follows is not HTTP/1.1.
                            return Err(HeadError::Parse(ParseError::Malformed(
                                "the server switched protocols (101) without being asked to",
                            )));
                        }
                        if head.status.is_informational() {
                            interim += 1;
                            if interim > MAX_INTERIM {
                                return Err(HeadError::Parse(ParseError::Malformed(
                                    "more than 32 interim (1xx) responses before a final one",
                                )));
                            }
                            continue;
                        }
                        return Ok(head);
                    }
                    Ok(None) => {}
                }
            }
            match self.fill(limits).await {
                Ok(0) if any => {
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a head");
                    return Err(HeadError::Io(e));
                }
                Ok(0) => {
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection without a response",
                    );
                    return Err(HeadError::Closed(e));
                }
                Ok(_) => {}
                Err(e) if !any && is_reset(&e) => return Err(HeadError::Closed(e)),
                // The head's own deadline passed (not the request's, nor a silent read).
                Err(e)
                    if any
                        && e.kind() == io::ErrorKind::TimedOut
                        && head_end.is_some_and(|end| Instant::now() >= end) =>
                {
                    let secs = limits.read_timeout.map_or(0.0, |t| t.as_secs_f64());
                    let msg = format!(
                        "the response head did not arrive whole within {secs:.1} s (the read \
                         timeout)"
                    );
                    return Err(HeadError::Io(io::Error::new(io::ErrorKind::TimedOut, msg)));
                }
                Err(e) => return Err(HeadError::Io(e)),
            }
        }
    }

    /// Reads once more into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self, limits: Limits) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < HEAD_READ {
            self.buf.reserve(HEAD_READ);
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let BufResult(res, slice) = timed(limits.next(), self.stream.read(buf.slice(len..))).await;
        self.buf = slice.into_inner();
        res
    }
}

/// The connection ended before any byte of a response. `UnexpectedEof` is a TLS server that
/// closed its idle connection without `close_notify`: as good as a close here, since no
/// response was cut short.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// A TLS record header (content type 20..=24, major version 3): what a TLS server sends back
/// (an alert) when plain HTTP reaches it.
fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && (0x14..=0x18).contains(&b[0]) && b[1] == 3 && b[2] <= 4
}

/// Where a body stands.
#[derive(Debug, Clone)]
pub(crate) enum BodyState {
    /// `left` bytes to go.
    Length { left: u64 },
    /// A chunked body being decoded.
    Chunked(ChunkedDecoder),
    /// Until the server closes.
    UntilClose,
    /// Read to its end.
    Done,
}

impl BodyState {
    pub fn new(framing: ResponseFraming) -> BodyState {
        match framing {
            ResponseFraming::None | ResponseFraming::Length(0) => BodyState::Done,
            ResponseFraming::Length(n) => BodyState::Length { left: n },
            ResponseFraming::Chunked => BodyState::Chunked(ChunkedDecoder::new(u64::MAX)),
            ResponseFraming::UntilClose => BodyState::UntilClose,
        }
    }
}

/// Reads the next body bytes into the start of `buf` (at most its capacity); `Ok(0)` at the
/// end of the body. The first `n` bytes of `buf` are the data.
pub(crate) async fn read_body<S: AsyncRead + AsyncWrite, B: IoBufMut>(
    conn: &mut Conn<S>,
    state: &mut BodyState,
    mut buf: B,
    limits: Limits,
) -> BufResult<usize, B> {
    let cap = buf.bytes_total();
    loop {
        // A body's last read asks for the whole buffer too: bytes past the end (a server
        // that sent more than its Content-Length said) are kept aside, where `excess` sees
        // them, instead of being left unread in the socket.
        let want = match state {
            BodyState::Done => return BufResult(Ok(0), buf),
            BodyState::Length { .. } | BodyState::Chunked(_) | BodyState::UntilClose => cap,
        };
        if want == 0 {
            return BufResult(Ok(0), buf);
        }
        // Raw bytes into `buf[..raw]`: left over from the head first, else from the socket.
        let (raw, from_buffer) = if conn.buffered().is_empty() {
            let BufResult(res, slice) =
                timed(limits.next(), conn.stream.read(buf.slice(..want))).await;
            buf = slice.into_inner();
            match res {
                Ok(n) => (n, false),
                Err(e) => return BufResult(Err(e), buf),
            }
        } else {
            let n = want.min(conn.buffered().len());
            // SAFETY: `buf` owns at least `cap >= n` writable bytes at its stable pointer; the
            // source is `n` initialised bytes of the connection's own, separate buffer; after
            // the copy the first `n` bytes of `buf` are initialised.
            unsafe {
                std::ptr::copy_nonoverlapping(conn.buffered().as_ptr(), buf.stable_mut_ptr(), n);
                buf.set_init(n);
            }
            (n, true)
        };
        match state {
            BodyState::Length { left } => {
                let mut raw = raw;
                let body = usize::try_from(*left).unwrap_or(usize::MAX);
                if raw > body {
                    if from_buffer {
                        conn.consume(body);
                    } else {
                        // SAFETY: the first `raw` bytes of `buf` were just received.
                        let got = unsafe { std::slice::from_raw_parts(buf.stable_ptr(), raw) };
                        let rest = got[body..].to_vec();
                        conn.unread(&rest);
                    }
                    raw = body;
                } else if from_buffer {
                    conn.consume(raw);
                }
                if raw == 0 {
                    let msg = format!(
                        "the server closed the connection {left} bytes before the end of the body"
                    );
                    return BufResult(Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg)), buf);
                }
                *left -= raw as u64;
                if *left == 0 {
                    *state = BodyState::Done;
                }
                return BufResult(Ok(raw), buf);
            }
            BodyState::UntilClose => {
                if from_buffer {
                    conn.consume(raw);
                }
                if raw == 0 {
                    *state = BodyState::Done;
                }
                return BufResult(Ok(raw), buf);
            }
            BodyState::Chunked(dec) => {
                if raw == 0 {
                    let msg = "the server closed the connection inside a chunked body";
                    return BufResult(Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg)), buf);
                }
                // SAFETY: the first `raw` bytes of `buf` were just initialised (read or
                // copied), and we hold `buf` exclusively.
                let bytes = unsafe { std::slice::from_raw_parts_mut(buf.stable_mut_ptr(), raw) };
                let (used, data) = match dec.decode_in_place(bytes) {
                    Ok(r) => r,
                    Err(e) => {
                        let e = io::Error::new(io::ErrorKind::InvalidData, about_response(&e));
                        return BufResult(Err(e), buf);
                    }
                };
                if from_buffer {
                    conn.consume(used);
                } else if used < raw {
                    // The body ended inside this read: keep what followed for the caller to
                    // see (a server that sent more than one response's worth).
                    let rest = bytes[used..raw].to_vec();
                    conn.unread(&rest);
                }
                if dec.is_done() {
                    *state = BodyState::Done;
                }
                if data > 0 || matches!(state, BodyState::Done) {
                    return BufResult(Ok(data), buf);
                }
            }
            BodyState::Done => unreachable!("handled at the top of the loop"),
        }
    }
}

impl<S> Conn<S> {
    /// Puts bytes back in front of the buffered ones.
    fn unread(&mut self, bytes: &[u8]) {
        let mut v = bytes.to_vec();
        v.extend_from_slice(&self.buf[self.pos..]);
        self.buf = v;
        self.pos = 0;
    }
}
