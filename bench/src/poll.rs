//! Case `poll`: ringport's other backend (epoll readiness plus a thread pool, forced with
//! `RINGPORT_BACKEND=poll` in the worker's environment) against tokio, on the echo benchmark
//! and on random 4 KiB `O_DIRECT` reads at queue depth 32. The servers, the load generator
//! and the read loops are those of the `echo` and `randread` cases; every ringport worker
//! reports the backend its runtime ran on, and a run on any other backend fails.

use crate::child::{self, Outcome};
use crate::echo;
use crate::report::{grouped, runs, Check, Section, Target};
use crate::Args;

const ENV: [(&str, &str); 1] = [("RINGPORT_BACKEND", "poll")];
const ENGINES: [&str; 2] = ["ringport", "tokio"];
const QD: usize = 32;

pub struct Opts {
    /// Runs, warm-up, window and connection counts of the echo part (`--echo-*`).
    pub echo: echo::Opts,
    /// Runs per engine and seconds per run of the read part (`--poll-rr-reps`, `--secs`).
    pub rr_reps: usize,
    pub rr_secs: u64,
}

impl Opts {
    pub fn new(args: &Args) -> Result<Opts, String> {
        Ok(Opts {
            echo: echo::Opts::new(args)?,
            rr_reps: args.get("poll-rr-reps", 3)?,
            rr_secs: args.get("secs", 8)?,
        })
    }
}

pub fn run(opts: &Opts) -> Result<Vec<Section>, String> {
    Ok(vec![echo_part(&opts.echo), randread_part(opts)?])
}

/// The ringport server's own word that it ran on poll.
fn on_poll(engine: &str, backend: &str) -> Result<(), String> {
    if engine == "ringport" && !backend.to_ascii_lowercase().starts_with("poll") {
        return Err(format!(
            "the ringport worker ran on {backend:?}, not on the poll backend"
        ));
    }
    Ok(())
}

