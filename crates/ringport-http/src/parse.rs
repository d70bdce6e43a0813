//! Request heads parsed from bytes with `httparse`: a pure function, no sockets, so unit tests
//! and the fuzz target call it directly.
//!
//! ```
//! use ringport_http::parse::{parse_head, Framing};
//! use ringport_http::Limits;
//!
//! let bytes = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
//! let (head, used) = parse_head(bytes, &Limits::default()).unwrap().unwrap();
//! assert_eq!(head.request.uri().path(), "/a");
//! assert_eq!(head.framing, Framing::Length(3));
//! assert_eq!(&bytes[used..], b"abc");
//! ```

use crate::error::ParseError;
use crate::Limits;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};

pub use crate::chunked::ChunkedDecoder;
pub use crate::response_head::{parse_response, ContentRange, ResponseFraming, ResponseHead};

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request head and what it says about the connection.
#[derive(Debug)]
pub struct RequestHead {
    /// Method, target, version and headers; the body comes later.
    pub request: Request<()>,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the client allows the connection to stay open after the response.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1: the client waits for a `100 Continue`.
    pub expect_continue: bool,
}

/// Parses one request head from the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet (read more, unless `buf` already holds
/// `limits.max_head_bytes`). `Ok(Some((head, n)))`: the head took the first `n` bytes; the body
/// and any pipelined requests follow. Empty lines before the request line are skipped.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, ParseError> {
    // Most requests have a few fields: slots on the stack, a heap array only for more.
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    if limits.max_headers <= STACK_HEADERS {
        return parse_with(buf, limits, &mut stack[..limits.max_headers]);
    }
    match parse_with(buf, limits, &mut stack) {
        Err(ParseError::TooManyHeaders) => {
            let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
            parse_with(buf, limits, &mut slots)
        }
        other => other,
    }
}

/// Header slots `parse_head` keeps on the stack.
const STACK_HEADERS: usize = 32;

fn parse_with<'b>(
    buf: &'b [u8],
    limits: &Limits,
    slots: &mut [httparse::Header<'b>],
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let mut req = httparse::Request::new(slots);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_head_bytes => {
            return Err(too_large(buf, limits));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(httparse::Error::Version) => {
            return match other_version(buf) {
                Some(OtherVersion::LaterMinor(at)) => parse_later_minor(buf, at, limits),
                Some(OtherVersion::Unsupported) => Err(ParseError::UnsupportedVersion),
                None => Err(ParseError::Malformed(httparse_reason(
                    httparse::Error::Version,
                ))),
            }
        }
        Err(e) => return Err(ParseError::Malformed(httparse_reason(e))),
    };
    if used > limits.max_head_bytes {
        return Err(too_large(buf, limits));
    }
    let head = build(&req, limits)?;
    Ok(Some((head, used)))
}

/// Which limit a head over `max_head_bytes` broke: the request line alone (no line end within
/// the limit: 414, as nginx and Apache answer a long URI), or the head as a whole (431).
fn too_large(buf: &[u8], limits: &Limits) -> ParseError {
    let line = &buf[..buf.len().min(limits.max_head_bytes)];
    // Empty lines before the request line do not count.
    let start = line
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(line.len());
    if line[start..].contains(&b'\n') {
        ParseError::HeadTooLarge
    } else {
        ParseError::UriTooLong
    }
}

/// Turns httparse's borrowed head into an owned `RequestHead`, checking the framing rules.
fn build(req: &httparse::Request<'_, '_>, limits: &Limits) -> Result<RequestHead, ParseError> {
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ParseError::Malformed("incomplete request line"));
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| ParseError::Malformed("invalid method"))?;
    let uri: Uri = target
        .parse()
        .map_err(|_| ParseError::Malformed("invalid request target"))?;
    // RFC 9112 §3.2: origin-form starts with `/`; absolute-form has a scheme; `*` is for
    // OPTIONS and authority-form for CONNECT only. `GET small.txt` is none of them.
    let form_ok = target.starts_with('/')
        || uri.scheme().is_some()
        || (target == "*" && method == Method::OPTIONS)
        || (method == Method::CONNECT && uri.authority().is_some());
    if !form_ok {
        return Err(ParseError::Malformed("the request target is not a path"));
    }
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let headers = header_map(req.headers)?;
    let framing = framing(version, &headers)?;
    if let Framing::Length(n) = framing {
        if n > limits.max_body_bytes {
            return Err(ParseError::BodyTooLarge);
        }
    }
    if version == Version::HTTP_11 && headers.get_all(header::HOST).iter().count() != 1 {
        return Err(ParseError::Malformed(
            "HTTP/1.1 needs exactly one Host header",
        ));
    }
    // A Host that is not `host[:port]` is a 400 too (RFC 9112 §3.2); empty is allowed.
    if let Some(host) = headers.get(header::HOST) {
        let value = host.as_bytes();
        if !value.is_empty() && http::uri::Authority::try_from(value).is_err() {
            return Err(ParseError::Malformed("the Host header is not host[:port]"));
        }
    }
    let expect_continue = expect_continue(version, &headers)?;
    let keep_alive = keep_alive(version, &headers);
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(RequestHead {
        request,
        framing,
        keep_alive,
        expect_continue,
    })
}

