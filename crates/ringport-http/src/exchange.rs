//! What the server reports about each request: the client's address (in every request's
//! extensions) and the [`Exchange`] an access log is written from.

use http::{HeaderValue, Method, StatusCode, Uri, Version};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// The client's address, in every request's extensions.
///
/// ```
/// # fn f(req: http::Request<bytes::Bytes>) {
/// use ringport_http::PeerAddr;
/// let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// One request and its response, as reported to [`Server::on_response`](crate::Server::on_response)
/// (an access log). Requests refused before their head was parsed have no method, URI or
/// version.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The client's address.
    pub peer: SocketAddr,
    /// The request method.
    pub method: Option<Method>,
    /// The request target.
    pub uri: Option<Uri>,
    /// The request's HTTP version.
    pub version: Option<Version>,
    /// The response status.
    pub status: StatusCode,
    /// Body bytes the socket took (not counting the head or chunk framing): all of the body
    /// for a response sent whole, fewer for one cut short (the client left, a write timed out).
    pub body_bytes: u64,
    /// From the complete head to the last byte written.
    pub elapsed: Duration,
    /// When the head was complete (the time an access log shows).
    pub received: SystemTime,
    /// The request's `Referer`, when it had one.
    pub referer: Option<HeaderValue>,
    /// The request's `User-Agent`, when it had one.
    pub user_agent: Option<HeaderValue>,
}
