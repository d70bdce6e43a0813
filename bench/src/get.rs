//! Case `get`: `ringport get` beside aria2c, axel and curl, downloading from nginx, with the
//! output's SHA-256 checked after every run.
//!
//! - A, per-connection throttle: nginx `limit_rate 2m; limit_rate_after 0`, 256 MiB, 16
//!   connections; the limit is 16 × 2 MiB/s.
//! - D, stragglers: two mirrors of the file, one at 4 MiB/s per connection and one ten times
//!   slower; tail loss T − S/ΣR against the work-conserving ideal.
//! - F, unshaped loopback: 1 GiB from nginx (`sendfile`, page cache) to disk; wall, CPU
//!   seconds per GiB, syscalls per MiB.
//! - B, a shared link: `tbf` at 400 Mbit/s on the loopback of a private network namespace
//!   (`unshare -n`), 256 MiB.
//! - T, HTTPS: 1 GiB from nginx with TLS (TLS 1.3, the cipher each client prefers) to disk;
//!   CPU seconds per GiB of the downloader and of nginx, beside curl and aria2c.
//!
//! nginx runs on CPU 0, the downloader on CPU 1; wall time includes an fsync of the output
//! (ringport does its own; the bench flushes every tool's output the same way after it ends).

use crate::child::{self, Outcome};
use crate::report::{Check, Section, Target};
use crate::Args;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

pub struct Opts {
    pub reps: usize,
    pub cells: Vec<String>,
}

impl Opts {
    pub fn new(args: &Args) -> Result<Opts, String> {
        let cells: String = args.get("get-cells", "A,D,F,B,S,T".to_string())?;
        Ok(Opts {
            reps: args.get("get-reps", 3)?,
            cells: cells.split(',').map(|s| s.trim().to_uppercase()).collect(),
        })
    }
}

/// One tool's run.
#[derive(Clone)]
struct Run {
    wall: f64,
    cpu: f64,
    ok: bool,
    /// Bytes in the output at the end (all of them unless the run was cut short).
    bytes: u64,
    /// The server's CPU seconds over the run, when it was watched (cell T: nginx's worker).
    server_cpu: Option<f64>,
}

/// A downloader under test: its name and how to fetch `urls` into `out`.
struct Tool {
    name: &'static str,
    cmd: fn(&[String], &Path, usize) -> Command,
}

fn ringport_bin() -> PathBuf {
    crate::workspace_root().join("target/release/ringport")
}

/// The CA certificate of cell T's nginx (made by `tls_files`).
fn tls_ca() -> PathBuf {
    crate::data_dir().join("get").join("tls").join("ca.pem")
}

/// `--cacert CA` (or aria2c's spelling) when the URLs are HTTPS.
fn ca_args(urls: &[String], flag: &str) -> Vec<String> {
    if urls.iter().any(|u| u.starts_with("https://")) {
        vec![flag.to_string(), tls_ca().display().to_string()]
    } else {
        Vec::new()
    }
}

fn tools(conns: usize) -> Vec<Tool> {
    let _ = conns;
    vec![
        Tool {
            name: "ringport get -n N",
            cmd: |urls, out, n| {
                let mut c = Command::new(ringport_bin());
                c.arg("get")
                    .args(urls)
                    .arg("-o")
                    .arg(out)
                    .args(["-n", &n.to_string(), "-q"])
                    .args(ca_args(urls, "--cacert"));
                c
            },
        },
        Tool {
            name: "ringport get (auto)",
            cmd: |urls, out, _| {
                let mut c = Command::new(ringport_bin());
                c.arg("get")
                    .args(urls)
                    .arg("-o")
                    .arg(out)
                    .arg("-q")
                    .args(ca_args(urls, "--cacert"));
                c
            },
        },
        Tool {
            name: "ringport get --threads 2",
            cmd: |urls, out, _| {
                let mut c = Command::new(ringport_bin());
                c.arg("get")
                    .args(urls)
                    .arg("-o")
                    .arg(out)
                    .args(["--threads", "2", "-q"])
                    .args(ca_args(urls, "--cacert"));
                c
            },
        },
        Tool {
            name: "aria2c",
            cmd: |urls, out, n| {
                let mut c = Command::new("aria2c");
                // -x is per server: with mirrors, split the same total budget over them.
                let per = (n / urls.len()).max(1);
                c.args([
                    format!("-x{per}"),
                    format!("-s{n}"),
                    "-k1M".into(),
                    "--file-allocation=falloc".into(),
                    "--allow-overwrite=true".into(),
                    "--auto-file-renaming=false".into(),
                    "--console-log-level=error".into(),
                    "--summary-interval=0".into(),
                    "-q".into(),
                ])
                .args(ca_args(urls, "--ca-certificate"))
                .arg("-d")
                .arg(out.parent().unwrap_or(Path::new(".")))
                .arg("-o")
                .arg(out.file_name().unwrap_or_default())
                .args(urls);
                c
            },
        },
        Tool {
            name: "axel",
            cmd: |urls, out, n| {
                let mut c = Command::new("axel");
                c.args(["-n", &n.to_string(), "-q", "-o"])
                    .arg(out)
                    .args(urls);
                c
            },
        },
        Tool {
            name: "curl",
            cmd: |urls, out, _| {
                let mut c = Command::new("curl");
                c.args(["-s", "-f", "-o"])
                    .arg(out)
                    .args(ca_args(urls, "--cacert"))
                    .arg(&urls[0]);
                c
            },
        },
    ]
}

