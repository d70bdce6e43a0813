//! Case `copy`: a 1 GiB file copied file to file by `ringport copy` (the real binary, beside
//! this one in target/release), `cp` and `dd bs=1M`, with the source evicted from the page
//! cache before each run (cold) and read into it (warm); and a 1 GiB file sent through a
//! loopback TCP connection into another file, by `io::copy_with_progress` and by
//! `tokio::io::copy` (current-thread runtime), each in one worker process.

use crate::child::{self, Outcome};
use crate::report::{runs, Check, Section, Target};
use crate::Args;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub struct Opts {
    pub reps: usize,
}

/// A file-to-file engine: its name, and its command given source and destination.
type Engine = (&'static str, fn(&Path, &Path, &Path) -> Command);

const FILE_ENGINES: [Engine; 6] = [
    ("cp", |_, s, d| cmd("cp", &[s.as_os_str(), d.as_os_str()])),
    ("dd bs=1M", |_, s, d| {
        let (i, o) = (format!("if={}", s.display()), format!("of={}", d.display()));
        cmd(
            "dd",
            &[
                i.as_ref(),
                o.as_ref(),
                "bs=1M".as_ref(),
                "status=none".as_ref(),
            ],
        )
    }),
    ("ringport copy", |rp, s, d| {
        ringport(rp, s, d, &["--no-progress"])
    }),
    ("ringport copy --progress", |rp, s, d| {
        ringport(rp, s, d, &["--progress", "--interval", "0.1"])
    }),
    ("ringport copy --direct", |rp, s, d| {
        ringport(
            rp,
            s,
            d,
            &["--no-progress", "--direct", "--block-size", "1M"],
        )
    }),
    ("ringport copy (poll backend)", |rp, s, d| {
        let mut c = ringport(rp, s, d, &["--no-progress"]);
        c.env("RINGPORT_BACKEND", "poll");
        c
    }),
];

fn cmd(program: &str, args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

fn ringport(bin: &Path, src: &Path, dst: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.arg("copy").arg(src).arg(dst).args(extra);
    c
}

const NET_ENGINES: [&str; 3] = ["ringport", "ringport-splice", "tokio"];

#[derive(Clone)]
struct Run {
    wall_s: f64,
    cpu_s: f64,
}

pub fn run(opts: &Opts) -> Result<Section, String> {
    let src = crate::data_dir().join("randread-1GiB.dat");
    crate::randread::ensure_file(&src)?;
    let dst = crate::data_dir().join("copy-dst.dat");
    let bin = ringport_bin()?;
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for cold in [true, false] {
        let scenario = if cold { "cold" } else { "warm" };
        let mut all: Vec<Vec<Run>> = vec![Vec::new(); FILE_ENGINES.len()];
        for rep in 0..opts.reps {
            for (i, (name, make)) in FILE_ENGINES.iter().enumerate() {
                eprintln!("copy: {name}, {scenario} source, run {}", rep + 1);
                prepare(&src, &dst, cold)?;
                let out = child::run(make(&bin, &src, &dst))?;
                verify(&src, &dst, rep == 0)?;
                all[i].push(Run {
                    wall_s: out.wall_s,
                    cpu_s: out.cpu_s,
                });
            }
        }
        let best = table(&mut rows, scenario, FILE_ENGINES.iter().map(|e| e.0), &all);
        let pair = |what: String, a: usize, b: usize, target| Check {
            what,
            ours: secs(&best[a]),
            peer: secs(&best[b]),
            ratio: best[a]
                .as_ref()
                .zip(best[b].as_ref())
                .map(|(x, y)| x.wall_s / y.wall_s),
            target,
        };
        checks.push(pair(
            format!("{scenario}: wall vs cp"),
            2,
            0,
            Target::AtMost(1.1),
        ));
        checks.push(pair(
            format!("{scenario}: wall vs dd bs=1M"),
            2,
            1,
            Target::None,
        ));
        checks.push(pair(
            format!("{scenario}: --progress vs --no-progress"),
            3,
            2,
            Target::Below(1.02),
        ));
        let cpu = |r: &Option<Run>| {
            r.as_ref()
                .map_or("failed".into(), |r| format!("{:.3} s", r.cpu_s))
        };
        checks.push(Check {
            what: format!("{scenario}: --progress vs --no-progress, CPU s"),
            ours: cpu(&best[3]),
            peer: cpu(&best[2]),
            ratio: best[3]
                .as_ref()
                .zip(best[2].as_ref())
                .map(|(x, y)| x.cpu_s / y.cpu_s),
            target: Target::None,
        });
        checks.push(pair(
            format!("{scenario}: --direct vs cp"),
            4,
            0,
            Target::None,
        ));
    }
    let _ = std::fs::remove_file(&dst);
    let net = net_runs(opts, &src, &dst)?;
    let best = table(&mut rows, "socket", NET_ENGINES.iter().copied(), &net);
    for (what, a, target) in [
        ("socket: wall vs tokio::io::copy", 0, Target::AtMost(1.0)),
        ("socket: splice, wall vs tokio::io::copy", 1, Target::None),
    ] {
        checks.push(Check {
            what: what.into(),
            ours: secs(&best[a]),
            peer: secs(&best[2]),
            ratio: best[a]
                .as_ref()
                .zip(best[2].as_ref())
                .map(|(x, y)| x.wall_s / y.wall_s),
            target,
        });
    }
    let _ = std::fs::remove_file(&dst);
    Ok(Section {
        title: "copy: 1 GiB file to file, and file to socket to file".into(),
        notes: notes(opts, &src, &bin),
        header: vec![
            "scenario",
            "engine",
            "wall s",
            "CPU s",
            "GiB/s",
            "wall s, every run",
        ],
        rows,
        checks,
    })
}

fn notes(opts: &Opts, src: &Path, bin: &Path) -> Vec<String> {
    vec![
        format!(
            "Source `{}` (1 GiB, the randread file); {} runs per engine and scenario, \
             engines interleaved. Before every run the destination is removed and `sync` \
             flushes the previous run's writes (not timed); the destination is a fresh file \
             each run.",
            src.display(),
            opts.reps
        ),
        "cold: the source is evicted from the page cache before each run with \
         `posix_fadvise(POSIX_FADV_DONTNEED)` (only this file's pages: nothing else on the \
         machine is dropped). warm: the source is read through once before each run."
            .into(),
        format!(
            "Engines are the real commands, pinned to CPU 0: `cp SRC DST` (coreutils, which \
             uses copy_file_range), `dd if=SRC of=DST bs=1M`, and `{}` `copy SRC DST` \
             (`--method auto`: copy_file_range on the blocking pool). `--progress --interval \
             0.1` draws a progress line every 100 ms from its display thread (off a terminal \
             the bar is not drawn; the line is the same work at the bar's 10 Hz). Wall time is \
             from spawn to exit; the first run of each engine is compared byte for byte.",
            bin.display()
        ),
        "socket: one worker process per run, one thread (tokio's blocking pool shares CPU \
         0): a loopback TCP connection, a task copying the (warm) source into it and a task \
         copying it into the destination file. ringport: `copy_with_progress` both ways \
         (auto, which is buffered here: 256 KiB blocks, 4 in flight); ringport-splice: \
         `Strategy::Splice` (through a pipe on the ring, zero-copy); tokio: `tokio::io::copy` \
         both ways with `tokio::fs::File`."
            .into(),
    ]
}

/// Adds one row per engine (the median run by wall time); returns the medians.
fn table<'a>(
    rows: &mut Vec<Vec<String>>,
    scenario: &str,
    names: impl Iterator<Item = &'a str>,
    all: &[Vec<Run>],
) -> Vec<Option<Run>> {
    let mut best = Vec::new();
    for (name, runs_of) in names.zip(all) {
        let Some((m, every)) = child::median(runs_of, |r| r.wall_s) else {
            rows.push(vec![scenario.into(), name.into(), "failed".into()]);
            best.push(None);
            continue;
        };
        rows.push(vec![
            scenario.into(),
            name.into(),
            format!("{:.3}", m.wall_s),
            format!("{:.3}", m.cpu_s),
            format!("{:.2}", 1.0 / m.wall_s),
            runs(&every, |v| format!("{v:.3}")),
        ]);
        best.push(Some(m));
    }
    best
}

fn secs(r: &Option<Run>) -> String {
    r.as_ref()
        .map_or("failed".into(), |r| format!("{:.3} s", r.wall_s))
}

/// The `ringport` binary built beside this one.
fn ringport_bin() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe.with_file_name("ringport");
    if bin.exists() {
        return Ok(bin);
    }
    Err(format!(
        "{} is missing: build it first (cargo build --release -p ringport-cli)",
        bin.display()
    ))
}

