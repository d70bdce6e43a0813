//! How the client gets a stream to a server: the [`Connect`] hook, keyed by scheme, host and
//! port, and [`HttpConnector`], plain TCP. With the `tls` feature, `HttpsConnector`
//! (client/tls.rs) wraps it and hands back plain or TLS streams.

use super::Scheme;
use ringport::io::{AsyncRead, AsyncWrite};
use ringport::net::TcpStream;
use std::fmt;
use std::future::Future;
use std::io;

/// Where a connection goes: also the key of the connection pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// A host name, an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

/// Makes connections for a [`Client`](super::Client).
///
/// The stream is any ringport stream: `TcpStream` for `http`, and a TLS stream over one for
/// `https` (a connector that wraps [`HttpConnector`] and hands back an enum of both).
pub trait Connect: 'static {
    /// The connection's stream.
    type Stream: AsyncRead + AsyncWrite + 'static;

    /// Opens a connection to `dest`. The client bounds it with its connect timeout.
    fn connect(&self, dest: &Destination) -> impl Future<Output = io::Result<Self::Stream>>;
}

/// Plain TCP, with `TCP_NODELAY` (requests go out whole, nothing for Nagle to merge).
/// `https://` is refused with [`io::ErrorKind::Unsupported`]: for it, use `HttpsConnector`
/// (feature `tls`).
#[derive(Debug, Clone, Default)]
pub struct HttpConnector {
    _private: (),
}

impl HttpConnector {
    /// The plain TCP connector.
    pub fn new() -> HttpConnector {
        HttpConnector::default()
    }
}

impl Connect for HttpConnector {
    type Stream = TcpStream;

    async fn connect(&self, dest: &Destination) -> io::Result<TcpStream> {
        if dest.scheme == Scheme::Https {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "https:// needs TLS: this client's connector is plain TCP (use HttpsConnector, \
                 from ringport-http's `tls` feature)",
            ));
        }
        tcp(dest).await
    }
}

/// A TCP connection to `dest`'s host and port, with `TCP_NODELAY`.
pub(crate) async fn tcp(dest: &Destination) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(format!("{}:{}", dest.host, dest.port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Whether a connector's error is a TLS failure that trying again will not mend (see
/// [`Kind::Tls`](super::Kind::Tls)).
#[cfg(feature = "tls")]
pub(crate) fn is_tls_failure(e: &io::Error) -> bool {
    super::tls::is_tls_failure(e)
}

/// Without the `tls` feature no connector of ours speaks TLS.
#[cfg(not(feature = "tls"))]
pub(crate) fn is_tls_failure(_: &io::Error) -> bool {
    false
}
