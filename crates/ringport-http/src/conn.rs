//! One connection: read a head, read its body, call the handler, write the response, and
//! again while the connection is kept alive. Pipelined requests wait in the read buffer and
//! are answered in order. Generic over the byte stream ([`Transport`]): plain TCP today, TLS
//! through the same code.

use crate::exchange::{Exchange, PeerAddr};
use crate::parse::{parse_head, ChunkedDecoder, Framing, RequestHead};
use crate::response::{error_head, prepare, Asked};
use crate::transport::Transport;
use crate::trigger::{race, Either, Trigger};
use crate::wire::{linger_close, Gone, ReadBuf, Writer};
use crate::{Body, Limits, ParseError};
use bytes::Bytes;
use http::header::{REFERER, USER_AGENT};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use ringport::buf::{BufResult, BufRing, IoBuf};
use ringport::time::timeout;
use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// The hook [`Server::on_response`](crate::Server::on_response) installs.
pub(crate) type ResponseHook = Box<dyn Fn(&Exchange)>;

/// State every connection of one server shares.
pub(crate) struct Shared<H> {
    pub handler: H,
    pub limits: Limits,
    pub shutdown: Trigger,
    pub on_response: Option<ResponseHook>,
    /// Buffers idle connections receive into, lent only while bytes are copied out.
    pub ring: BufRing,
    /// Requests between a complete head and the last byte of their response.
    pub busy: Cell<usize>,
}

/// Why a request ended the connection.
enum Fail {
    /// Answer with the error's status, then close.
    Refuse(ParseError),
    /// Close at once.
    Gone,
}

impl From<Gone> for Fail {
    fn from(_: Gone) -> Self {
        Fail::Gone
    }
}

/// What the access log needs of a request, taken before the handler gets it.
struct Line {
    method: Method,
    /// Only when a log is kept.
    uri: Option<Uri>,
    version: Version,
    received: SystemTime,
    referer: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

struct Conn<T, H> {
    stream: T,
    peer: SocketAddr,
    buf: ReadBuf,
    shared: Rc<Shared<H>>,
}

/// Counts a request as busy until dropped (the response is written, or the task is gone).
struct Busy<'a>(&'a Cell<usize>);

