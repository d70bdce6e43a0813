//! `ParseError`: why a request was refused, and the status that says so.

use http::StatusCode;
use std::fmt;

/// Why a request (its head or its body) cannot be served. Each maps to one status code; the
/// server answers with it and closes the connection, because the framing of whatever follows
/// is no longer known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The request line and headers exceed `Limits::max_head_bytes` (431).
    HeadTooLarge,
    /// The request line alone exceeds `Limits::max_head_bytes`: the target is too long (414).
    UriTooLong,
    /// More header fields than `Limits::max_headers` (431).
    TooManyHeaders,
    /// The body exceeds `Limits::max_body_bytes` (413).
    BodyTooLarge,
    /// A well-formed version whose major is not 1 (505); `HTTP/1.2` and later minors are read
    /// as HTTP/1.1.
    UnsupportedVersion,
    /// A transfer coding other than `chunked` alone (501).
    UnsupportedTransferCoding,
    /// An `Expect` other than `100-continue` (417).
    ExpectationFailed,
    /// The client stopped sending in time (408).
    Timeout,
    /// Anything else that breaks the grammar or the framing rules (400), with the reason.
    Malformed(&'static str),
}

impl ParseError {
    /// The status code that answers this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ParseError::UriTooLong => StatusCode::URI_TOO_LONG,
            ParseError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ParseError::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            ParseError::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            ParseError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ParseError::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::HeadTooLarge => f.write_str("request head too large"),
            ParseError::UriTooLong => f.write_str("request target too long"),
            ParseError::TooManyHeaders => f.write_str("too many header fields"),
            ParseError::BodyTooLarge => f.write_str("request body too large"),
            ParseError::UnsupportedVersion => f.write_str("HTTP version not supported"),
            ParseError::UnsupportedTransferCoding => f.write_str("transfer coding not supported"),
            ParseError::ExpectationFailed => f.write_str("expectation not supported"),
            ParseError::Timeout => f.write_str("the client was too slow"),
            ParseError::Malformed(why) => write!(f, "bad request: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}