fn echo_part(opts: &echo::Opts) -> Section {
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut backends = vec![String::new(); ENGINES.len()];
    for &conns in &opts.conns {
        let mut all: Vec<Vec<echo::Run>> = vec![Vec::new(); ENGINES.len()];
        let mut failed: Vec<Option<String>> = vec![None; ENGINES.len()];
        let mut attempt = |i: usize, label: &str, all: &mut Vec<Vec<echo::Run>>| {
            let engine = ENGINES[i];
            eprintln!("poll echo: {engine}, {conns} connections, {label}");
            let env: &[(&str, &str)] = if engine == "ringport" { &ENV } else { &[] };
            let r = echo::one_env(engine, conns, opts, env)
                .and_then(|r| on_poll(engine, &r.backend).map(|()| r));
            match r {
                Ok(r) => {
                    if r.contended() {
                        let [_, sd, _, ld] = r.shares();
                        eprintln!(
                            "poll echo: {engine}: contended (waited for CPU {:.0} % / {:.0} %)",
                            100.0 * sd,
                            100.0 * ld
                        );
                    }
                    all[i].push(r);
                }
                Err(e) => {
                    eprintln!("poll echo: {engine}: {e}");
                    failed[i] = Some(e);
                }
            }
        };
        for rep in 0..opts.reps {
            for i in 0..ENGINES.len() {
                attempt(i, &format!("run {} of {}", rep + 1, opts.reps), &mut all);
            }
        }
        for i in 0..ENGINES.len() {
            if !all[i].is_empty() && all[i].iter().all(echo::Run::contended) {
                attempt(i, "extra run (every run so far contended)", &mut all);
            }
        }
        let mut best: Vec<Option<echo::Run>> = Vec::new();
        for (i, engine) in ENGINES.iter().enumerate() {
            let clean: Vec<echo::Run> = all[i].iter().filter(|r| !r.contended()).cloned().collect();
            let pool = if clean.is_empty() { &all[i] } else { &clean };
            let Some((m, _)) = child::median(pool, echo::Run::rate) else {
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
            let star = |r: &echo::Run| if r.contended() { "*" } else { "" };
            let every: Vec<String> = all[i]
                .iter()
                .map(|r| format!("{}{}", grouped(r.rate()), star(r)))
                .collect();
            let [sc, sd, lc, ld] = m.shares();
            let failures = failed[i]
                .as_ref()
                .map_or(String::new(), |e| format!(" (a run failed: {e})"));
            rows.push(vec![
                conns.to_string(),
                format!("{engine}{}", if i == 0 { " (poll backend)" } else { "" }),
                format!("{}{}", grouped(m.rate()), star(&m)),
                format!("{:.2}", m.us_per_msg()),
                format!("{:.0} % / {:.0} %", 100.0 * sc, 100.0 * sd),
                format!("{:.0} % / {:.0} %", 100.0 * lc, 100.0 * ld),
                format!("{}{failures}", every.join(" / ")),
            ]);
            best.push(Some(m));
        }
        let (ours, peer) = (best[0].as_ref(), best[1].as_ref());
        let judged = |f: fn(&echo::Run) -> f64| {
            ours.zip(peer)
                .and_then(|(o, p)| (!o.contended() && !p.contended()).then(|| f(o) / f(p)))
        };
        let shown = |r: Option<&echo::Run>, f: fn(&echo::Run) -> String| {
            r.map_or("failed".into(), |r| {
                let mark = if r.contended() { " (contended)" } else { "" };
                format!("{}{mark}", f(r))
            })
        };
        checks.push(Check {
            what: format!("{conns} conns: messages/s vs tokio"),
            ours: shown(ours, |r| grouped(r.rate())),
            peer: shown(peer, |r| grouped(r.rate())),
            ratio: judged(echo::Run::rate),
            target: Target::AtLeast(0.95),
        });
        checks.push(Check {
            what: format!("{conns} conns: server CPU per message vs tokio"),
            ours: shown(ours, |r| format!("{:.2} µs", r.us_per_msg())),
            peer: shown(peer, |r| format!("{:.2} µs", r.us_per_msg())),
            ratio: judged(echo::Run::us_per_msg),
            target: Target::None,
        });
    }
    let mut notes = vec![
        format!(
            "The echo case's servers and load generator, unchanged (see echo for how messages, \
             the window, server CPU and waits for CPU are measured): 64-byte messages, one \
             outstanding per connection, warm-up {} s, window {} s, runs per server and \
             connection count: {}, interleaved; the median clean run's figures.",
            opts.warmup, opts.secs, opts.reps
        ),
        "ringport: the echo case's ringport server (`Runtime::new()`) started with \
         `RINGPORT_BACKEND=poll` in its environment; the backend it reports \
         (`Runtime::backend_info()`) must be poll or the run fails. tokio: \
         `new_current_thread().enable_io()`, as in echo. The same ringport server on \
         io_uring is in the echo section."
            .to_string(),
        "A run where the server or the load generator waited for its CPU more than 5 % of the \
         window is contended, marked *, as in echo."
            .to_string(),
        "Reading the figures: the poll backend waits on epoll through the `polling` crate, \
         whose `Poller::wait` costs five system calls per loop turn (`timerfd_settime`, \
         `epoll_ctl` re-arming the timer, `epoll_pwait`, a `read` of its notifier that \
         returns `EAGAIN`, `epoll_ctl` re-arming the notifier), and ringport waits once per \
         loop turn. `perf stat` of the servers while this case was written, 100 \
         connections: ringport on poll made 2.63 system calls per message (of which 0.31 \
         `epoll_ctl`), tokio 1.89 (one `epoll_wait` per about 50 messages). At 1,000 \
         connections a turn handles more messages and the cost spreads thinner. Runs of both \
         servers at 100 connections moved together between about 157,000 and 200,000 \
         messages/s from one run to the next on a quiet machine (no wait for CPU in the \
         guest): compare the runs pairwise as well as the medians."
            .to_string(),
    ];
    let shown: Vec<String> = ENGINES
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
    Section {
        title: "poll echo: ringport's poll backend vs tokio, 64-byte echo, server on one core"
            .into(),
        notes,
        header: vec![
            "connections",
            "server",
            "messages/s",
            "server CPU µs per message",
            "server CPU use / wait for CPU",
            "load generator CPU use / wait for CPU",
            "messages/s, every run",
        ],
        rows,
        checks,
    }
}

#[derive(Clone)]
struct Rr {
    ops: f64,
    secs: f64,
    cpu_s: f64,
    wall_s: f64,
    backend: String,
}

impl Rr {
    fn iops(&self) -> f64 {
        self.ops / self.secs
    }
    fn per_cpu(&self) -> f64 {
        self.ops / self.cpu_s
    }
}

fn randread_once(engine: &str, file: &str, secs: u64) -> Result<Rr, String> {
    let (qd, secs) = (QD.to_string(), secs.to_string());
    let args = [
        "randread", "--engine", engine, "--qd", &qd, "--file", file, "--secs", &secs,
    ];
    let mut cmd = child::worker(&args);
    if engine == "ringport" {
        cmd.envs(ENV);
    }
    let out: Outcome = child::run(cmd)?;
    let backend = out.kv.get("backend").cloned().unwrap_or_default();
    on_poll(engine, &backend)?;
    Ok(Rr {
        ops: out.num("ops")?,
        secs: out.num("secs")?,
        cpu_s: out.cpu_s,
        wall_s: out.wall_s,
        backend,
    })
}

fn randread_part(opts: &Opts) -> Result<Section, String> {
    let path = crate::data_dir().join("randread-1GiB.dat");
    crate::randread::ensure_file(&path)?;
    let file = path.to_string_lossy().to_string();
    let mut all: Vec<Vec<Rr>> = vec![Vec::new(); ENGINES.len()];
    let mut failed: Vec<Option<String>> = vec![None; ENGINES.len()];
    for rep in 0..opts.rr_reps {
        for (i, engine) in ENGINES.iter().enumerate() {
            eprintln!(
                "poll randread: {engine} at QD {QD} for {} s, run {} of {}",
                opts.rr_secs,
                rep + 1,
                opts.rr_reps
            );
            match randread_once(engine, &file, opts.rr_secs) {
                Ok(r) => all[i].push(r),
                Err(e) => {
                    eprintln!("poll randread: {engine}: {e}");
                    failed[i] = Some(e);
                }
            }
        }
    }
    let mut rows = Vec::new();
    let mut best: Vec<Option<Rr>> = Vec::new();
    let mut backends = Vec::new();
    for (i, engine) in ENGINES.iter().enumerate() {
        match child::median(&all[i], Rr::iops) {
            Some((m, every)) => {
                backends.push(format!("{engine}: {}", m.backend));
                let failures = failed[i]
                    .as_ref()
                    .map_or(String::new(), |e| format!(" (a run failed: {e})"));
                rows.push(vec![
                    format!("{engine}{}", if i == 0 { " (poll backend)" } else { "" }),
                    grouped(m.iops()),
                    grouped(m.per_cpu()),
                    format!("{:.2}", m.cpu_s),
                    format!("{:.2}", m.wall_s),
                    format!("{:.0} %", 100.0 * m.cpu_s / m.wall_s),
                    format!("{}{failures}", runs(&every, grouped)),
                ]);
                best.push(Some(m));
            }
            None => {
                let why = failed[i].clone().unwrap_or_else(|| "no run".into());
                rows.push(vec![engine.to_string(), format!("failed: {why}")]);
                best.push(None);
            }
        }
    }
    let (ours, peer) = (best[0].as_ref(), best[1].as_ref());
    let show = |r: Option<&Rr>, f: fn(&Rr) -> f64| r.map_or("failed".into(), |r| grouped(f(r)));
    let checks = vec![
        Check {
            what: format!("QD {QD}: IOPS vs tokio"),
            ours: show(ours, Rr::iops),
            peer: show(peer, Rr::iops),
            ratio: ours.zip(peer).map(|(o, p)| o.iops() / p.iops()),
            target: Target::AtLeast(1.0),
        },
        Check {
            what: format!("QD {QD}: IOPS per CPU-s vs tokio"),
            ours: show(ours, Rr::per_cpu),
            peer: show(peer, Rr::per_cpu),
            ratio: ours.zip(peer).map(|(o, p)| o.per_cpu() / p.per_cpu()),
            target: Target::None,
        },
    ];
    let mut notes = vec![
        format!(
            "The randread case's workers, unchanged, at queue depth {QD}: `{}` (1 GiB), 4 KiB \
             `O_DIRECT` reads at fixed-seed random 4 KiB-aligned offsets, {} s per run, runs \
             per engine: {}, interleaved; the median run's figures. CPU s is the worker's \
             `wait4` user + system time (every thread, start-up included); every thread of \
             both workers (ringport's pool, tokio's blocking pool) is pinned to CPU 0.",
            path.display(),
            opts.rr_secs,
            opts.rr_reps
        ),
        format!(
            "ringport: {QD} tasks sharing one `Rc<File>` opened with `direct(true)`, each \
             awaiting `read_at` into its own `AlignedBuf`, on `Runtime::new()` with \
             `RINGPORT_BACKEND=poll` in the worker's environment (so reads go to the poll \
             backend's thread pool); the worker prints `Runtime::backend()` and a run on any \
             other backend fails. tokio: current-thread runtime, {QD} tasks each looping \
             `spawn_blocking` + `FileExt::read_at`, which is how `tokio::fs` reads."
        ),
        "No contention guard here: the engines' own threads share CPU 0 by design, so their \
         waits for CPU say nothing about the machine; see the load average."
            .to_string(),
    ];
    if !backends.is_empty() {
        notes.push(format!(
            "Backends as the workers reported them: {}.",
            backends.join("; ")
        ));
    }
    Ok(Section {
        title: format!(
            "poll randread: ringport's poll backend vs tokio::fs, random 4 KiB O_DIRECT reads \
             at QD {QD}"
        ),
        notes,
        header: vec![
            "engine",
            "IOPS",
            "IOPS per CPU-s",
            "CPU s",
            "wall s",
            "CPU use",
            "IOPS, every run",
        ],
        rows,
        checks,
    })
}
