//! ringport-bench: runs ringport and its peers side by side, each engine in its own subprocess,
//! and writes BENCHMARKS.md at the workspace root.
//!
//! ```text
//! cargo run --release -p ringport-bench -- all   # or one or more of: randread roundtrip
//!                                                 #   timers echo idle http http-file
//!                                                 #   http-idle poll copy compat
//!     [--secs S]        randread seconds per run (default 8)
//!     [--rr-reps N]     randread runs per engine and queue depth (default 3)
//!     [--reps N]        roundtrip and timers runs per engine (default 3)
//!     [--nops N]        roundtrip NOPs per run (default 2000000)
//!     [--reads N]       roundtrip 1-byte reads per run (default 1000000)
//!     [--timers N]      timers per run (default 1000000)
//!     [--echo-reps N]   echo runs per server and connection count (default 3)
//!     [--echo-warmup S] echo warm-up seconds (default 1)
//!     [--echo-secs S]   echo measured seconds (default 5)
//!     [--echo-conns L]  echo connection counts, comma-separated (default 100,1000)
//!     [--echo-engines L] echo servers besides ringport (default tokio,compio,monoio)
//!     [--idle-reps N]   idle runs per server (default 3)
//!     [--idle-conns N]  idle connections (default 10000; http-idle too)
//!     [--http-reps N]   http runs per server (default 3)
//!     [--http-warmup S] http warm-up seconds (default 1)
//!     [--http-secs S]   http measured seconds (default 5)
//!     [--http-conns N]  http connections (default 100)
//!     [--file-reps N]   http-file runs per server and file (default 3)
//!     [--file-warmup S] http-file warm-up seconds (default 1)
//!     [--file-secs S]   http-file measured seconds (default 5)
//!     [--file-sizes L]  http-file sizes, comma-separated (13B,10KiB,64KiB,1MiB,1GiB; all)
//!     [--poll-rr-reps N] poll randread runs per engine (default 3; its echo part takes
//!                       the --echo-* options, its reads --secs)
//!     [--copy-reps N]   copy runs per engine and scenario (default 5; needs
//!                       `cargo build --release -p ringport-cli` first)
//!     [--tls-reps N]    tls runs per server (default 5)
//!     [--tls-mib N]     tls MiB echoed per run (default 2048)
//!     [--get-reps N]    get runs per tool and cell (default 3; needs the release binary)
//!     [--get-cells L]   get cells, comma-separated (default A,D,F,B,S,T; S: A and D against
//!                       a strict per-connection throttle; T: HTTPS)
//!     [--report PATH]   write the report there instead of BENCHMARKS.md
//! ```
//!
//! The parent re-executes itself as `ringport-bench worker CASE --engine E ...`; a worker prints
//! one `RESULT key=value ...` line, and the parent takes the child's CPU time from `wait4`.

// A benchmark binary, not a library: its items are not public API and need no docs.
#![allow(missing_docs)]

mod child;
mod compat;
mod copy;
mod crosscore;
mod echo;
mod echo_threads;
mod get;
mod http;
mod http_idle;
mod idle;
mod poll;
mod randread;
mod report;
mod roundtrip;
mod timers;
mod tls;
mod wake;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

/// Command-line arguments: positional words, then `--key value` pairs.
pub struct Args {
    pub pos: Vec<String>,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse(raw: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut pos = Vec::new();
        let mut opts = HashMap::new();
        let mut raw = raw.peekable();
        while let Some(a) = raw.next() {
            if let Some(key) = a.strip_prefix("--") {
                let value = raw.next().ok_or_else(|| format!("--{key} needs a value"))?;
                opts.insert(key.to_string(), value);
            } else {
                pos.push(a);
            }
        }
        Ok(Args { pos, opts })
    }

    /// The value of `--key`, or `default` when absent.
    pub fn get<T: FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.opts.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key} {v}: not a valid value")),
        }
    }

    /// The value of `--key`, if given.
    pub fn opt(&self, key: &str) -> Option<&str> {
        self.opts.get(key).map(String::as_str)
    }

    /// The value of a required `--key`.
    pub fn req(&self, key: &str) -> Result<&str, String> {
        self.opts
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("missing --{key}"))
    }
}

