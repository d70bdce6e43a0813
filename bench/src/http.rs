//! Cases `http` and `http-file`: an HTTP/1.1 server on CPU 0 under `wrk` on CPU 1.
//!
//! `http`: a plaintext "Hello, World!" from ringport-http, from hyper 1.x on tokio's
//! current-thread runtime, and from nginx with one worker (`return 200`). `http-file`: a
//! 1 MiB and a 1 GiB static file from ringport-http's `ServeDir` (file bodies go out with
//! splice) and from nginx (`sendfile on`).
//!
//! Each run starts the server, checks one response by hand, runs `wrk` once to warm up and
//! once measured. The server's CPU time over the measured run is taken by the parent from
//! `/proc/PID/stat` (the whole process tree: nginx's master and worker) just before `wrk`
//! starts and just after it ends; `wrk` reports its own figures through a Lua `done` hook that
//! prints a `RESULT` line.

use crate::child::{self, Outcome, Running};
use crate::echo::{control_thread, listener, need_fds, pipe, set_backend};
use crate::report::{grouped, Check, Section, Target};
use crate::{Args, XorShift};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The plaintext body every server answers `GET /` with.
pub(crate) const BODY: &str = "Hello, World!";
const HELLO_SERVERS: [&str; 3] = ["ringport", "hyper", "nginx"];
/// `nginx`: defaults (no `open_file_cache`); `nginx-ofc`: with `open_file_cache`.
const FILE_SERVERS: [&str; 3] = ["ringport", "nginx", "nginx-ofc"];
/// The static files: name, size, and the connections `wrk` keeps open for it.
const FILES: [(&str, u64, usize); 5] = [
    ("http-13B.bin", 13, 100),
    ("http-10KiB.bin", 10 << 10, 100),
    ("http-64KiB.bin", 64 << 10, 100),
    ("http-1MiB.bin", 1 << 20, 16),
    ("http-1GiB.bin", 1 << 30, 4),
];
/// Files up to this size are judged per request (CPU per request, requests/s); larger ones
/// by throughput.
const SMALL: u64 = 64 << 10;
/// A run where something else used CPU 0 (the server's core) for this share of the measured
/// run, or `wrk` waited this share for CPU 1, is contended.
const CONTENDED: f64 = 0.05;
/// The backlog nginx listens with (the workers get the same through `echo::listener`).
const BACKLOG: u32 = 4096;

pub struct Opts {
    pub reps: usize,
    /// Seconds of the warm-up `wrk` run and of the measured one (whole seconds: `wrk -d`).
    pub warmup: u64,
    pub secs: u64,
    /// Connections for the plaintext case (the file case has its own per file).
    pub conns: usize,
    /// `http-file`: the sizes to run (`13B`, `10KiB`, `64KiB`, `1MiB`, `1GiB`); all when empty.
    pub sizes: Vec<String>,
    /// `https-file`: every server speaks HTTPS.
    pub tls: bool,
}

impl Opts {
    /// `http`: `--http-reps`, `--http-warmup`, `--http-secs`, `--http-conns`.
    pub fn hello(args: &Args) -> Result<Opts, String> {
        Ok(Opts {
            reps: args.get("http-reps", 3)?,
            warmup: args.get("http-warmup", 1)?,
            secs: args.get("http-secs", 5)?,
            conns: args.get("http-conns", 100)?,
            sizes: Vec::new(),
            tls: false,
        })
    }

    /// `http-file`: `--file-reps`, `--file-warmup`, `--file-secs`.
    pub fn files(args: &Args) -> Result<Opts, String> {
        Ok(Opts {
            reps: args.get("file-reps", 3)?,
            warmup: args.get("file-warmup", 1)?,
            secs: args.get("file-secs", 5)?,
            conns: 0,
            sizes: args
                .opt("file-sizes")
                .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
                .unwrap_or_default(),
            tls: false,
        })
    }

    /// `https-file`: the options of `http-file` (`--file-*`), 13 B to 1 MiB unless
    /// `--file-sizes` says otherwise, every server over TLS.
    pub fn https_files(args: &Args) -> Result<Opts, String> {
        let mut opts = Opts::files(args)?;
        if opts.sizes.is_empty() {
            opts.sizes = ["13B", "10KiB", "64KiB", "1MiB"].map(String::from).to_vec();
        }
        opts.tls = true;
        Ok(opts)
    }
}

#[derive(Clone)]
pub(crate) struct Run {
    /// Complete responses and bytes received (partial responses included), as `wrk` counted.
    requests: f64,
    bytes: f64,
    /// `wrk`'s measured duration.
    secs: f64,
    /// Server CPU seconds over the measured `wrk` run, and CPU 0's busy seconds that were not
    /// the server's (other processes, kernel threads, steal).
    srv_cpu: f64,
    others0: f64,
    /// `wrk`'s whole-process CPU seconds (`wait4`) and wall seconds, and its wait for CPU.
    load_cpu: f64,
    load_wall: f64,
    load_delay: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    /// The whole server process (tree), from `wait4`.
    srv_total: f64,
    pub(crate) backend: String,
    /// The most threads the server had during the measured run (the harness's control
    /// thread in ringport's worker not counted), and how many of them were io_uring's
    /// kernel workers (`iou-wrk-*`).
    threads: usize,
    iou_workers: usize,
    /// io_uring requests handed to a kernel worker (`io_uring_queue_async_work` events on
    /// the server's loop thread) during the measured run; `None` where not counted.
    handoffs: Option<f64>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.requests / self.secs
    }
    /// Megabytes (10^6 bytes) per second.
    fn mbps(&self) -> f64 {
        self.bytes / self.secs / 1e6
    }
    pub(crate) fn us_per_req(&self) -> f64 {
        self.srv_cpu * 1e6 / self.requests
    }
    fn us_per_mb(&self) -> f64 {
        self.srv_cpu * 1e6 / (self.bytes / 1e6)
    }
    fn handoffs_per_req(&self) -> Option<f64> {
        self.handoffs.map(|h| h / self.requests)
    }
    pub(crate) fn contended(&self) -> bool {
        self.others0.max(self.load_delay) > CONTENDED * self.secs
    }
    pub(crate) fn star(&self) -> &'static str {
        if self.contended() {
            "*"
        } else {
            ""
        }
    }
    pub(crate) fn cpu_cells(&self) -> [String; 2] {
        [
            format!(
                "{:.0} % / {:.0} %",
                100.0 * self.srv_cpu / self.secs,
                100.0 * self.others0 / self.secs
            ),
            format!(
                "{:.0} % / {:.0} %",
                100.0 * self.load_cpu / self.load_wall,
                100.0 * self.load_delay / self.secs
            ),
        ]
    }
}