/// Runs `tool` once: wall time (fsync of the output included), CPU, and the SHA-256 check.
fn once(
    tool: &Tool,
    urls: &[String],
    out: &Path,
    n: usize,
    want: &str,
    limit: Option<Duration>,
    server: Option<u32>,
) -> Result<Run, String> {
    let _ = std::fs::remove_file(out);
    let mut cmd = (tool.cmd)(urls, out, n);
    if let Some(l) = limit {
        // A run cut short (curl under a per-connection throttle): rate from what arrived.
        let mut t = Command::new("timeout");
        t.arg(format!("{:.1}", l.as_secs_f64()))
            .arg(cmd.get_program())
            .args(cmd.get_args());
        cmd = t;
    }
    cmd.stdin(Stdio::null());
    let server_before = server.and_then(cpu_of);
    let start = Instant::now();
    let res = child::spawn(cmd, 1).and_then(|r| r.finish());
    let server_cpu = match (server_before, server.and_then(cpu_of)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let outcome: Option<Outcome> = match res {
        Ok(o) => Some(o),
        Err(e) if limit.is_some() => {
            let _ = e;
            None
        }
        Err(e) => return Err(format!("{}: {e}", tool.name)),
    };
    if let Ok(f) = std::fs::File::open(out) {
        let _ = f.sync_all();
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = outcome.as_ref().map_or(0.0, |o| o.cpu_s);
    let ok = limit.is_none() && sha_file(out).as_deref() == Some(want);
    if limit.is_none() && !ok {
        return Err(format!("{}: wrong SHA-256 of {}", tool.name, out.display()));
    }
    let bytes = std::fs::metadata(out).map_or(0, |m| m.len());
    Ok(Run {
        wall,
        cpu,
        ok,
        bytes,
        server_cpu,
    })
}

/// User + system CPU seconds a process has used so far (`/proc/PID/stat`, fields 14 and 15).
fn cpu_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

fn sha_file(p: &Path) -> Option<String> {
    let mut f = std::fs::File::open(p).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A file of `len` random bytes (made once), and its SHA-256.
fn ensure(path: &Path, len: u64) -> Result<String, String> {
    if std::fs::metadata(path).map(|m| m.len()).ok() != Some(len) {
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ len;
        let mut data = vec![0u8; len as usize];
        for chunk in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        std::fs::write(path, &data).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // Warm the page cache so every tool reads from memory.
    sha_file(path).ok_or_else(|| format!("reading {}", path.display()))
}

/// nginx on CPU 0 with one server block per `(port, limit_rate)`; stopped with SIGTERM.
struct Nginx {
    child: Option<std::process::Child>,
    prefix: PathBuf,
}

impl Nginx {
    fn start(root: &Path, servers: &[(u16, Option<&str>)], netns: bool) -> Result<Nginx, String> {
        Nginx::start_with(root, servers, netns, None)
    }

    /// With TLS on every server (certificate and key files), and an access log of each
    /// request's protocol, cipher and session reuse (`tls.log`).
    fn start_with(
        root: &Path,
        servers: &[(u16, Option<&str>)],
        netns: bool,
        tls: Option<&TlsFiles>,
    ) -> Result<Nginx, String> {
        let prefix = std::env::temp_dir().join(format!(
            "ringport-bench-get-nginx-{}-{}",
            std::process::id(),
            servers[0].0
        ));
        std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
        let p = prefix.display();
        let mut conf = format!(
            "worker_processes 1; pid {p}/nginx.pid; error_log {p}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{ access_log off; sendfile on; tcp_nopush on; server_tokens off;\n\
             keepalive_requests 1000000; default_type application/octet-stream;\n\
             client_body_temp_path {p}/body; proxy_temp_path {p}/proxy;\n\
             fastcgi_temp_path {p}/fastcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n"
        );
        let ssl = match tls {
            Some(t) => {
                conf.push_str(
                    "log_format tls '$ssl_protocol $ssl_cipher $ssl_session_reused';\n\
                     ssl_session_cache shared:tls:10m; ssl_session_tickets on;\n\
                     ssl_protocols TLSv1.2 TLSv1.3;\n",
                );
                format!(
                    " ssl; ssl_certificate {}; ssl_certificate_key {}; access_log {p}/tls.log tls",
                    t.cert.display(),
                    t.key.display()
                )
            }
            None => String::new(),
        };
        for (port, limit) in servers {
            let limit = limit.map_or(String::new(), |l| {
                format!("limit_rate {l}; limit_rate_after 0;")
            });
            conf.push_str(&format!(
                "server {{ listen 127.0.0.1:{port}{ssl}; location / {{ root {}; {limit} }} }}\n",
                root.display()
            ));
        }
        conf.push_str("}\n");
        let path = prefix.join("nginx.conf");
        std::fs::write(&path, conf).map_err(|e| e.to_string())?;
        let _ = netns;
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0", "nginx", "-p"])
            .arg(format!("{p}/"))
            .arg("-c")
            .arg(&path)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the hook runs in the forked child before exec and makes one raw syscall.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("nginx: {e}"))?;
        let n = Nginx {
            child: Some(child),
            prefix,
        };
        let give_up = Instant::now() + Duration::from_secs(10);
        for (port, _) in servers {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                if Instant::now() > give_up {
                    let log =
                        std::fs::read_to_string(n.prefix.join("error.log")).unwrap_or_default();
                    return Err(format!("nginx did not start: {log}"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(n)
    }
}

impl Nginx {
    /// The pid of nginx's one worker (the master's child).
    fn worker(&self) -> Option<u32> {
        let master = self.child.as_ref()?.id();
        let kids =
            std::fs::read_to_string(format!("/proc/{master}/task/{master}/children")).ok()?;
        kids.split_whitespace().next()?.parse().ok()
    }

    /// The TLS access log: one `protocol cipher reused` line per request.
    fn tls_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("tls.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: our own child, not reaped yet; SIGTERM makes nginx stop its worker.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Each tool's name and its median run with every run's wall time, or why it failed.
type Results = Vec<(String, Result<(Run, Vec<f64>), String>)>;

/// Interleaved rounds of every tool; each tool's median wall and its runs.
fn rounds(
    names: &[&str],
    urls: &[String],
    n: usize,
    want: &str,
    reps: usize,
    out_dir: &Path,
    limits: &[(&str, Duration)],
) -> Results {
    let all = tools(n);
    let chosen: Vec<&Tool> = names
        .iter()
        .filter_map(|n| all.iter().find(|t| t.name == *n))
        .collect();
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); chosen.len()];
    let mut errs: Vec<Option<String>> = vec![None; chosen.len()];
    for rep in 0..reps {
        for (i, t) in chosen.iter().enumerate() {
            let limit = limits.iter().find(|(n, _)| *n == t.name).map(|l| l.1);
            if limit.is_some() && rep > 0 {
                continue;
            }
            let out = out_dir.join(format!("out-{i}.bin"));
            eprintln!("get: {} run {} of {reps}", t.name, rep + 1);
            match once(t, urls, &out, n, want, limit, None) {
                Ok(r) => runs[i].push(r),
                Err(e) => {
                    eprintln!("get: {e}");
                    errs[i] = Some(e);
                }
            }
            let _ = std::fs::remove_file(&out);
        }
    }
    chosen
        .iter()
        .zip(runs.into_iter().zip(errs))
        .map(|(t, (r, e))| {
            let res = match child::median(&r, |x| x.wall) {
                Some(m) => Ok(m),
                None => Err(e.unwrap_or_else(|| "no run".into())),
            };
            (t.name.to_string(), res)
        })
        .collect()
}

fn fmt_runs(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.2}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

pub fn run(opts: &Opts) -> Result<Vec<Section>, String> {
    if !ringport_bin().exists() {
        return Err("build the binary first: cargo build --release -p ringport-cli".into());
    }
    let root = crate::data_dir().join("get");
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let out_dir = crate::workspace_root().join("target").join("bench-get-out");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let mut sections = Vec::new();
    let wants = |c: &str| opts.cells.iter().any(|x| x == c);
    if wants("A") {
        sections.push(cell_a(opts, &root, &out_dir)?);
    }
    if wants("D") {
        sections.push(cell_d(opts, &root, &out_dir)?);
    }
    if wants("F") {
        sections.push(cell_f(opts, &root, &out_dir)?);
    }
    if wants("B") {
        sections.push(cell_b(opts, &root, &out_dir)?);
    }
    if wants("S") {
        sections.push(strict_cells(opts, &root, &out_dir)?);
    }
    if wants("T") {
        sections.push(cell_t(opts, &root, &out_dir)?);
    }
    Ok(sections)
}

fn cell_a(opts: &Opts, root: &Path, out_dir: &Path) -> Result<Section, String> {
    let size = 256 * MIB;
    let want = ensure(&root.join("a.bin"), size)?;
    let port = free_port()?;
    let _nginx = Nginx::start(root, &[(port, Some("2m"))], false)?;
    let urls = vec![format!("http://127.0.0.1:{port}/a.bin")];
    let names = [
        "ringport get -n N",
        "ringport get (auto)",
        "aria2c",
        "axel",
        "curl",
    ];
    let limits = [("curl", Duration::from_secs(6))];
    let res = rounds(&names, &urls, 16, &want, opts.reps, out_dir, &limits);
    let limit = 16.0 * 2.0; // MiB/s
    let mut rows = Vec::new();
    let mut walls = std::collections::HashMap::new();
    for (name, r) in &res {
        match r {
            Ok((m, all)) => {
                let rate = m.bytes as f64 / MIB as f64 / m.wall;
                let rate_text = if m.ok {
                    format!("{rate:.1}")
                } else {
                    format!("{rate:.1} (cut at 6 s, not SHA-checked)")
                };
                rows.push(vec![
                    name.clone(),
                    format!("{:.2}", m.wall),
                    rate_text,
                    if m.ok {
                        format!("{:.0} %", 100.0 * rate / limit)
                    } else {
                        "—".into()
                    },
                    format!("{:.2}", m.cpu),
                    fmt_runs(all),
                ]);
                walls.insert(name.clone(), (m.wall, rate, m.ok));
            }
            Err(e) => rows.push(vec![
                name.clone(),
                "—".into(),
                e.clone(),
                "—".into(),
                "—".into(),
                "—".into(),
            ]),
        }
    }
    let mut checks = Vec::new();
    if let Some(&(w, rate, _)) = walls.get("ringport get -n N") {
        checks.push(Check {
            what: "A: rate ÷ the limit 16 × 2 MiB/s".into(),
            ours: format!("{rate:.1} MiB/s"),
            peer: format!("{limit:.0} MiB/s"),
            ratio: Some(rate / limit),
            target: Target::AtLeast(0.95),
        });
        if let Some(&(wa, _, _)) = walls.get("aria2c") {
            checks.push(Check {
                what: "A: wall vs aria2c -x16 -s16 -k1M".into(),
                ours: format!("{w:.2} s"),
                peer: format!("{wa:.2} s"),
                ratio: Some(w / wa),
                target: Target::AtMost(0.9),
            });
        }
    }
    Ok(Section {
        title: "get A: per-connection throttle (nginx limit_rate 2m, 256 MiB, 16 connections)".into(),
        notes: vec![
            format!("{} interleaved rounds; median wall shown, every run after it. Wall includes an fsync of the output; the SHA-256 is checked after every run.", opts.reps),
            "Commands: `ringport get URL -o OUT -n 16 -q`, `ringport get URL -o OUT -q` (auto), `aria2c -x16 -s16 -k1M --file-allocation=falloc`, `axel -n 16 -q`, `curl -s -f` (cut at 6 s with `timeout`: at 2 MiB/s it would take 128 s).".into(),
            "nginx on CPU 0 (`taskset -c 0`), the downloader on CPU 1; file in the page cache.".into(),
        ],
        header: vec!["tool", "wall s", "MiB/s", "of the limit", "CPU s", "every run (wall s)"],
        rows,
        checks,
    })
}

fn cell_d(opts: &Opts, root: &Path, out_dir: &Path) -> Result<Section, String> {
    let size = 256 * MIB;
    let want = ensure(&root.join("d.bin"), size)?;
    let (fast, slow) = (free_port()?, free_port()?);
    let _nginx = Nginx::start(root, &[(fast, Some("4m")), (slow, Some("400k"))], false)?;
    let urls = vec![
        format!("http://127.0.0.1:{fast}/d.bin"),
        format!("http://127.0.0.1:{slow}/d.bin"),
    ];
    let names = ["ringport get -n N", "aria2c", "axel"];
    let res = rounds(&names, &urls, 16, &want, opts.reps, out_dir, &[]);
    // 8 connections on each mirror: ΣR = 8 × 4 + 8 × 0.390625 MiB/s.
    let sum_r = 8.0 * 4.0 + 8.0 * 400.0 / 1024.0;
    let ideal = size as f64 / MIB as f64 / sum_r;
    let mut rows = Vec::new();
    let mut loss = std::collections::HashMap::new();
    for (name, r) in &res {
        match r {
            Ok((m, all)) => {
                let tail = m.wall - ideal;
                rows.push(vec![
                    name.clone(),
                    format!("{:.2}", m.wall),
                    format!("{tail:.2}"),
                    format!("{:.0} %", 100.0 * tail / ideal),
                    format!("{:.2}", m.cpu),
                    fmt_runs(all),
                ]);
                loss.insert(name.clone(), tail);
            }
            Err(e) => rows.push(vec![
                name.clone(),
                "—".into(),
                e.clone(),
                "—".into(),
                "—".into(),
                "—".into(),
            ]),
        }
    }
    let mut checks = Vec::new();
    if let Some(&t) = loss.get("ringport get -n N") {
        checks.push(Check {
            what: "D: tail loss T − S/ΣR ÷ the ideal S/ΣR".into(),
            ours: format!("{t:.2} s"),
            peer: format!("{ideal:.2} s ideal"),
            ratio: Some(t / ideal),
            target: Target::AtMost(0.10),
        });
        if let Some(&ta) = loss.get("aria2c") {
            checks.push(Check {
                what: "D: tail loss vs aria2c".into(),
                ours: format!("{t:.2} s"),
                peer: format!("{ta:.2} s"),
                ratio: Some(t / ta),
                target: Target::None,
            });
        }
    }
    Ok(Section {
        title: "get D: stragglers (two mirrors: 4 MiB/s and 400 KiB/s per connection, 256 MiB, 16 connections)".into(),
        notes: vec![
            format!("Ideal (work-conserving) time S/ΣR with 8 connections per mirror: 256 MiB ÷ {sum_r:.2} MiB/s = {ideal:.2} s; tail loss = wall − ideal."),
            "Commands: `ringport get FAST SLOW -n 16`, `aria2c -x8 -s16 -k1M FAST SLOW` (aria2's -x is per server), `axel -n 16 FAST SLOW`. nginx `limit_rate 4m` and `limit_rate 400k` on two ports, `limit_rate_after 0`.".into(),
        ],
        header: vec!["tool", "wall s", "tail loss s", "of the ideal", "CPU s", "every run (wall s)"],
        rows,
        checks,
    })
}

fn cell_f(opts: &Opts, root: &Path, out_dir: &Path) -> Result<Section, String> {
    let size = 1024 * MIB;
    let want = ensure(&root.join("f.bin"), size)?;
    let port = free_port()?;
    let _nginx = Nginx::start(root, &[(port, None)], false)?;
    let urls = vec![format!("http://127.0.0.1:{port}/f.bin")];
    let names = ["ringport get (auto)", "ringport get -n N", "aria2c", "curl"];
    // -n 1 here: on an unshaped loopback one connection is the fair comparison with curl.
    let res = rounds(&names, &urls, 1, &want, opts.reps, out_dir, &[]);
    let gib = size as f64 / (1u64 << 30) as f64;
    let mut rows = Vec::new();
    let mut m_of = std::collections::HashMap::new();
    for (name, r) in &res {
        let shown = if name == "ringport get -n N" {
            "ringport get -n 1".to_string()
        } else {
            name.clone()
        };
        match r {
            Ok((m, all)) => {
                let sys = syscalls(name, &urls, out_dir, &want)
                    .map_or("—".into(), |n| format!("{:.0}", n as f64 / 1024.0));
                rows.push(vec![
                    shown,
                    format!("{:.2}", m.wall),
                    format!("{:.0}", size as f64 / MIB as f64 / m.wall),
                    format!("{:.2}", m.cpu / gib),
                    sys,
                    fmt_runs(all),
                ]);
                m_of.insert(name.clone(), m.clone());
            }
            Err(e) => rows.push(vec![
                shown,
                "—".into(),
                e.clone(),
                "—".into(),
                "—".into(),
                "—".into(),
            ]),
        }
    }
    let mut checks = Vec::new();
    if let (Some(r), Some(c)) = (m_of.get("ringport get (auto)"), m_of.get("curl")) {
        checks.push(Check {
            what: "F: wall vs curl".into(),
            ours: format!("{:.2} s", r.wall),
            peer: format!("{:.2} s", c.wall),
            ratio: Some(r.wall / c.wall),
            target: Target::AtMost(1.0),
        });
    }
    if let (Some(r), Some(a)) = (m_of.get("ringport get (auto)"), m_of.get("aria2c")) {
        checks.push(Check {
            what: "F: CPU-s per GiB vs aria2c".into(),
            ours: format!("{:.2}", r.cpu / gib),
            peer: format!("{:.2}", a.cpu / gib),
            ratio: Some(r.cpu / a.cpu),
            target: Target::AtMost(0.7),
        });
    }
    Ok(Section {
        title: "get F: unshaped loopback (1 GiB from nginx sendfile to disk)".into(),
        notes: vec![
            "Output on the worktree's disk (ext4 on virtio); nginx serves from the page cache. CPU s is the downloader's user + system time (`wait4`).".into(),
            "Syscalls per MiB: one extra run under `strace -f -c` (not timed); io_uring operations are not system calls, so ringport's count is its `io_uring_enter` calls and setup.".into(),
            "Commands: `ringport get URL -o OUT -q` (auto), `ringport get -n 1`, `aria2c -x1 -s1` with the flags of cell A, `curl -s -f -o OUT`.".into(),
        ],
        header: vec!["tool", "wall s", "MiB/s", "CPU s per GiB", "syscalls per MiB", "every run (wall s)"],
        rows,
        checks,
    })
}

/// System calls of one run under `strace -f -c` (the summary's total).
fn syscalls(name: &str, urls: &[String], out_dir: &Path, want: &str) -> Option<u64> {
    let all = tools(1);
    let t = all.iter().find(|t| t.name == name)?;
    let out = out_dir.join("strace-out.bin");
    let _ = std::fs::remove_file(&out);
    let inner = (t.cmd)(urls, &out, 1);
    let log = out_dir.join("strace.txt");
    let status = Command::new("strace")
        .args(["-f", "-c", "-o"])
        .arg(&log)
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let ok = status.success() && sha_file(&out).as_deref() == Some(want);
    let _ = std::fs::remove_file(&out);
    if !ok {
        return None;
    }
    let text = std::fs::read_to_string(&log).ok()?;
    let total = text
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with("total"))?;
    total.split_whitespace().nth(3)?.parse().ok()
}

fn cell_b(opts: &Opts, root: &Path, out_dir: &Path) -> Result<Section, String> {
    let size = 256 * MIB;
    let want = ensure(&root.join("b.bin"), size)?;
    // The whole cell runs in a private network namespace whose loopback is shaped.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let script = format!(
        "ip link set lo up && tc qdisc add dev lo root tbf rate 400mbit burst 512kb latency 50ms && exec {} worker get-shaped --reps {} --root {} --out {} --want {}",
        exe.display(),
        opts.reps,
        root.display(),
        out_dir.display(),
        want
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("cell B could not run (unshare -n, tc tbf): {text}"));
    }
    let link = 400e6 / 8.0 / MIB as f64; // MiB/s
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("ROW ")) {
        let cells: Vec<&str> = line.split('\t').collect();
        if let [name, wall, cpu, all] = cells[..] {
            let wall: f64 = wall.parse().unwrap_or(f64::NAN);
            let rate = size as f64 / MIB as f64 / wall;
            rows.push(vec![
                name.to_string(),
                format!("{wall:.2}"),
                format!("{rate:.1}"),
                format!("{:.0} %", 100.0 * rate / link),
                cpu.to_string(),
                all.to_string(),
            ]);
            if name == "ringport get (auto)" {
                checks.push(Check {
                    what: "B: rate ÷ the link (400 Mbit/s)".into(),
                    ours: format!("{rate:.1} MiB/s"),
                    peer: format!("{link:.1} MiB/s"),
                    ratio: Some(rate / link),
                    target: Target::AtLeast(0.95),
                });
            }
        }
    }
    Ok(Section {
        title: "get B: a shared link (tbf 400 Mbit/s on a private loopback, 256 MiB)".into(),
        notes: vec![
            "`unshare -n`, `ip link set lo up`, `tc qdisc add dev lo root tbf rate 400mbit burst 512kb latency 50ms`; nginx and the tools inside. The link's rate counts headers too, so the payload ceiling is a little under 47.7 MiB/s.".into(),
        ],
        header: vec!["tool", "wall s", "MiB/s", "of the link", "CPU s", "every run (wall s)"],
        rows,
        checks,
    })
}

/// Inside the shaped namespace: nginx and the tools; prints `ROW` lines for the parent.
pub fn shaped_worker(args: &Args) -> Result<(), String> {
    let reps: usize = args.get("reps", 3)?;
    let root = PathBuf::from(args.req("root")?);
    let out_dir = PathBuf::from(args.req("out")?);
    let want = args.req("want")?.to_string();
    let port = free_port()?;
    let _nginx = Nginx::start(&root, &[(port, None)], true)?;
    let urls = vec![format!("http://127.0.0.1:{port}/b.bin")];
    let names = ["ringport get (auto)", "aria2c", "curl"];
    let res = rounds(&names, &urls, 16, &want, reps, &out_dir, &[]);
    for (name, r) in res {
        match r {
            Ok((m, all)) => println!(
                "ROW {name}\t{:.3}\t{:.2}\t{}",
                m.wall,
                m.cpu,
                fmt_runs(&all)
            ),
            Err(e) => eprintln!("get B: {name}: {e}"),
        }
    }
    Ok(())
}

/// `worker get-origin --root DIR --rate BYTES_PER_SEC [--slow-rate R --slow-port-file F]`:
/// a strict per-connection throttle, unlike nginx's `limit_rate` (which lets every request
/// send one second's worth at once: `limit = rate × (now − start + 1) − sent` in
/// ngx_http_write_filter_module.c). Each connection may send `rate × (time since it was
/// accepted)` bytes and no more, whatever its requests; ranges and an ETag as nginx does.
/// Prints `PORT p` (and a second port, for the slow server, when asked), then serves until
/// its stdin closes.
pub fn origin_worker(args: &Args) -> Result<(), String> {
    let root = PathBuf::from(args.req("root")?);
    let rates: Vec<u64> = args
        .req("rates")?
        .split(',')
        .map(|r| r.parse().map_err(|_| format!("bad rate {r}")))
        .collect::<Result<_, _>>()?;
    let mut ports = Vec::new();
    for rate in rates {
        let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        ports.push(l.local_addr().map_err(|e| e.to_string())?.port());
        let root = root.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let root = root.clone();
                std::thread::spawn(move || strict_conn(s, &root, rate));
            }
        });
    }
    let line: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    println!("PORTS {}", line.join(","));
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    // Serve until the parent closes our stdin.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    Ok(())
}

