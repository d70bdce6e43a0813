//! Response heads parsed from bytes with `httparse`, for the client: a pure function like
//! [`parse_head`](crate::parse::parse_head), so unit tests and the fuzz target call it directly.
//!
//! ```
//! use ringport_http::parse::{parse_response, ResponseFraming};
//! use ringport_http::http::Method;
//!
//! let bytes = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-2/10\r\n\
//!               Content-Length: 3\r\n\r\nabc";
//! let (head, used) = parse_response(bytes, 64 * 1024, 100).unwrap().unwrap();
//! assert_eq!(head.status.as_u16(), 206);
//! assert_eq!(head.framing(&Method::GET).unwrap(), ResponseFraming::Length(3));
//! assert_eq!(&bytes[used..], b"abc");
//! ```

use crate::error::ParseError;
use crate::parse::{header_map, parse_length, tokens};
use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Version};

/// How a response's body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: HEAD, 1xx, 204, 304, or `Content-Length: 0`.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

/// A response's status line and headers.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields, in order.
    pub headers: HeaderMap,
}

/// Parses one response head from the start of `buf`.
///
/// `Ok(None)`: not complete yet (read more, unless `buf` already holds `max_head_bytes`).
/// `Ok(Some((head, n)))`: the head took the first `n` bytes. Interim (1xx) responses are
/// returned like any other; the caller skips them.
pub fn parse_response(
    buf: &[u8],
    max_head_bytes: usize,
    max_headers: usize,
) -> Result<Option<(ResponseHead, usize)>, ParseError> {
    let mut slots = vec![httparse::EMPTY_HEADER; max_headers.max(1)];
    let mut res = httparse::Response::new(&mut slots);
    let used = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= max_head_bytes => {
            return Err(ParseError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(ParseError::UnsupportedVersion),
        Err(httparse::Error::Status) => return Err(ParseError::Malformed("invalid status code")),
        Err(_) => return Err(ParseError::Malformed("malformed response head")),
    };
    if used > max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    let (Some(code), Some(minor)) = (res.code, res.version) else {
        return Err(ParseError::Malformed("incomplete status line"));
    };
    let status =
        StatusCode::from_u16(code).map_err(|_| ParseError::Malformed("invalid status code"))?;
    let version = if minor == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let headers = header_map(res.headers)?;
    Ok(Some((
        ResponseHead {
            status,
            version,
            headers,
        },
        used,
    )))
}

impl ResponseHead {
    /// How the body is delimited, given the request's method.
    ///
    /// Transfer-Encoding wins over Content-Length (and the connection cannot be reused after
    /// such a response: see [`keep_alive`](Self::keep_alive)); a coding list not ending in
    /// `chunked` is read until the close; conflicting or malformed lengths are errors, since
    /// nothing after them can be framed.
    pub fn framing(&self, method: &Method) -> Result<ResponseFraming, ParseError> {
        let code = self.status.as_u16();
        if method == Method::HEAD || (100..200).contains(&code) || code == 204 || code == 304 {
            return Ok(ResponseFraming::None);
        }
        if self.headers.contains_key(header::TRANSFER_ENCODING) {
            let last = tokens(&self.headers, header::TRANSFER_ENCODING).last();
            return Ok(match last {
                Some(t)
                    if t.eq_ignore_ascii_case(b"chunked") && self.version == Version::HTTP_11 =>
                {
                    ResponseFraming::Chunked
                }
                _ => ResponseFraming::UntilClose,
            });
        }
        match self.content_length()? {
            Some(0) => Ok(ResponseFraming::None),
            Some(n) => Ok(ResponseFraming::Length(n)),
            None => Ok(ResponseFraming::UntilClose),
        }
    }

    /// The `Content-Length`, if there is one; every value must agree.
    pub fn content_length(&self) -> Result<Option<u64>, ParseError> {
        let mut length = None;
        for value in tokens(&self.headers, header::CONTENT_LENGTH) {
            let n = parse_length(value).ok_or(ParseError::Malformed("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(ParseError::Malformed("conflicting Content-Length values"));
            }
            length = Some(n);
        }
        if length.is_none() && self.headers.contains_key(header::CONTENT_LENGTH) {
            return Err(ParseError::Malformed("empty Content-Length"));
        }
        Ok(length)
    }

    /// Whether the server lets the connection stay open after this response: not with
    /// `Connection: close`, not on HTTP/1.0 without `keep-alive`, and not when the body runs
    /// until the close or Transfer-Encoding came with Content-Length (smuggling-shaped).
    pub fn keep_alive(&self, framing: ResponseFraming) -> bool {
        let mut close = false;
        let mut keep = false;
        for token in tokens(&self.headers, header::CONNECTION) {
            close |= token.eq_ignore_ascii_case(b"close");
            keep |= token.eq_ignore_ascii_case(b"keep-alive");
        }
        let both = self.headers.contains_key(header::TRANSFER_ENCODING)
            && self.headers.contains_key(header::CONTENT_LENGTH);
        !close
            && !both
            && framing != ResponseFraming::UntilClose
            && (self.version == Version::HTTP_11 || keep)
    }
}

/// A `Content-Range` header of a 206 or 416 response (RFC 9110 section 14.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes first-last/total`, `total` `None` for `*`.
    Bytes {
        /// The first byte's offset.
        first: u64,
        /// The last byte's offset (inclusive).
        last: u64,
        /// The whole representation's length, when the server knows it.
        total: Option<u64>,
    },
    /// `bytes */total`: the range asked for is not satisfiable (416).
    Unsatisfied {
        /// The whole representation's length.
        total: u64,
    },
}

impl ContentRange {
    /// Parses a `Content-Range` value; `None` when malformed (last before first included).
    ///
    /// ```
    /// use ringport_http::parse::ContentRange;
    /// assert_eq!(
    ///     ContentRange::parse(b"bytes 0-99/1000"),
    ///     Some(ContentRange::Bytes { first: 0, last: 99, total: Some(1000) })
    /// );
    /// assert_eq!(ContentRange::parse(b"bytes */5"), Some(ContentRange::Unsatisfied { total: 5 }));
    /// assert_eq!(ContentRange::parse(b"bytes 9-3/10"), None);
    /// ```
    pub fn parse(value: &[u8]) -> Option<ContentRange> {
        let rest = value.trim_ascii();
        let unit = rest.get(..6)?;
        if !unit.eq_ignore_ascii_case(b"bytes ") {
            return None;
        }
        let rest = rest[6..].trim_ascii_start();
        let slash = rest.iter().position(|&b| b == b'/')?;
        let (range, total) = (&rest[..slash], &rest[slash + 1..]);
        let total = match total {
            b"*" => None,
            digits => Some(parse_length(digits)?),
        };
        if range == b"*" {
            return total.map(|total| ContentRange::Unsatisfied { total });
        }
        let dash = range.iter().position(|&b| b == b'-')?;
        let first = parse_length(&range[..dash])?;
        let last = parse_length(&range[dash + 1..])?;
        if last < first || total.is_some_and(|t| last >= t) {
            return None;
        }
        Some(ContentRange::Bytes { first, last, total })
    }

    /// The total length, when the header gives it.
    pub fn total(&self) -> Option<u64> {
        match *self {
            ContentRange::Bytes { total, .. } => total,
            ContentRange::Unsatisfied { total } => Some(total),
        }
    }
}
