//! Case `idle`: 10,000 idle TCP connections, each with a read pending on the server, and what
//! they cost in resident memory. ringport: one shared `BufRing` (64 × 4 KiB) and a task per
//! connection awaiting `recv_buf`, so a pending read holds no buffer. tokio (current-thread): a
//! task per connection awaiting `read` into its own 4 KiB `Vec`, the usual way.
//!
//! The parent reads the server's `VmRSS` from `/proc/PID/status` once the server is listening
//! and again once every connection is accepted and has settled; a client process on CPU 1
//! holds the connections open meanwhile.

use crate::child::{self, Running};
use crate::echo::{control_thread, listener, need_fds, set_backend};
use crate::report::{grouped, runs, Check, Section, Target};
use crate::Args;
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

const ENGINES: [&str; 2] = ["ringport", "tokio"];
/// The shared ring of the ringport server: 64 buffers of 4 KiB.
const RING_BUFS: u16 = 64;
const BUF: usize = 4096;
/// How long any idle worker may live.
const MAX_SECS: u64 = 120;
/// The target, in bytes per connection.
const TARGET: f64 = 1024.0;

pub struct Opts {
    pub reps: usize,
    pub conns: usize,
    /// How long the connections sit before the second reading.
    pub settle: Duration,
}

#[derive(Clone)]
struct Run {
    before: u64,
    after: u64,
    conns: usize,
    /// Seconds from starting the client until the server had accepted every connection.
    setup_s: f64,
    backend: String,
}

impl Run {
    fn per_conn(&self) -> f64 {
        (self.after as f64 - self.before as f64) / self.conns as f64
    }
}

pub fn run(opts: &Opts) -> Result<Section, String> {
    let mut rows = Vec::new();
    let mut all: Vec<Vec<Run>> = vec![Vec::new(); ENGINES.len()];
    let mut failed: Vec<Option<String>> = vec![None; ENGINES.len()];
    for rep in 0..opts.reps {
        for (i, engine) in ENGINES.iter().enumerate() {
            eprintln!(
                "idle: {engine}, {} connections, run {} of {}",
                opts.conns,
                rep + 1,
                opts.reps
            );
            match one(engine, opts) {
                Ok(r) => all[i].push(r),
                Err(e) => {
                    eprintln!("idle: {engine}: {e}");
                    failed[i] = Some(e);
                }
            }
        }
    }
    let mut best = Vec::new();
    let mut backends = Vec::new();
    for (i, engine) in ENGINES.iter().enumerate() {
        let Some((m, every)) = child::median(&all[i], Run::per_conn) else {
            let why = failed[i].clone().unwrap_or_else(|| "no run".into());
            rows.push(vec![engine.to_string(), format!("failed: {why}")]);
            best.push(None);
            continue;
        };
        backends.push(format!("{engine}: {}", m.backend));
        let kib = |b: u64| format!("{} KiB", grouped(b as f64 / 1024.0));
        rows.push(vec![
            engine.to_string(),
            kib(m.before),
            kib(m.after),
            grouped(m.per_conn()),
            format!("{:.2}", m.setup_s),
            runs(&every, grouped),
        ]);
        best.push(Some(m));
    }
    let show = |r: &Option<Run>| {
        r.as_ref()
            .map_or("failed".into(), |r| format!("{} B", grouped(r.per_conn())))
    };
    let checks = vec![
        Check {
            what: "bytes per idle connection vs the 1 KiB target".into(),
            ours: show(&best[0]),
            peer: "1,024 B".into(),
            ratio: best[0].as_ref().map(|o| o.per_conn() / TARGET),
            target: Target::AtMost(1.0),
        },
        Check {
            what: "bytes per idle connection vs tokio".into(),
            ours: show(&best[0]),
            peer: show(&best[1]),
            ratio: best[0]
                .as_ref()
                .zip(best[1].as_ref())
                .map(|(o, p)| o.per_conn() / p.per_conn()),
            target: Target::None,
        },
    ];
    let mut notes = vec![
        format!(
            "{} connections over loopback, opened by a client process on CPU 1 (std blocking \
             `connect`, one after another) and held open; the server runs on CPU 0, one \
             thread. Runs per engine: {}; the figure is the median run's.",
            grouped(opts.conns as f64),
            opts.reps
        ),
        format!(
            "Resident memory is the server's `VmRSS` from `/proc/PID/status`, read by the \
             parent: \"before\" once the server prints that it listens (runtime, listener and, \
             for ringport, the buffer ring created), \"after\" {} ms after the server has \
             accepted the last connection (every task has run and its read is pending). Bytes \
             per connection = (after − before) ÷ connections. Kernel memory (socket buffers, \
             io_uring requests) is not in `VmRSS`.",
            opts.settle.as_millis()
        ),
        format!(
            "ringport: one `BufRing::new({RING_BUFS}, {BUF})` shared by every connection, a \
             `ringport::spawn`ed task per connection looping on `stream.recv_buf(&ring)`. \
             tokio: `new_current_thread().enable_io()`, a `tokio::spawn`ed task per connection \
             looping on `stream.read(&mut buf)` into its own `vec![0u8; {BUF}]`. \"Accept s\" \
             is the time from starting the client until the server had accepted every \
             connection (a second more means the accept queue overflowed once and a SYN was \
             sent again)."
        ),
    ];
    if !backends.is_empty() {
        notes.push(format!("Backends: {}.", backends.join("; ")));
    }
    Ok(Section {
        title: format!(
            "idle: {} idle connections with a read pending, resident memory",
            grouped(opts.conns as f64)
        ),
        notes,
        header: vec![
            "server",
            "VmRSS before",
            "VmRSS after",
            "bytes per connection",
            "accept s",
            "bytes per connection, every run",
        ],
        rows,
        checks,
    })
}

