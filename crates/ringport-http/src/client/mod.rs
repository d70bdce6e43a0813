//! An HTTP/1.1 client on ringport streams (feature `client`), with reqwest's names.
//!
//! ```no_run
//! use ringport_http::Client;
//! use std::time::Duration;
//!
//! ringport::run(async {
//!     let client = Client::builder()
//!         .connect_timeout(Duration::from_secs(5))
//!         .max_connections_per_host(8)
//!         .build();
//!     let res = client
//!         .get("http://127.0.0.1:8080/big.iso")
//!         .range(0..=1023)
//!         .send()
//!         .await?
//!         .error_for_status()?;
//!     println!("{} {:?}", res.status(), res.content_range());
//!     let body = res.bytes().await?;
//!     println!("{} bytes", body.len());
//!     Ok::<_, ringport_http::client::Error>(())
//! })
//! .unwrap();
//! ```
//!
//! - A [`Client`] is cheap to clone (an `Rc`), `!Send`, one per loop. It keeps a pool of
//!   keep-alive connections per scheme, host and port (newest first, closed after
//!   [`ClientBuilder::pool_idle_timeout`]) and a cap on live ones per host
//!   ([`ClientBuilder::max_connections_per_host`]): a request past the cap waits for one.
//! - Bodies: `Content-Length`, chunked, and until-close; `Connection: close` and HTTP/1.0
//!   honoured; a connection goes back to the pool only once its body was read to the end.
//! - Redirects 301/302/303/307/308 with their method rules, up to a limit, loops detected;
//!   credentials are dropped when a redirect leaves the origin.
//! - A pooled connection that the server closed meanwhile is replaced once for idempotent
//!   methods.
//! - Connect, read and total timeouts; a timed-out read hands its buffer back (it is
//!   cancelled, not dropped).
//! - The body is read completion-style into owned buffers ([`Response::read`], also
//!   `ringport::io::AsyncRead`) or written into a file at an offset ([`Response::save_to`]).
//! - TLS (feature `tls`): [`HttpsConnector`] speaks `http://` over TCP and `https://` over
//!   ringport-tls, checking certificates against the system's roots, a CA file, or a
//!   configuration of the caller's; one session cache per connector, so later connections
//!   resume. [`Connect`] is the hook for other transports; [`HttpConnector`], the default, is
//!   plain TCP and refuses `https://` with a clear error.

mod conn;
mod connect;
mod error;
mod pool;
pub mod redirect;
mod request;
mod response;
#[cfg(feature = "tls")]
mod tls;
mod url;

pub use connect::{Connect, Destination, HttpConnector};
pub use error::{Error, Kind};
pub use request::RequestBuilder;
pub use response::Response;
#[cfg(feature = "tls")]
pub use tls::{HttpsConnector, MaybeTlsStream, ALPN_HTTP11};
pub use url::{Scheme, Url};

use http::header::{HeaderMap, HeaderValue};
use http::Method;
use pool::{Pool, PoolConfig};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

/// The client's settings, fixed at `build`.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub connect_timeout: Option<Duration>,
    pub timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub redirect: redirect::Policy,
    pub user_agent: Option<HeaderValue>,
    pub default_headers: HeaderMap,
    pub max_head_bytes: usize,
    pub max_headers: usize,
}

/// An HTTP/1.1 client with a connection pool. See the [module docs](self).
pub struct Client<C: Connect = HttpConnector> {
    inner: Rc<Inner<C>>,
}

struct Inner<C: Connect> {
    connector: C,
    pool: Rc<Pool<C::Stream>>,
    config: Config,
}

impl<C: Connect> Clone for Client<C> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
        }
    }
}

impl<C: Connect> fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with the default settings and plain TCP.
    pub fn new() -> Client {
        ClientBuilder::new().build()
    }

    /// Settings for a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl<C: Connect> Client<C> {
    /// A GET request.
    pub fn get(&self, url: &str) -> RequestBuilder<'_, C> {
        self.request(Method::GET, url)
    }

    /// A HEAD request.
    pub fn head(&self, url: &str) -> RequestBuilder<'_, C> {
        self.request(Method::HEAD, url)
    }

    /// A POST request.
    pub fn post(&self, url: &str) -> RequestBuilder<'_, C> {
        self.request(Method::POST, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder<'_, C> {
        RequestBuilder::new(self, method, url)
    }

    /// How many connections to `dest` are live now (leased, idle or connecting).
    pub fn connections(&self, dest: &Destination) -> usize {
        self.inner.pool.live(dest)
    }
}

/// Settings for a [`Client`].
pub struct ClientBuilder<C = HttpConnector> {
    connector: C,
    config: Config,
    pool: PoolConfig,
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The defaults: connect timeout 30 s, no total or read timeout, 10 redirects, idle
    /// connections kept 90 s, up to 32 idle and 64 live per host.
    pub fn new() -> ClientBuilder {
        ClientBuilder {
            connector: HttpConnector::new(),
            config: Config {
                connect_timeout: Some(Duration::from_secs(30)),
                timeout: None,
                read_timeout: None,
                redirect: redirect::Policy::default(),
                user_agent: Some(HeaderValue::from_static(concat!(
                    "ringport/",
                    env!("CARGO_PKG_VERSION")
                ))),
                default_headers: HeaderMap::new(),
                max_head_bytes: 64 * 1024,
                max_headers: 128,
            },
            pool: PoolConfig {
                idle_timeout: Some(Duration::from_secs(90)),
                max_idle_per_host: 32,
                max_per_host: 64,
            },
        }
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl<C: Connect> ClientBuilder<C> {
    /// Uses another connector (`HttpsConnector` for `https://`).
    pub fn connector<D: Connect>(self, connector: D) -> ClientBuilder<D> {
        ClientBuilder {
            connector,
            config: self.config,
            pool: self.pool,
        }
    }

    /// The longest a connect may take.
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.config.connect_timeout = Some(limit);
        self
    }

    /// The default limit on a whole request, from sending to the body's last byte.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.config.timeout = Some(limit);
        self
    }

    /// The longest wait for the next bytes of a response (head or body).
    pub fn read_timeout(mut self, limit: Duration) -> Self {
        self.config.read_timeout = Some(limit);
        self
    }

    /// How long an idle connection stays in the pool (`None`: until the server closes it).
    pub fn pool_idle_timeout(mut self, limit: Option<Duration>) -> Self {
        self.pool.idle_timeout = limit;
        self
    }

    /// How many idle connections per host the pool keeps.
    pub fn pool_max_idle_per_host(mut self, n: usize) -> Self {
        self.pool.max_idle_per_host = n;
        self
    }

    /// How many connections per host may be live at once (at least 1).
    pub fn max_connections_per_host(mut self, n: usize) -> Self {
        self.pool.max_per_host = n.max(1);
        self
    }

    /// The redirect policy.
    pub fn redirect(mut self, policy: redirect::Policy) -> Self {
        self.config.redirect = policy;
        self
    }

    /// The `User-Agent` header (a value that is not a valid header is ignored).
    pub fn user_agent(mut self, ua: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(ua) {
            self.config.user_agent = Some(v);
        }
        self
    }

    /// Headers sent with every request (a request's own header of the same name wins).
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        self.config.default_headers = headers;
        self
    }

    /// The client.
    pub fn build(self) -> Client<C> {
        Client {
            inner: Rc::new(Inner {
                connector: self.connector,
                pool: Pool::new(self.pool),
                config: self.config,
            }),
        }
    }
}