/// What one load takes: the URL path, connections, `wrk --timeout`, and the check of the
/// response made before the load.
pub(crate) struct Load<'a> {
    pub path: &'a str,
    pub conns: usize,
    pub timeout_s: u64,
    pub expect: Expect,
}

#[derive(Clone, Copy)]
pub(crate) enum Expect {
    Body(&'static str),
    Length(u64),
}

/// Every run of every server for one load, interleaved, with one extra run for a server whose
/// runs were all contended; then each server's median clean run.
pub(crate) fn runs_of(
    case: &str,
    servers: &[&str],
    load: &Load<'_>,
    opts: &Opts,
    ctx: &Ctx,
) -> Vec<Result<(Run, Vec<Run>), String>> {
    let mut all: Vec<Vec<Run>> = vec![Vec::new(); servers.len()];
    let mut failed: Vec<Option<String>> = vec![None; servers.len()];
    let mut attempt = |i: usize, label: &str, all: &mut Vec<Vec<Run>>| {
        let server = servers[i];
        eprintln!(
            "{case}: {server}, {} × {} connections, {label}",
            load.path, load.conns
        );
        match one(server, load, opts, ctx) {
            Ok(r) => {
                if r.contended() {
                    eprintln!(
                        "{case}: {server}: contended (others on CPU 0 {:.0} %, wrk waited for \
                         CPU {:.0} %)",
                        100.0 * r.others0 / r.secs,
                        100.0 * r.load_delay / r.secs
                    );
                }
                all[i].push(r);
            }
            Err(e) => {
                eprintln!("{case}: {server}: {e}");
                failed[i] = Some(e);
            }
        }
    };
    for rep in 0..opts.reps {
        for i in 0..servers.len() {
            attempt(i, &format!("run {} of {}", rep + 1, opts.reps), &mut all);
        }
    }
    for i in 0..servers.len() {
        if !all[i].is_empty() && all[i].iter().all(Run::contended) {
            attempt(i, "extra run (every run so far contended)", &mut all);
        }
    }
    all.into_iter()
        .zip(failed)
        .map(|(runs, failed)| {
            let clean: Vec<Run> = runs.iter().filter(|r| !r.contended()).cloned().collect();
            let pool = if clean.is_empty() { &runs } else { &clean };
            match child::median(pool, Run::rate) {
                Some((m, _)) => Ok((m, runs)),
                None => Err(failed.unwrap_or_else(|| "no run".into())),
            }
        })
        .collect()
}

/// A check of ringport against a peer, with no verdict on a contended run.
pub(crate) fn check(
    what: String,
    ours: Option<&Run>,
    peer: Option<&Run>,
    f: fn(&Run) -> f64,
    show: fn(f64) -> String,
    target: Target,
) -> Check {
    let shown = |r: Option<&Run>| {
        r.map_or("failed".into(), |r| {
            let mark = if r.contended() { " (contended)" } else { "" };
            format!("{}{mark}", show(f(r)))
        })
    };
    Check {
        what,
        ours: shown(ours),
        peer: shown(peer),
        ratio: ours
            .zip(peer)
            .and_then(|(o, p)| (!o.contended() && !p.contended()).then(|| f(o) / f(p))),
        target,
    }
}

/// Versions and paths every note uses.
pub(crate) struct Ctx {
    /// The directory served (the files of `http-file`).
    root: PathBuf,
    /// The Lua script that makes `wrk` print its `RESULT` line.
    script: PathBuf,
    /// `https-file`: the certificate and key every server uses.
    tls: Option<(PathBuf, PathBuf)>,
}

impl Ctx {
    pub(crate) fn new() -> Result<Ctx, String> {
        let dir = crate::data_dir();
        let root = dir.join("http");
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let script = dir.join("wrk-result.lua");
        std::fs::write(&script, WRK_LUA).map_err(|e| format!("{}: {e}", script.display()))?;
        Ok(Ctx {
            root,
            script,
            tls: None,
        })
    }
}

/// `wrk`'s report as one `RESULT` line (durations and latencies in µs).
const WRK_LUA: &str = r#"-- Written by ringport-bench: prints wrk's summary as one line.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%.0f bytes=%.0f duration_us=%.0f connect=%.0f read=%.0f write=%.0f " ..
    "status=%.0f timeout=%.0f p50_us=%.0f p99_us=%.0f\n",
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"#;

pub(crate) fn versions() -> (String, String) {
    let out = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                let text = [o.stdout, o.stderr].concat();
                String::from_utf8_lossy(&text)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{cmd}: not found"))
    };
    let wrk = out("wrk", "--version");
    // "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer": the first three words.
    let wrk = wrk.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    (wrk, out("nginx", "-v"))
}

