//! `ringport serve [DIR]`: static files over HTTP/1.1, with an access log on stderr, until
//! Ctrl-C or SIGTERM (requests in flight finish first; a second Ctrl-C stops at once).
//!
//! `--threads N` runs one loop per thread, each with its own `SO_REUSEPORT` listener on the
//! same address and its own `ServeDir`; with `--accept acceptor` (the only mode on Windows,
//! which has no `SO_REUSEPORT`) loop 0 alone listens and hands each connection to the loop
//! with the fewest open ones (`net::Acceptor`). The access log, the stop signals and the
//! request counters are shared ([`Common`]).

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
use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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
    /// Refuse every symbolic link (by default relative links that stay inside DIR are followed; absolute ones are refused, wherever they point).
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
    /// How many loops (threads) serve: each has its own ring (or epoll, or completion port)
    /// and gets connections as --accept says. 1 is a single loop; the default is one per CPU.
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    threads: Option<usize>,
    /// How the loops of --threads get their connections: `reuseport`, a listener per loop
    /// (the kernel spreads connections by a hash of their addresses), or `acceptor`, loop 0
    /// accepts and hands each connection to the loop with the fewest open ones (for long or
    /// uneven connections: downloads, keep-alive clients). The default is `reuseport`, and
    /// `acceptor` on Windows (which has no SO_REUSEPORT: `reuseport` is refused there).
    #[arg(long, value_enum, default_value_t = DEFAULT_ACCEPT)]
    accept: Accept,
}

/// `--accept`'s default: Windows has no `SO_REUSEPORT`.
const DEFAULT_ACCEPT: Accept = if cfg!(windows) {
    Accept::Acceptor
} else {
    Accept::Reuseport
};

/// `--accept`: where the loops' connections come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Accept {
    Reuseport,
    Acceptor,
}

fn parse_threads(s: &str) -> Result<usize, String> {
    crate::args::loop_count(s, 1024, "0 loops cannot serve: use 1 or more")
}

/// One loop per CPU this process may use.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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