fn strict_conn(mut s: std::net::TcpStream, root: &Path, rate: u64) {
    use std::io::Write as _;
    let _ = s.set_nodelay(true);
    let accepted = Instant::now();
    let mut sent = 0u64;
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head
            .split(' ')
            .nth(1)
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_string();
        let Ok(mut file) = std::fs::File::open(root.join(&path)) else {
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            continue;
        };
        let total = file.metadata().map_or(0, |m| m.len());
        let range = head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("range")
                .then(|| v.trim().to_string())
        });
        let (a, b, status) = match range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
        {
            Some((a, b)) => {
                let a: u64 = a.parse().unwrap_or(0);
                let b: u64 = b.parse().unwrap_or(total - 1).min(total - 1);
                (a, b, "206 Partial Content")
            }
            None => (0, total - 1, "200 OK"),
        };
        let mut out = format!("HTTP/1.1 {status}\r\nETag: \"strict\"\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\n", b - a + 1);
        if status.starts_with("206") {
            out.push_str(&format!("Content-Range: bytes {a}-{b}/{total}\r\n"));
        }
        out.push_str("\r\n");
        if s.write_all(out.as_bytes()).is_err() {
            return;
        }
        use std::io::Seek as _;
        if file.seek(std::io::SeekFrom::Start(a)).is_err() {
            return;
        }
        let mut left = b - a + 1;
        let mut chunk = vec![0u8; 16 * 1024];
        while left > 0 {
            let n = (left as usize).min(chunk.len());
            if file.read_exact(&mut chunk[..n]).is_err() {
                return;
            }
            let due = Duration::from_secs_f64((sent + n as u64) as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(accepted.elapsed()) {
                std::thread::sleep(wait);
            }
            if s.write_all(&chunk[..n]).is_err() {
                return;
            }
            sent += n as u64;
            left -= n as u64;
        }
    }
}

