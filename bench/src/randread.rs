//! Case `randread`: random 4 KiB `O_DIRECT` reads over a 1 GiB file at queue depth 1 and 32,
//! one thread: ringport, fio (io_uring engine: the limit) and tokio (`spawn_blocking` +
//! `pread`, which is how `tokio::fs` reads).

use crate::child::{self, Outcome};
use crate::report::{grouped, runs, Check, Section, Target};
use crate::{Args, XorShift};
use ringport::buf::{AlignedBuf, BufResult};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FILE_SIZE: u64 = 1 << 30;
const BLOCK: u64 = 4096;
const BLOCKS: u64 = FILE_SIZE / BLOCK;
const SEED: u64 = 0x7269_6e67_706f_7274;
const QDS: [usize; 2] = [1, 32];
const ENGINES: [&str; 3] = ["fio", "ringport", "tokio"];

pub struct Opts {
    pub secs: u64,
    pub reps: usize,
}

/// A check: what is compared, the peer's index in `ENGINES`, the figure, the target.
type Wanted = (&'static str, usize, fn(&Run) -> f64, Target);

#[derive(Clone)]
struct Run {
    ops: f64,
    secs: f64,
    cpu_s: f64,
    wall_s: f64,
    /// fio's own account of its CPU time (usr + sys), to set beside `wait4`'s.
    fio_cpu_s: Option<f64>,
}

impl Run {
    fn iops(&self) -> f64 {
        self.ops / self.secs
    }
    fn per_cpu(&self) -> f64 {
        self.ops / self.cpu_s
    }
}

pub fn run(opts: &Opts) -> Result<Section, String> {
    let path = crate::data_dir().join("randread-1GiB.dat");
    ensure_file(&path)?;
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut notes = vec![
        format!(
            "File `{}` (1 GiB, written once with non-zero data); runs per engine and queue \
             depth: {}, of {} s each; 4 KiB reads at 4 KiB-aligned offsets from a fixed-seed \
             xorshift.",
            path.display(),
            opts.reps,
            opts.secs
        ),
        "fio: `fio --name=rr --filename=FILE --rw=randread --bs=4k --direct=1 \
         --ioengine=io_uring --iodepth=QD --numjobs=1 --time_based --runtime=SECS --hipri=0 \
         --fixedbufs=0 --registerfiles=0 --sqthread_poll=0 --output-format=json`."
            .to_string(),
        "ringport: QD tasks (`ringport::spawn`) sharing one `Rc<File>`, each reusing one \
         `AlignedBuf`. tokio: current-thread runtime, QD tasks each looping `spawn_blocking` + \
         `FileExt::read_at` on an `O_DIRECT` std file with a 4096-aligned boxed page."
            .to_string(),
    ];
    for qd in QDS {
        let mut all: Vec<Vec<Result<Run, String>>> = vec![Vec::new(); ENGINES.len()];
        for _ in 0..opts.reps {
            for (i, engine) in ENGINES.iter().enumerate() {
                eprintln!("randread: {engine} at QD {qd} for {} s", opts.secs);
                all[i].push(one(engine, &path, qd, opts.secs));
            }
        }
        let mut best: Vec<Option<Run>> = Vec::new();
        for (engine, results) in ENGINES.iter().zip(&all) {
            let ok: Vec<Run> = results
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .cloned()
                .collect();
            let errs: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            match child::median(&ok, Run::iops) {
                Some((m, every)) => {
                    rows.push(vec![
                        qd.to_string(),
                        engine.to_string(),
                        grouped(m.iops()),
                        grouped(m.per_cpu()),
                        format!("{:.2}", m.cpu_s),
                        format!("{:.2}", m.wall_s),
                        format!("{:.0} %", 100.0 * m.cpu_s / m.wall_s),
                        runs(&every, grouped),
                    ]);
                    if let Some(f) = m.fio_cpu_s {
                        notes.push(format!(
                            "fio at QD {qd} reports {f:.2} CPU s itself (usr + sys over its \
                             runtime); `wait4` counts {:.2} s for the whole process.",
                            m.cpu_s
                        ));
                    }
                    best.push(Some(m));
                }
                None => {
                    let why = errs.first().map_or("no run".to_string(), |e| e.to_string());
                    rows.push(vec![
                        qd.to_string(),
                        engine.to_string(),
                        format!("failed: {why}"),
                    ]);
                    best.push(None);
                }
            }
        }
        let fio_target = if qd == 32 {
            Target::AtLeast(0.95)
        } else {
            Target::None
        };
        let wanted: [Wanted; 4] = [
            ("IOPS", 0, Run::iops, fio_target),
            ("IOPS per CPU-s", 2, Run::per_cpu, Target::AtLeast(3.0)),
            ("IOPS per CPU-s", 0, Run::per_cpu, Target::None),
            ("IOPS", 2, Run::iops, Target::None),
        ];
        for (what, peer, f, target) in wanted {
            let show = |r: &Option<Run>| r.as_ref().map_or("failed".into(), |r| grouped(f(r)));
            let (ours, theirs) = (&best[1], &best[peer]);
            checks.push(Check {
                what: format!("QD {qd}: {what} vs {}", ENGINES[peer]),
                ours: show(ours),
                peer: show(theirs),
                ratio: ours.as_ref().zip(theirs.as_ref()).map(|(o, p)| f(o) / f(p)),
                target,
            });
        }
    }
    Ok(Section {
        title: "randread: random 4 KiB O_DIRECT reads, one thread".into(),
        notes,
        header: vec![
            "QD",
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

fn one(engine: &str, path: &Path, qd: usize, secs: u64) -> Result<Run, String> {
    if engine == "fio" {
        return fio(path, qd, secs);
    }
    let (qd, secs) = (qd.to_string(), secs.to_string());
    let file = path.to_string_lossy();
    let args = [
        "randread", "--engine", engine, "--qd", &qd, "--file", &file, "--secs", &secs,
    ];
    let out: Outcome = child::run(child::worker(&args))?;
    Ok(Run {
        ops: out.num("ops")?,
        secs: out.num("secs")?,
        cpu_s: out.cpu_s,
        wall_s: out.wall_s,
        fio_cpu_s: None,
    })
}

fn fio(path: &Path, qd: usize, secs: u64) -> Result<Run, String> {
    let mut cmd = Command::new("fio");
    cmd.arg("--name=rr")
        .arg(format!("--filename={}", path.display()))
        .args([
            "--rw=randread",
            "--bs=4k",
            "--direct=1",
            "--ioengine=io_uring",
        ])
        .arg(format!("--iodepth={qd}"))
        .args(["--numjobs=1", "--time_based"])
        .arg(format!("--runtime={secs}"))
        .args([
            "--hipri=0",
            "--fixedbufs=0",
            "--registerfiles=0",
            "--sqthread_poll=0",
        ])
        .arg("--output-format=json");
    let out = child::run(cmd)?;
    let json = &out.stdout[out.stdout.find('{').ok_or("fio printed no JSON")?..];
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("fio JSON: {e}"))?;
    let job = &v["jobs"][0];
    let num = |x: &serde_json::Value, what: &str| {
        x.as_f64().ok_or_else(|| format!("fio JSON has no {what}"))
    };
    let ops = num(&job["read"]["total_ios"], "read.total_ios")?;
    let runtime_s = num(&job["read"]["runtime"], "read.runtime")? / 1000.0;
    let cpu_pct = num(&job["usr_cpu"], "usr_cpu")? + num(&job["sys_cpu"], "sys_cpu")?;
    Ok(Run {
        ops,
        secs: runtime_s,
        cpu_s: out.cpu_s,
        wall_s: out.wall_s,
        fio_cpu_s: Some(cpu_pct / 100.0 * runtime_s),
    })
}

/// Creates the 1 GiB file when it is missing or has the wrong size: buffered writes of
/// pseudo-random bytes, fsync, rename into place, then `sync`.
pub(crate) fn ensure_file(path: &Path) -> Result<(), String> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == FILE_SIZE) {
        return Ok(());
    }
    let dir = path.parent().ok_or("no data dir")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    warn_if_tmpfs(dir);
    eprintln!("randread: writing {} (1 GiB)", path.display());
    let tmp = path.with_extension("part");
    let fail = |e: std::io::Error| format!("{}: {e}", tmp.display());
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    let mut rng = XorShift::new(SEED);
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..FILE_SIZE / chunk.len() as u64 {
        for w in chunk.chunks_exact_mut(8) {
            w.copy_from_slice(&(rng.next_u64() | 0x0101_0101_0101_0101).to_le_bytes());
        }
        f.write_all(&chunk).map_err(fail)?;
    }
    f.sync_all().map_err(fail)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(fail)?;
    let _ = Command::new("sync").status();
    Ok(())
}

fn warn_if_tmpfs(dir: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: an all-zero statfs is valid; statfs fills it in from a NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` is valid for writes.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 && st.f_type as i64 == 0x0102_1994 {
        eprintln!(
            "randread: warning: {} is on tmpfs; O_DIRECT will fail",
            dir.display()
        );
    }
}

// ---- the worker side: `worker randread --engine E --qd N --file PATH --secs S` ----

pub fn worker(args: &Args) -> Result<(), String> {
    let engine = args.req("engine")?;
    let qd: usize = args.get("qd", 1)?;
    let secs: u64 = args.get("secs", 8)?;
    let path = args.req("file")?.to_string();
    let (ops, elapsed, backend) = match engine {
        "ringport" => ringport_loop(&path, qd, secs)?,
        "tokio" => {
            let (ops, elapsed) = tokio_loop(&path, qd, secs)?;
            (ops, elapsed, "tokio".to_string())
        }
        other => return Err(format!("unknown randread engine {other}")),
    };
    child::emit(&[
        ("ops", ops.to_string()),
        ("secs", format!("{elapsed:.6}")),
        ("backend", backend),
    ]);
    Ok(())
}

fn offset(rng: &mut XorShift) -> u64 {
    (rng.next_u64() % BLOCKS) * BLOCK
}

/// The reads, and the backend the runtime chose (`RINGPORT_BACKEND` may force one).
fn ringport_loop(path: &str, qd: usize, secs: u64) -> Result<(u64, f64, String), String> {
    let rt = ringport::Runtime::new().map_err(|e| format!("ringport runtime: {e}"))?;
    let backend = rt.backend().to_string();
    let (ops, elapsed) = rt.block_on(async move {
        let file = ringport::fs::OpenOptions::new()
            .read(true)
            .direct(true)
            .open(path)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let file = Rc::new(file);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let mut tasks = Vec::with_capacity(qd);
        for t in 0..qd {
            let file = file.clone();
            tasks.push(ringport::spawn(async move {
                let mut rng = XorShift::new(SEED + t as u64);
                let mut buf = AlignedBuf::new(BLOCK as usize);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let off = offset(&mut rng);
                    let BufResult(res, back) = file.read_at(buf, off).await;
                    buf = back;
                    match res {
                        Ok(4096) => n += 1,
                        Ok(k) => return Err(format!("short read of {k} at {off}")),
                        Err(e) => return Err(format!("read at {off}: {e}")),
                    }
                }
                Ok(n)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.map_err(|e| e.to_string())??;
        }
        Ok::<_, String>((total, start.elapsed().as_secs_f64()))
    })?;
    Ok((ops, elapsed, backend))
}

/// One page, aligned as `O_DIRECT` needs.
#[repr(C, align(4096))]
struct Page([u8; BLOCK as usize]);

fn tokio_loop(path: &str, qd: usize, secs: u64) -> Result<(u64, f64), String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|e| format!("{path}: {e}"))?;
    let file = Arc::new(file);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let mut tasks = Vec::with_capacity(qd);
        for t in 0..qd {
            let file = file.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = XorShift::new(SEED + t as u64);
                let mut page = Box::new(Page([0; BLOCK as usize]));
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let off = offset(&mut rng);
                    let f = file.clone();
                    let (res, back) = tokio::task::spawn_blocking(move || {
                        let res = f.read_at(&mut page.0, off);
                        (res, page)
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    page = back;
                    match res {
                        Ok(4096) => n += 1,
                        Ok(k) => return Err(format!("short read of {k} at {off}")),
                        Err(e) => return Err(format!("read at {off}: {e}")),
                    }
                }
                Ok::<u64, String>(n)
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.map_err(|e| e.to_string())??;
        }
        Ok((total, start.elapsed().as_secs_f64()))
    })
}