pub fn run_hello(opts: &Opts) -> Result<Section, String> {
    let ctx = Ctx::new()?;
    let load = Load {
        path: "/",
        conns: opts.conns,
        timeout_s: 5,
        expect: Expect::Body(BODY),
    };
    let results = runs_of("http", &HELLO_SERVERS, &load, opts, &ctx);
    let mut rows = Vec::new();
    let mut best: Vec<Option<Run>> = Vec::new();
    let mut backends = Vec::new();
    for (server, res) in HELLO_SERVERS.iter().zip(results) {
        match res {
            Ok((m, every)) => {
                backends.push(format!("{server}: {}", m.backend));
                let every: Vec<String> = every
                    .iter()
                    .map(|r| format!("{}{}", grouped(r.rate()), r.star()))
                    .collect();
                let [srv, load] = m.cpu_cells();
                rows.push(vec![
                    server.to_string(),
                    format!("{}{}", grouped(m.rate()), m.star()),
                    format!("{:.2}", m.us_per_req()),
                    srv,
                    load,
                    format!("{:.2} / {:.2}", m.p50_us / 1e3, m.p99_us / 1e3),
                    format!("{:.2}", m.srv_total),
                    every.join(" / "),
                ]);
                best.push(Some(m));
            }
            Err(e) => {
                rows.push(vec![server.to_string(), format!("failed: {e}")]);
                best.push(None);
            }
        }
    }
    let rate = |r: f64| grouped(r);
    let us = |u: f64| format!("{u:.2} µs");
    let mut checks = Vec::new();
    for (i, target) in [(1, Target::AtLeast(1.2)), (2, Target::AtLeast(1.0))] {
        checks.push(check(
            format!("requests/s vs {}", HELLO_SERVERS[i]),
            best[0].as_ref(),
            best[i].as_ref(),
            Run::rate,
            rate,
            target,
        ));
    }
    // Issue 10's target: ringport-http's server CPU per request at most 0.85x of each peer's.
    for i in [1, 2] {
        checks.push(check(
            format!("server CPU per request vs {}", HELLO_SERVERS[i]),
            best[0].as_ref(),
            best[i].as_ref(),
            Run::us_per_req,
            us,
            Target::AtMost(0.85),
        ));
    }
    let (wrk, nginx) = versions();
    let mut notes = vec![
        format!(
            "Load: `wrk -t1 -c{} -d{}s --timeout {}s -s wrk-result.lua http://127.0.0.1:PORT/` \
             ({wrk}) pinned to CPU 1, after a warm-up run of {} s with the same connections; \
             the server is pinned to CPU 0. Runs per server: {}, servers interleaved; the \
             figures are the median run's (by requests/s). The Lua script only defines \
             `done`, which prints wrk's own summary (requests, bytes, duration, errors, latency \
             percentiles): wrk's request path is unchanged. A run with any wrk error (connect, \
             read, write, timeout, non-2xx status) fails.",
            opts.conns, opts.secs, load.timeout_s, opts.warmup, opts.reps
        ),
        format!(
            "Every server answers `GET /` with `200`, `Content-Type: text/plain`, \
             `Content-Length: 13`, `Date` and the body `{BODY}` (nginx adds `Server: nginx` \
             and `Connection: keep-alive`); before the load, one request made by hand checks \
             the status and the body."
        ),
        "ringport: `ringport_http::Server::from_listener(..).serve_with_shutdown(handler, \
         pending())` on `Runtime::new()`, the handler answering `/` with \
         `Response::new(Body::from(\"Hello, World!\"))` and the content type (other paths go \
         to `ServeDir`; see http-file). hyper 1.x: tokio `new_current_thread().enable_io()`, \
         an accept loop spawning `http1::Builder::new().serve_connection(TokioIo::new(stream), \
         service_fn(..))` per connection (`TCP_NODELAY`, no timer, so no header-read \
         timeout: ringport-http arms its read and write timeouts on every request), a \
         `Full<Bytes>` body. nginx: see below."
            .to_string(),
        nginx_note(&nginx),
        SERVER_CPU_NOTE.to_string(),
        "Reading the figures: as in echo, both sides spend most of their time in the kernel's \
         loopback TCP path (`perf record` of the servers while this case was written: 79 % of \
         the ringport server's cycles in the kernel, 83 % of hyper's; in ringport's user \
         space the largest items were `parse_head`, the connection task, and the timers of \
         the per-request read/write timeouts: the timer heap, `Timeout::poll` and \
         `clock_gettime`, about 4 % together). With wrk near 100 % of its core, requests/s \
         is the load generator's ceiling more than the server's; server CPU µs per request is \
         the server's own figure."
            .to_string(),
        contention_note(),
    ];
    if !backends.is_empty() {
        notes.push(format!("Backends: {}.", backends.join("; ")));
    }
    Ok(Section {
        title: "http: plaintext \"Hello, World!\" over keep-alive connections, server on one \
                core"
            .into(),
        notes,
        header: vec![
            "server",
            "requests/s",
            "server CPU µs per request",
            "server CPU use / others on CPU 0",
            "wrk CPU use / wait for CPU",
            "latency p50 / p99 (ms)",
            "server CPU s, whole run",
            "requests/s, every run",
        ],
        rows,
        checks,
    })
}

pub(crate) fn contention_note() -> String {
    format!(
        "Contention guard: \"others on CPU 0\" is the time CPU 0 was busy (user, nice, system, \
         irq, softirq and steal in `/proc/stat`) over the measured run less the server's own \
         CPU time, as a share of the run: other processes, kernel threads and the \
         hypervisor's steal on the server's core. (Not the server's `run_delay`, as in echo: \
         ringport's blocking-pool thread, which `ServeDir` uses, shares CPU 0 with the loop \
         and waits for it by design.) \"wrk wait for CPU\" is `run_delay` summed over \
         `/proc/PID/task/*/schedstat` of wrk's threads, sampled every 50 ms while it runs. A \
         run where either exceeds {:.0} % is contended, marked *: left out of the median while \
         a clean run exists (a server with no clean run gets one extra), and a check on it \
         gets no verdict (n/a). \"wrk CPU use\" is wrk's whole-process CPU time from `wait4` \
         ÷ its wall time. Both CPU-time sources are clock-tick based, and kernel threads \
         (softirq, page-cache work) run on CPU 0 too, so \"others\" reads a few per cent \
         on a quiet machine.",
        CONTENDED * 100.0
    )
}

pub(crate) const SERVER_CPU_NOTE: &str =
    "Server CPU µs per request = the server's CPU time over the \
    measured wrk run ÷ requests completed in it. The parent reads user + system time from \
    `/proc/PID/stat` of every process of the server (the worker; nginx's master and its \
    worker, found through `/proc/PID/task/*/children`) just before starting wrk and just \
    after it exits, so wrk's start-up, its connection set-up and its teardown (a few ms) are \
    inside the window; the clock-tick resolution (10 ms) is under 0.5 % of a 5 s run. \
    \"server CPU s, whole run\" is the server's `wait4` figure, warm-up and start-up \
    included (nginx's master reaps its worker, so it holds both).";

fn nginx_note(version: &str) -> String {
    format!(
        "nginx ({version}): `nginx -p PREFIX -c PREFIX/nginx.conf -e PREFIX/error.log -g \
         'daemon off;'` started by the parent on CPU 0 (`sched_setaffinity` before exec, as \
         `taskset -c 0` does; the worker inherits it), stopped with SIGTERM (and the \
         parent-death signal set, so it cannot outlive the run). The generated config: \
         `worker_processes 1; events {{ worker_connections 4096; }}`, and in `http`: \
         `access_log off; sendfile on; tcp_nopush on; server_tokens off; \
         keepalive_requests 1000000;` (so that nginx, like the other servers, never closes a \
         keep-alive connection during a run; its default is 1000), `listen \
         127.0.0.1:PORT backlog={BACKLOG}; location = / {{ default_type text/plain; return \
         200 \"{BODY}\"; }} location / {{ root DIR; }}`, temp paths inside PREFIX."
    )
}