fn one(engine: &str, opts: &Opts) -> Result<Run, String> {
    let (n, max) = (opts.conns.to_string(), MAX_SECS.to_string());
    let mut cmd = child::worker(&[
        "idle-server",
        "--engine",
        engine,
        "--conns",
        &n,
        "--max-secs",
        &max,
    ]);
    cmd.stdin(Stdio::piped());
    let mut server = child::spawn(cmd, 0)?;
    // A server that ends before it listens says why on stderr: `finish` has that line.
    let line = match server.line() {
        Ok(line) => line,
        Err(e) => return Err(server.finish().err().unwrap_or(e)),
    };
    let port = line
        .strip_prefix("LISTEN ")
        .ok_or_else(|| format!("idle server printed {line:?}"))?
        .to_string();
    let before = vm_rss(server.pid())?;
    let mut cmd = child::worker(&[
        "idle-client",
        "--port",
        &port,
        "--conns",
        &n,
        "--max-secs",
        &max,
    ]);
    cmd.stdin(Stdio::piped());
    let start = Instant::now();
    let mut client = child::spawn(cmd, 1)?;
    let measured = measure(&mut server, &mut client, opts);
    let setup_s = start.elapsed().as_secs_f64() - opts.settle.as_secs_f64();
    // Closing their stdin ends both: the client first, so the server sees every connection
    // end before it exits.
    drop(client.take_stdin());
    let client = client.finish();
    drop(server.take_stdin());
    let server = server.finish();
    let after = measured?;
    client.map_err(|e| format!("client: {e}"))?;
    let server = server.map_err(|e| format!("server: {e}"))?;
    Ok(Run {
        before,
        after,
        conns: opts.conns,
        setup_s,
        backend: server.kv.get("backend").cloned().unwrap_or_default(),
    })
}

/// Waits until the client has connected and the server accepted everything, lets it settle,
/// and reads the server's `VmRSS`.
fn measure(server: &mut Running, client: &mut Running, opts: &Opts) -> Result<u64, String> {
    let line = client.line()?;
    if line != format!("CONNECTED {}", opts.conns) {
        return Err(format!("idle client printed {line:?}"));
    }
    let line = server.line()?;
    if line != format!("ACCEPTED {}", opts.conns) {
        return Err(format!("idle server printed {line:?}"));
    }
    std::thread::sleep(opts.settle);
    vm_rss(server.pid())
}

