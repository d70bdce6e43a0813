//! `HttpsConnector` (feature `tls`): plain TCP for `http://`, TLS over TCP for `https://`
//! (ringport-tls), both as one stream type, [`MaybeTlsStream`].
//!
//! One [`TlsConnector`] serves every connection of a client, so its session cache is shared:
//! a pooled or parallel connection to a server this client has already met resumes the
//! session (no certificate sent or checked again, one round trip less with TLS 1.2).

use super::connect::{tcp, Connect, Destination};
use super::Scheme;
use ringport::buf::{BufResult, IoBuf, IoBufMut};
use ringport::io::{AsyncRead, AsyncWrite};
use ringport::net::TcpStream;
use ringport_tls::{config, server_name, TlsConnector, TlsError, TlsErrorKind, TlsStream};
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The one application protocol this client speaks, offered by ALPN.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Bytes one receive may bring on a client's TLS stream: bodies are bulk, and four records
/// per receive cost less CPU per GiB than one (BENCHMARKS.md, get T).
const RECEIVE_BUFFER: usize = 64 * 1024;

/// Connects `http://` over plain TCP and `https://` over TLS, checking the server's
/// certificate against the system's roots ([`new`](Self::new)), a CA file
/// ([`with_ca_file`](Self::with_ca_file)), or a configuration of the caller's
/// ([`with_tls`](Self::with_tls)). Cheap to clone; clones share one session cache. `Send` and
/// `Sync`: the clients of several loops may share one connector (and so one session cache).
///
/// ```no_run
/// use ringport_http::client::{Client, HttpsConnector};
///
/// ringport::run(async {
///     let client = Client::builder().connector(HttpsConnector::new()).build();
///     let res = client.get("https://example.com/").send().await?;
///     println!("{}", res.status());
///     Ok::<_, ringport_http::client::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct HttpsConnector {
    tls: Arc<Roots>,
}

enum Roots {
    Given(TlsConnector),
    /// The system's roots, read at the first `https://` connection, so that a client that
    /// only ever speaks plain HTTP never reads the trust store. A failure is kept.
    Platform(OnceLock<Result<TlsConnector, TlsError>>),
}

impl HttpsConnector {
    /// Trusts the operating system's roots (`ringport_tls::config::client_platform`: on
    /// Linux the system CA bundle, honouring `SSL_CERT_FILE` and `SSL_CERT_DIR`), read once,
    /// at the first `https://` connection, on the blocking pool.
    pub fn new() -> HttpsConnector {
        HttpsConnector {
            tls: Arc::new(Roots::Platform(OnceLock::new())),
        }
    }

    /// Uses this TLS connector for every `https://` connection. Its configuration should
    /// offer ALPN `http/1.1` or nothing: a server that picks another protocol is refused.
    pub fn with_tls(tls: TlsConnector) -> HttpsConnector {
        HttpsConnector {
            tls: Arc::new(Roots::Given(tls)),
        }
    }

    /// Trusts only the CA certificates in the PEM file `ca` (curl's `--cacert`). The error
    /// names the file and what is wrong with it.
    pub fn with_ca_file(ca: &Path) -> io::Result<HttpsConnector> {
        let config = config::client_with_ca(ca, &[ALPN_HTTP11])?;
        Ok(HttpsConnector::with_tls(TlsConnector::new(config)))
    }

    /// Accepts **any** server certificate (curl's `--insecure`): the connection is encrypted,
    /// but to whoever answers. For testing only.
    pub fn insecure() -> HttpsConnector {
        HttpsConnector::with_tls(TlsConnector::new(config::client_insecure(&[ALPN_HTTP11])))
    }

