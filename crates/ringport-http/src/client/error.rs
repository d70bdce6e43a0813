//! `Error`: why a request failed, told apart the way reqwest does (`is_connect`,
//! `is_timeout`, `is_status`, ...), with the URL it concerned.

use super::Url;
use http::StatusCode;
use std::fmt;
use std::io;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// The URL could not be used (not absolute, a scheme other than http/https, a bad host).
    Url,
    /// No connection: name lookup, refused, unreachable, or the connect timeout.
    Connect,
    /// A timeout after the connection was made (the request's total, or a read's).
    Timeout,
    /// The server's bytes broke HTTP: a malformed head, bad framing, a short body.
    Protocol,
    /// Too many redirects, a redirect loop, or a redirect without a usable `Location`.
    Redirect,
    /// A status the caller refused with [`Response::error_for_status`](super::Response::error_for_status).
    Status(StatusCode),
    /// What is asked for is not built (`https://` through a plain-TCP connector).
    Unsupported,
    /// TLS failed in a way that trying again will not mend: the server's certificate was
    /// refused (unknown CA, another name, expired), no TLS version or cipher suite in common,
    /// plain HTTP on one side and TLS on the other, no usable CA certificates here.
    Tls,
    /// Reading or writing failed for another reason (a reset, a file write).
    Io,
}

/// Why a request failed.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    url: Option<Url>,
    message: String,
    source: Option<io::Error>,
}

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            url: None,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(kind: Kind, e: io::Error) -> Error {
        Error {
            kind,
            url: None,
            message: e.to_string(),
            source: Some(e),
        }
    }

    pub(crate) fn with_url(mut self, url: &Url) -> Error {
        if self.url.is_none() {
            self.url = Some(url.clone());
        }
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The URL the failure concerns, when there is one.
    pub fn url(&self) -> Option<&Url> {
        self.url.as_ref()
    }

    /// The status, for [`Kind::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self.kind {
            Kind::Status(s) => Some(s),
            _ => None,
        }
    }

    /// The I/O error underneath, when there is one (`ENOSPC` from a file write, a reset).
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }

    /// No connection could be made.
    pub fn is_connect(&self) -> bool {
        self.kind == Kind::Connect
    }

    /// A timeout (connect timeouts are [`is_connect`](Self::is_connect) too).
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
            || self
                .source
                .as_ref()
                .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
    }

    /// A redirect problem.
    pub fn is_redirect(&self) -> bool {
        self.kind == Kind::Redirect
    }

    /// A refused status.
    pub fn is_status(&self) -> bool {
        matches!(self.kind, Kind::Status(_))
    }

    /// The server's bytes broke HTTP.
    pub fn is_protocol(&self) -> bool {
        self.kind == Kind::Protocol
    }

    /// A TLS failure that trying again will not mend ([`Kind::Tls`]).
    pub fn is_tls(&self) -> bool {
        self.kind == Kind::Tls
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => write!(f, "{url}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match (&e.source, e.kind) {
            (Some(s), _) => s.kind(),
            (None, Kind::Timeout) => io::ErrorKind::TimedOut,
            (None, Kind::Unsupported) => io::ErrorKind::Unsupported,
            (None, Kind::Url) => io::ErrorKind::InvalidInput,
            (None, _) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.to_string())
    }
}