/// xorshift64*: a tiny fixed-seed PRNG, so every engine sees the same offsets and delays.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // One splitmix64 step, so that nearby seeds give unrelated streams (and never zero).
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        XorShift((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The workspace root (BENCHMARKS.md goes there) and the bench data directory.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

pub fn data_dir() -> PathBuf {
    workspace_root().join("target").join("bench-data")
}

/// The cases the parent runs; `all` is every one, in this order.
const CASES: [&str; 17] = [
    "all",
    "crosscore",
    "echo-threads",
    "randread",
    "roundtrip",
    "timers",
    "echo",
    "idle",
    "http",
    "http-file",
    "https-file",
    "http-idle",
    "poll",
    "copy",
    "tls",
    "get",
    "compat",
];

fn usage() -> String {
    "usage: ringport-bench all|CASE... (crosscore echo-threads randread roundtrip timers echo \
     idle http http-file https-file http-idle poll copy tls get compat) [--crosscore N] [--secs S] [--rr-reps N] [--reps N] [--nops N] [--reads N] \
     [--timers N] [--echo-reps N] [--echo-warmup S] [--echo-secs S] [--echo-conns L] \
     [--echo-engines L] [--idle-reps N] [--idle-conns N] [--http-reps N] [--http-warmup S] \
     [--http-secs S] [--http-conns N] [--file-reps N] [--file-warmup S] [--file-secs S] \
     [--file-sizes L] [--poll-rr-reps N] [--copy-reps N] [--tls-reps N] [--tls-mib N] \
     [--get-reps N] [--get-cells A,D,F,B,S,T]"
        .to_string()
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let result = Args::parse(raw.clone().into_iter()).and_then(|args| {
        match args.pos.first().map(String::as_str) {
            Some("worker") => worker(&args),
            Some(c) if CASES.contains(&c) => parent(&args, &raw),
            _ => Err(usage()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringport-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn worker(args: &Args) -> Result<(), String> {
    match args.pos.get(1).map(String::as_str) {
        Some("randread") => randread::worker(args),
        Some("roundtrip") => roundtrip::worker(args),
        Some("timers") => timers::worker(args),
        Some("crosscore") => crosscore::worker(args),
        Some("crosscore-wake") => wake::worker(args),
        Some("echo-server") => echo::server(args),
        Some("echo-load") => echo::load(args),
        Some("idle-server") => idle::server(args),
        Some("idle-client") => idle::client(args),
        Some("copy-net") => copy::worker(args),
        Some("http-server") => http::server(args),
        Some("tls-server") => tls::server(args),
        Some("tls-load") => tls::load(args),
        Some("get-shaped") => get::shaped_worker(args),
        Some("get-origin") => get::origin_worker(args),
        other => Err(format!("unknown worker case {other:?}")),
    }
}

fn parent(args: &Args, raw: &[String]) -> Result<(), String> {
    // Several cases may be named (`echo idle`): they go into one BENCHMARKS.md.
    if let Some(bad) = args.pos.iter().find(|c| !CASES.contains(&c.as_str())) {
        return Err(format!("unknown case {bad}\n{}", usage()));
    }
    let wants = |case: &str| args.pos.iter().any(|c| c == "all" || c == case);
    let command = format!("cargo run --release -p ringport-bench -- {}", raw.join(" "));
    let mut doc = report::Doc::start(&command);
    if wants("randread") {
        let opts = randread::Opts {
            secs: args.get("secs", 8)?,
            reps: args.get("rr-reps", 3)?,
        };
        doc.add(randread::run(&opts)?);
    }
    let reps = args.get("reps", 3)?;
    if wants("roundtrip") {
        let opts = roundtrip::Opts {
            reps,
            nops: args.get("nops", 2_000_000)?,
            reads: args.get("reads", 1_000_000)?,
        };
        doc.add(roundtrip::run(&opts)?);
    }
    if wants("crosscore") {
        let opts = crosscore::Opts {
            reps,
            n: args.get("crosscore", 200_000)?,
        };
        for section in crosscore::run(&opts) {
            doc.add(section);
        }
    }
    if wants("timers") {
        let opts = timers::Opts {
            reps,
            n: args.get("timers", 1_000_000)?,
        };
        doc.add(timers::run(&opts));
    }
    if wants("echo-threads") {
        for section in echo::run_threads(&echo::Opts::new(args)?)? {
            doc.add(section);
        }
    }
    if wants("echo") {
        for section in echo::run(&echo::Opts::new(args)?)? {
            doc.add(section);
        }
    }
    if wants("idle") {
        let opts = idle::Opts {
            reps: args.get("idle-reps", 3)?,
            conns: args.get("idle-conns", 10_000)?,
            settle: std::time::Duration::from_secs(1),
        };
        doc.add(idle::run(&opts)?);
    }
    if wants("http") {
        doc.add(http::run_hello(&http::Opts::hello(args)?)?);
    }
    if wants("http-file") {
        doc.add(http::run_files(&http::Opts::files(args)?)?);
    }
    if wants("https-file") {
        doc.add(http::run_files(&http::Opts::https_files(args)?)?);
    }
    if wants("http-idle") {
        let opts = http_idle::Opts {
            reps: args.get("idle-reps", 3)?,
            conns: args.get("idle-conns", 10_000)?,
            settle: std::time::Duration::from_secs(1),
        };
        doc.add(http_idle::run(&opts)?);
    }
    if wants("poll") {
        for section in poll::run(&poll::Opts::new(args)?)? {
            doc.add(section);
        }
    }
    if wants("get") {
        for section in get::run(&get::Opts::new(args)?)? {
            doc.add(section);
        }
    }
    if wants("compat") {
        // The `http` case's options: --http-reps, --http-warmup, --http-secs, --http-conns.
        doc.add(compat::run(&http::Opts::hello(args)?)?);
    }
    if wants("copy") {
        let opts = copy::Opts {
            reps: args.get("copy-reps", 5)?,
        };
        doc.add(copy::run(&opts)?);
    }
    if wants("tls") {
        doc.add(tls::run(&tls::Opts::new(args)?)?);
    }
    // `--report PATH` writes elsewhere (to merge one case's sections by hand).
    let path = match args.opts.get("report") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("BENCHMARKS.md"),
    };
    doc.finish(&path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
