//! `RequestBuilder`: method, URL, headers, `Range`/`If-Range`, a body and a timeout; `send`
//! follows redirects by their method rules and retries a stale pooled connection once.

use super::conn::{about_response, BodyState, Conn, HeadError, Limits};
use super::response::{Body, Response};
use super::{Client, Connect, Destination, Error, Kind, Url};
use crate::parse::ResponseFraming;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use ringport::time::timeout;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A request being built; [`send`](Self::send) sends it.
#[derive(Debug)]
pub struct RequestBuilder<'a, C: Connect> {
    client: &'a Client<C>,
    method: Method,
    url: Result<Url, Error>,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
    error: Option<Error>,
}

impl<'a, C: Connect> RequestBuilder<'a, C> {
    pub(crate) fn new(client: &'a Client<C>, method: Method, url: &str) -> Self {
        RequestBuilder {
            client,
            method,
            url: Url::parse(url).map_err(|e| Error::new(Kind::Url, e)),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: client.inner.config.timeout,
            error: None,
        }
    }

    /// Adds a header (after the client's default headers; the same name replaces them).
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        let name = HeaderName::try_from(name).ok();
        let value = HeaderValue::try_from(value).ok();
        match (name, value) {
            (Some(n), Some(v)) => {
                self.headers.append(n, v);
            }
            _ => {
                self.error
                    .get_or_insert(Error::new(Kind::Url, "an invalid header name or value"));
            }
        }
        self
    }

    /// Adds every header of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in headers.iter() {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// `Range: bytes=start-end` (both inclusive).
    pub fn range(self, range: std::ops::RangeInclusive<u64>) -> Self {
        let v = format!("bytes={}-{}", range.start(), range.end());
        self.header(header::RANGE, v)
    }

    /// `Range: bytes=start-`: from `start` to the end.
    pub fn range_from(self, start: u64) -> Self {
        self.header(header::RANGE, format!("bytes={start}-"))
    }

    /// `If-Range`: a strong `ETag` (as sent, in quotes) or an HTTP date. The server sends the
    /// range only while the representation still matches, else the whole of it with 200.
    pub fn if_range(self, validator: &str) -> Self {
        self.header(header::IF_RANGE, validator)
    }

    /// The request body, sent with `Content-Length`.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A limit on the whole request, from sending to the last byte of the body.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Sends the request and waits for the response's head, following redirects.
    pub async fn send(self) -> Result<Response<C::Stream>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let client = self.client;
        let config = &client.inner.config;
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut url = self.url?;
        let mut method = self.method;
        let mut headers = self.headers;
        let mut body = self.body;
        let mut redirects: Vec<Url> = Vec::new();
        loop {
            let mut res = client
                .execute(&method, &url, &headers, &body, deadline)
                .await
                .map_err(|e| e.with_url(&url))?;
            let Some(next) = redirect_target(&res, &url)? else {
                res.redirects = redirects;
                return Ok(res);
            };
            if config.redirect.max() == 0 {
                res.redirects = redirects;
                return Ok(res);
            }
            // The body is read off (when short) before anything else, so that the
            // connection stays usable whatever comes next.
            let status = res.status();
            res.discard().await;
            if redirects.len() >= config.redirect.max() {
                let msg = format!("more than {} redirects", config.redirect.max());
                return Err(Error::new(Kind::Redirect, msg).with_url(&url));
            }
            if next == url || redirects.contains(&next) {
                let mut chain: Vec<String> = redirects.iter().map(Url::to_string).collect();
                chain.push(url.to_string());
                chain.push(next.to_string());
                let msg = format!("redirect loop: {}", chain.join(" -> "));
                return Err(Error::new(Kind::Redirect, msg));
            }
            // 303 turns anything but HEAD into GET; 301 and 302 turn POST into GET (what
            // browsers do, RFC 9110 15.4.2-3); 307 and 308 keep the method and the body.
            let to_get = match status {
                StatusCode::SEE_OTHER => method != Method::HEAD,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => method == Method::POST,
                _ => false,
            };
            if to_get {
                method = Method::GET;
                body = Bytes::new();
                headers.remove(header::CONTENT_TYPE);
                headers.remove(header::CONTENT_LENGTH);
            }
            if !next.same_origin(&url) {
                for h in [
                    header::AUTHORIZATION,
                    header::COOKIE,
                    header::PROXY_AUTHORIZATION,
                ] {
                    headers.remove(h);
                }
            }
            redirects.push(url);
            url = next;
        }
    }
}