impl<'a> Busy<'a> {
    fn new(count: &'a Cell<usize>) -> Busy<'a> {
        count.set(count.get() + 1);
        Busy(count)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// `Box::pin(make())`, with the allocation made first so the future can be written straight
/// into it: `Box::pin` builds the value on the stack and then copies all of its bytes (the
/// exchange future is a few KiB; that copy was ~1.5 % of a hello server's cycles).
#[inline(always)]
fn pin_in_place<F>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    let mut slot = Box::<F>::new_uninit();
    slot.write(make());
    // SAFETY: `write` just initialised the value.
    Box::into_pin(unsafe { slot.assume_init() })
}

/// Serves one connection until it closes, the client is too slow, or the server shuts down.
pub(crate) async fn serve<T, H, F>(stream: T, peer: SocketAddr, shared: Rc<Shared<H>>)
where
    T: Transport,
    H: Fn(Request<Bytes>) -> F,
    F: Future<Output = Response<Body>>,
{
    let mut conn = Conn {
        stream,
        peer,
        buf: ReadBuf::default(),
        shared,
    };
    let mut first = true;
    loop {
        let head = match conn.read_head(first).await {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                let start = conn.log_start();
                Box::pin(conn.refuse(e, None, start)).await;
                break;
            }
        };
        first = false;
        // Boxed: the handler's future and the response's writes take a few KiB that an idle
        // keep-alive connection should not hold (its task is then only what waiting for the
        // next head needs: about half a KiB).
        if !pin_in_place(|| conn.exchange(head)).await {
            break;
        }
    }
    // The transport's goodbye (TLS: close_notify and its last records; TCP: nothing), within
    // the time one write may take.
    let limit = conn.shared.limits.write_timeout;
    let _ = timeout(limit, conn.stream.close()).await;
}

impl<T, H, F> Conn<T, H>
where
    T: Transport,
    H: Fn(Request<Bytes>) -> F,
    F: Future<Output = Response<Body>>,
{
    /// Waits for a complete head. `Ok(None)`: close quietly (end of stream, an idle
    /// keep-alive connection timing out, or shutdown while idle).
    async fn read_head(&mut self, first: bool) -> Result<Option<RequestHead>, ParseError> {
        let shared = self.shared.clone();
        let limits = &shared.limits;
        // A first request must arrive within the header timeout; a later one may be awaited
        // for the keep-alive timeout, and then has the header timeout from its first byte.
        // The clock is read only to set or check the header deadline: a keep-alive request
        // whose head comes in one read costs no reading here beyond the timeout's own.
        let mut deadline: Option<Instant> = None;
        loop {
            if !self.buf.data().is_empty() {
                if let Some((head, used)) = parse_head(self.buf.data(), limits)? {
                    self.buf.consume(used);
                    return Ok(Some(head));
                }
            }
            // Bytes stay in the buffer until a whole head is parsed, so an empty buffer on a
            // later request means none of the next head has come yet: the keep-alive wait.
            let idle = self.buf.data().is_empty();
            let left = match deadline {
                Some(until) => until.saturating_duration_since(Instant::now()),
                None if idle && !first => limits.keep_alive_timeout,
                None => {
                    deadline = Some(Instant::now() + limits.header_timeout);
                    limits.header_timeout
                }
            };
            // The read is built inside each branch, not once before them: a future moved into
            // another one would have its room taken twice in this one's state (which every
            // idle connection holds).
            let (stream, ring) = (&mut self.stream, &shared.ring);
            let outcome = if idle {
                let read = timeout(left, self.buf.fill(stream, ring));
                race(shared.shutdown.wait(), read).await
            } else {
                Either::Right(timeout(left, self.buf.fill(stream, ring)).await)
            };
            match outcome {
                Either::Left(()) => return Ok(None),
                Either::Right(Err(_)) if idle && !first => return Ok(None),
                Either::Right(Err(_)) => return Err(ParseError::Timeout),
                Either::Right(Ok(Ok(0) | Err(_))) => return Ok(None),
                Either::Right(Ok(Ok(_))) => {}
            }
        }
    }

    /// Serves one request; whether the connection stays open.
    async fn exchange(&mut self, head: RequestHead) -> bool {
        let shared = self.shared.clone();
        let _busy = Busy::new(&shared.busy);
        let start = self.log_start();
        let line = self.line(&head.request);
        let body = match self.read_body(&head).await {
            Ok(body) => body,
            Err(Fail::Refuse(e)) => {
                self.refuse(e, Some(line), start).await;
                return false;
            }
            Err(Fail::Gone) => return false,
        };
        let mut request = head.request.map(|()| body);
        request.extensions_mut().insert(PeerAddr(self.peer));
        let response = (shared.handler)(request).await;
        let keep_alive = head.keep_alive && !shared.shutdown.is_fired();
        let prepared = prepare(response, Asked::new(&line.method, line.version, keep_alive));
        let (status, keep_alive) = (prepared.status, prepared.keep_alive);
        let mut writer = self.writer();
        let sent = writer.response(prepared.head, prepared.payload).await;
        let body_bytes = writer.sent;
        self.log(Some(line), status, body_bytes, start);
        sent.is_ok() && keep_alive && !shared.shutdown.is_fired()
    }

    /// The request line and the fields the access log shows (only when one is kept).
    fn line(&self, req: &Request<()>) -> Line {
        let logged = self.shared.on_response.is_some();
        let field = |name| logged.then(|| req.headers().get(name).cloned()).flatten();
        Line {
            method: req.method().clone(),
            uri: logged.then(|| req.uri().clone()),
            version: req.version(),
            received: if logged {
                SystemTime::now()
            } else {
                SystemTime::UNIX_EPOCH
            },
            referer: field(REFERER),
            user_agent: field(USER_AGENT),
        }
    }

    fn writer(&mut self) -> Writer<'_, T> {
        Writer {
            stream: &mut self.stream,
            timeout: self.shared.limits.write_timeout,
            sent: 0,
        }
    }

    async fn read_body(&mut self, head: &RequestHead) -> Result<Bytes, Fail> {
        if head.framing == Framing::None {
            return Ok(Bytes::new());
        }
        // The client waits for a go-ahead, unless it has started sending anyway.
        if head.expect_continue && self.buf.data().is_empty() {
            self.writer()
                .all(b"HTTP/1.1 100 Continue\r\n\r\n".as_slice())
                .await?;
        }
        match head.framing {
            Framing::Length(n) => self.read_length(n).await,
            _ => self.read_chunked().await,
        }
    }

    /// `n` bytes (already checked against the body limit), growing the buffer as they come,
    /// so a client cannot reserve memory by announcing a length it never sends.
    async fn read_length(&mut self, n: u64) -> Result<Bytes, Fail> {
        let n = usize::try_from(n).map_err(|_| Fail::Refuse(ParseError::BodyTooLarge))?;
        let have = n.min(self.buf.data().len());
        let mut body = self.buf.data()[..have].to_vec();
        self.buf.consume(have);
        let clock = BodyClock::start(self.shared.limits.read_timeout);
        while body.len() < n {
            let len = body.len();
            if body.capacity() == len {
                body.reserve((n - len).min(len.max(64 * 1024)));
            }
            let end = body.capacity().min(n);
            let read = self.stream.read(body.slice(len..end));
            let wait = clock.next(len).ok_or(Fail::Refuse(ParseError::Timeout))?;
            match timeout(wait, read).await {
                Err(_) => return Err(Fail::Refuse(ParseError::Timeout)),
                Ok(BufResult(Ok(0) | Err(_), _)) => return Err(Fail::Gone),
                Ok(BufResult(Ok(_), slice)) => body = slice.into_inner(),
            }
        }
        Ok(body.into())
    }