pub fn run_files(opts: &Opts) -> Result<Section, String> {
    let mut ctx = Ctx::new()?;
    if opts.tls {
        ctx.tls = Some(crate::tls::cert_files()?);
    }
    let case = if opts.tls { "https-file" } else { "http-file" };
    let files: Vec<(&str, u64, usize)> = FILES
        .into_iter()
        .filter(|(_, size, _)| {
            let name = size_name(*size).replace(' ', "");
            opts.sizes.is_empty() || opts.sizes.iter().any(|s| s.eq_ignore_ascii_case(&name))
        })
        .collect();
    for &(name, size, _) in &files {
        ensure_file(&ctx.root.join(name), size)?;
    }
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut backends = Vec::new();
    for &(name, size, conns) in &files {
        // Read once, so the first server does not pay for the page cache.
        warm_cache(&ctx.root.join(name))?;
        let path = format!("/{name}");
        let load = Load {
            path: &path,
            conns,
            timeout_s: 60,
            expect: Expect::Length(size),
        };
        let results = runs_of(case, &FILE_SERVERS, &load, opts, &ctx);
        let mut best: Vec<Option<Run>> = Vec::new();
        for (server, res) in FILE_SERVERS.iter().zip(results) {
            match res {
                Ok((m, every)) => {
                    if !backends.iter().any(|b: &String| b.starts_with(server)) {
                        backends.push(format!("{server}: {}", m.backend));
                    }
                    let every: Vec<String> = every
                        .iter()
                        .map(|r| {
                            let v = if size <= SMALL { r.rate() } else { r.mbps() };
                            format!("{}{}", grouped(v), r.star())
                        })
                        .collect();
                    let [srv, load] = m.cpu_cells();
                    let handoffs = match m.handoffs {
                        None => "—".to_string(),
                        Some(h) if size > SMALL => format!("{:.1} per MB", h / (m.bytes / 1e6)),
                        Some(_) => m
                            .handoffs_per_req()
                            .map_or("—".to_string(), |h| format!("{h:.3}")),
                    };
                    rows.push(vec![
                        size_name(size),
                        conns.to_string(),
                        server.to_string(),
                        format!("{}{}", grouped(m.rate()), m.star()),
                        grouped(m.mbps()),
                        if m.requests > 0.0 {
                            format!("{:.2}", m.us_per_req())
                        } else {
                            "— (no response completed)".into()
                        },
                        format!("{:.0}", m.us_per_mb()),
                        format!("{} ({} io-wq)", m.threads, m.iou_workers),
                        handoffs,
                        srv,
                        load,
                        every.join(" / "),
                    ]);
                    best.push(Some(m));
                }
                Err(e) => {
                    rows.push(vec![
                        size_name(size),
                        conns.to_string(),
                        server.to_string(),
                        format!("failed: {e}"),
                    ]);
                    best.push(None);
                }
            }
        }
        checks.extend(file_checks(size, &best, opts.tls));
    }
    let (wrk, nginx) = versions();
    let mut notes = vec![
        format!(
            "Files under `{}`, written once with pseudo-random bytes and read once before \
             their runs (so every server finds them in the page cache): {}.",
            ctx.root.display(),
            files
                .iter()
                .map(|(n, s, c)| format!("`{n}` ({}, wrk with {c} connections)", size_name(*s)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "Load: `wrk -t1 -cC -d{}s --timeout 60s -s wrk-result.lua \
             http://127.0.0.1:PORT/FILE` ({wrk}) pinned to CPU 1, after a warm-up run of {} s; \
             server on CPU 0; runs per server and file: {}, interleaved; the figures are the \
             median run's (by requests/s). MB/s = bytes wrk received (heads and bodies, \
             partial responses at the end included) ÷ its duration, MB = 10^6 bytes. Before \
             the load one request by hand checks the status (200) and `Content-Length`. A run \
             with any wrk error fails.",
            opts.secs, opts.warmup, opts.reps
        ),
        "ringport: `ServeDir::new(DIR)` (the defaults `ringport serve` uses; no access log, \
         as `--quiet`) behind `Server::from_listener(..)` on `Runtime::new()`. Per request: a \
         lookup in the per-loop open-file cache (an entry is used for at most 1 s, then the \
         path is opened again, confined: one `OPENAT2` with `RESOLVE_BENEATH`, metadata from \
         `statx(AT_STATX_DONT_SYNC)` on the fd); files up to 64 KiB are sent from the bytes \
         the entry keeps (read once per entry), with the head in one `SEND` (up to 4 KiB, \
         copied in behind it) or one `WRITEV` (head and body from where they are); larger \
         files go out with `TcpStream::send_file` (`SPLICE` through a pipe borrowed per \
         chunk from a pool of 16)."
            .to_string(),
        format!(
            "nginx ({nginx}): `nginx -p PREFIX -c PREFIX/nginx.conf -e PREFIX/error.log -g \
             'daemon off;'` started on CPU 0, stopped with SIGTERM. The config: `master_process \
             off; worker_processes 1; worker_rlimit_nofile 20000; events {{ \
             worker_connections 16384; }}` (room for http-idle's connections), in `http`: \
             `access_log off; sendfile on; server_tokens off; keepalive_requests 1000000;` \
             (nginx's defaults otherwise: no `tcp_nopush`), `location / {{ root DIR; }}`. \
             nginx-ofc adds `open_file_cache max=1000 inactive=20s; open_file_cache_valid 1s;`."
        ),
        SERVER_CPU_NOTE.to_string(),
        "Threads: the most threads the server had, sampled every 100 ms during the measured \
         run (ringport's worker less the harness's control thread), with how many were \
         io_uring's kernel workers (`iou-wrk-*`). io-wq hand-offs per request: \
         `perf stat -e io_uring:io_uring_queue_async_work -p PID -- sleep SECS` alongside \
         the measured run, ÷ requests: io_uring requests the kernel could not complete at \
         once and gave to a worker thread (ringport only; nginx makes plain system calls)."
            .to_string(),
        contention_note(),
        "Reading the figures: for files up to 64 KiB the checks are CPU per request against \
         the better nginx and requests/s (wrk's one core often caps requests/s for every \
         server: then CPU per request decides); for 1 MiB and 1 GiB, MB/s against nginx. \
         Over loopback the TCP work of a segment is done by whichever process makes it go \
         out: once wrk is the slower side, transmits move into its ACK path, so compare server \
         CPU per MB only where wrk was not saturated."
            .to_string(),
    ];
    if !backends.is_empty() {
        notes.push(format!("Backends: {}.", backends.join("; ")));
    }
    if opts.tls {
        // The plain-HTTP notes, told how TLS changes them.
        for note in notes.iter_mut() {
            *note = note
                .replace("http://127.0.0.1", "https://127.0.0.1")
                .replace(
                    "with the head in one `SEND` (up to 4 KiB, copied in behind it) or one \
                     `WRITEV` (head and body from where they are); larger files go out with \
                     `TcpStream::send_file` (`SPLICE` through a pipe borrowed per chunk from a \
                     pool of 16).",
                    "head and body encrypted together into one record and one send \
                     (`TlsStream::poll_write_vectored`); larger files are read into a pooled \
                     64 KiB buffer and encrypted from it (the TLS transport's `send_file`).",
                )
                .replace("`sendfile on; ", "`sendfile on; (inert under TLS) ");
        }
        notes.insert(0, tls_note());
    }
    let title = if opts.tls {
        "https-file: static files over HTTPS keep-alive connections, server on one core"
    } else {
        "http-file: static files over keep-alive connections, server on one core"
    };
    Ok(Section {
        title: title.into(),
        notes,
        header: vec![
            "file",
            "connections",
            "server",
            "requests/s",
            "MB/s",
            "server CPU µs per request",
            "server CPU µs per MB",
            "threads",
            "io-wq hand-offs per request (per MB for large files)",
            "server CPU use / others on CPU 0",
            "wrk CPU use / wait for CPU",
            "requests/s (MB/s for large files), every run",
        ],
        rows,
        checks,
    })
}

/// The checks for one file size: small files by CPU per request and requests/s against the
/// better nginx, large ones by MB/s against nginx with its defaults.
fn file_checks(size: u64, best: &[Option<Run>], tls: bool) -> Vec<Check> {
    let ours = best[0].as_ref();
    let name = size_name(size);
    let us = |u: f64| format!("{u:.2} µs");
    if size <= SMALL {
        // The better nginx: the one with less CPU per request (and the faster one).
        let ran = || (1..best.len()).filter(|&i| best[i].is_some());
        let by = |f: fn(&Run) -> f64| {
            move |&a: &usize, &b: &usize| {
                let (x, y) = (
                    best[a].as_ref().map_or(0.0, f),
                    best[b].as_ref().map_or(0.0, f),
                );
                x.total_cmp(&y)
            }
        };
        let leanest = ran().min_by(by(Run::us_per_req));
        let fastest = ran().max_by(by(Run::rate));
        let which = leanest.map_or("nginx", |i| FILE_SERVERS[i]);
        let peer = leanest.and_then(|i| best[i].as_ref());
        let rate_peer = fastest.and_then(|i| best[i].as_ref());
        vec![
            check(
                format!("{name}: server CPU per request vs {which}"),
                ours,
                peer,
                Run::us_per_req,
                us,
                // Over TLS the issue's target (#12); plain HTTP's is #9's.
                Target::AtMost(if tls { 0.9 } else { 0.7 }),
            ),
            check(
                format!("{name}: requests/s vs the faster nginx"),
                ours,
                rate_peer,
                Run::rate,
                grouped,
                Target::AtLeast(1.0),
            ),
        ]
    } else {
        vec![
            check(
                format!(
                    "{name}: MB/s vs nginx ({})",
                    if tls { "user-space TLS" } else { "sendfile" }
                ),
                ours,
                best[1].as_ref(),
                Run::mbps,
                grouped,
                Target::AtLeast(1.0),
            ),
            check(
                format!("{name}: server CPU per MB vs nginx"),
                ours,
                best[1].as_ref(),
                Run::us_per_mb,
                |u| format!("{u:.0} µs"),
                Target::None,
            ),
        ]
    }
}

fn size_name(size: u64) -> String {
    if size >= 1 << 30 {
        format!("{} GiB", size >> 30)
    } else if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

/// Writes `path` with `size` pseudo-random bytes when it is missing or has another size.
fn ensure_file(path: &Path, size: u64) -> Result<(), String> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    eprintln!(
        "http-file: writing {} ({})",
        path.display(),
        size_name(size)
    );
    let tmp = path.with_extension("part");
    let fail = |e: std::io::Error| format!("{}: {e}", tmp.display());
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    let mut rng = XorShift::new(size);
    let mut chunk = vec![0u8; (1 << 20).min(size as usize)];
    for _ in 0..size / chunk.len() as u64 {
        for w in chunk.chunks_exact_mut(8) {
            w.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        f.write_all(&chunk).map_err(fail)?;
    }
    f.sync_all().map_err(fail)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(fail)
}

fn warm_cache(path: &Path) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = std::fs::File::open(path).map_err(fail)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).map_err(fail)? > 0 {}
    Ok(())
}

/// One run: start the server, check one response, warm up, measure, stop.
fn one(server: &str, load: &Load<'_>, opts: &Opts, ctx: &Ctx) -> Result<Run, String> {
    let srv = Srv::start(server, ctx, opts)?;
    let scheme = if ctx.tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://127.0.0.1:{}{}", srv.port, load.path);
    if ctx.tls.is_some() {
        probe_tls(&url, load.expect)?;
    } else {
        probe(srv.port, load.path, load.expect)?;
    }
    if opts.warmup > 0 {
        wrk(ctx, &url, load, opts.warmup)?;
    }
    let pids = srv.pids();
    // ringport's worker has the harness's control thread besides the server's own.
    let harness_threads = usize::from(server == "ringport");
    let handoffs = (server == "ringport").then(|| HandoffCount::start(srv.pid(), opts.secs));
    let (busy0, (cpu0, _)) = (cpu_busy(0)?, cpu_and_delay(&pids)?);
    let sampling = AtomicBool::new(true);
    let (w, (threads, iou)) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let (mut most, mut iou) = (0, 0);
            while sampling.load(Ordering::Relaxed) {
                let (n, w) = thread_counts(&pids);
                most = most.max(n);
                iou = iou.max(w);
                std::thread::sleep(Duration::from_millis(100));
            }
            (most, iou)
        });
        let w = wrk(ctx, &url, load, opts.secs);
        sampling.store(false, Ordering::Relaxed);
        (w, sampler.join().unwrap_or((0, 0)))
    });
    let w = w?;
    let (cpu1, _) =
        cpu_and_delay(&pids).map_err(|e| format!("{e} (a server process ended during the run)"))?;
    let busy1 = cpu_busy(0)?;
    let handoffs = handoffs.and_then(HandoffCount::finish);
    let out = srv.stop()?;
    let num = |k: &str| w.out.num(k);
    Ok(Run {
        requests: num("requests")?,
        bytes: num("bytes")?,
        secs: num("duration_us")? / 1e6,
        srv_cpu: cpu1 - cpu0,
        others0: (busy1 - busy0 - (cpu1 - cpu0)).max(0.0),
        load_cpu: w.out.cpu_s,
        load_wall: w.out.wall_s,
        load_delay: w.delay,
        p50_us: num("p50_us")?,
        p99_us: num("p99_us")?,
        srv_total: out.cpu_s,
        backend: out
            .kv
            .get("backend")
            .cloned()
            .unwrap_or_else(|| "epoll".into()),
        threads: threads.saturating_sub(harness_threads),
        iou_workers: iou,
        handoffs,
    })
}