pub(crate) fn header_map(fields: &[httparse::Header<'_>]) -> Result<HeaderMap, ParseError> {
    let mut map = HeaderMap::with_capacity(fields.len());
    for field in fields {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| ParseError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| ParseError::Malformed("invalid header value"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// RFC 9112 section 6: Transfer-Encoding wins over Content-Length, but a request with both is
/// a smuggling attempt and refused; conflicting or malformed lengths are refused.
fn framing(version: Version, headers: &HeaderMap) -> Result<Framing, ParseError> {
    let has_te = headers.contains_key(header::TRANSFER_ENCODING);
    let has_cl = headers.contains_key(header::CONTENT_LENGTH);
    if has_te {
        if has_cl {
            return Err(ParseError::Malformed(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if version == Version::HTTP_10 {
            return Err(ParseError::Malformed("Transfer-Encoding in HTTP/1.0"));
        }
        let codings: Vec<&[u8]> = tokens(headers, header::TRANSFER_ENCODING).collect();
        return match codings.as_slice() {
            [only] if only.eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
            // Chunked last, other codings before it: framed, but not decoded here (501).
            [.., last] if last.eq_ignore_ascii_case(b"chunked") => {
                Err(ParseError::UnsupportedTransferCoding)
            }
            // Without chunked last the body's length cannot be known: 400 and a close
            // (RFC 9112 §6.3).
            _ => Err(ParseError::Malformed(
                "Transfer-Encoding does not end in chunked",
            )),
        };
    }
    if !has_cl {
        return Ok(Framing::None);
    }
    let mut length = None;
    for value in tokens(headers, header::CONTENT_LENGTH) {
        let n = parse_length(value).ok_or(ParseError::Malformed("invalid Content-Length"))?;
        if length.is_some_and(|l| l != n) {
            return Err(ParseError::Malformed("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    match length {
        Some(0) => Ok(Framing::None),
        Some(n) => Ok(Framing::Length(n)),
        None => Err(ParseError::Malformed("empty Content-Length")),
    }
}

/// Digits only (no sign, no spaces inside), without overflow.
pub(crate) fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The comma-separated elements of every field named `name`, trimmed; empty ones skipped.
pub(crate) fn tokens(headers: &HeaderMap, name: HeaderName) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(name)
        .into_iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

fn keep_alive(version: Version, headers: &HeaderMap) -> bool {
    let mut close = false;
    let mut keep = false;
    for token in tokens(headers, header::CONNECTION) {
        close |= token.eq_ignore_ascii_case(b"close");
        keep |= token.eq_ignore_ascii_case(b"keep-alive");
    }
    !close && (version == Version::HTTP_11 || keep)
}

/// `Expect: 100-continue` is honoured on HTTP/1.1 (ignored on 1.0, as RFC 9110 says); any
/// other expectation is answered with 417.
fn expect_continue(version: Version, headers: &HeaderMap) -> Result<bool, ParseError> {
    let mut expect = false;
    for token in tokens(headers, header::EXPECT) {
        if !token.eq_ignore_ascii_case(b"100-continue") {
            return Err(ParseError::ExpectationFailed);
        }
        expect = true;
    }
    Ok(expect && version == Version::HTTP_11)
}

/// A well-formed version in the request line that httparse does not take.
enum OtherVersion {
    /// `HTTP/1.2` to `HTTP/1.9`: read as HTTP/1.1 (RFC 9110 §2.5: a later minor version of a
    /// major version the server implements is processed as the highest minor it conforms to).
    /// The byte offset of the minor digit in the buffer.
    LaterMinor(usize),
    /// Another major version (`HTTP/2.0`, `HTTP/3`): 505.
    Unsupported,
}

/// The well-formed `HTTP/x.y` other than 1.0 and 1.1 that the request line ends in; `None`
/// for garbage (400).
fn other_version(buf: &[u8]) -> Option<OtherVersion> {
    let start = buf
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Method, target, version: a space inside the target (`GET /a b HTTP/1.1`) is a
    // malformed line (400), not another version.
    if line.split(|&b| b == b' ').count() != 3 {
        return None;
    }
    let version = line.rsplit(|&b| b == b' ').next()?;
    match version.strip_prefix(b"HTTP/")? {
        [b'1', b'.', b'2'..=b'9'] => Some(OtherVersion::LaterMinor(start + line.len() - 1)),
        [major] if major.is_ascii_digit() => Some(OtherVersion::Unsupported),
        [major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Some(OtherVersion::Unsupported)
        }
        _ => None,
    }
}

/// Parses a head whose request line says `HTTP/1.x` with x above 1 as HTTP/1.1: the same bytes
/// with the minor digit read as 1 (a copy, on this rare path only).
fn parse_later_minor(
    buf: &[u8],
    at: usize,
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let mut copy = buf.to_vec();
    copy[at] = b'1';
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    // The copy says HTTP/1.1, which `other_version` never patches: no second round.
    parse_with(&copy, limits, &mut slots)
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid token in the request line",
        httparse::Error::Version => "invalid HTTP version",
        _ => "malformed request",
    }
}