    async fn read_chunked(&mut self) -> Result<Bytes, Fail> {
        let shared = self.shared.clone();
        let limits = &shared.limits;
        let mut decoder = ChunkedDecoder::new(limits.max_body_bytes);
        let mut body = Vec::new();
        let clock = BodyClock::start(limits.read_timeout);
        loop {
            let used = decoder
                .decode(self.buf.data(), &mut body)
                .map_err(Fail::Refuse)?;
            self.buf.consume(used);
            if decoder.is_done() {
                return Ok(body.into());
            }
            let fill = self.buf.fill(&mut self.stream, &shared.ring);
            let wait = clock
                .next(body.len())
                .ok_or(Fail::Refuse(ParseError::Timeout))?;
            match timeout(wait, fill).await {
                Err(_) => return Err(Fail::Refuse(ParseError::Timeout)),
                Ok(Ok(0) | Err(_)) => return Err(Fail::Gone),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Answers `e` with its status and closes.
    async fn refuse(&mut self, e: ParseError, line: Option<Line>, start: Option<Instant>) {
        let (response, body_bytes) = error_head(e.status(), &e.to_string());
        let ok = self.writer().all(response).await.is_ok();
        self.log(line, e.status(), if ok { body_bytes } else { 0 }, start);
        if ok {
            linger_close(&mut self.stream, &self.shared.ring, &mut self.buf).await;
        }
    }

    /// When an exchange started, for the access log's elapsed time: only read when a log is
    /// kept (the clock is not free, and a keep-alive request reads it little enough already).
    fn log_start(&self) -> Option<Instant> {
        self.shared.on_response.is_some().then(Instant::now)
    }

    fn log(&self, line: Option<Line>, status: StatusCode, body_bytes: u64, start: Option<Instant>) {
        let (Some(hook), Some(start)) = (&self.shared.on_response, start) else {
            return;
        };
        let (method, uri, version, received, referer, user_agent) = match line {
            Some(l) => (
                Some(l.method),
                l.uri,
                Some(l.version),
                l.received,
                l.referer,
                l.user_agent,
            ),
            None => (None, None, None, SystemTime::now(), None, None),
        };
        hook(&Exchange {
            peer: self.peer,
            method,
            uri,
            version,
            status,
            body_bytes,
            elapsed: start.elapsed(),
            received,
            referer,
            user_agent,
        });
    }
}

/// The slowest a request body may come on average once its first `read_timeout` is spent:
/// each byte received buys one more millisecond (1,000 bytes/s, Apache's `mod_reqtimeout`
/// works alike). Without it, a body trickled a byte per `read_timeout` would hold a
/// connection for `max_body_bytes` timeouts.
const MIN_BODY_RATE: f64 = 1000.0;

/// The time a request body has left: the read timeout for each read, within a total that
/// grows with the bytes received ([`MIN_BODY_RATE`]).
struct BodyClock {
    start: Instant,
    read_timeout: Duration,
}

impl BodyClock {
    fn start(read_timeout: Duration) -> BodyClock {
        BodyClock {
            start: Instant::now(),
            read_timeout,
        }
    }

    /// The longest the next read may wait, `received` bytes into the body; `None` once the
    /// body is slower than the rate allows.
    fn next(&self, received: usize) -> Option<Duration> {
        let allowed = self.read_timeout + Duration::from_secs_f64(received as f64 / MIN_BODY_RATE);
        let left = allowed.checked_sub(self.start.elapsed())?;
        (!left.is_zero()).then(|| left.min(self.read_timeout))
    }
}

#[cfg(test)]
mod tests {
    /// What an idle connection's task holds: the future of `serve` while it waits for a head.
    #[test]
    fn an_idle_connection_is_small() {
        let rt = ringport::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = std::rc::Rc::new(crate::files::ServeDir::new(".").unwrap());
            let handler = move |req: http::Request<bytes::Bytes>| {
                let dir = dir.clone();
                async move { dir.handle(&req).await }
            };
            let shared = std::rc::Rc::new(super::Shared {
                handler,
                limits: crate::Limits::default(),
                shutdown: crate::trigger::Trigger::default(),
                on_response: None,
                ring: ringport::buf::BufRing::new(4, 1024).unwrap(),
                busy: std::cell::Cell::new(0),
            });
            let l = ringport::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let s = ringport::net::TcpStream::connect(l.local_addr().unwrap())
                .await
                .unwrap();
            let peer = s.peer_addr().unwrap();
            let fut = super::serve(s, peer, shared);
            let size = std::mem::size_of_val(&fut);
            assert!(size <= 1024, "an idle connection's future is {size} bytes");
        });
    }
}
