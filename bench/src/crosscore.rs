//! Case `crosscore`: the cost of placing a task on another loop and getting its output
//! back. ringport: a runtime of 2 loops (pinned to CPUs 0 and 1), `spawn_on(1, ..)` from loop 0,
//! each awaited before the next (a full round trip: inbox push, cross-loop wake of a sleeping
//! loop, poll there, output and wake back); unpinned, and pinned (on this shared 2-core box a
//! pinned loop waits for its CPU whenever another process holds it). tokio: a multi-thread
//! runtime of 2 workers, `tokio::spawn` + await from the `block_on` thread (crosses threads,
//! the same shape) and from a worker (stays on that worker: no crossing, for reference).

use crate::child;
use crate::report::{grouped, runs, Check, Section, Target};
use crate::Args;
use std::time::Instant;

const ENGINES: [&str; 4] = ["ringport", "tokio-main", "tokio", "ringport-pinned"];

pub struct Opts {
    pub reps: usize,
    pub n: u64,
}

#[derive(Clone)]
pub(crate) struct Run {
    pub ns: f64,
    pub cpu_us: f64,
}

pub fn run(opts: &Opts) -> Vec<Section> {
    vec![spawn_section(opts), crate::wake::section(opts.reps, opts.n)]
}

fn spawn_section(opts: &Opts) -> Section {
    let mut rows = Vec::new();
    let mut all: Vec<Vec<Run>> = vec![Vec::new(); ENGINES.len()];
    let mut failed: Vec<Option<String>> = vec![None; ENGINES.len()];
    for _ in 0..opts.reps {
        for (i, engine) in ENGINES.iter().enumerate() {
            eprintln!("crosscore: {engine} x {}", opts.n);
            match one(engine, opts.n) {
                Ok(r) => all[i].push(r),
                Err(e) => failed[i] = Some(e),
            }
        }
    }
    let mut best = Vec::new();
    for (i, engine) in ENGINES.iter().enumerate() {
        let Some((m, every)) = child::median(&all[i], |r| r.ns) else {
            let why = failed[i].clone().unwrap_or_else(|| "no run".into());
            rows.push(vec![engine.to_string(), format!("failed: {why}")]);
            best.push(None);
            continue;
        };
        rows.push(vec![
            engine.to_string(),
            format!("{:.0}", m.ns),
            format!("{:.2}", m.cpu_us),
            runs(&every, |v| format!("{v:.0}")),
        ]);
        best.push(Some(m));
    }
    let check = |what: &str, f: fn(&Run) -> f64, target| {
        let show = |r: &Option<Run>| {
            r.as_ref()
                .map_or("failed".into(), |r| format!("{:.0}", f(r)))
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
            "round trip ns vs tokio multi-thread",
            |r| r.ns,
            Target::Below(1.0),
        ),
        check(
            "CPU ns per round trip vs tokio",
            |r| r.cpu_us * 1000.0,
            Target::Below(1.0),
        ),
    ];
    let notes = vec![format!(
        "{} round trips per run; runs per engine: {}. Wall ns per round trip (median run); CPU \
         µs per round trip is the whole child's CPU (both threads) over the round trips.",
        grouped(opts.n as f64),
        opts.reps
    )];
    Section {
        title: "crosscore: a task placed on the other loop and awaited (round trip)".into(),
        notes,
        header: vec![
            "engine",
            "ns per round trip",
            "CPU µs per round trip",
            "ns, every run",
        ],
        rows,
        checks,
    }
}

fn one(engine: &str, n: u64) -> Result<Run, String> {
    one_of("crosscore", engine, n, 1.0)
}

/// Runs `worker CASE --engine E --n N`; `per`: events per round (CPU is divided by n * per).
pub(crate) fn one_of(case: &str, engine: &str, n: u64, per: f64) -> Result<Run, String> {
    let ns = n.to_string();
    let out = child::run(child::worker(&[case, "--engine", engine, "--n", &ns]))?;
    if out.num("done")? != n as f64 {
        return Err("not every round trip completed".into());
    }
    Ok(Run {
        ns: out.num("secs")? * 1e9 / n as f64,
        cpu_us: out.cpu_s * 1e6 / (n as f64 * per),
    })
}

// ---- the worker side: `worker crosscore --engine E --n N` ----

pub fn worker(args: &Args) -> Result<(), String> {
    let n: u64 = args.get("n", 200_000)?;
    let (done, secs) = match args.req("engine")? {
        "ringport" => ringport_rt(n, false)?,
        "ringport-pinned" => ringport_rt(n, true)?,
        "tokio" => tokio_rt(n, false)?,
        "tokio-main" => tokio_rt(n, true)?,
        other => return Err(format!("unknown crosscore engine {other}")),
    };
    child::emit(&[
        ("n", n.to_string()),
        ("done", done.to_string()),
        ("secs", format!("{secs:.6}")),
    ]);
    Ok(())
}

fn ringport_rt(n: u64, pin: bool) -> Result<(u64, f64), String> {
    let rt = ringport::Runtime::builder()
        .threads(2)
        .pin(pin)
        .build()
        .map_err(|e| e.to_string())?;
    let h = rt.handle();
    rt.block_on(async move {
        for i in 0..1000u64 {
            h.spawn_on(1, move || async move { i })
                .await
                .map_err(|e| e.to_string())?;
        }
        let start = Instant::now();
        let mut done = 0;
        for i in 0..n {
            done += h
                .spawn_on(1, move || async move { i })
                .await
                .map_err(|e| e.to_string())
                .map(|_| 1)?;
        }
        Ok((done, start.elapsed().as_secs_f64()))
    })
}

/// `from_main`: spawn from the `block_on` thread, which is no worker, so every spawn crosses
/// threads (the shape of `spawn_on`); otherwise from a task on a worker, where tokio keeps the
/// new task on the same worker (its LIFO slot): no crossing, shown for reference.
fn tokio_rt(n: u64, from_main: bool) -> Result<(u64, f64), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .map_err(|e| e.to_string())?;
    if from_main {
        return rt.block_on(tokio_loop(n));
    }
    rt.block_on(async move {
        tokio::spawn(async move {
            for i in 0..1000u64 {
                tokio::spawn(async move { i })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let start = Instant::now();
            let mut done = 0;
            for i in 0..n {
                done += tokio::spawn(async move { i })
                    .await
                    .map_err(|e| e.to_string())
                    .map(|_| 1)?;
            }
            Ok((done, start.elapsed().as_secs_f64()))
        })
        .await
        .map_err(|e| e.to_string())?
    })
}

async fn tokio_loop(n: u64) -> Result<(u64, f64), String> {
    for i in 0..1000u64 {
        tokio::spawn(async move { i })
            .await
            .map_err(|e| e.to_string())?;
    }
    let start = Instant::now();
    let mut done = 0;
    for i in 0..n {
        done += tokio::spawn(async move { i })
            .await
            .map_err(|e| e.to_string())
            .map(|_| 1)?;
    }
    Ok((done, start.elapsed().as_secs_f64()))
}
