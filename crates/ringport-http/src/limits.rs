//! `Limits`: the sizes and times a client is allowed, and the status that answers each breach.

use std::time::Duration;

/// What one connection may send and how long it may take. Every breach is answered with its
/// status and the connection is closed, so a client cannot hold the server's memory or a
/// connection slot for longer than these allow.
///
/// ```
/// use ringport_http::Limits;
/// use std::time::Duration;
/// let limits = Limits {
///     max_body_bytes: 64 * 1024,
///     header_timeout: Duration::from_secs(5),
///     ..Limits::default()
/// };
/// assert_eq!(limits.max_headers, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The request line and headers together, in bytes (431 when exceeded). Default 16 KiB.
    pub max_head_bytes: usize,
    /// The number of header fields (431 when exceeded). Default 100.
    pub max_headers: usize,
    /// A request body, in bytes after chunked decoding (413 when exceeded). Bodies are
    /// buffered in memory before the handler runs. Default 1 MiB.
    pub max_body_bytes: u64,
    /// From the first byte of a request (or from accept, for a connection's first request) to
    /// the end of its head (408 when exceeded). Default 10 s.
    pub header_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests before it is closed
    /// without a response. Default 60 s.
    pub keep_alive_timeout: Duration,
    /// The longest wait for the next piece of a request body (408 when exceeded). Default 30 s.
    /// The whole body must also come within this much plus one millisecond per byte received
    /// (1,000 bytes/s on average), so a body trickled a byte at a time cannot hold a
    /// connection for long.
    pub read_timeout: Duration,
    /// The longest wait for one write to go out, or for one 4 MiB piece of a file body; the
    /// connection is closed when a client stops reading. Default 60 s.
    pub write_timeout: Duration,
    /// After the shutdown trigger fires, how long requests in flight may take before their
    /// connections are dropped. Default 30 s.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
