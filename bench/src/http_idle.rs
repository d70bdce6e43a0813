//! Case `http-idle`: 10,000 kept-alive HTTP connections, each having had one request for a
//! small file answered, now idle; what they cost the server in resident memory. ringport:
//! `ServeDir` behind `Server` (the `http-file` worker); nginx: one process, as in
//! `http-file`, for reference.
//!
//! The parent reads the server's `VmRSS` once it listens and has answered one request (so
//! the file is open and cached, the pools made), and again once the client has its answer on
//! every connection and the connections have sat for a moment.

use crate::child::{self, Running};
use crate::idle::vm_rss;
use crate::report::{grouped, runs, Check, Section, Target};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

const ENGINES: [&str; 2] = ["ringport", "nginx"];
/// The file every connection asks for once.
const FILE: &str = "http-13B.bin";
/// How long any worker may live.
const MAX_SECS: u64 = 120;
/// The target, in bytes per connection.
const TARGET: f64 = 2048.0;

pub struct Opts {
    pub reps: usize,
    pub conns: usize,
    pub settle: Duration,
}

#[derive(Clone)]
struct Run {
    before: u64,
    after: u64,
    conns: usize,
}

impl Run {
    fn per_conn(&self) -> f64 {
        (self.after as f64 - self.before as f64) / self.conns as f64
    }
}

pub fn run(opts: &Opts) -> Result<Section, String> {
    let root = crate::data_dir().join("http");
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    std::fs::write(root.join(FILE), b"Hello, World!").map_err(|e| e.to_string())?;
    let mut all: Vec<Vec<Run>> = vec![Vec::new(); ENGINES.len()];
    let mut failed: Vec<Option<String>> = vec![None; ENGINES.len()];
    for rep in 0..opts.reps {
        for (i, engine) in ENGINES.iter().enumerate() {
            eprintln!(
                "http-idle: {engine}, {} connections, run {} of {}",
                opts.conns,
                rep + 1,
                opts.reps
            );
            match one(engine, &root, opts) {
                Ok(r) => all[i].push(r),
                Err(e) => {
                    eprintln!("http-idle: {engine}: {e}");
                    failed[i] = Some(e);
                }
            }
        }
    }
    let mut rows = Vec::new();
    let mut best = Vec::new();
    for (i, engine) in ENGINES.iter().enumerate() {
        let Some((m, every)) = child::median(&all[i], Run::per_conn) else {
            let why = failed[i].clone().unwrap_or_else(|| "no run".into());
            rows.push(vec![engine.to_string(), format!("failed: {why}")]);
            best.push(None);
            continue;
        };
        let kib = |b: u64| format!("{} KiB", grouped(b as f64 / 1024.0));
        rows.push(vec![
            engine.to_string(),
            kib(m.before),
            kib(m.after),
            grouped(m.per_conn()),
            runs(&every, grouped),
        ]);
        best.push(Some(m));
    }
    let show = |r: &Option<Run>| {
        r.as_ref()
            .map_or("failed".into(), |r| format!("{} B", grouped(r.per_conn())))
    };
    let checks = vec![
        Check {
            what: "bytes per idle keep-alive connection vs the 2 KiB target".into(),
            ours: show(&best[0]),
            peer: "2,048 B".into(),
            ratio: best[0].as_ref().map(|o| o.per_conn() / TARGET),
            target: Target::AtMost(1.0),
        },
        Check {
            what: "bytes per idle keep-alive connection vs nginx".into(),
            ours: show(&best[0]),
            peer: show(&best[1]),
            ratio: best[0]
                .as_ref()
                .zip(best[1].as_ref())
                .map(|(o, p)| o.per_conn() / p.per_conn()),
            target: Target::None,
        },
    ];
    let notes = vec![
        format!(
            "{} connections over loopback from a client process on CPU 1: it opens them all, \
             sends `GET /{FILE}` on each, reads every answer, and holds them open (HTTP/1.1 \
             keep-alive). The server runs on CPU 0, one thread. Runs per engine: {}; the figure \
             is the median run's.",
            grouped(opts.conns as f64),
            opts.reps
        ),
        format!(
            "Resident memory is the server's `VmRSS` (all its processes: nginx runs one, \
             `master_process off`): \"before\" once it listens and has answered one request, \
             \"after\" {} ms after the client has every answer. Bytes per connection = (after \
             − before) ÷ connections. Kernel memory (socket buffers, io_uring requests) is not \
             in `VmRSS`.",
            opts.settle.as_millis()
        ),
        "ringport: the `http-file` worker (`ServeDir` behind `Server::from_listener`): an idle \
         connection is a task waiting in a receive that holds no buffer (the kernel picks one \
         from a ring of 512 × 2 KiB shared by the server when bytes arrive), its read buffer \
         given back to the loop's pool, and a keep-alive timer. nginx: the `http-file` \
         configuration (defaults: `keepalive_timeout 75s`, 1 KiB `client_header_buffer_size` \
         freed when idle)."
            .to_string(),
    ];
    Ok(Section {
        title: format!(
            "http-idle: {} idle keep-alive HTTP connections, resident memory",
            grouped(opts.conns as f64)
        ),
        notes,
        header: vec![
            "server",
            "VmRSS before",
            "VmRSS after",
            "bytes per connection",
            "bytes per connection, every run",
        ],
        rows,
        checks,
    })
}

