//! How the client gets a stream to a server: the [`Connect`] hook, keyed by scheme, host and
//! port, and [`HttpConnector`], plain TCP. A TLS connector slots in here: its `Stream` is any
//! ringport stream with owned-buffer reads and writes.

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
/// `https://` is refused with [`io::ErrorKind::Unsupported`]: TLS is not built yet.
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
                "https:// needs TLS, which is not built yet (plain http:// only for now)",
            ));
        }
        let stream = TcpStream::connect(format!("{}:{}", dest.host, dest.port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}