/// The threads of `pids` now, and how many of them are io_uring workers (`iou-wrk-*`).
fn thread_counts(pids: &[libc::pid_t]) -> (usize, usize) {
    let (mut all, mut iou) = (0, 0);
    for &pid in pids {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
        for t in tasks.into_iter().flatten().filter_map(Result::ok) {
            all += 1;
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.starts_with("iou-wrk") {
                iou += 1;
            }
        }
    }
    (all, iou)
}

/// `perf stat -e io_uring:io_uring_queue_async_work -p PID` over the measured run: how many
/// io_uring requests the kernel handed to its worker threads (needs perf and tracefs).
struct HandoffCount {
    child: Option<std::process::Child>,
}

impl HandoffCount {
    fn start(pid: libc::pid_t, secs: u64) -> HandoffCount {
        let child = Command::new("perf")
            .args([
                "stat",
                "-x",
                ",",
                "-e",
                "io_uring:io_uring_queue_async_work",
                "-p",
            ])
            .arg(pid.to_string())
            .args(["--", "sleep"])
            .arg(secs.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok();
        HandoffCount { child }
    }

    /// The count, once perf has ended; `None` when perf could not count.
    fn finish(self) -> Option<f64> {
        let out = self.child?.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find(|l| l.contains("io_uring_queue_async_work"))
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.trim().parse().ok())
    }
}

