//! Case `roundtrip`: the cost of one operation's trip through the runtime, one at a time:
//! `ringport::driver::nop()` and a 1-byte `read_at` of a cached file, against a raw `io-uring`
//! loop (push → `submit_and_wait(1)` → pop) on a ring with ringport's setup flags.

use crate::child;
use crate::report::{grouped, runs, Check, Section, Target};
use crate::Args;
use io_uring::{opcode, types, IoUring};
use ringport::buf::BufResult;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Operations before the clock starts, to fault in memory and warm caches.
const WARMUP: u64 = 20_000;
/// The ring size ringport uses by default.
const ENTRIES: u32 = 256;
/// ringport, the plain raw loop the target is set against, and the same loop entering the ring
/// by its registered fd (as ringport does), for information.
const ENGINES: [&str; 3] = ["ringport", "io-uring", "io-uring-reg"];

pub struct Opts {
    pub reps: usize,
    pub nops: u64,
    pub reads: u64,
}

#[derive(Clone)]
struct Run {
    ns: f64,
    cpu_s: f64,
    wall_s: f64,
    flags: String,
}

pub fn run(opts: &Opts) -> Result<Section, String> {
    let small = small_file()?;
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut raw_flags = String::from("unknown");
    for (op, n, label) in [
        ("nop", opts.nops, "NOP"),
        ("read", opts.reads, "1-byte read"),
    ] {
        let mut all: Vec<Vec<Run>> = vec![Vec::new(); ENGINES.len()];
        let mut failed: Vec<Option<String>> = vec![None; ENGINES.len()];
        for _ in 0..opts.reps {
            for (i, engine) in ENGINES.iter().enumerate() {
                eprintln!("roundtrip: {engine} {label} x {n}");
                match one(engine, op, n, &small) {
                    Ok(r) => all[i].push(r),
                    Err(e) => failed[i] = Some(e),
                }
            }
        }
        let mut best = Vec::new();
        for (i, engine) in ENGINES.iter().enumerate() {
            let Some((m, every)) = child::median(&all[i], |r| r.ns) else {
                let why = failed[i].clone().unwrap_or_else(|| "no run".into());
                rows.push(vec![
                    label.into(),
                    engine.to_string(),
                    format!("failed: {why}"),
                ]);
                best.push(None);
                continue;
            };
            if *engine == "io-uring" {
                raw_flags = m.flags.clone();
            }
            rows.push(vec![
                label.to_string(),
                engine.to_string(),
                format!("{:.0}", m.ns),
                grouped(1e9 / m.ns),
                format!("{:.2}", m.cpu_s),
                format!("{:.2}", m.wall_s),
                runs(&every, |v| format!("{v:.0}")),
            ]);
            best.push(Some(m));
        }
        let show = |r: &Option<Run>| {
            r.as_ref()
                .map_or("failed".into(), |r| format!("{:.0} ns", r.ns))
        };
        checks.push(Check {
            what: format!("{label}: ns per op vs raw io-uring"),
            ours: show(&best[0]),
            peer: show(&best[1]),
            ratio: best[0]
                .as_ref()
                .zip(best[1].as_ref())
                .map(|(o, p)| o.ns / p.ns),
            target: Target::AtMost(1.15),
        });
        checks.push(Check {
            what: format!("{label}: ns per op vs raw io-uring, registered ring fd"),
            ours: show(&best[0]),
            peer: show(&best[2]),
            ratio: best[0]
                .as_ref()
                .zip(best[2].as_ref())
                .map(|(o, p)| o.ns / p.ns),
            target: Target::None,
        });
    }
    let notes = vec![
        format!(
            "One operation in flight at a time; {} NOPs and {} reads per run (after {WARMUP} \
             warm-up ops); runs per engine: {}. The read is 1 byte at offset 0 of `{}` (4 KiB, \
             in the page cache), through a plain (buffered) fd.",
            opts.nops,
            opts.reads,
            opts.reps,
            small.display()
        ),
        format!(
            "Raw io-uring ring: {ENTRIES} entries, setup flags {raw_flags} (ringport's list, best \
             first); each op is push → `submit_and_wait(1)` → pop. io-uring-reg: the same loop, \
             with the ring's fd registered (`IORING_REGISTER_RING_FDS`) and entered by its \
             index, as ringport enters its ring. ringport: the op awaited in the \
             `ringport::run` future itself."
        ),
    ];
    Ok(Section {
        title: "roundtrip: one operation through the loop".into(),
        notes,
        header: vec![
            "op",
            "engine",
            "ns per op",
            "ops per s",
            "CPU s",
            "wall s",
            "ns per op, every run",
        ],
        rows,
        checks,
    })
}