/// Where a 3xx response points, resolved; `None` for other statuses or without `Location`.
fn redirect_target<S>(res: &Response<S>, base: &Url) -> Result<Option<Url>, Error> {
    if !matches!(res.status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = res.headers.get(header::LOCATION) else {
        return Ok(None);
    };
    let location = std::str::from_utf8(location.as_bytes())
        .map_err(|_| Error::new(Kind::Redirect, "a Location that is not text").with_url(base))?;
    base.join(location)
        .map(Some)
        .map_err(|e| Error::new(Kind::Redirect, format!("bad Location: {e}")).with_url(base))
}

impl<C: Connect> Client<C> {
    /// One exchange: a connection from the pool (or a new one), the request, the head. A
    /// pooled connection that turns out closed before any response byte is replaced once,
    /// for idempotent methods.
    async fn execute(
        &self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: &Bytes,
        deadline: Option<Instant>,
    ) -> Result<Response<C::Stream>, Error> {
        let inner = &self.inner;
        let config = &inner.config;
        let dest = Destination {
            scheme: url.scheme(),
            host: url.host().to_string(),
            port: url.port(),
        };
        let head = request_head(method, url, headers, body, config);
        let limits = Limits {
            deadline,
            read_timeout: config.read_timeout,
        };
        let idempotent = matches!(
            *method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut lease = self.lease(&dest, deadline).await?;
            let conn = lease.conn();
            let sent = conn.send(head.clone(), limits).await;
            let head_res = match sent {
                Ok(()) => {
                    conn.read_head(limits, config.max_head_bytes, config.max_headers)
                        .await
                }
                Err(e) if lease.reused => Err(HeadError::Closed(e)),
                Err(e) => Err(HeadError::Io(e)),
            };
            let parsed = match head_res {
                Ok(h) => h,
                Err(HeadError::Closed(_)) if lease.reused && idempotent && attempt == 1 => {
                    drop(lease);
                    continue;
                }
                Err(HeadError::Closed(e) | HeadError::Io(e)) => {
                    let kind = if e.kind() == std::io::ErrorKind::TimedOut {
                        Kind::Timeout
                    } else {
                        Kind::Io
                    };
                    return Err(Error::io(kind, e));
                }
                Err(HeadError::Parse(e)) => {
                    let msg = format!("bad response: {}", about_response(&e));
                    return Err(Error::new(Kind::Protocol, msg));
                }
                Err(HeadError::Tls) => {
                    let msg = "the server answered in TLS, not plain HTTP: this is a TLS port \
                               (use https://)";
                    return Err(Error::new(Kind::Tls, msg));
                }
            };
            let framing = parsed.framing(method).map_err(|e| {
                let msg = format!("bad response: {}", about_response(&e));
                Error::new(Kind::Protocol, msg)
            })?;
            if framing != ResponseFraming::None {
                // Without a TE header only `chunked` may be applied (RFC 9110 §10.1.4), and
                // no other coding is decoded here: handing its bytes on as the body would be
                // a silent corruption.
                let other = crate::parse::tokens(&parsed.headers, header::TRANSFER_ENCODING)
                    .find(|t| !t.eq_ignore_ascii_case(b"chunked"));
                if let Some(coding) = other {
                    let msg = format!(
                        "bad response: the body is in the transfer coding {:?}, which was not \
                         asked for and is not decoded",
                        String::from_utf8_lossy(coding)
                    );
                    return Err(Error::new(Kind::Protocol, msg));
                }
            }
            let keep_alive = parsed.keep_alive(framing) && framing != ResponseFraming::UntilClose;
            let mut res = Response {
                status: parsed.status,
                version: parsed.version,
                headers: parsed.headers,
                url: url.clone(),
                redirects: Vec::new(),
                body: Body {
                    lease: Some(lease),
                    state: BodyState::new(framing),
                    keep_alive,
                    limits,
                    received: 0,
                    excess: 0,
                },
            };
            if res.is_body_done() {
                // No body: the connection is free at once.
                let mut lease = res.body.lease.take();
                if let Some(l) = lease.as_mut() {
                    res.body.excess = l.conn_ref().buffered().len();
                    l.reusable = keep_alive && res.body.excess == 0;
                }
            }
            return Ok(res);
        }
    }

    /// A pooled connection to `dest`, or a new one under the connect timeout.
    async fn lease(
        &self,
        dest: &Destination,
        deadline: Option<Instant>,
    ) -> Result<super::pool::Lease<C::Stream>, Error> {
        let inner = &self.inner;
        let checkout = inner.pool.checkout(dest);
        let checkout = match deadline {
            Some(d) => timeout(d.saturating_duration_since(Instant::now()), checkout)
                .await
                .map_err(|_| {
                    Error::new(Kind::Timeout, "timed out waiting for a free connection")
                })?,
            None => checkout.await,
        };
        let slot = match checkout {
            super::pool::Checkout::Idle(lease) => return Ok(lease),
            super::pool::Checkout::Connect(slot) => slot,
        };
        let mut limit = inner.config.connect_timeout;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            limit = Some(limit.map_or(left, |l| l.min(left)));
        }
        let connect = inner.connector.connect(dest);
        let stream = match limit {
            Some(l) => match timeout(l, connect).await {
                Ok(r) => r,
                Err(_) => {
                    let msg = format!(
                        "connecting to {dest} timed out after {:.1} s",
                        l.as_secs_f64()
                    );
                    return Err(Error::new(Kind::Connect, msg));
                }
            },
            None => connect.await,
        };
        match stream {
            Ok(s) => Ok(slot.fill(Conn::new(s))),
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                Err(Error::io(Kind::Unsupported, e))
            }
            Err(e) if super::connect::is_tls_failure(&e) => Err(Error::io(Kind::Tls, e)),
            Err(e) => {
                let msg = format!("cannot connect to {}:{}: {e}", dest.host, dest.port);
                Err(Error::io(Kind::Connect, std::io::Error::new(e.kind(), msg)))
            }
        }
    }
}

/// The request's bytes: request line, `Host`, the defaults, the caller's headers, the body.
fn request_head(
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: &Bytes,
    config: &super::Config,
) -> Vec<u8> {
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{} {} HTTP/1.1\r\n", method, url.target());
    if !headers.contains_key(header::HOST) {
        let _ = write!(s, "Host: {}\r\n", url.authority());
    }
    let mut out = s.into_bytes();
    let mut put = |name: &HeaderName, value: &HeaderValue| {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if let Some(ua) = &config.user_agent {
        if !headers.contains_key(header::USER_AGENT) {
            put(&header::USER_AGENT, ua);
        }
    }
    for (name, value) in config.default_headers.iter() {
        if !headers.contains_key(name) {
            put(name, value);
        }
    }
    for (name, value) in headers.iter() {
        put(name, value);
    }
    let needs_length = !body.is_empty() || matches!(*method, Method::POST | Method::PUT);
    if needs_length && !headers.contains_key(header::CONTENT_LENGTH) {
        put(
            &header::CONTENT_LENGTH,
            &HeaderValue::from(body.len() as u64),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}
