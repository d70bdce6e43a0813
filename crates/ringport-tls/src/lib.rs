//! TLS on ringport streams, with rustls.
//!
//! [`TlsConnector`] and [`TlsAcceptor`] run the handshake over any ringport stream with owned
//! reads and writes (`TcpStream`, `UnixStream`, their halves, pipes) and hand out a
//! [`TlsStream`], which is itself a ringport stream: it implements
//! [`AsyncRead`](ringport::io::AsyncRead) and [`AsyncWrite`](ringport::io::AsyncWrite) with
//! owned buffers, so it goes wherever a plain stream goes.
//!
//! ```no_run
//! use ringport::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
//! use ringport::net::TcpStream;
//! use ringport_tls::{config, server_name, TlsConnector};
//! # fn main() -> std::io::Result<()> {
//! ringport::run(async {
//!     let connector = TlsConnector::new(config::client_platform(&[b"http/1.1"])?);
//!     let tcp = TcpStream::connect("example.com:443").await?;
//!     let mut tls = connector.connect(server_name("example.com")?, tcp).await?;
//!     tls.write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".to_vec())
//!         .await
//!         .0?;
//!     tls.flush().await?;
//!     let (res, body) = tls.read_to_end(Vec::new()).await.into_parts();
//!     res?;
//!     println!("{}", String::from_utf8_lossy(&body));
//!     Ok(())
//! })
//! # }
//! ```
//!
//! - **Cancel-safe.** The receive and the send in flight live in the `TlsStream`, not in the
//!   caller's future: a read, write or handshake future dropped at any await point (a
//!   timeout, a `select`) loses no byte, and the next call carries on.
//! - **End of stream is checked.** A read returns `Ok(0)` only after the peer's
//!   `close_notify`; a connection cut without one is an `UnexpectedEof` error
//!   ([`TlsErrorKind::Truncated`]). `shutdown_write` sends `close_notify`.
//! - **Errors a person can act on**: an unknown CA, a name or date mismatch, a key that does
//!   not belong to its certificate, an unreadable PEM file, a plain-HTTP peer: one line each
//!   ([`TlsError`]).
//! - **Provider passed explicitly**: ring by default, aws-lc-rs with the `aws-lc-rs` feature
//!   ([`config::provider`]).
//!
//! Kernel TLS is not used yet (this crate encrypts in user space); see ARCHITECTURE.md for
//! where it will fit.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod config;
mod error;
mod stream;

pub use error::{TlsError, TlsErrorKind};
pub use rustls;
pub use rustls::pki_types::ServerName;
pub use stream::{TlsStream, DEFAULT_RECEIVE_BUFFER, MAX_RECEIVE_BUFFER};

use ringport::io::{OwnedRead, OwnedWrite};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use std::io;
use std::sync::Arc;

/// Parses a host name or IP address into the name a client checks the certificate against,
/// with a one-line error for anything else.
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    // `[::1]` as written in a URL.
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_string()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TLS: {host:?} is not a valid DNS name or IP address"),
        )
    })
}

/// Starts client connections: one shared configuration (roots, ALPN, versions, and the session
/// cache that lets later connections resume).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    /// A connector with this configuration (see [`config`] for ready-made ones).
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector { config }
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the client handshake over `io`, checking the server's certificate against
    /// `server_name` (also sent as SNI when it is a DNS name).
    pub async fn connect<S: OwnedRead + OwnedWrite>(
        &self,
        server_name: ServerName<'static>,
        io: S,
    ) -> io::Result<TlsStream<S>> {
        let mut stream = self.connect_lazy(server_name, io)?;
        stream.handshake().await?;
        Ok(stream)
    }

    /// A client stream whose handshake runs on its first read, write or flush (or
    /// [`TlsStream::handshake`]). The handshake's own failures are reported by that call.
    pub fn connect_lazy<S: OwnedRead + OwnedWrite>(
        &self,
        server_name: ServerName<'static>,
        io: S,
    ) -> io::Result<TlsStream<S>> {
        let shown = server_name.to_str().into_owned();
        let conn = ClientConnection::new(self.config.clone(), server_name)
            .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
        let mut stream = TlsStream::new(io, conn);
        stream.set_server_name(shown);
        Ok(stream)
    }
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector::new(config)
    }
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// Accepts server connections: one shared configuration (certificate, ALPN, versions, and the
/// session cache and tickets that let clients resume).
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
}

impl TlsAcceptor {
    /// An acceptor with this configuration (see [`config::server_from_pem`]).
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor { config }
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the server handshake over `io`.
    pub async fn accept<S: OwnedRead + OwnedWrite>(&self, io: S) -> io::Result<TlsStream<S>> {
        let mut stream = self.accept_lazy(io)?;
        stream.handshake().await?;
        Ok(stream)
    }

    /// Runs the server handshake over `io`, of which `received` was already read (the first
    /// bytes a server looked at to tell TLS from plain HTTP): rustls gets them first.
    pub async fn accept_received<S: OwnedRead + OwnedWrite>(
        &self,
        io: S,
        received: Vec<u8>,
    ) -> io::Result<TlsStream<S>> {
        let mut stream = self.accept_lazy(io)?;
        stream.set_received(received);
        stream.handshake().await?;
        Ok(stream)
    }

    /// A server stream whose handshake runs on its first read, write or flush (or
    /// [`TlsStream::handshake`]).
    pub fn accept_lazy<S: OwnedRead + OwnedWrite>(&self, io: S) -> io::Result<TlsStream<S>> {
        let conn = ServerConnection::new(self.config.clone())
            .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
        Ok(TlsStream::new(io, conn))
    }
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor::new(config)
    }
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}
