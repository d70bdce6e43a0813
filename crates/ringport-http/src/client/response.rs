//! `Response`: status, headers, what they say about ranges and validators, and the body read
//! completion-style into owned buffers (or written straight into a file at an offset).

use super::conn::{read_body, BodyState, Limits};
use super::pool::Lease;
use super::{Error, Kind, Url};
use crate::parse::ContentRange;
use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{StatusCode, Version};
use ringport::buf::{BufResult, IoBufMut};
use ringport::fs::File;
use ringport::io::{AsyncRead, AsyncWrite, ProgressRecorder};
use std::fmt;
use std::future::Future;
use std::io;

/// How much of a redirect's body is read (and dropped) to keep its connection; a longer one
/// closes the connection instead.
const DRAIN_LIMIT: u64 = 64 * 1024;
/// The buffer `bytes`, `chunk` and `save_to` read with.
const READ_BUF: usize = 256 * 1024;

/// A response whose head has arrived; the body follows on the connection.
///
/// The connection goes back to the pool as soon as the body has been read to its end (when
/// the server allows keep-alive); a response dropped earlier closes it.
pub struct Response<S> {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) url: Url,
    pub(crate) redirects: Vec<Url>,
    pub(crate) body: Body<S>,
}

/// The body's side of a response: the leased connection and where the framing stands.
pub(crate) struct Body<S> {
    pub lease: Option<Lease<S>>,
    pub state: BodyState,
    pub keep_alive: bool,
    pub limits: Limits,
    pub received: u64,
    /// Bytes found after the end of the body (a server that sent more than it declared).
    pub excess: usize,
}