/// The directory as the flags configure it (each loop builds its own: a `ServeDir` stays on
/// its loop).
fn serve_dir(args: &Args) -> anyhow::Result<ServeDir> {
    let dir =
        ServeDir::new(&args.dir).with_context(|| format!("cannot serve {}", args.dir.display()))?;
    let dir = dir
        .hidden(args.hidden)
        .index(!args.no_index)
        .spa(args.spa)
        .cors(args.cors)
        .follow_symlinks(!args.no_symlinks)
        .precompressed(!args.no_precompressed);
    Ok(match args.cache_control.clone() {
        Some(v) => dir.cache_control(v),
        None => dir,
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The directory is checked before anything listens (each loop opens it again).
    serve_dir(&args)?;
    // Certificate and key are read and checked before anything listens.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let config = ringport_tls::config::server_from_pem(cert, key, &[b"http/1.1"])
                .context("cannot serve HTTPS")?;
            Some(ringport_tls::TlsAcceptor::new(config))
        }
        _ => None,
    };
    let threads = args.threads.unwrap_or_else(default_threads);
    if cfg!(windows) && threads > 1 && args.accept == Accept::Reuseport {
        clap::Error::raw(
            clap::error::ErrorKind::InvalidValue,
            "--accept reuseport needs SO_REUSEPORT, which Windows does not have: use --accept \
             acceptor (the default there)\n",
        )
        .exit();
    }
    // Before any thread starts (the loops, the log writer): SIGINT and SIGTERM are blocked,
    // so they reach loop 0's signalfd whichever thread the kernel picks.
    crate::sys::block_stop_signals().context("cannot block SIGINT and SIGTERM")?;
    let rt = Runtime::builder()
        .threads(threads)
        .build()
        .context("cannot start the I/O runtime")?;
    let log = AccessLog::start().context("cannot start the log writer")?;
    let acceptor = (threads > 1 && args.accept == Accept::Acceptor)
        .then(|| ringport::net::Acceptor::new(threads));
    let common = Arc::new(Common {
        args,
        tls,
        acceptor,
        log: log.clone(),
        threads,
        stops: StopCount::default(),
        bound: OnceLock::new(),
        served: (0..threads).map(|_| AtomicU64::new(0)).collect(),
    });
    let ends = if threads == 1 {
        vec![rt.block_on(serve(common.clone()))]
    } else {
        let c = common.clone();
        rt.block_on_all(move || serve(c.clone()))
    };
    let mut end = End::Graceful;
    let mut failed = None;
    for e in ends {
        match e {
            Ok(End::Forced) => end = End::Forced,
            Ok(End::Graceful) => {}
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if end == End::Forced {
        log.push("ringport: stopped at once; responses in flight were cut off\n");
    }
    if threads > 1 && failed.is_none() {
        log.push(&served_line(&common.served));
    }
    log.close(Duration::from_secs(1));
    if let Some(e) = failed {
        return Err(e);
    }
    if end == End::Forced {
        // Stop now means now: the process ends without waiting for the kernel to give back
        // the buffers of transfers still in flight (the runtime's drop would wait for them).
        std::process::exit(0);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the loops share.
struct Common {
    args: Args,
    tls: Option<TlsAcceptor>,
    /// `--accept acceptor` with more than one loop: loop 0 hands connections out.
    acceptor: Option<ringport::net::Acceptor>,
    log: AccessLog,
    threads: usize,
    stops: StopCount,
    /// The address loop 0 bound (the others bind the same port), or why it could not.
    bound: OnceLock<Result<SocketAddr, String>>,
    /// Responses per loop.
    served: Vec<AtomicU64>,
}

/// The last line of a multi-loop run: how many responses each loop sent.
fn served_line(served: &[AtomicU64]) -> String {
    let counts: Vec<u64> = served.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    let per: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n} on loop {i}"))
        .collect();
    format!(
        "ringport: served {} responses: {}\n",
        counts.iter().sum::<u64>(),
        per.join(", ")
    )
}

/// How serving ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Graceful,
    /// A second Ctrl-C.
    Forced,
}

/// One loop's server. Loop 0 listens for the stop signals and binds first; the others bind
/// the port it got. A loop that fails stops the others at once.
async fn serve(common: Arc<Common>) -> anyhow::Result<End> {
    let res = serve_loop(&common).await;
    if res.is_err() {
        common.stops.raise(2);
    }
    res
}

async fn serve_loop(common: &Arc<Common>) -> anyhow::Result<End> {
    let (args, log) = (&common.args, common.log.clone());
    let core = ringport::current_core();
    let _signals = if core == 0 {
        Some(StopSignals::listen(common.clone())?)
    } else {
        None
    };
    let many = common.threads > 1;
    let handing = common.acceptor.is_some();
    let listener =
        if core == 0 {
            let bound = args.addr.bind(many && !handing).and_then(|l| {
                l.local_addr()
                    .with_context(|| format!("cannot listen on {}", args.addr.text))
                    .map(|a| (l, a))
            });
            let _ = common.bound.set(
                bound
                    .as_ref()
                    .map(|(_, a)| *a)
                    .map_err(|e| format!("{e:#}")),
            );
            Some(bound?.0)
        } else {
            let addr = loop {
                match common.bound.get() {
                    Some(Ok(addr)) => break *addr,
                    // Loop 0 reports why.
                    Some(Err(_)) => return Ok(End::Graceful),
                    None => ringport::time::sleep(Duration::from_millis(1)).await,
                }
            };
            if handing {
                None
            } else {
                Some(addr::bind_shared(addr).with_context(|| {
                    format!("cannot listen on {} (loop {core})", args.addr.text)
                })?)
            }
        };
    let dir = serve_dir(args)?;
    let tls = common.tls.clone();
    let (server, accepting): (Server, Option<ringport::JoinHandle<()>>) = match listener {
        listener if handing => {
            let acceptor = common.acceptor.clone().expect("handing has an acceptor");
            let addr = match common.bound.get() {
                Some(Ok(addr)) => *addr,
                _ => anyhow::bail!("loop {core}: the accepting loop has no address"),
            };
            // Loop 0 accepts (until the first stop signal) and hands every connection out.
            let accepting = listener.map(|l| {
                let (acceptor, common, warn) = (
                    acceptor.clone(),
                    common.clone(),
                    accept_warning(log.clone()),
                );
                ringport::spawn(async move { acceptor.run(&l, common.stops.nth(1), warn).await })
            });
            (
                Server::from_acceptor(acceptor.incoming(core), addr),
                accepting,
            )
        }
        Some(listener) => (Server::from_listener(listener), None),
        None => anyhow::bail!("loop {core} has no listener"),
    };
    if core == 0 {
        let local = server.local_addr()?;
        let listening = args.addr.describe(local);
        let listening = match &tls {
            // Whatever form describe() took, the scheme a browser needs is https.
            Some(_) => listening.replacen("http://", "https://", 1),
            None => listening,
        };
        let loops = if many {
            format!(" from {} loops", common.threads)
        } else {
            String::new()
        };
        log.push(&format!(
            "ringport: serving {}{loops} on {} (Ctrl-C to stop)\n",
            crate::sys::shown(dir.root()),
            listening
        ));
    }
    let server = {
        let (log, format, quiet) = (log.clone(), args.log_format, args.quiet);
        let common = common.clone();
        server.on_response(move |x| {
            common.served[core].fetch_add(1, Ordering::Relaxed);
            if !quiet {
                log.push(&access_log::line(x, format));
            }
        })
    };
    let server = {
        let log = log.clone();
        // Loop 0 always says it shuts down; the others only when they wait for responses.
        server.on_shutdown(move |busy, grace| {
            if core == 0 || busy > 0 {
                log.push(&shutdown_line(busy, grace));
            }
        })
    };
    let server = server.on_accept_error(accept_warning(log.clone()));
    let dir = {
        let log = log.clone();
        Rc::new(dir.on_warning(move |w| log.push(&format!("ringport: warning: {w}\n"))))
    };
    let handler = move |req| {
        let dir = dir.clone();
        async move { dir.handle(&req).await }
    };
    let first = common.stops.nth(1);
    let serving = async {
        match tls {
            Some(acceptor) => {
                let wrap = https(acceptor, log.clone());
                server.serve_over(wrap, handler, first).await
            }
            None => server.serve_with_shutdown(handler, first).await,
        }
    };
    let served = race(serving, common.stops.nth(2)).await;
    match served {
        Some(res) => {
            res?;
            // The listener closes as the accepting task ends.
            if let Some(task) = accepting {
                let _ = task.await;
            }
            Ok(End::Graceful)
        }
        // `run` says so, once for all loops.
        None => Ok(End::Forced),
    }
}

/// Warns when accepting fails for want of fds, once per 10 seconds at most.
fn accept_warning(log: AccessLog) -> impl Fn(&std::io::Error) + 'static {
    let last = Cell::new(None::<Instant>);
    move |e| {
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
    }
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

/// Ctrl-C and SIGTERM, counted for every loop: the first asks for a graceful shutdown, the
/// second for an immediate one. Wakers of every loop wait here (woken across threads).
#[derive(Default)]
struct StopCount {
    count: AtomicU32,
    waiters: Mutex<Vec<Waker>>,
}

impl StopCount {
    /// Counts one more stop request.
    fn bump(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.wake_all();
    }

    /// Makes the count at least `n` (a failed loop stops the others at once).
    fn raise(&self, n: u32) {
        self.count.fetch_max(n, Ordering::AcqRel);
        self.wake_all();
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in waiters {
            waker.wake();
        }
    }

    /// Completes at the `n`th request.
    fn nth(&self, n: u32) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.count.load(Ordering::Acquire) >= n {
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            // Checked again under the lock: a bump after this point finds the waker queued.
            if self.count.load(Ordering::Acquire) >= n {
                return Poll::Ready(());
            }
            Poll::Pending
        })
    }
}

/// Loop 0's listener for SIGINT and SIGTERM (Windows: Ctrl-C and the close events).
struct StopSignals {
    _task: ringport::JoinHandle<()>,
}

impl StopSignals {
    fn listen(common: Arc<Common>) -> anyhow::Result<StopSignals> {
        let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let task = ringport::spawn(async move {
            loop {
                // `None`: SIGTERM. A failed stream stops the counting (and never stops the
                // server by itself).
                if let Some(Err(_)) = race(sigint.recv(), sigterm.recv()).await {
                    return;
                }
                common.stops.bump();
            }
        });
        Ok(StopSignals { _task: task })
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
