//! `Server`: accepts connections, serves each in its own task, and shuts down gracefully.

use crate::trigger::{race, Either, Trigger};
use crate::{conn, Body, Limits};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use ringport::net::{TcpListener, ToSocketAddrs};
use ringport::signal::{signal, SignalKind};
use ringport::time::{sleep, timeout};
use ringport::JoinHandle;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

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

/// One request and its response, as reported to [`Server::on_response`] (an access log).
/// Requests refused before their head was parsed have no method, URI or version.
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
    /// Body bytes sent (not counting the head or chunk framing).
    pub body_bytes: u64,
    /// From the complete head to the last byte written.
    pub elapsed: Duration,
}

/// The hook [`Server::on_response`] installs.
type ResponseHook = Box<dyn Fn(&Exchange)>;

/// State every connection task shares.
pub(crate) struct Shared<H> {
    pub handler: H,
    pub limits: Limits,
    pub shutdown: Trigger,
    pub on_response: Option<ResponseHook>,
}

/// An HTTP/1.1 server on one ringport runtime thread.
///
/// ```no_run
/// use ringport_http::{http::Response, Body, Server};
/// ringport::run(async {
///     Server::bind("127.0.0.1:8080")?
///         .serve(|_req| async { Response::new(Body::from("<h1>Hello World!</h1>")) })
///         .await
/// })
/// .unwrap();
/// ```
pub struct Server {
    listener: TcpListener,
    limits: Limits,
    on_response: Option<ResponseHook>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on `addr` (an IP address and port; port 0 picks a free one).
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr)?))
    }

    /// Serves connections from a listener set up elsewhere.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            limits: Limits::default(),
            on_response: None,
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Replaces the default limits.
    pub fn limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// Calls `hook` after every response, including the ones the server sends itself (400,
    /// 408, 413, 431, ...). It runs on the loop thread: it must not block.
    pub fn on_response(mut self, hook: impl Fn(&Exchange) + 'static) -> Server {
        self.on_response = Some(Box::new(hook));
        self
    }

    /// Serves until Ctrl-C (SIGINT), then shuts down gracefully as
    /// [`serve_with_shutdown`](Self::serve_with_shutdown) does.
    pub async fn serve<H, F>(self, handler: H) -> io::Result<()>
    where
        H: Fn(Request<Bytes>) -> F + 'static,
        F: Future<Output = Response<Body>> + 'static,
    {
        // Listen before serving: from here on SIGINT is a request to stop, not a kill.
        let mut sigint = signal(SignalKind::interrupt())?;
        let stop = async move {
            let _ = sigint.recv().await;
        };
        self.serve_with_shutdown(handler, stop).await
    }

    /// Serves until `shutdown` completes. Then it stops accepting (new connections are
    /// refused), closes idle connections, lets requests in flight finish (their responses
    /// say `Connection: close`) for up to `Limits::shutdown_grace`, drops what is left, and
    /// returns.
    pub async fn serve_with_shutdown<H, F>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()>
    where
        H: Fn(Request<Bytes>) -> F + 'static,
        F: Future<Output = Response<Body>> + 'static,
    {
        let shared = Rc::new(Shared {
            handler,
            limits: self.limits,
            shutdown: Trigger::default(),
            on_response: self.on_response,
        });
        let mut conns: Vec<JoinHandle<()>> = Vec::new();
        // Finished connections are pruned when the list doubles: O(1) per accept, amortised.
        let mut prune_at = 64;
        let mut shutdown = pin!(shutdown);
        let mut incoming = self.listener.incoming();
        loop {
            match race(shutdown.as_mut(), incoming.next()).await {
                Either::Left(()) => break,
                Either::Right(Ok(stream)) => {
                    if conns.len() >= prune_at {
                        conns.retain(|c| !c.is_finished());
                        prune_at = (conns.len() * 2).max(64);
                    }
                    let Ok(peer) = stream.peer_addr() else {
                        continue; // reset before we looked
                    };
                    let task = conn::serve(stream, peer, shared.clone());
                    conns.push(ringport::spawn(task));
                }
                // Accept errors are the client's (reset, aborted) or passing (out of fds: the
                // listener backs off); a short pause keeps an unexpected one from spinning.
                Either::Right(Err(_)) => sleep(Duration::from_millis(10)).await,
            }
        }
        drop(incoming);
        drop(self.listener);
        shared.shutdown.fire();
        drain(conns, shared.limits.shutdown_grace).await;
        Ok(())
    }
}

/// Waits for every connection task, for `grace` at most; then aborts those left.
async fn drain(mut conns: Vec<JoinHandle<()>>, grace: Duration) {
    let all = async {
        for conn in conns.iter_mut() {
            let _ = conn.await;
        }
    };
    if timeout(grace, all).await.is_err() {
        for conn in conns.iter_mut() {
            conn.abort();
        }
    }
}