/// A process's resident set, in bytes.
pub(crate) fn vm_rss(pid: libc::pid_t) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("{path}: no VmRSS line"))?;
    Ok(kb * 1024)
}

// ---- the worker side: `worker idle-server --engine E --conns N --max-secs S` ----

pub fn server(args: &Args) -> Result<(), String> {
    let engine = args.req("engine")?.to_string();
    let n: usize = args.get("conns", 10_000)?;
    let max = Duration::from_secs(args.get("max-secs", MAX_SECS)?);
    // Ends the process when the parent closes our stdin.
    control_thread("idle-server", max, false);
    need_fds(n + 64)?;
    let l = listener()?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    match engine.as_str() {
        "ringport" => ringport_server(l, port, n),
        "tokio" => tokio_server(l, port, n),
        other => Err(format!("unknown idle engine {other}")),
    }
}

fn ringport_server(l: std::net::TcpListener, port: u16, n: usize) -> Result<(), String> {
    let rt = ringport::Runtime::new().map_err(|e| format!("ringport runtime: {e}"))?;
    let info = rt.backend_info();
    set_backend(format!(
        "{:?} ({})",
        info.backend,
        info.setup_flags.join("+")
    ));
    rt.block_on(async move {
        let ring = ringport::buf::BufRing::new(RING_BUFS, BUF).map_err(|e| e.to_string())?;
        let listener = ringport::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        println!("LISTEN {port}");
        let mut accepted = 0;
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            let ring = ring.clone();
            ringport::spawn(async move {
                // Whatever arrives is dropped (its buffer goes back to the ring); end of
                // stream or an error ends the task.
                while let Ok(Some(_buf)) = stream.recv_buf(&ring).await {}
            });
            accepted += 1;
            if accepted == n {
                println!("ACCEPTED {n}");
            }
        }
    })
}

fn tokio_server(l: std::net::TcpListener, port: u16, n: usize) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    set_backend("epoll".into());
    rt.block_on(async move {
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        println!("LISTEN {port}");
        let mut accepted = 0;
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                while let Ok(1..) = stream.read(&mut buf).await {}
            });
            accepted += 1;
            if accepted == n {
                println!("ACCEPTED {n}");
            }
        }
    })
}

// ---- the client: `worker idle-client --port P --conns N --max-secs S` ----

pub fn client(args: &Args) -> Result<(), String> {
    let port: u16 = args.get("port", 0)?;
    let n: usize = args.get("conns", 10_000)?;
    let max = Duration::from_secs(args.get("max-secs", MAX_SECS)?);
    let deadline = Instant::now() + max;
    need_fds(n + 64)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut socks = Vec::with_capacity(n);
    for i in 0..n {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connection {i} to {addr}: {e}"))?;
        socks.push(s);
        if Instant::now() > deadline {
            return Err(format!("only {} of {n} connections in time", i + 1));
        }
    }
    println!("CONNECTED {n}");
    // `--http PATH`: one request on every connection, every answer read, then held idle.
    if let Some(path) = args.opt("http") {
        for s in socks.iter_mut() {
            crate::http_idle::request_once(s, path)?;
        }
        for s in socks.iter_mut() {
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(|e| e.to_string())?;
            crate::http_idle::read_answer(s)?;
        }
        println!("ANSWERED {n}");
    }
    // Hold them until the parent closes our stdin (or the deadline passes).
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("still holding the connections at the deadline".into());
        }
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(60_000) as i32 + 1;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            continue;
        }
        let mut byte = 0u8;
        // SAFETY: reads one byte into `byte`.
        let r = unsafe { libc::read(0, (&raw mut byte).cast(), 1) };
        if r == 0
            || (r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted)
        {
            break;
        }
    }
    drop(socks);
    Ok(())
}
