//! TLS errors in words a person can act on: one line each, naming the certificate, the name
//! or the date at fault and what to do about it.
//!
//! Every error this crate returns is an `io::Error`; the TLS ones carry a [`TlsError`], which
//! [`TlsError::of`] finds again (its [`kind`](TlsError::kind) for programs, its text for people).

use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError, Error as RustlsError};
use std::fmt;
use std::io;

/// What kind of TLS failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The peer's certificate does not lead to a CA this side trusts.
    UnknownIssuer,
    /// The certificate is valid, but not for the name that was connected to.
    NameMismatch,
    /// The certificate's validity has ended.
    Expired,
    /// The certificate's validity has not begun.
    NotYetValid,
    /// Another problem with the peer's certificate (a bad signature, revoked, wrong purpose).
    BadCertificate,
    /// The peer refused this side's certificate or handshake (it sent an alert).
    PeerRefused,
    /// No TLS version, cipher suite or key exchange that both sides allow.
    Incompatible,
    /// A private key that does not belong to the certificate it was given with.
    KeyMismatch,
    /// A certificate or key file that cannot be read, or holds no usable PEM.
    Pem,
    /// The peer spoke plain HTTP where TLS was expected.
    PlainHttp,
    /// The peer spoke something that is not TLS.
    NotTls,
    /// The peer closed the connection during the handshake.
    HandshakeEof,
    /// The connection ended without `close_notify`: what was read may be cut short.
    Truncated,
    /// Writing after `shutdown_write`.
    WriteAfterShutdown,
    /// The system's CA certificates could not be loaded (none installed, or none usable).
    Roots,
    /// Any other TLS protocol failure.
    Protocol,
}

/// A TLS failure: a kind, a one-line message, and the rustls error behind it when there is one.
#[derive(Debug, Clone)]
pub struct TlsError {
    kind: TlsErrorKind,
    message: String,
    source: Option<RustlsError>,
}