    /// The TLS connector `https://` connections use (reading the system's roots first, on the
    /// blocking pool, when that is what this connector trusts and they have not been read
    /// yet).
    pub async fn tls(&self) -> io::Result<TlsConnector> {
        let cell = match &*self.tls {
            Roots::Given(tls) => return Ok(tls.clone()),
            Roots::Platform(cell) => cell,
        };
        if let Some(known) = cell.get() {
            return known.clone().map_err(TlsError::into_io);
        }
        // The trust store is files: read off the loop thread. Two first connections may both
        // read it; the first to finish is kept.
        let loaded = ringport::spawn_blocking(|| config::client_platform(&[ALPN_HTTP11])).await;
        let loaded = match loaded {
            Ok(Ok(config)) => Ok(TlsConnector::new(config)),
            Ok(Err(e)) => Err(TlsError::of(&e)
                .cloned()
                .unwrap_or_else(|| TlsError::new(TlsErrorKind::Roots, e.to_string()))),
            Err(e) => Err(TlsError::new(
                TlsErrorKind::Roots,
                format!("TLS: reading this system's CA certificates failed: {e}"),
            )),
        };
        cell.get_or_init(|| loaded)
            .clone()
            .map_err(TlsError::into_io)
    }
}

impl Default for HttpsConnector {
    fn default() -> Self {
        HttpsConnector::new()
    }
}

impl fmt::Debug for HttpsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots = match &*self.tls {
            Roots::Given(tls) => format!("{tls:?}"),
            Roots::Platform(_) => "the system's roots".to_string(),
        };
        f.debug_struct("HttpsConnector")
            .field("tls", &roots)
            .finish()
    }
}

impl Connect for HttpsConnector {
    type Stream = MaybeTlsStream;

    async fn connect(&self, dest: &Destination) -> io::Result<MaybeTlsStream> {
        if dest.scheme == Scheme::Http {
            return Ok(MaybeTlsStream::Plain(tcp(dest).await?));
        }
        let tls = self.tls().await?;
        let name = server_name(&dest.host)?;
        let mut stream = tls.connect(name, tcp(dest).await?).await?;
        stream.set_receive_buffer_size(RECEIVE_BUFFER);
        if let Some(p) = stream.alpn_protocol() {
            if p != ALPN_HTTP11 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "TLS: {dest} chose the application protocol {:?}, and this client \
                         speaks only http/1.1",
                        String::from_utf8_lossy(p)
                    ),
                ));
            }
        }
        Ok(MaybeTlsStream::Tls(Box::new(stream)))
    }
}

/// Whether a connector's error is a TLS failure that trying again will not mend: a
/// certificate refused (unknown CA, wrong name, expired), nothing in common, a server that
/// does not speak TLS, no usable roots. A handshake cut short is not one (it is retried).
pub(crate) fn is_tls_failure(e: &io::Error) -> bool {
    use TlsErrorKind as K;
    TlsError::of(e).is_some_and(|t| {
        matches!(
            t.kind(),
            K::UnknownIssuer
                | K::NameMismatch
                | K::Expired
                | K::NotYetValid
                | K::BadCertificate
                | K::PeerRefused
                | K::Incompatible
                | K::PlainHttp
                | K::NotTls
                | K::Roots
        )
    })
}

/// A client connection: plain TCP (`http://`) or TLS over TCP (`https://`).
pub enum MaybeTlsStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: a TLS stream is much larger than a socket).
    Tls(Box<TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TLS stream, for a connection that is one (its version, cipher suite, whether it
    /// resumed a session, the server's certificates).
    pub fn tls(&self) -> Option<&TlsStream<TcpStream>> {
        match self {
            MaybeTlsStream::Plain(_) => None,
            MaybeTlsStream::Tls(s) => Some(s),
        }
    }

    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            MaybeTlsStream::Tls(s) => s.get_ref().0,
        }
    }
}

impl fmt::Debug for MaybeTlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaybeTlsStream::Plain(s) => f.debug_tuple("Plain").field(s).finish(),
            MaybeTlsStream::Tls(s) => f.debug_tuple("Tls").field(s).finish(),
        }
    }
}

impl AsyncRead for MaybeTlsStream {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf).await,
            MaybeTlsStream::Tls(s) => s.read(buf).await,
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf).await,
            MaybeTlsStream::Tls(s) => s.write(buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush().await,
            MaybeTlsStream::Tls(s) => s.flush().await,
        }
    }

    async fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.shutdown_write().await,
            MaybeTlsStream::Tls(s) => s.shutdown_write().await,
        }
    }
}