fn one(engine: &str, op: &str, n: u64, small: &Path) -> Result<Run, String> {
    let n = n.to_string();
    let file = small.to_string_lossy();
    let args = [
        "roundtrip",
        "--engine",
        engine,
        "--op",
        op,
        "--n",
        &n,
        "--file",
        &file,
    ];
    let out = child::run(child::worker(&args))?;
    Ok(Run {
        ns: out.num("secs")? * 1e9 / out.num("ops")?,
        cpu_s: out.cpu_s,
        wall_s: out.wall_s,
        flags: out.kv.get("flags").cloned().unwrap_or_default(),
    })
}

/// A 4 KiB file in the bench data dir, for the 1-byte reads.
fn small_file() -> Result<PathBuf, String> {
    let dir = crate::data_dir();
    let path = dir.join("small-4KiB.dat");
    if !std::fs::metadata(&path).is_ok_and(|m| m.len() == 4096) {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(&path, [b'r'; 4096]).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}

// ---- the worker side: `worker roundtrip --engine E --op nop|read --n N --file PATH` ----

pub fn worker(args: &Args) -> Result<(), String> {
    let engine = args.req("engine")?;
    let op = args.req("op")?;
    let n: u64 = args.get("n", 1_000_000)?;
    let path = args.req("file")?;
    if !matches!(op, "nop" | "read" | "nop-timeout") {
        return Err(format!("unknown roundtrip op {op}"));
    }
    let (secs, flags) = match engine {
        "ringport" => (ringport_loop(op, n, path)?, String::new()),
        "io-uring" => raw_loop(op, n, path, false)?,
        "io-uring-reg" => raw_loop(op, n, path, true)?,
        other => return Err(format!("unknown roundtrip engine {other}")),
    };
    child::emit(&[
        ("ops", n.to_string()),
        ("secs", format!("{secs:.6}")),
        ("flags", flags),
    ]);
    Ok(())
}

fn ringport_loop(op: &str, n: u64, path: &str) -> Result<f64, String> {
    ringport::run(async move {
        if op == "nop-timeout" {
            // Each NOP under a 10 s timeout that never fires: what a guarded operation (an
            // HTTP server's read or write timeout) costs on top of the operation.
            let guarded =
                || ringport::time::timeout(Duration::from_secs(10), ringport::driver::nop());
            for _ in 0..WARMUP {
                guarded()
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            }
            let start = Instant::now();
            for _ in 0..n {
                guarded()
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            }
            return Ok(start.elapsed().as_secs_f64());
        }
        if op == "nop" {
            for _ in 0..WARMUP {
                ringport::driver::nop().await.map_err(|e| e.to_string())?;
            }
            let start = Instant::now();
            for _ in 0..n {
                ringport::driver::nop().await.map_err(|e| e.to_string())?;
            }
            return Ok(start.elapsed().as_secs_f64());
        }
        let file = ringport::fs::File::open(path)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let mut buf: Vec<u8> = Vec::with_capacity(1);
        let mut start = Instant::now();
        for i in 0..WARMUP + n {
            if i == WARMUP {
                start = Instant::now();
            }
            let BufResult(res, back) = file.read_at(buf, 0).await;
            buf = back;
            match res {
                Ok(1) => {}
                Ok(k) => return Err(format!("read returned {k}, not 1")),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Ok(start.elapsed().as_secs_f64())
    })
}

/// A ring of `entries`, with the best of ringport's setup flag sets this kernel accepts.
pub fn build_ring(entries: u32) -> Result<(IoUring, String), String> {
    let attempts: [&[&str]; 4] = [
        &[
            "SINGLE_ISSUER",
            "DEFER_TASKRUN",
            "COOP_TASKRUN",
            "TASKRUN_FLAG",
        ],
        &["SINGLE_ISSUER", "DEFER_TASKRUN"],
        &["COOP_TASKRUN", "TASKRUN_FLAG"],
        &[],
    ];
    let mut last = String::new();
    for flags in attempts {
        let mut b = IoUring::builder();
        for f in flags {
            match *f {
                "SINGLE_ISSUER" => b.setup_single_issuer(),
                "DEFER_TASKRUN" => b.setup_defer_taskrun(),
                "COOP_TASKRUN" => b.setup_coop_taskrun(),
                _ => b.setup_taskrun_flag(),
            };
        }
        match b.build(entries) {
            Ok(ring) if flags.is_empty() => return Ok((ring, "none".into())),
            Ok(ring) => return Ok((ring, flags.join("+"))),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("io_uring_setup: {last}"))
}

/// `IORING_REGISTER_RING_FDS`: registers the ring's own fd for this thread; its index, which
/// `io_uring_enter` then takes with `IORING_ENTER_REGISTERED_RING` (no fd lookup per call).
fn register_ring_fd(ring: &IoUring) -> Result<u32, String> {
    #[repr(C)]
    struct Update {
        offset: u32,
        resv: u32,
        data: u64,
    }
    let mut up = Update {
        offset: u32::MAX,
        resv: 0,
        data: ring.as_raw_fd() as u64,
    };
    // SAFETY: io_uring_register(IORING_REGISTER_RING_FDS = 20) with one valid update, which
    // the kernel fills with the index it chose.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            20,
            &mut up as *mut Update,
            1,
        )
    };
    if rc != 1 {
        return Err(format!(
            "IORING_REGISTER_RING_FDS: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(up.offset)
}

fn raw_loop(op: &str, n: u64, path: &str, registered: bool) -> Result<(f64, String), String> {
    let (mut ring, flags) = build_ring(ENTRIES)?;
    let ring_index = if registered {
        Some(register_ring_fd(&ring)?)
    } else {
        None
    };
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut byte = Box::new(0u8);
    let (entry, want) = if op == "nop" {
        (opcode::Nop::new().build(), 0)
    } else {
        let fd = types::Fd(file.as_raw_fd());
        (opcode::Read::new(fd, &mut *byte, 1).offset(0).build(), 1)
    };
    let entry = entry.user_data(7);
    let mut start = Instant::now();
    for i in 0..WARMUP + n {
        if i == WARMUP {
            start = Instant::now();
        }
        // SAFETY: a NOP hands the kernel no memory; the read's target is the boxed byte and
        // its fd is `file`, both alive until the loop ends, and each op completes before the
        // next is pushed.
        unsafe { ring.submission().push(&entry) }.map_err(|_| "submission queue full")?;
        match ring_index {
            None => {
                ring.submit_and_wait(1)
                    .map_err(|e| format!("submit_and_wait: {e}"))?;
            }
            Some(index) => {
                // SAFETY: io_uring_enter on our registered ring index: submit 1, wait for 1,
                // no argument (IORING_ENTER_GETEVENTS | IORING_ENTER_REGISTERED_RING).
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_io_uring_enter,
                        index,
                        1u32,
                        1u32,
                        1u32 | 1 << 4,
                        std::ptr::null::<libc::c_void>(),
                        0usize,
                    )
                };
                if rc < 0 {
                    return Err(format!(
                        "io_uring_enter: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
        }
        let cqe = ring
            .completion()
            .next()
            .ok_or("no completion after the wait")?;
        if cqe.result() != want {
            return Err(format!("{op} completed with {}", cqe.result()));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(file);
    Ok((secs, flags))
}