/// One request by hand: the status must be 200 and the body (or its length) what the load
/// expects.
fn probe(port: u16, path: &str, expect: Expect) -> Result<(), String> {
    let what = format!("checking GET {path}");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let fail = |e: std::io::Error| format!("{what}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(fail)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(fail)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if got.len() > 64 * 1024 {
            return Err(format!("{what}: no end of head in 64 KiB"));
        }
        let n = s.read(&mut buf).map_err(fail)?;
        if n == 0 {
            return Err(format!("{what}: closed before the head ended"));
        }
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    let status = head.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 200") {
        return Err(format!("{what}: answered {status:?}"));
    }
    let length: Option<u64> = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    });
    match expect {
        Expect::Length(n) if length == Some(n) => Ok(()),
        Expect::Length(n) => Err(format!("{what}: Content-Length {length:?}, not {n}")),
        Expect::Body(body) => {
            while got.len() - head_end < body.len() {
                let n = s.read(&mut buf).map_err(fail)?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if &got[head_end..] == body.as_bytes() && length == Some(body.len() as u64) {
                Ok(())
            } else {
                Err(format!(
                    "{what}: body {:?}",
                    String::from_utf8_lossy(&got[head_end..])
                ))
            }
        }
    }
}

/// `probe` over HTTPS, with curl (`-k`: the bench's self-signed leaf): status 200 and the
/// expected length.
fn probe_tls(url: &str, expect: Expect) -> Result<(), String> {
    let out = Command::new("curl")
        .args(["-k", "-sS", "--max-time", "20", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{size_download}", url])
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    let got = String::from_utf8_lossy(&out.stdout).to_string();
    let want = match expect {
        Expect::Length(n) => format!("200 {n}"),
        Expect::Body(b) => format!("200 {}", b.len()),
    };
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "checking {url}: curl says {got:?}, not {want:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The note `https-file` starts with.
fn tls_note() -> String {
    "HTTPS: every server has the same certificate (a self-signed ECDSA P-256 leaf for \
     localhost, made with rcgen for the run) and speaks TLS 1.2 and 1.3; wrk (OpenSSL) \
     negotiates TLS 1.3 with TLS_AES_256_GCM_SHA384 with both (its first preference, which \
     both servers follow). No kernel TLS on this machine (CONFIG_TLS off): both encrypt in \
     user space, so file bodies are read and encrypted (nginx: no sendfile under TLS \
     without kTLS). ringport: `ringport_http::tls::accept` in `Server::serve_over` (what \
     `ringport serve --tls-cert --tls-key` runs), rustls 0.23 with ring, tickets and a \
     4,096-entry session cache. nginx: the http-file configuration plus `listen ... ssl; \
     ssl_certificate ...; ssl_certificate_key ...; ssl_protocols TLSv1.2 TLSv1.3; \
     ssl_session_cache shared:SSL:10m; ssl_session_tickets on;`. Each wrk run opens its \
     connections anew: the measured run includes one full handshake per connection."
        .to_string()
}

/// What `wrk` printed, and how long its threads waited for CPU.
struct Wrk {
    out: Outcome,
    delay: f64,
}

fn wrk(ctx: &Ctx, url: &str, load: &Load<'_>, secs: u64) -> Result<Wrk, String> {
    let mut cmd = Command::new("wrk");
    cmd.arg("-t1")
        .arg(format!("-c{}", load.conns))
        .arg(format!("-d{secs}s"))
        .arg("--timeout")
        .arg(format!("{}s", load.timeout_s))
        .arg("-s")
        .arg(&ctx.script)
        .arg(url)
        .stdin(Stdio::null());
    let running = child::spawn(cmd, 1)?;
    let pid = running.pid();
    // wrk's threads are gone once it exits: sample their wait for CPU while it runs, keeping
    // the largest sum seen (a thread that has exited drops out of the sum).
    let done = AtomicBool::new(false);
    let (out, delay) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut most = 0.0f64;
            while !done.load(Ordering::Relaxed) {
                if let Ok((_, d)) = cpu_and_delay(&[pid]) {
                    most = most.max(d);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            most
        });
        let out = running.finish();
        done.store(true, Ordering::Relaxed);
        (out, sampler.join().unwrap_or(0.0))
    });
    let out = out.map_err(|e| format!("wrk: {e}"))?;
    if !out.kv.contains_key("requests") {
        return Err(format!("wrk printed no RESULT line: {}", out.stdout.trim()));
    }
    let errors: Vec<String> = ["connect", "read", "write", "status", "timeout"]
        .iter()
        .filter_map(|k| {
            let n = out.num(k).unwrap_or(1.0);
            (n > 0.0).then(|| format!("{k} {n}"))
        })
        .collect();
    if !errors.is_empty() {
        return Err(format!("wrk counted errors: {}", errors.join(", ")));
    }
    Ok(Wrk { out, delay })
}

/// A server under test: a worker of this binary, or nginx. Stopped, whatever happens, when
/// dropped.
struct Srv {
    run: Option<Running>,
    /// The worker's stdin: closing it ends the worker.
    ctl: Option<OwnedFd>,
    /// nginx's prefix directory (config, pid file, error log), removed at the end.
    nginx: Option<PathBuf>,
    port: u16,
}

impl Srv {
    fn start(server: &str, ctx: &Ctx, opts: &Opts) -> Result<Srv, String> {
        match server {
            "nginx" if opts.conns == 0 => return Srv::nginx(ctx, Nginx::Files),
            "nginx" => return Srv::nginx(ctx, Nginx::Hello),
            "nginx-ofc" => return Srv::nginx(ctx, Nginx::FilesCached),
            _ => {}
        }
        let (ctl_read, ctl_write) = pipe()?;
        let max = (opts.warmup + opts.secs + 60).to_string();
        let root = ctx.root.to_string_lossy();
        let mut argv = vec![
            "http-server".to_string(),
            "--engine".into(),
            server.into(),
            "--root".into(),
            root.to_string(),
            "--max-secs".into(),
            max,
        ];
        if let Some((cert, key)) = &ctx.tls {
            argv.extend(["--tls-cert".into(), cert.display().to_string()]);
            argv.extend(["--tls-key".into(), key.display().to_string()]);
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut cmd = child::worker(&argv);
        cmd.stdin(Stdio::from(ctl_read));
        let mut run = child::spawn(cmd, 0)?;
        let line = match run.line() {
            Ok(line) => line,
            Err(e) => return Err(run.finish().err().unwrap_or(e)),
        };
        let port = line
            .strip_prefix("LISTEN ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("http server printed {line:?}"))?;
        Ok(Srv {
            run: Some(run),
            ctl: Some(ctl_write),
            nginx: None,
            port,
        })
    }

    fn nginx(ctx: &Ctx, kind: Nginx) -> Result<Srv, String> {
        // A free port: the kernel picks one, and nginx binds it right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let prefix = std::env::temp_dir().join(format!(
            "ringport-bench-nginx-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
        // From here on, dropping `srv` removes the prefix (and stops nginx once started).
        let mut srv = Srv {
            run: None,
            ctl: None,
            nginx: Some(prefix.clone()),
            port,
        };
        let conf = prefix.join("nginx.conf");
        let text = match kind {
            Nginx::Hello => nginx_conf(&prefix, &ctx.root, port),
            Nginx::Files => nginx_files_conf(&prefix, &ctx.root, port, false, ctx.tls.as_ref()),
            Nginx::FilesCached => {
                nginx_files_conf(&prefix, &ctx.root, port, true, ctx.tls.as_ref())
            }
        };
        std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(format!("{}/", prefix.display()))
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null());
        // SAFETY: the hook runs in the forked child before exec and makes one raw syscall
        // (async-signal-safe, no allocation, no locks).
        unsafe {
            cmd.pre_exec(|| {
                // nginx's master gets SIGTERM (a fast shutdown of it and its worker) if this
                // process dies first.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        srv.run = Some(child::spawn(cmd, 0)?);
        // Ready when it accepts a connection and its worker exists.
        let give_up = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            let pid = srv.pid();
            if exited(pid) {
                let why = srv.run.take().map(Running::finish);
                let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
                return Err(format!(
                    "nginx ended at start-up ({}): {}",
                    match why {
                        Some(Err(e)) => e,
                        _ => "exit status 0".into(),
                    },
                    log.trim()
                ));
            }
            // With a master process, ready once its worker exists too.
            let workers_up = kind != Nginx::Hello || srv.pids().len() > 1;
            if workers_up && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(srv);
            }
            if Instant::now() > give_up {
                return Err("nginx did not accept connections within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> libc::pid_t {
        self.run.as_ref().map_or(0, Running::pid)
    }

    /// The server's processes: the child and its descendants (nginx's worker).
    fn pids(&self) -> Vec<libc::pid_t> {
        let mut pids = vec![self.pid()];
        let mut i = 0;
        while i < pids.len() {
            let more = children(pids[i]);
            pids.extend(more);
            i += 1;
        }
        pids
    }

    /// Ends the server and waits for it: closes a worker's stdin, or sends nginx SIGTERM.
    fn stop(mut self) -> Result<Outcome, String> {
        self.ctl = None;
        let pids = self.pids();
        let run = self.run.take().ok_or("server already stopped")?;
        if self.nginx.is_some() {
            terminate(&run, &pids);
        }
        run.finish()
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        self.ctl = None;
        let pids = self.pids();
        if let Some(run) = self.run.take() {
            if self.nginx.is_some() {
                terminate(&run, &pids);
            }
            // Running's own drop kills and reaps what is left of the child.
            drop(run);
        }
        if let Some(prefix) = self.nginx.take() {
            let _ = std::fs::remove_dir_all(prefix);
        }
    }
}

/// Direct children of `pid` (all its threads').
fn children(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
    tasks
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// SIGTERM to nginx's master, up to 5 s for it to stop its worker and exit, then SIGKILL to
/// whatever of `pids` (master first, worker after) is still there.
fn terminate(run: &Running, pids: &[libc::pid_t]) {
    let master = run.pid();
    // SAFETY: a signal to our own child, not reaped yet (we hold its `Running`).
    unsafe { libc::kill(master, libc::SIGTERM) };
    let give_up = Instant::now() + Duration::from_secs(5);
    while !exited(master) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    for &pid in pids.iter().skip(1) {
        // The worker: nginx's master reaps it before exiting; one still running is orphaned.
        if !exited(pid) && parent_of(pid).is_some_and(|p| p == master || p == 1) {
            // SAFETY: a signal to the nginx worker we started (checked by its parent above).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Whether `pid` is gone or a zombie.
fn exited(pid: libc::pid_t) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => stat_fields(&s)
            .first()
            .is_none_or(|st| *st == "Z" || *st == "X"),
    }
}

fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&s).get(1)?.parse().ok()
}

/// The fields of `/proc/PID/stat` after the command name: state first (field 3).
fn stat_fields(s: &str) -> Vec<&str> {
    s.rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect())
}

/// Seconds CPU `cpu` has been busy since boot, from `/proc/stat`: user, nice, system, irq,
/// softirq and steal (time the hypervisor gave to someone else); idle and iowait are not busy.
pub(crate) fn cpu_busy(cpu: usize) -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .ok_or_else(|| format!("/proc/stat has no {name}"))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    if f.len() < 8 {
        return Err(format!("/proc/stat: unexpected {line:?}"));
    }
    // SAFETY: sysconf has no memory effects.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // user nice system idle iowait irq softirq steal
    Ok((f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / tick)
}

/// CPU seconds (user + system, all threads, exited ones included) and seconds waited for CPU
/// (`run_delay` of the live threads) of `pids`, summed. An error when one is gone.
fn cpu_and_delay(pids: &[libc::pid_t]) -> Result<(f64, f64), String> {
    // SAFETY: sysconf has no memory effects.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let (mut cpu, mut delay_ns) = (0.0, 0u64);
    for &pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
        let f = stat_fields(&stat);
        // utime and stime are fields 14 and 15: 11 and 12 after the state (field 3).
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        let (Some(u), Some(s)) = (ticks(11), ticks(12)) else {
            return Err(format!("/proc/{pid}/stat: unexpected {stat:?}"));
        };
        if f[0] == "Z" {
            return Err(format!("process {pid} has exited"));
        }
        cpu += (u + s) / tick;
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
        for t in tasks.into_iter().flatten().filter_map(Result::ok) {
            let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            delay_ns += s
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok((cpu, delay_ns as f64 / 1e9))
}

/// nginx with the `http-file` configuration serving `root`: its process, port and prefix
/// directory (the caller stops it with SIGTERM and removes the prefix).
pub(crate) fn start_nginx_files(root: &Path) -> Result<(Running, u16, PathBuf), String> {
    let ctx = Ctx {
        root: root.to_path_buf(),
        script: PathBuf::new(),
        tls: None,
    };
    let mut srv = Srv::nginx(&ctx, Nginx::Files)?;
    let run = srv.run.take().ok_or("nginx did not start")?;
    let prefix = srv.nginx.take().ok_or("nginx has no prefix")?;
    Ok((run, srv.port, prefix))
}

/// Which nginx configuration a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nginx {
    /// `http`: one worker under a master, `return 200` for `/`.
    Hello,
    /// `http-file`: one process (`master_process off`), defaults otherwise.
    Files,
    /// `http-file`: as `Files`, with `open_file_cache`.
    FilesCached,
}

/// The `http-file` configuration: one process, `sendfile on`, no access log, and otherwise
/// nginx's defaults (no `tcp_nopush`); `cached` adds the open-file cache the issue names.
fn nginx_files_conf(
    prefix: &Path,
    root: &Path,
    port: u16,
    cached: bool,
    tls: Option<&(PathBuf, PathBuf)>,
) -> String {
    let p = prefix.display();
    let (ssl, ssl_conf) = match tls {
        Some((cert, key)) => (
            " ssl",
            format!(
                "ssl_certificate {};\n    ssl_certificate_key {};\n    ssl_protocols TLSv1.2 \
                 TLSv1.3;\n    ssl_session_cache shared:SSL:10m;\n    ssl_session_tickets on;\n    ",
                cert.display(),
                key.display()
            ),
        ),
        None => ("", String::new()),
    };
    let cache = if cached {
        "open_file_cache max=1000 inactive=20s;\n    open_file_cache_valid 1s;\n    "
    } else {
        ""
    };
    format!(
        "# Written by ringport-bench for one run.
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{
    worker_connections 16384;
}}
http {{
    access_log off;
    sendfile on;
    {cache}{ssl_conf}server_tokens off;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port}{ssl} backlog={BACKLOG};
        location / {{
            root {root};
        }}
    }}
}}
",
        root = root.display()
    )
}

fn nginx_conf(prefix: &Path, root: &Path, port: u16) -> String {
    let p = prefix.display();
    format!(
        "# Written by ringport-bench for one run.
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog={BACKLOG};
        location = / {{
            default_type text/plain;
            return 200 \"{BODY}\";
        }}
        location / {{
            root {root};
        }}
    }}
}}
",
        root = root.display()
    )
}

