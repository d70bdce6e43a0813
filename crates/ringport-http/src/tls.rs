//! HTTPS serving (feature `tls`): [`accept`] makes a [`TlsStream`] of an accepted TCP stream
//! for [`Server::serve_over`](crate::Server::serve_over), and `TlsStream<TcpStream>` is a
//! [`Transport`].
//!
//! ```no_run
//! use ringport_http::{http::Response, tls, Body, Server};
//! use ringport_tls::{config, TlsAcceptor};
//! # async fn demo() -> std::io::Result<()> {
//! let config = config::server_from_pem("cert.pem".as_ref(), "key.pem".as_ref(), &[b"http/1.1"])?;
//! let acceptor = TlsAcceptor::new(config);
//! let wrap = move |tcp| {
//!     let acceptor = acceptor.clone();
//!     async move { tls::accept(&acceptor, tcp).await }
//! };
//! Server::bind("127.0.0.1:8443")?
//!     .serve_over(wrap, |_req| async { Response::new(Body::from("hi")) }, std::future::pending())
//!     .await
//! # }
//! ```
//!
//! A TLS stream gets the transport's user-space paths: reads into the connection's buffer,
//! file bodies read into a pooled buffer and encrypted from it (64 KiB at a time, so a large
//! file streams through records), and a head with its small body encrypted together into one
//! record and one send.

use crate::Transport;
use bytes::Bytes;
use ringport::buf::BufResult;
use ringport::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use ringport::net::TcpStream;
use ringport::time::timeout;
use ringport_tls::{TlsAcceptor, TlsError, TlsErrorKind, TlsStream, DEFAULT_RECEIVE_BUFFER};
use std::future::{poll_fn, Future};
use std::io;
use std::time::Duration;

/// The most parts one `write_pair` encrypts together (the connection sends two: head, body).
const MAX_PARTS: usize = 4;

impl Transport for TlsStream<TcpStream> {
    async fn write_pair(&mut self, parts: Vec<Bytes>) -> BufResult<usize, Vec<Bytes>> {
        let mut slices = [io::IoSlice::new(&[]); MAX_PARTS];
        for (slice, part) in slices.iter_mut().zip(&parts) {
            *slice = io::IoSlice::new(part);
        }
        let n = parts.len().min(MAX_PARTS);
        let res = poll_fn(|cx| self.poll_write_vectored(cx, &slices[..n])).await;
        BufResult(res, parts)
    }

    fn close(&mut self) -> impl Future<Output = io::Result<()>> {
        self.shutdown_write()
    }
}

/// The TLS handshake on an accepted connection, with the server configuration `acceptor`
/// holds. A client that speaks plain HTTP to this port (`http://` for `https://`) is answered
/// with a plain `400 Bad Request` saying to use `https://`, and the connection is closed; the
/// error returned then is a [`TlsError`] of kind [`TlsErrorKind::PlainHttp`] (a server can
/// log it). Other failures are the handshake's, one line each.
pub async fn accept(
    acceptor: &TlsAcceptor,
    mut tcp: TcpStream,
) -> io::Result<TlsStream<TcpStream>> {
    // The first bytes tell TLS (a handshake record, 0x16) from plain HTTP; they go to rustls.
    let BufResult(res, first) = tcp.read(Vec::with_capacity(DEFAULT_RECEIVE_BUFFER)).await;
    if res? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "TLS: the client closed the connection before the handshake",
        ));
    }
    if first[0] != 0x16 && looks_like_http(&first) {
        answer_plain_http(&mut tcp, &first).await;
        return Err(TlsError::new(
            TlsErrorKind::PlainHttp,
            "TLS: the client sent plain HTTP to this TLS port (answered 400: use https://)",
        )
        .into_io());
    }
    acceptor.accept_received(tcp, first).await
}

/// A request line's start: an upper-case method and a space.
fn looks_like_http(b: &[u8]) -> bool {
    let method = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    (3..=7).contains(&method) && b.get(method) == Some(&b' ')
}

/// The `https://` address a plain request to this port should have used, when its `Host`
/// and target are plain enough to repeat.
fn https_address(request: &[u8]) -> Option<String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(request).ok()?;
    let path = req.path?;
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))?
        .value;
    let host = std::str::from_utf8(host).ok()?;
    let plain = |s: &str, extra: &str| {
        !s.is_empty()
            && s.bytes().all(|c| {
                c.is_ascii_alphanumeric() || b".-_:[]".contains(&c) || extra.as_bytes().contains(&c)
            })
    };
    (plain(host, "") && path.starts_with('/') && plain(path, "/~%?=&+,;@!$'()*"))
        .then(|| format!("https://{host}{path}"))
}

/// Answers a plain-HTTP request on the TLS port, in plain HTTP, and closes.
async fn answer_plain_http(tcp: &mut TcpStream, request: &[u8]) {
    let body = match https_address(request) {
        Some(url) => format!("This port speaks HTTPS only. Use {url}\n"),
        None => "This port speaks HTTPS only. Use an https:// address.\n".to_string(),
    };
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(response.into_bytes()).await;
    let _ = tcp.shutdown_write().await;
    // Read what the client still sends (briefly) so closing does not reset the connection
    // and discard the answer before the client reads it.
    let drain = async {
        let mut buf = vec![0u8; 4096];
        for _ in 0..16 {
            let BufResult(res, back) = tcp.read(buf).await;
            buf = back;
            if !matches!(res, Ok(n) if n > 0) {
                break;
            }
        }
    };
    let _ = timeout(Duration::from_secs(1), drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_told_apart_from_tls() {
        assert!(looks_like_http(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http(b"OPTIONS * HTTP/1.1\r\n"));
        assert!(!looks_like_http(b"\x16\x03\x01\x02\x00"));
        assert!(!looks_like_http(b"get / HTTP/1.1"));
        assert!(!looks_like_http(b"GETTINGLONG / HTTP/1.1"));
    }

    #[test]
    fn the_https_address_is_repeated_only_when_plain() {
        let req = b"GET /a/b.txt?x=1 HTTP/1.1\r\nHost: example.com:8443\r\n\r\n";
        assert_eq!(
            https_address(req).as_deref(),
            Some("https://example.com:8443/a/b.txt?x=1")
        );
        let odd = b"GET /<script> HTTP/1.1\r\nHost: example.com\r\n\r\n";
        assert_eq!(https_address(odd), None);
        let no_host = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(https_address(no_host), None);
    }
}