/// A server process: the `http-server` worker (ringport) or nginx.
struct Server {
    run: Running,
    port: u16,
    /// nginx's prefix, removed at the end.
    prefix: Option<std::path::PathBuf>,
}

fn start(engine: &str, root: &std::path::Path) -> Result<Server, String> {
    if engine == "ringport" {
        let max = MAX_SECS.to_string();
        let root = root.to_string_lossy();
        let mut cmd = child::worker(&[
            "http-server",
            "--engine",
            "ringport",
            "--root",
            &root,
            "--max-secs",
            &max,
        ]);
        cmd.stdin(Stdio::piped());
        let mut run = child::spawn(cmd, 0)?;
        let line = match run.line() {
            Ok(line) => line,
            Err(e) => return Err(run.finish().err().unwrap_or(e)),
        };
        let port = line
            .strip_prefix("LISTEN ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("http server printed {line:?}"))?;
        return Ok(Server {
            run,
            port,
            prefix: None,
        });
    }
    let (run, port, prefix) = crate::http::start_nginx_files(root)?;
    Ok(Server {
        run,
        port,
        prefix: Some(prefix),
    })
}

fn one(engine: &str, root: &std::path::Path, opts: &Opts) -> Result<Run, String> {
    let mut server = start(engine, root)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    let res = (|| {
        ask_once(addr)?;
        std::thread::sleep(Duration::from_millis(200));
        let before = vm_rss(server.run.pid())?;
        let (n, max, port) = (
            opts.conns.to_string(),
            MAX_SECS.to_string(),
            server.port.to_string(),
        );
        let mut cmd = child::worker(&[
            "idle-client",
            "--port",
            &port,
            "--conns",
            &n,
            "--max-secs",
            &max,
            "--http",
            &format!("/{FILE}"),
        ]);
        cmd.stdin(Stdio::piped());
        let mut client = child::spawn(cmd, 1)?;
        // "CONNECTED N" once every connection is open, then "ANSWERED N".
        let line = match client.line() {
            Ok(l) if l.starts_with("CONNECTED ") => client.line(),
            other => other,
        };
        let measured = match line {
            Ok(l) if l == format!("ANSWERED {}", opts.conns) => {
                std::thread::sleep(opts.settle);
                vm_rss(server.run.pid())
            }
            Ok(l) => Err(format!("idle client printed {l:?}")),
            Err(e) => Err(e),
        };
        drop(client.take_stdin());
        let client = client.finish();
        let after = measured?;
        client.map_err(|e| format!("client: {e}"))?;
        Ok(Run {
            before,
            after,
            conns: opts.conns,
        })
    })();
    stop(&mut server);
    res
}

fn stop(server: &mut Server) {
    match server.prefix.take() {
        None => drop(server.run.take_stdin()),
        Some(prefix) => {
            // SAFETY: a signal to our own child (nginx), not reaped yet.
            unsafe { libc::kill(server.run.pid(), libc::SIGTERM) };
            let give_up = Instant::now() + Duration::from_secs(5);
            while std::fs::metadata(format!("/proc/{}/task", server.run.pid())).is_ok()
                && Instant::now() < give_up
                && !zombie(server.run.pid())
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = std::fs::remove_dir_all(prefix);
        }
    }
}

fn zombie(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// One request on a fresh connection, answered in full.
fn ask_once(addr: SocketAddr) -> Result<(), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let req = format!("GET /{FILE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    s.read_to_end(&mut got).map_err(|e| e.to_string())?;
    if got.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("answered {:?}", String::from_utf8_lossy(&got)))
    }
}

/// The client side of one connection in `idle-client --http PATH`: the request, then its
/// answer read whole (head and `Content-Length` bytes).
pub fn request_once(s: &mut TcpStream, path: &str) -> Result<(), String> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())
}

pub fn read_answer(s: &mut TcpStream) -> Result<(), String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the answer".into());
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return Ok(());
            }
        }
    }
}
