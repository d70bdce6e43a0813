//! Case `echo`: a TCP echo server answering 64-byte messages from 100 and from 1,000 connections,
//! each with one message outstanding. The servers (ringport, tokio current-thread, compio,
//! monoio: each single-threaded, a task per connection) run on CPU 0; one load generator, the
//! same for every server (a raw io-uring loop), runs on CPU 1.
//!
//! The server's CPU time is taken over the measured window only: the load generator writes `S`
//! and `E` down a pipe that is the server's stdin when the window starts and ends, and a thread
//! in the server reads its own `getrusage(RUSAGE_SELF)` at each (connection set-up, warm-up and
//! teardown are left out).
//!
//! The worker side of both network cases lives here too: the listener, the fd limit and the
//! control thread are shared with `idle`.

use crate::child::{self, Outcome};
use crate::report::{grouped, Check, Section, Target};
use crate::Args;
use io_uring::{opcode, squeue, types};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Bytes per message.
const MSG: usize = 64;
/// Each server's read buffer per connection.
pub(crate) const BUF: usize = 4096;
const CONNS: [usize; 2] = [100, 1000];
/// The servers as the benchmark has always written them: read + write_all on owned buffers.
const ENGINES: [&str; 4] = ["ringport", "tokio", "compio", "monoio"];
/// Each runtime's fastest idiom: multishot receive into a ring of provided buffers, written
/// back from that buffer, where the runtime has one (ringport, compio); tokio's readiness read
/// and monoio's read are already theirs.
const FAST_ENGINES: [&str; 4] = ["ringport-multishot", "tokio", "compio-multishot", "monoio"];
/// Two threads per server on the same CPU 0 (the load on CPU 1): what two loops (ringport),
/// two workers (tokio multi-thread) and two runtimes (monoio) cost per message against one.
/// Both ringport loops accept from one listen socket (dup'd); so do monoio's two threads.
const THREAD_ENGINES: [&str; 4] = ["ringport-2t", "ringport", "tokio-2t", "monoio-2t"];
/// Buffers and their size in the multishot servers' rings (shared by all connections).
const RING_BUFS: u16 = 4096;
const RING_BUF_LEN: usize = 2048;
/// A run whose server or load generator waited this share of the window for its CPU is
/// contended: left out of the median while a clean run exists, and no check is judged on it.
const CONTENDED: f64 = 0.05;
/// The listen backlog every server gets (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

pub struct Opts {
    pub reps: usize,
    /// Warm-up seconds before the window.
    pub warmup: f64,
    /// Seconds in the measured window.
    pub secs: f64,
    /// Connection counts and servers to run (all of `CONNS` and `ENGINES` unless narrowed).
    pub conns: Vec<usize>,
    pub engines: Vec<String>,
}

impl Opts {
    /// `--echo-conns 100,1000` and `--echo-engines ringport,tokio` narrow a run (for
    /// investigating; ringport always runs, since every check compares with it).
    pub fn new(args: &Args) -> Result<Opts, String> {
        let list = |key: &str, all: &str| -> Result<Vec<String>, String> {
            let v: String = args.get(key, all.to_string())?;
            Ok(v.split(',').map(|s| s.trim().to_string()).collect())
        };
        let conns = list("echo-conns", "100,1000")?
            .iter()
            .map(|c| {
                c.parse()
                    .map_err(|_| format!("--echo-conns: bad count {c}"))
            })
            .collect::<Result<Vec<usize>, String>>()?;
        let engines = list("echo-engines", &ENGINES.join(","))?;
        let known = |e: &str| ENGINES.contains(&e) || FAST_ENGINES.contains(&e);
        if let Some(e) = engines.iter().find(|e| !known(e)) {
            return Err(format!("--echo-engines: unknown server {e}"));
        }
        Ok(Opts {
            reps: args.get("echo-reps", 3)?,
            warmup: args.get("echo-warmup", 1.0)?,
            secs: args.get("echo-secs", 5.0)?,
            conns,
            engines,
        })
    }
}

#[derive(Clone)]
pub(crate) struct Run {
    msgs: f64,
    /// The window's length, as the load generator timed it.
    secs: f64,
    /// Server CPU seconds in the window (its own `getrusage`).
    srv_cpu: f64,
    /// Load generator CPU seconds in the window.
    load_cpu: f64,
    /// Seconds the server and the load generator waited, runnable, for their CPU in the window.
    srv_delay: f64,
    load_delay: f64,
    /// The whole server process, from `wait4`.
    srv_total: f64,
    pub(crate) backend: String,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.msgs / self.secs
    }
    pub(crate) fn us_per_msg(&self) -> f64 {
        self.srv_cpu * 1e6 / self.msgs
    }
    /// Server and load generator CPU use, and their waits for CPU, as shares of the window.
    pub(crate) fn shares(&self) -> [f64; 4] {
        [self.srv_cpu, self.srv_delay, self.load_cpu, self.load_delay].map(|s| s / self.secs)
    }
    /// Whether the server or the load generator waited for its CPU (something else ran on
    /// its core) for more than `CONTENDED` of the window.
    pub(crate) fn contended(&self) -> bool {
        self.srv_delay.max(self.load_delay) > CONTENDED * self.secs
    }
}