impl TlsError {
    /// A failure of this kind with this one-line message (for a layer above that finds a TLS
    /// problem of its own, such as a connector refusing the protocol ALPN chose).
    pub fn new(kind: TlsErrorKind, message: impl Into<String>) -> TlsError {
        TlsError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    fn with_source(mut self, source: RustlsError) -> TlsError {
        self.source = Some(source);
        self
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The rustls error behind it, if any.
    pub fn rustls_error(&self) -> Option<&RustlsError> {
        self.source.as_ref()
    }

    /// The `TlsError` inside an `io::Error` this crate returned, if it is a TLS failure.
    pub fn of(err: &io::Error) -> Option<&TlsError> {
        err.get_ref()?.downcast_ref::<TlsError>()
    }

    /// As an `io::Error`: `UnexpectedEof` for the two early ends, `InvalidInput` for bad
    /// configuration, `BrokenPipe` for a write after shutdown, `InvalidData` otherwise.
    pub fn into_io(self) -> io::Error {
        let kind = match self.kind {
            TlsErrorKind::Truncated | TlsErrorKind::HandshakeEof => io::ErrorKind::UnexpectedEof,
            TlsErrorKind::KeyMismatch | TlsErrorKind::Pem | TlsErrorKind::Roots => {
                io::ErrorKind::InvalidInput
            }
            TlsErrorKind::WriteAfterShutdown => io::ErrorKind::BrokenPipe,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    /// What this side calls its peer.
    fn peer(self) -> &'static str {
        match self {
            Side::Client => "server",
            Side::Server => "client",
        }
    }
}

/// What the stream knows when rustls fails: which side it is, the name it connected to (a
/// client) and the first bytes the peer sent, which tell a plain-HTTP peer apart.
pub(crate) struct Context<'a> {
    pub side: Side,
    pub server_name: Option<&'a str>,
    pub first_bytes: &'a [u8],
    pub handshaking: bool,
}

impl Context<'_> {
    fn name(&self) -> &str {
        self.server_name.unwrap_or("the server")
    }
}

/// A rustls failure, explained.
pub(crate) fn explain(err: RustlsError, cx: &Context<'_>) -> TlsError {
    use TlsErrorKind as K;
    let peer = cx.side.peer();
    if cx.handshaking {
        if let Some(e) = wrong_protocol(cx) {
            return e.with_source(err);
        }
    }
    let (kind, message) = match &err {
        RustlsError::InvalidCertificate(cert) => certificate(cert, cx),
        RustlsError::AlertReceived(alert) => alert_received(*alert, cx),
        RustlsError::PeerIncompatible(why) => (
            K::Incompatible,
            format!("TLS: no protocol version or cipher suite in common with the {peer} ({why:?})"),
        ),
        RustlsError::NoApplicationProtocol => (
            K::Incompatible,
            format!("TLS: the {peer} offers no application protocol (ALPN) this side accepts"),
        ),
        other => (K::Protocol, format!("TLS: {other}")),
    };
    TlsError::new(kind, message).with_source(err)
}

/// A peer that answered in something other than TLS, judged by its first bytes.
fn wrong_protocol(cx: &Context<'_>) -> Option<TlsError> {
    let b = cx.first_bytes;
    // A TLS record starts with its content type: 0x14..=0x18.
    if b.is_empty() || (0x14..=0x18).contains(&b[0]) {
        return None;
    }
    let (kind, message) = match cx.side {
        Side::Server if looks_like_http_request(b) => (
            TlsErrorKind::PlainHttp,
            "TLS: the client sent plain HTTP to this TLS port (it should use https://)".to_string(),
        ),
        Side::Client if b.starts_with(b"HTTP/") => (
            TlsErrorKind::PlainHttp,
            format!(
                "TLS: {} answered in plain HTTP, not TLS (use http://, or the server's TLS port)",
                cx.name()
            ),
        ),
        _ => (
            TlsErrorKind::NotTls,
            format!(
                "TLS: the {} does not speak TLS (its first bytes: {})",
                cx.side.peer(),
                b.iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
    };
    Some(TlsError::new(kind, message))
}

/// `GET /`, `POST /`, `OPTIONS *`...: an upper-case word and a space.
fn looks_like_http_request(b: &[u8]) -> bool {
    let word = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    (3..=7).contains(&word) && b.get(word) == Some(&b' ')
}

fn certificate(err: &CertificateError, cx: &Context<'_>) -> (TlsErrorKind, String) {
    use TlsErrorKind as K;
    let whose = match cx.side {
        Side::Client => format!("the server's certificate for {}", cx.name()),
        Side::Server => "the client's certificate".to_string(),
    };
    match err {
        CertificateError::UnknownIssuer => (
            K::UnknownIssuer,
            format!(
                "TLS: {whose} is not signed by a CA this side trusts (trust the CA that issued it, \
                 e.g. --cacert ca.pem, or make the {} send its intermediate certificates)",
                cx.side.peer()
            ),
        ),
        CertificateError::NotValidForNameContext { expected, presented } => (
            K::NameMismatch,
            format!(
                "TLS: the server's certificate is for {}, not for {} (connect by one of its \
                 names, or issue a certificate that names {})",
                if presented.is_empty() {
                    "no name".to_string()
                } else {
                    presented.iter().map(|n| bare_name(n)).collect::<Vec<_>>().join(", ")
                },
                expected.to_str(),
                expected.to_str()
            ),
        ),
        CertificateError::NotValidForName => (
            K::NameMismatch,
            format!(
                "TLS: the server's certificate does not name {} (connect by a name it holds)",
                cx.name()
            ),
        ),
        CertificateError::ExpiredContext { time, not_after } => (
            K::Expired,
            format!(
                "TLS: {whose} expired on {} (it is now {}): renew it, or check this machine's clock",
                utc(*not_after),
                utc(*time)
            ),
        ),
        CertificateError::Expired => (
            K::Expired,
            format!("TLS: {whose} has expired: renew it, or check this machine's clock"),
        ),
        CertificateError::NotValidYetContext { time, not_before } => (
            K::NotYetValid,
            format!(
                "TLS: {whose} is not valid before {} (it is now {}): check this machine's clock",
                utc(*not_before),
                utc(*time)
            ),
        ),
        CertificateError::NotValidYet => (
            K::NotYetValid,
            format!("TLS: {whose} is not valid yet: check this machine's clock"),
        ),
        CertificateError::Other(other) if is_ca_as_leaf(other) => (
            K::BadCertificate,
            format!(
                "TLS: {whose} is a CA certificate (basicConstraints CA:TRUE), which a {} may not \
                 use as its own: give it a certificate signed by that CA (a self-signed one from \
                 `openssl req -x509` needs -addext basicConstraints=critical,CA:FALSE)",
                cx.side.peer()
            ),
        ),
        other => (
            K::BadCertificate,
            format!("TLS: {whose} was rejected: {}", RustlsError::InvalidCertificate(other.clone())),
        ),
    }
}

/// webpki's "CA used as end entity": a self-signed certificate made as a CA (what
/// `openssl req -x509` makes by default) presented as a server's own.
fn is_ca_as_leaf(other: &rustls::OtherError) -> bool {
    matches!(
        other.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::CaUsedAsEndEntity)
    )
}

fn alert_received(alert: AlertDescription, cx: &Context<'_>) -> (TlsErrorKind, String) {
    use AlertDescription as A;
    let peer = cx.side.peer();
    match alert {
        A::UnknownCA
        | A::BadCertificate
        | A::CertificateUnknown
        | A::CertificateExpired
        | A::CertificateRevoked
        | A::UnsupportedCertificate
        | A::AccessDenied => (
            TlsErrorKind::PeerRefused,
            match cx.side {
                Side::Server => format!(
                    "TLS: the client refused this server's certificate ({alert:?}): give clients \
                     the CA that issued it, or use a certificate they already trust"
                ),
                Side::Client => {
                    format!("TLS: the server refused this client's certificate ({alert:?})")
                }
            },
        ),
        A::ProtocolVersion | A::HandshakeFailure | A::InsufficientSecurity => (
            TlsErrorKind::Incompatible,
            format!(
                "TLS: the {peer} refused the handshake ({alert:?}): it allows no TLS version or \
                 cipher suite that this side offers"
            ),
        ),
        A::NoApplicationProtocol => (
            TlsErrorKind::Incompatible,
            format!("TLS: the {peer} accepts none of the application protocols (ALPN) offered"),
        ),
        other => (
            TlsErrorKind::Protocol,
            format!("TLS: the {peer} ended the connection with the alert {other:?}"),
        ),
    }
}

/// `localhost` for webpki's `DnsName("localhost")`, `127.0.0.1` for `IpAddress(127.0.0.1)`.
fn bare_name(presented: &str) -> &str {
    let inner = presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"')
}

/// `2026-12-01 13:45:00 UTC`.
fn utc(t: UnixTime) -> String {
    let secs = t.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(
            utc(UnixTime::since_unix_epoch(std::time::Duration::ZERO)),
            "1970-01-01 00:00:00 UTC"
        );
        let t = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_709_210_096));
        assert_eq!(utc(t), "2024-02-29 12:34:56 UTC");
    }

    #[test]
    fn http_requests_are_told_from_tls_records() {
        assert!(looks_like_http_request(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http_request(b"OPTIONS * HTTP/1.1"));
        assert!(!looks_like_http_request(b"\x16\x03\x01\x02\x00"));
        assert!(!looks_like_http_request(b"get / HTTP/1.1"));
        assert!(!looks_like_http_request(b"SSH-2.0-OpenSSH"));
    }

    #[test]
    fn presented_names_lose_their_wrapping() {
        assert_eq!(bare_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(bare_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(bare_name("plain"), "plain");
    }
}