/// Removes the destination, flushes earlier writes, and evicts or reads in the source.
fn prepare(src: &Path, dst: &Path, cold: bool) -> Result<(), String> {
    let _ = std::fs::remove_file(dst);
    let _ = Command::new("sync").status();
    let f = std::fs::File::open(src).map_err(|e| format!("{}: {e}", src.display()))?;
    if cold {
        // SAFETY: fadvise on an open fd; it only drops clean cached pages of this file.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            return Err(format!("posix_fadvise: error {rc}"));
        }
    } else {
        let mut buf = vec![0u8; 1 << 20];
        let mut f = f;
        while f.read(&mut buf).map_err(|e| e.to_string())? > 0 {}
    }
    Ok(())
}

/// The destination has the source's size, and (when `full`) its bytes.
fn verify(src: &Path, dst: &Path, full: bool) -> Result<(), String> {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if len(src) != len(dst) {
        return Err(format!(
            "{} has {} bytes, not {}",
            dst.display(),
            len(dst),
            len(src)
        ));
    }
    if full {
        let same = Command::new("cmp")
            .arg("-s")
            .args([src, dst])
            .status()
            .map_err(|e| format!("cmp: {e}"))?;
        if !same.success() {
            return Err(format!("{} differs from {}", dst.display(), src.display()));
        }
    }
    Ok(())
}