/// Both tables: the servers as written (with the targets), then each runtime's fastest idiom.
pub fn run_threads(opts: &Opts) -> Result<Vec<Section>, String> {
    Ok(vec![run_group(opts, &THREAD_ENGINES, false)?])
}

pub fn run(opts: &Opts) -> Result<Vec<Section>, String> {
    let written = run_group(opts, &ENGINES, true)?;
    let fast = run_group(opts, &FAST_ENGINES, false)?;
    Ok(vec![written, fast])
}

/// One table of servers; `ENGINES[0]` is ringport's, compared with the others.
fn run_group(opts: &Opts, group: &[&'static str], targets: bool) -> Result<Section, String> {
    let engines = group;
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut backends: Vec<String> = vec![String::new(); engines.len()];
    for &conns in &opts.conns {
        let mut all: Vec<Vec<Run>> = vec![Vec::new(); engines.len()];
        let mut failed: Vec<Option<String>> = vec![None; engines.len()];
        // `--echo-engines compio` also picks compio's fastest idiom.
        let wanted = |i: usize| {
            let base = engines[i]
                .trim_end_matches("-multishot")
                .trim_end_matches("-2t");
            i == 0 || opts.engines.iter().any(|e| e == engines[i] || e == base)
        };
        let mut attempt = |i: usize, label: &str, all: &mut Vec<Vec<Run>>| {
            let engine = engines[i];
            eprintln!("echo: {engine}, {conns} connections, {label}");
            match one(engine, conns, opts) {
                Ok(r) => {
                    if r.contended() {
                        eprintln!(
                            "echo: {engine}: contended (waited for CPU {:.0} % / {:.0} %)",
                            100.0 * r.srv_delay / r.secs,
                            100.0 * r.load_delay / r.secs
                        );
                    }
                    all[i].push(r);
                }
                Err(e) => {
                    eprintln!("echo: {engine}: {e}");
                    failed[i] = Some(e);
                }
            }
        };
        for rep in 0..opts.reps {
            for i in (0..engines.len()).filter(|&i| wanted(i)) {
                attempt(i, &format!("run {} of {}", rep + 1, opts.reps), &mut all);
            }
        }
        // One more run for a server none of whose runs was clean.
        for i in (0..engines.len()).filter(|&i| wanted(i)) {
            if !all[i].is_empty() && all[i].iter().all(Run::contended) {
                attempt(i, "extra run (every run so far contended)", &mut all);
            }
        }
        let mut best: Vec<Option<Run>> = Vec::new();
        for (i, engine) in engines.iter().enumerate() {
            if !wanted(i) {
                best.push(None);
                continue;
            }
            // The median of the clean runs; of all of them only when none was clean.
            let clean: Vec<Run> = all[i].iter().filter(|r| !r.contended()).cloned().collect();
            let pool = if clean.is_empty() { &all[i] } else { &clean };
            let Some((m, _)) = child::median(pool, Run::rate) else {
                let why = failed[i].clone().unwrap_or_else(|| "no run".into());
                rows.push(vec![
                    conns.to_string(),
                    engine.to_string(),
                    format!("failed: {why}"),
                ]);
                best.push(None);
                continue;
            };
            backends[i].clone_from(&m.backend);
            let tried = all[i].len() + usize::from(failed[i].is_some());
            let failures = match &failed[i] {
                Some(e) => format!(" (at least one of {tried} failed: {e})"),
                None => String::new(),
            };
            let every: Vec<String> = all[i]
                .iter()
                .map(|r| {
                    format!(
                        "{}{}",
                        grouped(r.rate()),
                        if r.contended() { "*" } else { "" }
                    )
                })
                .collect();
            rows.push(vec![
                conns.to_string(),
                engine.to_string(),
                format!(
                    "{}{}",
                    grouped(m.rate()),
                    if m.contended() { "*" } else { "" }
                ),
                format!("{:.2}", m.us_per_msg()),
                format!(
                    "{:.0} % / {:.0} %",
                    100.0 * m.srv_cpu / m.secs,
                    100.0 * m.srv_delay / m.secs
                ),
                format!(
                    "{:.0} % / {:.0} %",
                    100.0 * m.load_cpu / m.secs,
                    100.0 * m.load_delay / m.secs
                ),
                format!("{:.2}", m.srv_total),
                format!("{}{failures}", every.join(" / ")),
            ]);
            best.push(Some(m));
        }
        checks.extend(conn_checks(conns, &best, engines, targets));
    }
    let flags = crate::roundtrip::build_ring(64).map_or_else(|e| e, |(_, f)| f);
    if engines[0] == "ringport-2t" {
        let notes = vec![format!(
            "The same load generator, window, CPU accounting and contention rule as the echo \
             table, but each server runs two threads, all on CPU 0 (the server's affinity): \
             ringport `threads(2)` with `block_on_all` (each loop accepting from a dup of one \
             listen socket), ringport single-loop for reference, tokio `new_multi_thread()` \
             with 2 workers, monoio 2 threads each with its own runtime (each accepting from a \
             dup). This is an overhead check (CPU µs per message against one loop), not a \
             scaling figure: both threads share one core. Setup flags: {flags}."
        )];
        return Ok(Section {
            title: "echo with two threads on one core: multi-loop overhead".into(),
            notes,
            header: header(),
            rows,
            checks,
        });
    }
    if !targets {
        let notes = vec![
            format!(
                "The same runs as the table above (load generator, window, CPU accounting, \
                 contention rule), with each runtime's fastest way to echo. ringport-multishot: \
                 one `BufRing::new({RING_BUFS}, {RING_BUF_LEN})` shared by every connection, a \
                 task per connection looping on `TcpStream::recv_multishot(&ring)` (one \
                 multishot `RECV` per connection, a completion per arrival, no buffer held \
                 while idle) and writing each received `RingBuf` back with `write_all` (the \
                 buffer returns to the ring when the write is done). compio-multishot: \
                 `ProactorBuilder::buffer_pool_size({RING_BUFS}).buffer_pool_buffer_len(\
                 {RING_BUF_LEN})`, `AsyncReadMulti::read_multi(0)` per connection and \
                 `write_all` of each `BufferRef`. tokio (readiness, so its `read` is already \
                 its idiom) and monoio (no multishot receive, no provided buffers) run as in \
                 the table above. No targets here: the table above is the contest."
            ),
            format!(
                "Backends as the servers reported them: {}.",
                engines
                    .iter()
                    .zip(&backends)
                    .filter(|(_, b)| !b.is_empty())
                    .map(|(e, b)| format!("{e}: {b}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ];
        return Ok(Section {
            title: "echo, fastest idiom: each runtime's best way to echo".into(),
            notes,
            header: header(),
            rows,
            checks,
        });
    }
    let mut notes = vec![
        format!(
            "Each run: the server starts on CPU 0 and prints its port; the load generator starts \
             on CPU 1, opens the connections (blocking `connect`, `TCP_NODELAY`), sends one \
             {MSG}-byte message on every connection, and on each connection sends the next \
             message as soon as the whole echo of the last has come back (and matches it). \
             Warm-up {} s, then a measured window of {} s; runs per engine and connection count: \
             {}, engines interleaved; the figures are the median run's (by messages/s).",
            opts.warmup, opts.secs, opts.reps
        ),
        format!(
            "Load generator (one program for every server): a raw io-uring loop over all \
             connections, one `SEND` or `RECV` in flight per connection, submissions batched \
             into one `io_uring_enter` per turn (ring flags {flags})."
        ),
        "Server CPU µs per message = the server's CPU time in the window ÷ messages echoed in \
         the window. The window is marked precisely: the load generator writes `S` and `E` \
         into a pipe that is the server's stdin, and a thread in the server (blocked in `read` \
         otherwise) takes `getrusage(RUSAGE_SELF)` (all its threads, user + system) at each. \
         Connection set-up, warm-up and teardown are left out; the whole process's `wait4` \
         figure is the \"server CPU s, whole run\" column. Loopback TCP work done in softirq \
         on the sender's CPU counts for whichever process sent (this kernel has no \
         `IRQ_TIME_ACCOUNTING`); softirq work deferred to `ksoftirqd` counts for no one (it \
         was about 0.3 % of a core in a quiet run). \"CPU use\" is CPU seconds in the window \
         ÷ window seconds. \"Wait for CPU\" is the time its threads sat runnable while \
         something else ran on their core (`run_delay` summed over \
         `/proc/self/task/*/schedstat`), as a share of the window: other processes on the \
         machine (for example someone compiling) show up there, and every figure of that \
         run is then only a lower bound of what the engine can do."
            .to_string(),
        format!(
            "A run where the server or the load generator waited for its CPU more than {:.0} % \
             of the window is contended, marked *: it is left out of the median while a clean \
             run exists (a server with no clean run gets one extra run), and a check whose \
             figures come from a contended run gets no verdict (n/a).",
            CONTENDED * 100.0
        ),
        "Reading the figures: with one core per side, both sides spend almost all their time \
         in the kernel's loopback TCP path (`perf record` while this case was written: 95 % \
         of the ringport server's cycles and 99.6 % of the load generator's were in the \
         kernel, the generator's mostly in `io_send` → `tcp_sendmsg` → loopback delivery), \
         and the generator pays the same kernel cost per message as the server. So a server \
         near that floor saturates the generator first: when the load generator's CPU use is \
         near 100 %, messages/s is the generator's ceiling, not the server's, and servers \
         differ mainly in server CPU µs per message. A messages/s ratio far above 1× is only \
         possible against a server well above the floor."
            .to_string(),
        format!(
            "Servers: one thread, an accept loop spawning a task per connection, a {BUF}-byte \
             buffer per connection, `TCP_NODELAY`, each reading then writing back all it read. \
             All take the same listening socket (std, `listen` backlog {BACKLOG}) through their \
             `from_std`. ringport: `Runtime::new()`, `TcpStream::read` with an owned `Vec` + \
             `AsyncWriteExt::write_all`. tokio: `new_current_thread().enable_io()`, \
             `AsyncReadExt::read(&mut buf)` + `write_all`. compio 0.19 (the newest release; \
             0.20 is a beta): `compio::runtime::Runtime::new()`, `AsyncRead::read` + \
             `AsyncWriteExt::write_all` on owned buffers. monoio 0.2: \
             `RuntimeBuilder::<IoUringDriver>`, `AsyncReadRent::read` + \
             `AsyncWriteRentExt::write_all`."
        ),
    ];
    let shown: Vec<String> = engines
        .iter()
        .zip(&backends)
        .filter(|(_, b)| !b.is_empty())
        .map(|(e, b)| format!("{e}: {b}"))
        .collect();
    if !shown.is_empty() {
        notes.push(format!(
            "Backends as the servers reported them: {}.",
            shown.join("; ")
        ));
    }
    Ok(Section {
        title: "echo: 64-byte messages over loopback TCP, server on one core".into(),
        notes,
        header: header(),
        rows,
        checks,
    })
}

fn header() -> Vec<&'static str> {
    vec![
        "connections",
        "server",
        "messages/s",
        "server CPU µs per message",
        "server CPU use / wait for CPU",
        "load generator CPU use / wait for CPU",
        "server CPU s, whole run",
        "messages/s, every run",
    ]
}

/// The checks for one connection count: against the best peer, then against each.
fn conn_checks(conns: usize, best: &[Option<Run>], engines: &[&str], targets: bool) -> Vec<Check> {
    let target = |t: Target| if targets { t } else { Target::None };
    let ours = best[0].as_ref();
    let peers = || best.iter().enumerate().skip(1);
    let fastest = peers()
        .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
        .max_by(|a, b| a.1.rate().total_cmp(&b.1.rate()));
    let leanest = peers()
        .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
        .min_by(|a, b| a.1.us_per_msg().total_cmp(&b.1.us_per_msg()));
    let mark = |r: &Run| if r.contended() { " (contended)" } else { "" };
    let rate = |r: Option<&Run>| {
        r.map_or("failed".into(), |r| {
            format!("{}{}", grouped(r.rate()), mark(r))
        })
    };
    let cpu = |r: Option<&Run>| {
        r.map_or("failed".into(), |r| {
            format!("{:.2} µs{}", r.us_per_msg(), mark(r))
        })
    };
    // No verdict on a contended run: its figures say more about the machine than the server.
    let judge = |o: &Run, p: &Run, f: fn(&Run) -> f64| {
        (!o.contended() && !p.contended()).then(|| f(o) / f(p))
    };
    let mut checks = vec![
        Check {
            what: format!(
                "{conns} conns: messages/s vs best peer ({})",
                fastest.map_or("none ran", |(i, _)| engines[i])
            ),
            ours: rate(ours),
            peer: rate(fastest.map(|(_, r)| r)),
            ratio: ours
                .zip(fastest)
                .and_then(|(o, (_, p))| judge(o, p, Run::rate)),
            target: target(Target::AtLeast(1.05)),
        },
        Check {
            what: format!(
                "{conns} conns: server CPU per message vs leanest peer ({})",
                leanest.map_or("none ran", |(i, _)| engines[i])
            ),
            ours: cpu(ours),
            peer: cpu(leanest.map(|(_, r)| r)),
            ratio: ours
                .zip(leanest)
                .and_then(|(o, (_, p))| judge(o, p, Run::us_per_msg)),
            target: target(Target::AtMost(0.9)),
        },
    ];
    for (i, peer) in peers() {
        let Some(peer) = peer.as_ref() else {
            continue; // failed (its row says why) or not run
        };
        let peer = Some(peer);
        checks.push(Check {
            what: format!("{conns} conns: messages/s vs {}", engines[i]),
            ours: rate(ours),
            peer: rate(peer),
            ratio: ours.zip(peer).and_then(|(o, p)| judge(o, p, Run::rate)),
            target: Target::None,
        });
    }
    checks
}

/// One run: server on CPU 0, load generator on CPU 1, joined by the window pipe.
fn one(engine: &str, conns: usize, opts: &Opts) -> Result<Run, String> {
    one_env(engine, conns, opts, &[])
}

/// [`one`], with `env` added to the server's environment (`RINGPORT_BACKEND=poll`).
pub(crate) fn one_env(
    engine: &str,
    conns: usize,
    opts: &Opts,
    env: &[(&str, &str)],
) -> Result<Run, String> {
    let (ctl_read, ctl_write) = pipe()?;
    let max = (opts.warmup + opts.secs).ceil() as u64 + 60;
    let max = max.to_string();
    let mut cmd = child::worker(&["echo-server", "--engine", engine, "--max-secs", &max]);
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::from(ctl_read));
    // `spawn` drops `cmd`, closing our copy of the read end.
    let mut server = child::spawn(cmd, 0)?;
    // A server that ends before it listens says why on stderr: `finish` has that line.
    let line = match server.line() {
        Ok(line) => line,
        Err(e) => return Err(server.finish().err().unwrap_or(e)),
    };
    let port = line
        .strip_prefix("LISTEN ")
        .ok_or_else(|| format!("echo server printed {line:?}"))?
        .to_string();
    let (conns, warmup, secs) = (
        conns.to_string(),
        opts.warmup.to_string(),
        opts.secs.to_string(),
    );
    let mut cmd = child::worker(&[
        "echo-load",
        "--port",
        &port,
        "--conns",
        &conns,
        "--warmup",
        &warmup,
        "--secs",
        &secs,
    ]);
    // The load generator writes the window marks into its stdin: the pipe's write end. Once
    // it exits, the server reads end of file and exits too.
    cmd.stdin(Stdio::from(ctl_write));
    let load = child::spawn(cmd, 1).and_then(child::Running::finish);
    let srv = server.finish();
    let (load, srv): (Outcome, Outcome) = match (load, srv) {
        (Ok(l), Ok(s)) => (l, s),
        (Err(e), _) => return Err(format!("load generator: {e}")),
        (_, Err(e)) => return Err(format!("server: {e}")),
    };
    Ok(Run {
        msgs: load.num("msgs")?,
        secs: load.num("secs")?,
        load_cpu: load.num("cpu_s")?,
        srv_cpu: srv.num("cpu_s")?,
        load_delay: load.num("delay_s")?,
        srv_delay: srv.num("delay_s")?,
        srv_total: srv.cpu_s,
        backend: srv.kv.get("backend").cloned().unwrap_or_default(),
    })
}

/// A pipe, both ends close-on-exec (a child gets one end only as its stdin).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just opened both fds and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

// ---- shared by the network workers ----

/// Raises the soft fd limit to the hard one.
pub fn raise_nofile() -> Result<u64, String> {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it in.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `lim` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", io::Error::last_os_error()));
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit with the soft limit at most the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(format!("setrlimit: {}", io::Error::last_os_error()));
        }
    }
    Ok(lim.rlim_cur)
}

/// Fails early, with the limit in the message, when `fds` descriptors will not fit.
pub fn need_fds(fds: usize) -> Result<(), String> {
    let have = raise_nofile()?;
    if (fds as u64) > have {
        return Err(format!("needs {fds} fds, RLIMIT_NOFILE allows {have}"));
    }
    Ok(())
}

/// The listening socket every server takes over: 127.0.0.1 on a free port.
pub fn listener() -> Result<std::net::TcpListener, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    // std listens with a short backlog; listening again only changes its length.
    // SAFETY: listen on a socket we own.
    if unsafe { libc::listen(l.as_raw_fd(), BACKLOG) } != 0 {
        return Err(format!("listen: {}", io::Error::last_os_error()));
    }
    Ok(l)
}

