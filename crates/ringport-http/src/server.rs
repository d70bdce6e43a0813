//! `Server`: accepts connections, serves each in its own task, and shuts down gracefully.

use crate::conn::{self, ResponseHook, Shared};
use crate::exchange::Exchange;
use crate::trigger::{race, Either, Trigger};
use crate::Transport;
use crate::{Body, Limits};
use bytes::Bytes;
use http::{Request, Response};
use ringport::buf::BufRing;
use ringport::net::{Handed, LiveGuard};
use ringport::net::{TcpIncoming, TcpListener, TcpStream, ToSocketAddrs};
use ringport::signal::{signal, SignalKind};
use ringport::time::{sleep, timeout};
use ringport::JoinHandle;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

/// The hook [`Server::on_shutdown`] installs.
type ShutdownHook = Box<dyn Fn(usize, Duration)>;
/// The hook [`Server::on_accept_error`] installs.
type AcceptErrorHook = Box<dyn Fn(&io::Error)>;

/// Idle connections receive into buffers of a ring the server shares: this many...
const RING_BUFS: u16 = 512;
/// ...of this size (a request head of ordinary size in one receive; more take several).
const RING_BUF_LEN: usize = 2048;

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
    source: Source,
    limits: Limits,
    on_response: Option<ResponseHook>,
    on_shutdown: Option<ShutdownHook>,
    on_accept_error: Option<AcceptErrorHook>,
}

/// Where a server's connections come from.
enum Source {
    Listener(TcpListener),
    /// Handed over by a `net::Acceptor` on another loop; the address it listens on.
    Handed(Handed, SocketAddr),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Listener(l) => l.fmt(f),
            Source::Handed(h, addr) => write!(f, "{h:?} from {addr}"),
        }
    }
}

