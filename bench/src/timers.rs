//! Case `timers`: 1,000,000 timers started and fired. Both runtimes get the same shape: one
//! tiny spawned task per timer, each awaiting one sleep of a fixed-seed random 0..100 ms, and
//! the main future awaiting every task's handle in order.

use crate::child;
use crate::report::{grouped, runs, Check, Section, Target};
use crate::{Args, XorShift};
use std::time::{Duration, Instant};

const SEED: u64 = 0x7469_6d65_7273;
const MAX_US: u64 = 100_000;
const ENGINES: [&str; 2] = ["ringport", "tokio"];

pub struct Opts {
    pub reps: usize,
    pub n: u64,
}

#[derive(Clone)]
struct Run {
    secs: f64,
    cpu_s: f64,
    wall_s: f64,
}

pub fn run(opts: &Opts) -> Section {
    let mut rows = Vec::new();
    let mut all: Vec<Vec<Run>> = vec![Vec::new(); ENGINES.len()];
    let mut failed: Vec<Option<String>> = vec![None; ENGINES.len()];
    for _ in 0..opts.reps {
        for (i, engine) in ENGINES.iter().enumerate() {
            eprintln!("timers: {engine} x {}", opts.n);
            match one(engine, opts.n) {
                Ok(r) => all[i].push(r),
                Err(e) => failed[i] = Some(e),
            }
        }
    }
    let mut best = Vec::new();
    for (i, engine) in ENGINES.iter().enumerate() {
        let Some((m, every)) = child::median(&all[i], |r| r.secs) else {
            let why = failed[i].clone().unwrap_or_else(|| "no run".into());
            rows.push(vec![engine.to_string(), format!("failed: {why}")]);
            best.push(None);
            continue;
        };
        rows.push(vec![
            engine.to_string(),
            format!("{:.3}", m.secs),
            format!("{:.3}", m.cpu_s),
            grouped(opts.n as f64 / m.cpu_s),
            format!("{:.3}", m.wall_s),
            runs(&every, |v| format!("{v:.3}")),
        ]);
        best.push(Some(m));
    }
    let check = |what: &str, f: fn(&Run) -> f64, target| {
        let show = |r: &Option<Run>| {
            r.as_ref()
                .map_or("failed".into(), |r| format!("{:.3} s", f(r)))
        };
        Check {
            what: what.to_string(),
            ours: show(&best[0]),
            peer: show(&best[1]),
            ratio: best[0]
                .as_ref()
                .zip(best[1].as_ref())
                .map(|(o, p)| f(o) / f(p)),
            target,
        }
    };
    let checks = vec![
        check(
            "wall time for all to fire vs tokio",
            |r| r.secs,
            Target::Below(1.0),
        ),
        check("CPU seconds vs tokio", |r| r.cpu_s, Target::None),
    ];
    let notes = vec![format!(
        "{} timers per run; runs per engine: {}; sleeps of 0..100 ms (µs resolution, fixed \
         seed). Wall time runs from the first spawn until the last handle is joined (runtime \
         start-up and teardown excluded); CPU seconds are the whole child's. tokio: \
         current-thread runtime, `tokio::spawn` + `tokio::time::sleep`.",
        grouped(opts.n as f64),
        opts.reps
    )];
    Section {
        title: format!(
            "timers: {} sleeps started and fired",
            grouped(opts.n as f64)
        ),
        notes,
        header: vec![
            "engine",
            "wall s (all fired)",
            "CPU s",
            "timers per CPU-s",
            "child wall s",
            "wall s, every run",
        ],
        rows,
        checks,
    }
}

fn one(engine: &str, n: u64) -> Result<Run, String> {
    let n = n.to_string();
    let out = child::run(child::worker(&["timers", "--engine", engine, "--n", &n]))?;
    if out.num("fired")? != out.num("n")? {
        return Err("not every timer fired".into());
    }
    Ok(Run {
        secs: out.num("secs")?,
        cpu_s: out.cpu_s,
        wall_s: out.wall_s,
    })
}

// ---- the worker side: `worker timers --engine E --n N` ----

pub fn worker(args: &Args) -> Result<(), String> {
    let n: u64 = args.get("n", 1_000_000)?;
    let (fired, secs) = match args.req("engine")? {
        "ringport" => ringport_timers(n)?,
        "tokio" => tokio_timers(n)?,
        other => return Err(format!("unknown timers engine {other}")),
    };
    child::emit(&[
        ("n", n.to_string()),
        ("fired", fired.to_string()),
        ("secs", format!("{secs:.6}")),
    ]);
    Ok(())
}

fn ringport_timers(n: u64) -> Result<(u64, f64), String> {
    ringport::run(async move {
        let start = Instant::now();
        let mut rng = XorShift::new(SEED);
        let mut tasks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let d = Duration::from_micros(rng.next_u64() % MAX_US);
            tasks.push(ringport::spawn(ringport::time::sleep(d)));
        }
        let mut fired = 0;
        for t in tasks {
            t.await.map_err(|e| e.to_string())?;
            fired += 1;
        }
        Ok((fired, start.elapsed().as_secs_f64()))
    })
}

fn tokio_timers(n: u64) -> Result<(u64, f64), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let start = Instant::now();
        let mut rng = XorShift::new(SEED);
        let mut tasks = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let d = Duration::from_micros(rng.next_u64() % MAX_US);
            tasks.push(tokio::spawn(tokio::time::sleep(d)));
        }
        let mut fired = 0;
        for t in tasks {
            t.await.map_err(|e| e.to_string())?;
            fired += 1;
        }
        Ok((fired, start.elapsed().as_secs_f64()))
    })
}