/// What the server says about its runtime, put in its `RESULT` line.
static BACKEND: OnceLock<String> = OnceLock::new();

pub fn set_backend(what: String) {
    // The RESULT line is split at spaces.
    let _ = BACKEND.set(what.replace(' ', ""));
}

/// This process's user + system CPU time, all threads.
pub fn cpu_now() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid for writes. RUSAGE_SELF cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// How long this process's threads have waited, runnable, for a CPU (the second field of
/// `/proc/self/task/*/schedstat`): time taken by other processes on the same core.
pub fn run_delay() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

/// Starts the thread that ends the server: it reads stdin, where `S` and `E` mark the measured
/// window (`window`: a window is expected), and at end of file prints the `RESULT` line and
/// exits the process. After `max` it exits with an error whatever happens.
pub fn control_thread(what: &'static str, max: Duration, window: bool) {
    std::thread::spawn(move || {
        let deadline = Instant::now() + max;
        let (mut start, mut cpu) = (None, None);
        let (mut delay0, mut delay) = (Duration::ZERO, Duration::ZERO);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                eprintln!("{what}: still running after {} s; exiting", max.as_secs());
                std::process::exit(2);
            }
            let mut pfd = libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(60_000) as i32 + 1;
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
                continue; // timeout or EINTR: check the deadline
            }
            let mut byte = 0u8;
            // SAFETY: reads one byte into `byte`.
            let n = unsafe { libc::read(0, (&raw mut byte).cast(), 1) };
            match (n, byte) {
                (1, b'S') => {
                    start = Some(cpu_now());
                    delay0 = run_delay();
                }
                (1, b'E') => {
                    cpu = start.map(|s| cpu_now() - s);
                    delay = run_delay().saturating_sub(delay0);
                }
                (1, _) => {}
                (n, _)
                    if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {
                }
                _ => {
                    let backend = BACKEND.get().cloned().unwrap_or_default();
                    match cpu {
                        Some(c) => child::emit(&[
                            ("cpu_s", format!("{:.6}", c.as_secs_f64())),
                            ("delay_s", format!("{:.6}", delay.as_secs_f64())),
                            ("backend", backend),
                        ]),
                        None if !window => child::emit(&[("backend", backend)]),
                        None => {
                            eprintln!("{what}: the control pipe closed before the window ended");
                            std::process::exit(1);
                        }
                    }
                    std::process::exit(0);
                }
            }
        }
    });
}

