//! `ringport serve [DIR]`: static files over HTTP/1.1, with an access log on stderr, until
//! Ctrl-C or SIGTERM (requests in flight finish first; a second Ctrl-C stops at once).

mod access_log;
mod addr;

use access_log::{AccessLog, Format};
use addr::Listen;
use anyhow::Context as _;
use ringport::net::TcpStream;
use ringport::signal::{signal, SignalKind};
use ringport::Runtime;
use ringport_http::files::ServeDir;
use ringport_http::http::HeaderValue;
use ringport_http::ringport_tls::{self, TlsAcceptor, TlsError, TlsErrorKind, TlsStream};
use ringport_http::Server;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Arguments of `ringport serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to serve.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to listen: `IP:PORT`, `localhost:PORT`, `[::]:PORT`, `:PORT` (every interface,
    /// IPv4 and IPv6) or `PORT` (this machine only); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = addr::parse)]
    addr: Listen,
    /// Write no access log (warnings still go to stderr).
    #[arg(long, short)]
    quiet: bool,
    /// How access-log lines look: `combined` and `common` are nginx's and Apache's formats.
    #[arg(long, value_enum, default_value_t = Format::Default)]
    log_format: Format,
    /// Serve and list hidden files (names starting with `.`, such as `.git` and `.env`).
    #[arg(long)]
    hidden: bool,
    /// List directories even when they have an `index.html`.
    #[arg(long)]
    no_index: bool,
    /// A single-page app: paths that name nothing get the root's `index.html`.
    #[arg(long)]
    spa: bool,
    /// Let pages from any origin read the files (`Access-Control-Allow-Origin: *`).
    #[arg(long)]
    cors: bool,
    /// The `Cache-Control` header of file responses, e.g. `no-cache` or `max-age=3600`.
    #[arg(long, value_name = "VALUE", value_parser = parse_cache_control)]
    cache_control: Option<HeaderValue>,
    /// Refuse every symbolic link (by default links that stay inside DIR are followed).
    #[arg(long)]
    no_symlinks: bool,
    /// Never send the precompressed siblings `FILE.br`, `FILE.zst`, `FILE.gz` for `FILE`.
    #[arg(long)]
    no_precompressed: bool,
    /// Serve HTTPS (TLS 1.2 and 1.3, ALPN http/1.1, session tickets) with this PEM certificate
    /// chain, leaf first; needs --tls-key. Plain-HTTP requests to the port get a 400 that says
    /// to use https://.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of the --tls-cert certificate.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// `serve --help`'s closing lines.
pub const AFTER_HELP: &str = "Exit codes: 0 stopped (Ctrl-C or SIGTERM), 1 cannot start (the \
    directory, the address, or the TLS certificate or key: one line saying which and why), \
    2 bad arguments.";

fn parse_cache_control(s: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(s.trim())
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{s:?} is not a header value"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir =
        ServeDir::new(&args.dir).with_context(|| format!("cannot serve {}", args.dir.display()))?;
    let dir = dir
        .hidden(args.hidden)
        .index(!args.no_index)
        .spa(args.spa)
        .cors(args.cors)
        .follow_symlinks(!args.no_symlinks)
        .precompressed(!args.no_precompressed);
    let dir = match args.cache_control.clone() {
        Some(v) => dir.cache_control(v),
        None => dir,
    };
    // Certificate and key are read and checked before anything listens.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let config = ringport_tls::config::server_from_pem(cert, key, &[b"http/1.1"])
                .context("cannot serve HTTPS")?;
            Some(ringport_tls::TlsAcceptor::new(config))
        }
        _ => None,
    };
    let rt = Runtime::new().context("cannot start the I/O runtime")?;
    let end = rt.block_on(serve(args, dir, tls))?;
    if end == End::Forced {
        // Stop now means now: the process ends without waiting for the kernel to give back
        // the buffers of transfers still in flight (the runtime's drop would wait for them).
        std::process::exit(0);
    }
    Ok(ExitCode::SUCCESS)
}

/// How serving ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Graceful,
    /// A second Ctrl-C.
    Forced,
}

async fn serve(args: Args, dir: ServeDir, tls: Option<TlsAcceptor>) -> anyhow::Result<End> {
    // Before anything starts a thread: SIGINT and SIGTERM become requests to stop.
    let stops = Stops::listen()?;
    let listener = args.addr.bind()?;
    let log = AccessLog::start().context("cannot start the log writer")?;
    let server = Server::from_listener(listener);
    let local = server.local_addr()?;
    let listening = args.addr.describe(local);
    let listening = match &tls {
        // Whatever form describe() took, the scheme a browser needs is https.
        Some(_) => listening.replacen("http://", "https://", 1),
        None => listening,
    };
    log.push(&format!(
        "ringport: serving {} on {} (Ctrl-C to stop)\n",
        crate::sys::shown(dir.root()),
        listening
    ));
    let server = if args.quiet {
        server
    } else {
        let (log, format) = (log.clone(), args.log_format);
        server.on_response(move |x| log.push(&access_log::line(x, format)))
    };
    let server = {
        let log = log.clone();
        server.on_shutdown(move |busy, grace| {
            log.push(&shutdown_line(busy, grace));
        })
    };
    let server = {
        let (log, last) = (log.clone(), Cell::new(None::<Instant>));
        server.on_accept_error(move |e| {
            let out_of_fds = crate::sys::out_of_fds(e);
            let quiet = last
                .get()
                .is_some_and(|t| t.elapsed() < Duration::from_secs(10));
            if out_of_fds && !quiet {
                last.set(Some(Instant::now()));
                log.push(&format!(
                    "ringport: warning: cannot accept connections: {e}; raise the limit \
                     (ulimit -n)\n"
                ));
            }
        })
    };
    let dir = {
        let log = log.clone();
        Rc::new(dir.on_warning(move |w| log.push(&format!("ringport: warning: {w}\n"))))
    };
    let handler = move |req| {
        let dir = dir.clone();
        async move { dir.handle(&req).await }
    };
    let first = stops.first();
    let serving = async {
        match tls {
            Some(acceptor) => {
                let wrap = https(acceptor, log.clone());
                server.serve_over(wrap, handler, first).await
            }
            None => server.serve_with_shutdown(handler, first).await,
        }
    };
    let served = race(serving, stops.second()).await;
    let end = match served {
        Some(res) => {
            res?;
            End::Graceful
        }
        None => {
            log.push("ringport: stopped at once; responses in flight were cut off\n");
            End::Forced
        }
    };
    log.close(Duration::from_secs(1));
    Ok(end)
}

/// What `serve_over` makes of each accepted connection with `--tls-*`: the TLS handshake. A
/// client speaking plain HTTP to the port is answered 400 and warned about on stderr, once
/// per 10 seconds at most (other handshake failures are the client's to report).
fn https(
    acceptor: TlsAcceptor,
    log: AccessLog,
) -> impl Fn(TcpStream) -> LocalBoxFuture<std::io::Result<TlsStream<TcpStream>>> {
    let last = Rc::new(Cell::new(None::<Instant>));
    move |tcp| {
        let (acceptor, log, last) = (acceptor.clone(), log.clone(), last.clone());
        Box::pin(async move {
            let peer = tcp.peer_addr().ok();
            let res = ringport_http::tls::accept(&acceptor, tcp).await;
            if let Err(e) = &res {
                let plain = TlsError::of(e).is_some_and(|t| t.kind() == TlsErrorKind::PlainHttp);
                let quiet = last
                    .get()
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(10));
                if plain && !quiet {
                    last.set(Some(Instant::now()));
                    let who = peer.map_or_else(|| "a client".to_string(), |p| p.to_string());
                    log.push(&format!(
                        "ringport: warning: {who} sent plain HTTP to this HTTPS port (answered \
                         400: use https://)\n"
                    ));
                }
            }
            res
        })
    }
}

/// A boxed future of the loop thread.
type LocalBoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

/// The line a graceful shutdown starts with.
fn shutdown_line(busy: usize, grace: Duration) -> String {
    if busy == 0 {
        return "ringport: shutting down\n".into();
    }
    let noun = if busy == 1 { "response" } else { "responses" };
    format!(
        "ringport: shutting down: waiting up to {} s for {busy} {noun}; press Ctrl-C again to \
         stop now\n",
        grace.as_secs()
    )
}

/// Ctrl-C and SIGTERM, counted: the first asks for a graceful shutdown, the second for an
/// immediate one.
struct Stops {
    count: Rc<Cell<u32>>,
    waiters: Rc<RefCell<Vec<Waker>>>,
    _task: ringport::JoinHandle<()>,
}

impl Stops {
    fn listen() -> anyhow::Result<Stops> {
        let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let count = Rc::new(Cell::new(0));
        let waiters: Rc<RefCell<Vec<Waker>>> = Rc::default();
        let (c, w) = (count.clone(), waiters.clone());
        let task = ringport::spawn(async move {
            loop {
                // `None`: SIGTERM. A failed stream stops the counting (and never stops the
                // server by itself).
                if let Some(Err(_)) = race(sigint.recv(), sigterm.recv()).await {
                    return;
                }
                c.set(c.get() + 1);
                for waker in w.borrow_mut().drain(..) {
                    waker.wake();
                }
            }
        });
        Ok(Stops {
            count,
            waiters,
            _task: task,
        })
    }

    /// Completes at the `n`th signal.
    fn nth(&self, n: u32) -> impl std::future::Future<Output = ()> + 'static {
        let (count, waiters) = (self.count.clone(), self.waiters.clone());
        std::future::poll_fn(move |cx| {
            if count.get() >= n {
                return Poll::Ready(());
            }
            let mut waiters = waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    fn first(&self) -> impl std::future::Future<Output = ()> + 'static {
        self.nth(1)
    }

    fn second(&self) -> impl std::future::Future<Output = ()> + 'static {
        self.nth(2)
    }
}

/// The output of `a`, or `None` when `b` completes first.
async fn race<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> Option<A::Output> {
    let (mut a, mut b) = (pin!(a), pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if b.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