/// The strict origin as a worker on CPU 0; its ports; dropped (stdin closed) to stop it.
struct Strict {
    run: Option<child::Running>,
    stdin: Option<std::process::ChildStdin>,
    ports: Vec<u16>,
}

impl Strict {
    fn start(root: &Path, rates: &[u64]) -> Result<Strict, String> {
        let rates: Vec<String> = rates.iter().map(|r| r.to_string()).collect();
        let mut cmd = child::worker(&[
            "get-origin",
            "--root",
            &root.display().to_string(),
            "--rates",
            &rates.join(","),
        ]);
        cmd.stdin(Stdio::piped());
        let mut run = child::spawn(cmd, 0)?;
        let stdin = run.take_stdin();
        let line = run.line()?;
        let ports = line
            .strip_prefix("PORTS ")
            .ok_or_else(|| format!("origin printed {line:?}"))?
            .split(',')
            .map(|p| p.parse().map_err(|_| format!("bad port {p}")))
            .collect::<Result<_, String>>()?;
        Ok(Strict {
            run: Some(run),
            stdin,
            ports,
        })
    }
}

impl Drop for Strict {
    fn drop(&mut self) {
        self.stdin = None;
        if let Some(r) = self.run.take() {
            let _ = r.finish();
        }
    }
}