// ---- the worker side: `worker echo-server --engine E --max-secs S` ----

pub fn server(args: &Args) -> Result<(), String> {
    let engine = args.req("engine")?.to_string();
    let max = Duration::from_secs(args.get("max-secs", 120)?);
    control_thread("echo-server", max, true);
    need_fds(2 * CONNS[1] + 64)?;
    let l = listener()?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    match engine.as_str() {
        "ringport" => ringport_server(l, port),
        "ringport-multishot" => ringport_multishot_server(l, port),
        "tokio" => tokio_server(l, port),
        "compio" => compio_server(l, port),
        "compio-multishot" => compio_multishot_server(l, port),
        "monoio" => monoio_server(l, port),
        "ringport-2t" => crate::echo_threads::ringport(l, port),
        "tokio-2t" => crate::echo_threads::tokio(l, port),
        "monoio-2t" => crate::echo_threads::monoio(l, port),
        other => Err(format!("unknown echo engine {other}")),
    }
}

/// Says the server is ready: the parent starts the load generator on it.
pub(crate) fn ready(port: u16) {
    println!("LISTEN {port}");
}

fn ringport_server(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use ringport::buf::BufResult;
    let rt = ringport::Runtime::new().map_err(|e| format!("ringport runtime: {e}"))?;
    let info = rt.backend_info();
    set_backend(format!(
        "{:?} ({})",
        info.backend,
        info.setup_flags.join("+")
    ));
    rt.block_on(async move {
        let listener = ringport::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        ready(port);
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            ringport::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(BUF);
                loop {
                    // No `clear()`: a read leaves exactly the bytes it read (IoBufMut).
                    let BufResult(res, back) = stream.read(buf).await;
                    buf = back;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                    let BufResult(res, back) = stream.write_all(buf).await;
                    buf = back;
                    if res.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

fn ringport_multishot_server(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use ringport::buf::BufResult;
    let rt = ringport::Runtime::new().map_err(|e| format!("ringport runtime: {e}"))?;
    let info = rt.backend_info();
    set_backend(format!(
        "{:?} ({})",
        info.backend,
        info.setup_flags.join("+")
    ));
    rt.block_on(async move {
        let listener = ringport::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        let ring = ringport::buf::BufRing::new(RING_BUFS, RING_BUF_LEN)
            .map_err(|e| format!("BufRing: {e}"))?;
        ready(port);
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let ring = ring.clone();
            ringport::spawn(async move {
                let mut rx = stream.recv_multishot(&ring);
                while let Some(Ok(buf)) = rx.next().await {
                    let BufResult(res, _) = stream.write_all(buf).await;
                    if res.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

fn compio_multishot_server(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use compio::io::{AsyncReadMulti, AsyncWriteExt};
    use compio::BufResult;
    use futures_util::StreamExt;
    let mut proactor = compio::driver::ProactorBuilder::new();
    proactor
        .buffer_pool_size(std::num::NonZero::new(RING_BUFS).expect("non-zero"))
        .buffer_pool_buffer_len(RING_BUF_LEN);
    let rt = compio::runtime::RuntimeBuilder::new()
        .with_proactor(proactor)
        .build()
        .map_err(|e| format!("compio runtime: {e}"))?;
    set_backend(format!("{:?}", rt.driver_type()));
    rt.block_on(async move {
        let listener = compio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        ready(port);
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            compio::runtime::spawn(async move {
                let mut reader = &stream;
                let mut writer = &stream;
                let mut rx = std::pin::pin!(reader.read_multi(0));
                while let Some(Ok(buf)) = rx.next().await {
                    let BufResult(res, _) = writer.write_all(buf).await;
                    if res.is_err() {
                        return;
                    }
                }
            })
            .detach();
        }
    })
}

fn tokio_server(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    set_backend("epoll".into());
    rt.block_on(async move {
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        ready(port);
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

fn compio_server(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use compio::io::{AsyncRead, AsyncWriteExt};
    use compio::BufResult;
    let rt = compio::runtime::Runtime::new().map_err(|e| format!("compio runtime: {e}"))?;
    set_backend(format!("{:?}", rt.driver_type()));
    rt.block_on(async move {
        let listener = compio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        ready(port);
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            compio::runtime::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(BUF);
                loop {
                    buf.clear();
                    let BufResult(res, back) = stream.read(buf).await;
                    buf = back;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                    let BufResult(res, back) = stream.write_all(buf).await;
                    buf = back;
                    if res.is_err() {
                        return;
                    }
                }
            })
            .detach();
        }
    })
}

fn monoio_server(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .build()
        .map_err(|e| format!("monoio runtime: {e}"))?;
    set_backend("io_uring".into());
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        ready(port);
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            monoio::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(BUF);
                loop {
                    buf.clear();
                    let (res, back) = stream.read(buf).await;
                    buf = back;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                    let (res, back) = stream.write_all(buf).await;
                    buf = back;
                    if res.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

// ---- the load generator: `worker echo-load --port P --conns N --warmup S --secs S` ----

/// One connection's place in its message.
#[derive(Default)]
struct Conn {
    sent: usize,
    got: usize,
    seq: u64,
}

/// `user_data`: the connection's index, shifted, and whether the op is the receive.
const RECV: u64 = 1;

pub fn load(args: &Args) -> Result<(), String> {
    let port: u16 = args.get("port", 0)?;
    let n: usize = args.get("conns", 100)?;
    let warmup = Duration::from_secs_f64(args.get("warmup", 1.0)?);
    let secs = Duration::from_secs_f64(args.get("secs", 5.0)?);
    need_fds(n + 64)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut socks = Vec::with_capacity(n);
    for i in 0..n {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connection {i} to {addr}: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        socks.push(s);
        if Instant::now() > give_up {
            return Err(format!("only {} of {n} connections after 30 s", i + 1));
        }
    }
    let fds: Vec<RawFd> = socks.iter().map(AsRawFd::as_raw_fd).collect();
    // Every connection's outgoing then incoming message, side by side. Leaked: the kernel may
    // still be writing into it while the ring is torn down at exit.
    let bufs: &'static mut [u8] = Box::leak(vec![0u8; n * 2 * MSG].into_boxed_slice());
    let base = bufs.as_mut_ptr();
    let out = |i: usize| base.wrapping_add(i * 2 * MSG);
    let inb = |i: usize| base.wrapping_add(i * 2 * MSG + MSG);
    let fill = |i: usize, seq: u64| {
        let mut msg = [b'e'; MSG];
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        msg[8..16].copy_from_slice(&(i as u64).to_le_bytes());
        // SAFETY: `out(i)` is MSG bytes inside the leaked buffer, and no op of connection
        // `i` is in flight (a send is only pushed after this).
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), out(i), MSG) };
    };
    let send = |i: usize, from: usize| {
        opcode::Send::new(
            types::Fd(fds[i]),
            out(i).wrapping_add(from),
            (MSG - from) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data((i as u64) << 1)
    };
    let recv = |i: usize, from: usize| {
        opcode::Recv::new(
            types::Fd(fds[i]),
            inb(i).wrapping_add(from),
            (MSG - from) as u32,
        )
        .build()
        .user_data((i as u64) << 1 | RECV)
    };
    // One op per connection at most: the queue never holds more than `n` entries.
    let entries = (n as u32).next_power_of_two().max(64);
    let (mut ring, _) = crate::roundtrip::build_ring(entries)?;
    let (submitter, mut sq, mut cq) = ring.split();
    let push = |sq: &mut io_uring::SubmissionQueue<'_>, e: squeue::Entry| {
        // SAFETY: every entry points into the leaked buffer (valid for ever) at a part no
        // other op of that connection uses, and at a socket in `socks`, which outlives the
        // loop.
        while unsafe { sq.push(&e) }.is_err() {
            sq.sync();
            submitter
                .submit()
                .map_err(|e| format!("io_uring_enter: {e}"))?;
            sq.sync();
        }
        Ok::<(), String>(())
    };
    let mut conns: Vec<Conn> = (0..n).map(|_| Conn::default()).collect();
    for i in 0..n {
        fill(i, 0);
        push(&mut sq, send(i, 0))?;
    }
    sq.sync();
    let ts = types::Timespec::new().nsec(50_000_000);
    let wait = types::SubmitArgs::new().timespec(&ts);
    let warm_end = Instant::now() + warmup;
    let mut done = 0u64;
    let mut window: Option<(Instant, u64, Duration, Duration)> = None;
    let mut last_progress = Instant::now();
    loop {
        match submitter.submit_with_args(1, &wait) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(format!("io_uring_enter: {e}")),
        }
        cq.sync();
        let mut progressed = false;
        for cqe in &mut cq {
            progressed = true;
            let (ud, res) = (cqe.user_data(), cqe.result());
            let i = (ud >> 1) as usize;
            let what = if ud & RECV != 0 { "recv" } else { "send" };
            if res < 0 {
                let e = io::Error::from_raw_os_error(-res);
                return Err(format!("connection {i}: {what}: {e}"));
            }
            if res == 0 {
                return Err(format!(
                    "connection {i}: {what} returned 0 (server closed it)"
                ));
            }
            let c = &mut conns[i];
            if ud & RECV == 0 {
                c.sent += res as usize;
                if c.sent < MSG {
                    push(&mut sq, send(i, c.sent))?;
                } else {
                    c.got = 0;
                    push(&mut sq, recv(i, 0))?;
                }
            } else {
                c.got += res as usize;
                if c.got < MSG {
                    push(&mut sq, recv(i, c.got))?;
                    continue;
                }
                // SAFETY: both are MSG bytes inside the leaked buffer; the receive into
                // `inb(i)` has completed and no op of connection `i` is in flight.
                let same = unsafe {
                    std::slice::from_raw_parts(out(i), MSG)
                        == std::slice::from_raw_parts(inb(i), MSG)
                };
                if !same {
                    return Err(format!(
                        "connection {i}: the echo of message {} differs",
                        c.seq
                    ));
                }
                done += 1;
                c.seq += 1;
                c.sent = 0;
                fill(i, c.seq);
                push(&mut sq, send(i, 0))?;
            }
        }
        sq.sync();
        let now = Instant::now();
        if progressed {
            last_progress = now;
        } else if now - last_progress > Duration::from_secs(10) {
            return Err(format!("no completion for 10 s ({done} messages so far)"));
        }
        match window {
            None if now >= warm_end => {
                mark(b'S')?;
                window = Some((now, done, cpu_now(), run_delay()));
            }
            Some((t0, d0, c0, w0)) if now >= t0 + secs => {
                mark(b'E')?;
                let cpu = cpu_now() - c0;
                let delay = run_delay().saturating_sub(w0);
                child::emit(&[
                    ("msgs", (done - d0).to_string()),
                    ("secs", format!("{:.6}", (now - t0).as_secs_f64())),
                    ("cpu_s", format!("{:.6}", cpu.as_secs_f64())),
                    ("delay_s", format!("{:.6}", delay.as_secs_f64())),
                    ("conns", n.to_string()),
                ]);
                break;
            }
            _ => {}
        }
    }
    // The ring goes before the sockets (locals drop in reverse order), the buffer never.
    Ok(())
}

/// Writes a window mark to the server (our stdin is the pipe's write end).
fn mark(byte: u8) -> Result<(), String> {
    // SAFETY: writes one byte from a valid local.
    let n = unsafe { libc::write(0, (&raw const byte).cast(), 1) };
    if n != 1 {
        return Err(format!(
            "writing the window mark: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}
