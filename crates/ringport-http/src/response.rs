//! Response heads: the framing headers the server owns (`Content-Length`, `Transfer-Encoding`,
//! `Connection`, `Date`) and the bytes of the status line and fields.

use crate::body::{BodyStream, Kind};
use crate::bufpool;
use crate::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use ringport::fs::File;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the client asked, as far as it decides how to frame the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked {
    pub head: bool,
    pub version: Version,
    pub keep_alive: bool,
}

impl Asked {
    pub fn new(method: &Method, version: Version, keep_alive: bool) -> Asked {
        Asked {
            head: method == Method::HEAD,
            version,
            keep_alive,
        }
    }
}

/// How the body goes out after the head.
pub(crate) enum Payload {
    None,
    Bytes(Bytes),
    File {
        file: Rc<File>,
        offset: u64,
        len: u64,
    },
    Chunked(BodyStream),
    /// HTTP/1.0 and a body of unknown length: sent as is, ended by closing.
    UntilClose(BodyStream),
}

/// A response ready to write: the head's bytes, the body, and whether the connection stays
/// open afterwards.
pub(crate) struct Prepared {
    pub head: Vec<u8>,
    pub payload: Payload,
    pub keep_alive: bool,
    pub status: StatusCode,
}

/// Sets the framing headers for `response` as an answer to `asked` and serialises its head.
pub(crate) fn prepare(response: Response<Body>, asked: Asked) -> Prepared {
    let (mut parts, body) = response.into_parts();
    let status = parts.status;
    let h = &mut parts.headers;
    let mut keep_alive = asked.keep_alive && !says_close(h);
    // A length the server sets is written straight into the head: a `HeaderValue` of digits
    // would be an allocation per response.
    let mut length = None;
    let bodiless = status.is_informational() || status == StatusCode::NO_CONTENT;
    let payload = if bodiless || status == StatusCode::NOT_MODIFIED {
        h.remove(header::TRANSFER_ENCODING);
        if bodiless {
            h.remove(header::CONTENT_LENGTH);
        }
        Payload::None
    } else {
        let handler_length = h.remove(header::CONTENT_LENGTH);
        h.remove(header::TRANSFER_ENCODING);
        match body.into_kind() {
            // A HEAD handler may answer with no body and the length a GET would have.
            Kind::Bytes(b) if asked.head && b.is_empty() => {
                let length = handler_length.unwrap_or(HeaderValue::from_static("0"));
                h.insert(header::CONTENT_LENGTH, length);
                Payload::None
            }
            Kind::Bytes(b) => {
                length = Some(b.len() as u64);
                Payload::Bytes(b)
            }
            Kind::File { file, offset, len } => {
                length = Some(len);
                Payload::File { file, offset, len }
            }
            Kind::Stream(s) if asked.version == Version::HTTP_11 => {
                h.insert(
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                );
                Payload::Chunked(s)
            }
            Kind::Stream(s) => {
                keep_alive = false;
                Payload::UntilClose(s)
            }
        }
    };
    let payload = if asked.head { Payload::None } else { payload };
    connection_header(h, asked.version, keep_alive);
    if !h.contains_key(header::DATE) {
        h.insert(header::DATE, date_now());
    }
    Prepared {
        head: head_bytes(status, h, length),
        payload,
        keep_alive,
        status,
    }
}

fn says_close(h: &HeaderMap) -> bool {
    h.get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

fn connection_header(h: &mut HeaderMap, version: Version, keep_alive: bool) {
    if !keep_alive {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    } else if version == Version::HTTP_10 {
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
}

/// `HTTP/1.1 <code> <reason>`, the fields (`content-length` first when `length` is given), and
/// the empty line, in a pooled buffer.
pub(crate) fn head_bytes(status: StatusCode, headers: &HeaderMap, length: Option<u64>) -> Vec<u8> {
    let mut out = bufpool::take(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(n) = length {
        out.extend_from_slice(b"content-length: ");
        push_decimal(&mut out, n);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `n` in decimal digits.
fn push_decimal(out: &mut Vec<u8>, n: u64) {
    use std::io::Write as _;
    // Writing into a `Vec` cannot fail.
    let _ = write!(out, "{n}");
}

/// A short response the server writes itself (errors, `100 Continue` excluded).
pub(crate) fn error_head(status: StatusCode, reason: &str) -> (Vec<u8>, u64) {
    let body = format!("{status}: {reason}\n");
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::DATE, date_now());
    let mut out = head_bytes(status, &h, None);
    out.extend_from_slice(body.as_bytes());
    (out, body.len() as u64)
}

thread_local! {
    /// The `Date` value for the current second, formatted once per second.
    static DATE: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
}

/// The wall clock to the last kernel tick (a few ms): enough for a `Date` of whole seconds,
/// and on Linux a plain load from the vDSO page instead of a clock-source read per response.
#[cfg(target_os = "linux")]
fn coarse_now() -> SystemTime {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_REALTIME_COARSE exists since Linux 2.6.32.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    match u64::try_from(ts.tv_sec) {
        Ok(secs) if rc == 0 => UNIX_EPOCH + std::time::Duration::new(secs, ts.tv_nsec as u32),
        _ => SystemTime::now(),
    }
}

#[cfg(not(target_os = "linux"))]
fn coarse_now() -> SystemTime {
    SystemTime::now()
}

/// The current time as an IMF-fixdate `Date` value.
pub(crate) fn date_now() -> HeaderValue {
    let now = coarse_now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        match &cached.1 {
            Some(v) if cached.0 == secs => v.clone(),
            _ => {
                let v = HeaderValue::try_from(httpdate::fmt_http_date(now))
                    .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
                *cached = (secs, Some(v.clone()));
                v
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_lengths_are_written_exactly() {
        for n in [0u64, 7, 10, 13, 65_536, 1 << 30, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn a_bytes_body_gets_its_length_in_the_head_once() {
        let response = Response::new(Body::from("Hello, World!"));
        let asked = Asked::new(&Method::GET, Version::HTTP_11, true);
        let prepared = prepare(response, asked);
        let head = String::from_utf8(prepared.head).unwrap();
        assert_eq!(head.matches("content-length: 13\r\n").count(), 1, "{head}");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
    }

    #[test]
    fn the_date_is_now_to_the_second() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let date = date_now();
        let parsed = httpdate::parse_http_date(date.to_str().unwrap()).unwrap();
        let secs = parsed.duration_since(UNIX_EPOCH).unwrap().as_secs();
        // The coarse clock may lag by a tick, so across a second's edge it reads the one before.
        assert!(
            secs + 1 >= before && secs <= before + 1,
            "{secs} against {before}"
        );
    }
}