/// The connections of a [`Source`], one at a time.
enum Next<'a> {
    Listener(TcpIncoming<'a>),
    Handed(&'a mut Handed),
}

impl Next<'_> {
    /// The next connection; `None` when no more can come (the acceptor closed).
    /// A handed connection comes with the guard that counts it live until it closes.
    async fn next(&mut self) -> Option<io::Result<(TcpStream, Option<LiveGuard>)>> {
        match self {
            Next::Listener(incoming) => Some(incoming.next().await.map(|s| (s, None))),
            Next::Handed(handed) => {
                let (s, guard) = handed.next().await?;
                Some(Ok((s, Some(guard))))
            }
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("source", &self.source)
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
        Server::from_source(Source::Listener(listener))
    }

    /// Serves the connections a [`ringport::net::Acceptor`] on another loop (or this one)
    /// hands to this loop (`acceptor.incoming(ringport::current_core())`); `local` is the
    /// address the acceptor's listener has (what [`local_addr`](Self::local_addr) says). It
    /// stops taking connections at its shutdown or once the acceptor is closed, then drains
    /// as [`serve_with_shutdown`](Self::serve_with_shutdown) says. Each connection counts as
    /// live on this loop until it closes, which is what the acceptor balances.
    pub fn from_acceptor(handed: Handed, local: SocketAddr) -> Server {
        Server::from_source(Source::Handed(handed, local))
    }

    fn from_source(source: Source) -> Server {
        Server {
            source,
            limits: Limits::default(),
            on_response: None,
            on_shutdown: None,
            on_accept_error: None,
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.source {
            Source::Listener(l) => l.local_addr(),
            Source::Handed(_, addr) => Ok(*addr),
        }
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

    /// Calls `hook(in_flight, grace)` once, when a graceful shutdown begins: how many requests
    /// are still being answered, and how long they may take (`Limits::shutdown_grace`). For
    /// a message such as "waiting up to 30 s for 3 responses". It runs on the loop thread.
    pub fn on_shutdown(mut self, hook: impl Fn(usize, Duration) + 'static) -> Server {
        self.on_shutdown = Some(Box::new(hook));
        self
    }

    /// Calls `hook` when accepting a connection fails (out of fds: `EMFILE`, `ENFILE`; a client
    /// that reset first), before the listener pauses and tries again. It runs on the loop
    /// thread.
    pub fn on_accept_error(mut self, hook: impl Fn(&io::Error) + 'static) -> Server {
        self.on_accept_error = Some(Box::new(hook));
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
        let plain = |stream: TcpStream| std::future::ready(Ok(stream));
        self.serve_over(plain, handler, shutdown).await
    }

    /// As [`serve_with_shutdown`](Self::serve_with_shutdown), over the [`Transport`] that
    /// `wrap` makes of each accepted TCP stream (a TLS handshake, say; it must finish within
    /// `Limits::header_timeout`, and a failure closes the connection).
    ///
    /// ```no_run
    /// use ringport_http::{http::Response, Body, Server};
    /// # async fn demo() -> std::io::Result<()> {
    /// let plain = |tcp| std::future::ready(Ok(tcp));
    /// Server::bind("127.0.0.1:8080")?
    ///     .serve_over(plain, |_req| async { Response::new(Body::from("hi")) }, std::future::pending())
    ///     .await
    /// # }
    /// ```
    pub async fn serve_over<W, WF, T, H, F>(
        mut self,
        wrap: W,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()>
    where
        W: Fn(TcpStream) -> WF + 'static,
        WF: Future<Output = io::Result<T>> + 'static,
        T: Transport + 'static,
        H: Fn(Request<Bytes>) -> F + 'static,
        F: Future<Output = Response<Body>> + 'static,
    {
        let shared = Rc::new(Shared {
            handler,
            limits: self.limits,
            shutdown: Trigger::default(),
            on_response: self.on_response,
            ring: BufRing::new(RING_BUFS, RING_BUF_LEN)?,
            busy: Cell::new(0),
        });
        let mut conns: Vec<JoinHandle<()>> = Vec::new();
        // Finished connections are pruned when the list doubles: O(1) per accept, amortised.
        let mut prune_at = 64;
        let mut shutdown = pin!(shutdown);
        let mut incoming = match &mut self.source {
            Source::Listener(l) => Next::Listener(l.incoming()),
            Source::Handed(h, _) => Next::Handed(h),
        };
        loop {
            match race(shutdown.as_mut(), incoming.next()).await {
                Either::Left(()) | Either::Right(None) => break,
                Either::Right(Some(Ok((stream, live)))) => {
                    if conns.len() >= prune_at {
                        conns.retain(|c| !c.is_finished());
                        prune_at = (conns.len() * 2).max(64);
                    }
                    let Ok(peer) = stream.peer_addr() else {
                        continue; // reset before we looked
                    };
                    // Responses are written whole, so there is nothing for Nagle to merge.
                    let _ = stream.set_nodelay(true);
                    let task = handshake_then_serve(wrap(stream), peer, shared.clone(), live);
                    conns.push(ringport::spawn(task));
                }
                // Accept errors are the client's (reset, aborted) or passing (out of fds: the
                // listener backs off); a short pause keeps an unexpected one from spinning.
                Either::Right(Some(Err(e))) => {
                    if let Some(hook) = &self.on_accept_error {
                        hook(&e);
                    }
                    sleep(Duration::from_millis(10)).await
                }
            }
        }
        drop(incoming);
        drop(self.source);
        shared.shutdown.fire();
        if let Some(hook) = &self.on_shutdown {
            hook(shared.busy.get(), shared.limits.shutdown_grace);
        }
        drain(conns, shared.limits.shutdown_grace).await;
        Ok(())
    }
}

/// One connection's task: the transport's handshake (within the header timeout), then the
/// connection itself.
///
/// `_live` is kept to the end (a handed connection's live count); an argument rather than a
/// wrapping `async` block, which would hold this future twice (its captured copy and the one
/// it awaits: 2,272 instead of ~1,100 bytes per idle connection, `http_idle_memory.rs`).
async fn handshake_then_serve<WF, T, H, F>(
    wrapped: WF,
    peer: SocketAddr,
    shared: Rc<Shared<H>>,
    _live: Option<LiveGuard>,
) where
    WF: Future<Output = io::Result<T>>,
    T: Transport,
    H: Fn(Request<Bytes>) -> F,
    F: Future<Output = Response<Body>>,
{
    let transport = match timeout(shared.limits.header_timeout, wrapped).await {
        Ok(Ok(transport)) => transport,
        _ => return,
    };
    conn::serve(transport, peer, shared).await;
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