/// A′ and D′: cells A and D against the strict origin.
fn strict_cells(opts: &Opts, root: &Path, out_dir: &Path) -> Result<Section, String> {
    let size = 256 * MIB;
    let want_a = ensure(&root.join("a.bin"), size)?;
    let srv = Strict::start(root, &[2 * MIB, 4 * MIB, 400 * 1024])?;
    let (a_port, fast, slow) = (srv.ports[0], srv.ports[1], srv.ports[2]);
    let names = ["ringport get -n N", "aria2c", "axel"];
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let urls = vec![format!("http://127.0.0.1:{a_port}/a.bin")];
    let res = rounds(&names, &urls, 16, &want_a, opts.reps, out_dir, &[]);
    let limit = 32.0;
    let mut wall_a = std::collections::HashMap::new();
    for (name, r) in &res {
        if let Ok((m, all)) = r {
            let rate = size as f64 / MIB as f64 / m.wall;
            rows.push(vec![
                "A′".into(),
                name.clone(),
                format!("{:.2}", m.wall),
                format!("{rate:.1} MiB/s = {:.0} % of 32", 100.0 * rate / limit),
                format!("{:.2}", m.cpu),
                fmt_runs(all),
            ]);
            wall_a.insert(name.clone(), (m.wall, rate));
        }
    }
    if let Some(&(w, rate)) = wall_a.get("ringport get -n N") {
        checks.push(Check {
            what: "A′ (strict): rate ÷ 16 × 2 MiB/s".into(),
            ours: format!("{rate:.1} MiB/s"),
            peer: "32 MiB/s".into(),
            ratio: Some(rate / limit),
            target: Target::AtLeast(0.95),
        });
        if let Some(&(wa, _)) = wall_a.get("aria2c") {
            checks.push(Check {
                what: "A′ (strict): wall vs aria2c".into(),
                ours: format!("{w:.2} s"),
                peer: format!("{wa:.2} s"),
                ratio: Some(w / wa),
                target: Target::AtMost(0.9),
            });
        }
    }
    let want_d = ensure(&root.join("d.bin"), size)?;
    let urls = vec![
        format!("http://127.0.0.1:{fast}/d.bin"),
        format!("http://127.0.0.1:{slow}/d.bin"),
    ];
    let res = rounds(&names, &urls, 16, &want_d, opts.reps, out_dir, &[]);
    let sum_r = 8.0 * 4.0 + 8.0 * 400.0 / 1024.0;
    let ideal = size as f64 / MIB as f64 / sum_r;
    for (name, r) in &res {
        if let Ok((m, all)) = r {
            let tail = m.wall - ideal;
            rows.push(vec![
                "D′".into(),
                name.clone(),
                format!("{:.2}", m.wall),
                format!(
                    "tail loss {tail:.2} s = {:.0} % of {ideal:.2} s",
                    100.0 * tail / ideal
                ),
                format!("{:.2}", m.cpu),
                fmt_runs(all),
            ]);
            if name == "ringport get -n N" {
                checks.push(Check {
                    what: "D′ (strict): tail loss ÷ the ideal S/ΣR".into(),
                    ours: format!("{tail:.2} s"),
                    peer: format!("{ideal:.2} s ideal"),
                    ratio: Some(tail / ideal),
                    target: Target::AtMost(0.10),
                });
            }
        }
    }
    Ok(Section {
        title: "get A′ and D′: the same cells against a strict per-connection throttle".into(),
        notes: vec![
            "nginx's `limit_rate` is per request and lets each request send a second's worth at once (`limit = rate × (now − start + 1) − sent`, ngx_http_write_filter_module.c), so a tool that makes many requests (work stealing does) beats the nominal limit in A and D above. Here the origin is this binary (`worker get-origin`, std threads, on CPU 0): each connection may send `rate × time since accept`, whatever its requests, so no request pattern can beat R per connection.".into(),
            "A′: 2 MiB/s per connection, 256 MiB, 16 connections (limit 32 MiB/s). D′: two ports at 4 MiB/s and 400 KiB/s per connection as mirrors, 8 connections each (ideal as in D). Same commands as A and D.".into(),
        ],
        header: vec!["cell", "tool", "wall s", "result", "CPU s", "every run (wall s)"],
        rows,
        checks,
    })
}