// ---- the worker side: `worker http-server --engine ringport|hyper --root DIR --max-secs S` ----

pub fn server(args: &Args) -> Result<(), String> {
    let engine = args.req("engine")?.to_string();
    let root = PathBuf::from(args.req("root")?);
    let max = Duration::from_secs(args.get("max-secs", 120)?);
    // Ends the process (printing the backend) when the parent closes our stdin.
    control_thread("http-server", max, false);
    need_fds(4096)?;
    let l = listener()?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    let tls = match (args.opt("tls-cert"), args.opt("tls-key")) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        _ => None,
    };
    match engine.as_str() {
        "ringport" => ringport_server(l, port, root, tls),
        "hyper" => hyper_server(l, port),
        other if crate::compat::ENGINES.contains(&other) => crate::compat::server(other, l, port),
        other => Err(format!("unknown http engine {other}")),
    }
}

fn ringport_server(
    l: std::net::TcpListener,
    port: u16,
    root: PathBuf,
    tls: Option<(PathBuf, PathBuf)>,
) -> Result<(), String> {
    use ringport_http::files::ServeDir;
    use ringport_http::http::{header, HeaderValue, Response};
    use ringport_http::{Body, Server};
    let rt = ringport::Runtime::new().map_err(|e| format!("ringport runtime: {e}"))?;
    let info = rt.backend_info();
    set_backend(format!("{} ({})", info.backend, info.setup_flags.join("+")));
    rt.block_on(async move {
        let dir = ServeDir::new(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let dir = Rc::new(dir);
        let listener = ringport::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        let server = Server::from_listener(listener);
        println!("LISTEN {port}");
        let handler = move |req: ringport_http::http::Request<_>| {
            let dir = dir.clone();
            async move {
                if req.uri().path() == "/" {
                    let mut res = Response::new(Body::from(BODY));
                    let plain = HeaderValue::from_static("text/plain");
                    res.headers_mut().insert(header::CONTENT_TYPE, plain);
                    res
                } else {
                    dir.handle(&req).await
                }
            }
        };
        let served = match tls {
            // What `ringport serve --tls-cert --tls-key` runs.
            Some((cert, key)) => {
                let config = ringport_tls::config::server_from_pem(&cert, &key, &[b"http/1.1"])
                    .map_err(|e| e.to_string())?;
                let acceptor = ringport_tls::TlsAcceptor::new(config);
                let wrap = move |tcp| {
                    let acceptor = acceptor.clone();
                    async move { ringport_http::tls::accept(&acceptor, tcp).await }
                };
                server
                    .serve_over(wrap, handler, std::future::pending())
                    .await
            }
            None => {
                server
                    .serve_with_shutdown(handler, std::future::pending())
                    .await
            }
        };
        served.map_err(|e| format!("serve: {e}"))
    })
}

fn hyper_server(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::header::{HeaderValue, CONTENT_TYPE};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    set_backend("tokio (epoll)".into());
    rt.block_on(async move {
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        println!("LISTEN {port}");
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let hello = service_fn(|_req| async {
                    let mut res =
                        hyper::Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
                    let plain = HeaderValue::from_static("text/plain");
                    res.headers_mut().insert(CONTENT_TYPE, plain);
                    Ok::<_, std::convert::Infallible>(res)
                });
                let io = TokioIo::new(stream);
                let _ = http1::Builder::new().serve_connection(io, hello).await;
            });
        }
    })
}