impl<S> fmt::Debug for Response<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url.to_string())
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite> Response<S> {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// HTTP/1.0 or HTTP/1.1.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL that answered (after redirects).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The redirects followed to get here, in order (empty when none).
    pub fn redirects(&self) -> &[Url] {
        &self.redirects
    }

    /// The body's length, when the framing says it (`Content-Length`, or 0 for no body).
    pub fn content_length(&self) -> Option<u64> {
        match self.body.state {
            BodyState::Done if self.body.received == 0 => Some(0),
            BodyState::Length { left } => Some(left + self.body.received),
            BodyState::Done => Some(self.body.received),
            _ => None,
        }
    }

    /// The `Content-Range` of a 206 or 416, when present and well formed.
    pub fn content_range(&self) -> Option<ContentRange> {
        let v = self.headers.get(header::CONTENT_RANGE)?;
        ContentRange::parse(v.as_bytes())
    }

    /// Whether the server says it serves byte ranges (`Accept-Ranges: bytes`, or a 206).
    pub fn accepts_ranges(&self) -> bool {
        self.status == StatusCode::PARTIAL_CONTENT
            || self
                .headers
                .get_all(header::ACCEPT_RANGES)
                .iter()
                .any(|v| v.as_bytes().eq_ignore_ascii_case(b"bytes"))
    }

    /// The `ETag`, as sent (weak ones start with `W/`).
    pub fn etag(&self) -> Option<&str> {
        self.headers.get(header::ETAG)?.to_str().ok()
    }

    /// The `Last-Modified` date, as sent.
    pub fn last_modified(&self) -> Option<&str> {
        self.headers.get(header::LAST_MODIFIED)?.to_str().ok()
    }

    /// An error for a 4xx or 5xx status; the response itself otherwise.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.status.is_client_error() || self.status.is_server_error() {
            let reason = self.status.canonical_reason().unwrap_or("");
            let msg = format!("the server answered {} {reason}", self.status.as_u16());
            return Err(Error::new(Kind::Status(self.status), msg).with_url(&self.url));
        }
        Ok(self)
    }

    /// Whether the body has been read to its end.
    pub fn is_body_done(&self) -> bool {
        matches!(self.body.state, BodyState::Done)
    }

    /// Body bytes read so far.
    pub fn body_received(&self) -> u64 {
        self.body.received
    }

    /// Bytes the server sent after the end of the body, as far as they had arrived when the
    /// body ended: a server whose `Content-Length` was shorter than what it sent. The
    /// connection is not reused then.
    pub fn excess(&self) -> usize {
        self.body.excess
    }

    /// Reads the next body bytes into the start of `buf` (up to its capacity), straight from
    /// the socket when no bytes are left over from the head; `Ok(0)` at the end of the body.
    /// A body cut short is `UnexpectedEof`; a broken chunked framing `InvalidData`; a stall
    /// beyond the read timeout `TimedOut`.
    pub async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        let body = &mut self.body;
        let Some(lease) = body.lease.as_mut() else {
            return BufResult(Ok(0), buf);
        };
        let BufResult(res, buf) = read_body(lease.conn(), &mut body.state, buf, body.limits).await;
        match &res {
            Ok(n) => {
                body.received += *n as u64;
                if matches!(body.state, BodyState::Done) {
                    self.finish_body();
                }
            }
            Err(_) => body.lease = None,
        }
        BufResult(res, buf)
    }

    /// The body ended: the connection goes back to the pool when it can be reused.
    fn finish_body(&mut self) {
        let body = &mut self.body;
        if let Some(mut lease) = body.lease.take() {
            body.excess = lease.conn_ref().buffered().len();
            lease.reusable = body.keep_alive && body.excess == 0;
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let BufResult(res, buf) = self.read(Vec::with_capacity(64 * 1024)).await;
        match res {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(Bytes::from(buf).slice(..n))),
            Err(e) => Err(self.body_error(e)),
        }
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let mut out = Vec::new();
        let mut buf = Vec::with_capacity(READ_BUF);
        loop {
            let BufResult(res, b) = self.read(buf).await;
            buf = b;
            match res {
                Ok(0) => return Ok(out.into()),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return Err(self.body_error(e)),
            }
        }
    }

    /// The whole body as text (invalid UTF-8 replaced).
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Writes the rest of the body into `file` from `offset` (`write_at` on the ring: no
    /// copy beyond the one from the socket), counting bytes on `progress`; returns the bytes
    /// written. A failed file write is [`Kind::Io`] with the OS error (`ENOSPC`) inside.
    pub async fn save_to(
        &mut self,
        file: &File,
        offset: u64,
        progress: Option<&ProgressRecorder>,
    ) -> Result<u64, Error> {
        let mut written = 0u64;
        let mut buf = Vec::with_capacity(READ_BUF);
        loop {
            let BufResult(res, b) = self.read(buf).await;
            buf = b;
            let n = match res {
                Ok(0) => return Ok(written),
                Ok(n) => n,
                Err(e) => return Err(self.body_error(e)),
            };
            // The bytes read are the first `n`; write exactly those.
            buf.truncate(n);
            let BufResult(res, b) = file.write_all_at(buf, offset + written).await;
            buf = b;
            buf.clear();
            if let Err(e) = res {
                return Err(Error::io(Kind::Io, e).with_url(&self.url));
            }
            written += n as u64;
            if let Some(p) = progress {
                p.add(n as u64);
            }
        }
    }

    /// Reads and drops a short rest of the body so the connection can be reused; a long one
    /// closes the connection.
    pub(crate) async fn discard(mut self) {
        match self.content_length() {
            Some(n) if n <= DRAIN_LIMIT => {}
            None if matches!(self.body.state, BodyState::Chunked(_)) => {}
            _ => return,
        }
        let mut seen = 0u64;
        let mut buf = Vec::with_capacity(16 * 1024);
        while seen <= DRAIN_LIMIT {
            let BufResult(res, b) = self.read(buf).await;
            buf = b;
            match res {
                Ok(0) | Err(_) => return,
                Ok(n) => seen += n as u64,
            }
        }
    }

    fn body_error(&self, e: io::Error) -> Error {
        let kind = match e.kind() {
            io::ErrorKind::TimedOut => Kind::Timeout,
            io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => Kind::Protocol,
            _ => Kind::Io,
        };
        Error::io(kind, e).with_url(&self.url)
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncRead for Response<S> {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        Response::read(self, buf)
    }
}