fn net_runs(opts: &Opts, src: &Path, dst: &Path) -> Result<Vec<Vec<Run>>, String> {
    let mut all = vec![Vec::new(); NET_ENGINES.len()];
    for rep in 0..opts.reps {
        for (i, engine) in NET_ENGINES.iter().enumerate() {
            eprintln!("copy: file to socket to file, {engine}, run {}", rep + 1);
            prepare(src, dst, false)?;
            let (s, d) = (src.to_string_lossy(), dst.to_string_lossy());
            let args = ["copy-net", "--engine", engine, "--src", &s, "--dst", &d];
            let out: Outcome = child::run(child::worker(&args))?;
            verify(src, dst, rep == 0)?;
            all[i].push(Run {
                wall_s: out.num("secs")?,
                cpu_s: out.cpu_s,
            });
        }
    }
    Ok(all)
}

// ---- the worker side: `worker copy-net --engine E --src PATH --dst PATH` ----

pub fn worker(args: &Args) -> Result<(), String> {
    let (src, dst) = (args.req("src")?, args.req("dst")?);
    let secs = match args.req("engine")? {
        "ringport" => ringport_net(src, dst, ringport::io::Strategy::Auto)?,
        "ringport-splice" => ringport_net(src, dst, ringport::io::Strategy::Splice)?,
        "tokio" => tokio_net(src, dst)?,
        other => return Err(format!("unknown copy-net engine {other}")),
    };
    child::emit(&[("secs", format!("{secs:.6}"))]);
    Ok(())
}

fn ringport_net(src: &str, dst: &str, strategy: ringport::io::Strategy) -> Result<f64, String> {
    use ringport::io::copy_with_progress;
    let rt = ringport::Runtime::new().map_err(|e| format!("ringport runtime: {e}"))?;
    let (src, dst) = (src.to_string(), dst.to_string());
    rt.block_on(async move {
        let e = |e: std::io::Error| e.to_string();
        let listener = ringport::net::TcpListener::bind("127.0.0.1:0").map_err(e)?;
        let addr = listener.local_addr().map_err(e)?;
        let start = Instant::now();
        let receiver = ringport::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let out = ringport::fs::File::create(&dst).await?;
            copy_with_progress(stream, &out).strategy(strategy).await
        });
        let stream = ringport::net::TcpStream::connect(addr).await.map_err(e)?;
        let file = ringport::fs::File::open(&src).await.map_err(e)?;
        let sent = copy_with_progress(&file, stream)
            .strategy(strategy)
            .await
            .map_err(e)?;
        let got = receiver.await.map_err(|j| j.to_string())?.map_err(e)?;
        if sent != got {
            return Err(format!("sent {sent} bytes, received {got}"));
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

fn tokio_net(src: &str, dst: &str) -> Result<f64, String> {
    use tokio::io::AsyncWriteExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (src, dst) = (src.to_string(), dst.to_string());
    rt.block_on(async move {
        let e = |e: std::io::Error| e.to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(e)?;
        let addr = listener.local_addr().map_err(e)?;
        let start = Instant::now();
        let receiver = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await?;
            let mut out = tokio::fs::File::create(&dst).await?;
            let n = tokio::io::copy(&mut stream, &mut out).await?;
            out.flush().await?;
            std::io::Result::Ok(n)
        });
        let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(e)?;
        let mut file = tokio::fs::File::open(&src).await.map_err(e)?;
        let sent = tokio::io::copy(&mut file, &mut stream).await.map_err(e)?;
        drop(stream);
        let got = receiver.await.map_err(|j| j.to_string())?.map_err(e)?;
        if sent != got {
            return Err(format!("sent {sent} bytes, received {got}"));
        }
        Ok(start.elapsed().as_secs_f64())
    })
}