/// Cell T's certificate and key (a leaf for `localhost` and `127.0.0.1`, signed by the CA at
/// [`tls_ca`]).
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
}

/// Makes a CA and a leaf with rcgen (each run: nothing secret is kept).
fn tls_files() -> Result<TlsFiles, String> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let err = |e: rcgen::Error| format!("rcgen: {e}");
    let dir = tls_ca().parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "ringport bench CA");
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let key = KeyPair::generate().map_err(err)?;
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(err)?
        .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
        .map_err(err)?;
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    let write =
        |p: &Path, s: String| std::fs::write(p, s).map_err(|e| format!("{}: {e}", p.display()));
    write(&tls_ca(), ca_cert.pem())?;
    write(&files.cert, leaf.pem())?;
    write(&files.key, key.serialize_pem())?;
    Ok(files)
}

fn cell_t(opts: &Opts, root: &Path, out_dir: &Path) -> Result<Section, String> {
    let size = 1024 * MIB;
    // Cell F's file: the same bytes over plain HTTP and HTTPS.
    let want = ensure(&root.join("f.bin"), size)?;
    let files = tls_files()?;
    let port = free_port()?;
    let nginx = Nginx::start_with(root, &[(port, None)], false, Some(&files))?;
    let worker = nginx.worker();
    let urls = vec![format!("https://localhost:{port}/f.bin")];
    let names = [
        "ringport get (auto)",
        "ringport get -n N",
        "ringport get --threads 2",
        "curl",
        "aria2c",
    ];
    let all = tools(1);
    let chosen: Vec<&Tool> = names
        .iter()
        .filter_map(|n| all.iter().find(|t| t.name == *n))
        .collect();
    // The output on disk as in F, and on tmpfs, where the page cache is all the sink costs
    // (ext4's allocation and writeback vary from run to run with the rest of the machine).
    let mut outs = vec![("disk", out_dir.to_path_buf())];
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        outs.push((
            "tmpfs",
            shm.join(format!("ringport-bench-get-t-{}", std::process::id())),
        ));
    }
    let mut runs: Vec<Vec<Vec<Run>>> = vec![vec![Vec::new(); chosen.len()]; outs.len()];
    let mut errs = std::collections::HashMap::new();
    for rep in 0..opts.reps {
        for (o, (place, dir)) in outs.iter().enumerate() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for (i, t) in chosen.iter().enumerate() {
                let out = dir.join(format!("out-{i}.bin"));
                eprintln!(
                    "get T ({place}): {} run {} of {}",
                    t.name,
                    rep + 1,
                    opts.reps
                );
                match once(t, &urls, &out, 1, &want, None, worker) {
                    Ok(r) => runs[o][i].push(r),
                    Err(e) => {
                        eprintln!("get T: {e}");
                        errs.insert((o, i), e);
                    }
                }
                let _ = std::fs::remove_file(&out);
            }
        }
    }
    if let Some((_, dir)) = outs.get(1) {
        let _ = std::fs::remove_dir_all(dir);
    }
    // What was negotiated, from nginx's log: every distinct protocol and cipher, and how many
    // requests came on a resumed session.
    let log = nginx.tls_log();
    drop(nginx);
    let mut suites: Vec<String> = log
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3).then(|| format!("{} {}", f[0], f[1]))
        })
        .collect();
    suites.sort();
    suites.dedup();
    let reused = log.lines().filter(|l| l.ends_with(" r")).count();
    let gib = size as f64 / (1u64 << 30) as f64;
    let median = |v: Vec<f64>| child::median(&v, |x| *x).map(|(m, _)| m);
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for (o, (place, _)) in outs.iter().enumerate() {
        // Median CPU (the figure checked) and median wall, each over all runs.
        let mut cpu_of = std::collections::HashMap::new();
        let mut wall_of = std::collections::HashMap::new();
        for (i, t) in chosen.iter().enumerate() {
            let shown = if t.name == "ringport get -n N" {
                "ringport get -n 1"
            } else {
                t.name
            };
            let r = &runs[o][i];
            let (Some(cpu), Some(wall)) = (
                median(r.iter().map(|x| x.cpu / gib).collect()),
                median(r.iter().map(|x| x.wall).collect()),
            ) else {
                let why = errs
                    .get(&(o, i))
                    .cloned()
                    .unwrap_or_else(|| "no run".into());
                let mut row = vec![place.to_string(), shown.into(), "—".into(), why];
                row.resize(7, "—".into());
                rows.push(row);
                continue;
            };
            let server = median(
                r.iter()
                    .filter_map(|x| x.server_cpu)
                    .map(|c| c / gib)
                    .collect(),
            );
            rows.push(vec![
                place.to_string(),
                shown.into(),
                format!("{wall:.2}"),
                format!("{:.0}", size as f64 / MIB as f64 / wall),
                format!("{cpu:.2}"),
                server.map_or("—".into(), |c| format!("{c:.2}")),
                fmt_runs(&r.iter().map(|x| x.cpu / gib).collect::<Vec<_>>()),
            ]);
            cpu_of.insert(t.name, cpu);
            wall_of.insert(t.name, wall);
        }
        let Some(&curl) = cpu_of.get("curl") else {
            continue;
        };
        for (name, target) in [
            ("ringport get (auto)", Target::AtMost(1.0)),
            ("ringport get -n N", Target::None),
            ("ringport get --threads 2", Target::None),
        ] {
            if let Some(&ours) = cpu_of.get(name) {
                let how = match name {
                    "ringport get -n N" => ", -n 1",
                    "ringport get --threads 2" => ", --threads 2",
                    _ => "",
                };
                checks.push(Check {
                    what: format!("T ({place}{how}): HTTPS, CPU-s per GiB vs curl"),
                    ours: format!("{ours:.2}"),
                    peer: format!("{curl:.2}"),
                    ratio: Some(ours / curl),
                    target,
                });
            }
        }
        // The multi-loop machinery's cost (#13): both loops on the downloader's one CPU here,
        // so this is what spreading lanes costs, not what a second core gains.
        if let (Some(&two), Some(&one)) = (
            cpu_of.get("ringport get --threads 2"),
            cpu_of.get("ringport get (auto)"),
        ) {
            checks.push(Check {
                what: format!("T ({place}): HTTPS, CPU-s per GiB, --threads 2 vs 1 loop"),
                ours: format!("{two:.2}"),
                peer: format!("{one:.2}"),
                ratio: Some(two / one),
                target: Target::AtMost(1.05),
            });
        }
        if let (Some(&w), Some(&c)) = (wall_of.get("ringport get (auto)"), wall_of.get("curl")) {
            checks.push(Check {
                what: format!("T ({place}): HTTPS, wall vs curl"),
                ours: format!("{w:.2} s"),
                peer: format!("{c:.2} s"),
                ratio: Some(w / c),
                target: Target::None,
            });
        }
    }
    Ok(Section {
        title: "get T: HTTPS, 1 GiB from nginx with TLS, to disk and to tmpfs".into(),
        notes: vec![
            format!("{} interleaved rounds of every tool and output; the SHA-256 is checked after every run. Medians of CPU and of wall are taken separately, each over all runs; every run's CPU is listed. nginx (one worker, `ssl_protocols TLSv1.2 TLSv1.3` (1.22's default lacks 1.3), `ssl_session_cache` and tickets on) on CPU 0, the downloader on CPU 1; the file in the page cache. Output on the worktree's disk (ext4 on virtio, as in F) and on /dev/shm.", opts.reps),
            "CPU s per GiB: the downloader's user + system time (`wait4`), and nginx's worker's over the same run (`/proc/PID/stat`).".into(),
            format!("Negotiated, from nginx's log (`$ssl_protocol $ssl_cipher`): {}; {reused} of {} requests on a resumed session (each run is a new process; resumption is tested in cli_get_tls.rs). Each client offers its own cipher order.", if suites.is_empty() { "—".to_string() } else { suites.join(", ") }, log.lines().count()),
            "Commands: `ringport get URL -o OUT -q --cacert CA` (auto), the same with `-n 1`, `curl -s -f --cacert CA -o OUT`, `aria2c -x1 -s1 --ca-certificate CA` with the flags of cell A. A CA and a leaf for localhost made with rcgen for the run.".into(),
        ],
        header: vec!["output", "tool", "wall s", "MiB/s", "CPU s per GiB", "nginx CPU s per GiB", "every run (CPU s per GiB)"],
        rows,
        checks,
    })
}
