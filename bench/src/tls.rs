//! Case `tls`: TLS echo throughput on one core per side. One TLS 1.3 connection
//! (TLS13_AES_128_GCM_SHA256, rustls with the ring provider on both ends); the load generator
//! sends `--tls-mib` MiB in 64 KiB writes and reads the echo back at the same time; the server
//! decrypts and re-encrypts every byte. Servers: ringport-tls (io_uring, and the poll backend)
//! and tokio-rustls on a current-thread tokio runtime, each on CPU 0; the load generator (the
//! same tokio-rustls program for every server) on CPU 1.
//!
//! The server measures itself from the end of the handshake to the end of the echo:
//! `getrusage(RUSAGE_SELF)` and its threads' run delay, printed in its `RESULT` line.

use crate::child::{self, Outcome};
use crate::echo::{cpu_now, listener, run_delay};
use crate::report::{Check, Section, Target};
use crate::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ENGINES: [&str; 3] = ["ringport", "ringport-poll", "tokio-rustls"];
/// Application read and write size, both sides.
const CHUNK: usize = 64 * 1024;
/// A run whose server or load generator waited this share of the window for its CPU is
/// contended (as in `echo`).
const CONTENDED: f64 = 0.05;
const GIB: f64 = (1u64 << 30) as f64;

pub struct Opts {
    pub reps: usize,
    pub mib: u64,
}

impl Opts {
    pub fn new(args: &Args) -> Result<Opts, String> {
        Ok(Opts {
            reps: args.get("tls-reps", 5)?,
            mib: args.get("tls-mib", 2048)?,
        })
    }
}

#[derive(Clone)]
struct Run {
    bytes: f64,
    /// The echo's wall time, as the load generator timed it.
    secs: f64,
    srv_cpu: f64,
    srv_delay: f64,
    srv_secs: f64,
    load_cpu: f64,
    load_delay: f64,
    backend: String,
}

impl Run {
    /// Payload MB/s (each byte goes to the server and back).
    fn mbs(&self) -> f64 {
        self.bytes / self.secs / 1e6
    }
    /// Server CPU seconds per GiB echoed.
    fn cpu_per_gib(&self) -> f64 {
        self.srv_cpu / (self.bytes / GIB)
    }
    fn contended(&self) -> bool {
        self.srv_delay > CONTENDED * self.srv_secs || self.load_delay > CONTENDED * self.secs
    }
}

/// The certificate both servers use (a self-signed leaf for localhost), made once.
pub(crate) fn cert_files() -> Result<(PathBuf, PathBuf), String> {
    let dir = crate::data_dir().join("tls");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .map_err(|e| format!("rcgen: {e}"))?;
    std::fs::write(&cert, made.cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(&key, made.signing_key.serialize_pem()).map_err(|e| e.to_string())?;
    Ok((cert, key))
}

pub fn run(opts: &Opts) -> Result<Section, String> {
    let (cert, key) = cert_files()?;
    let mut all: Vec<Vec<Run>> = vec![Vec::new(); ENGINES.len()];
    let mut failed: Vec<Option<String>> = vec![None; ENGINES.len()];
    for rep in 0..opts.reps {
        for (i, engine) in ENGINES.iter().enumerate() {
            eprintln!("tls: {engine}, run {} of {}", rep + 1, opts.reps);
            match one(engine, opts.mib, &cert, &key) {
                Ok(r) => {
                    if r.contended() {
                        eprintln!("tls: {engine}: contended");
                    }
                    all[i].push(r)
                }
                Err(e) => {
                    eprintln!("tls: {engine}: {e}");
                    failed[i] = Some(e);
                }
            }
        }
    }
    let mut rows = Vec::new();
    let mut best: Vec<Option<Run>> = Vec::new();
    for (i, engine) in ENGINES.iter().enumerate() {
        let clean: Vec<Run> = all[i].iter().filter(|r| !r.contended()).cloned().collect();
        let pool = if clean.is_empty() { &all[i] } else { &clean };
        let Some((m, _)) = child::median(pool, Run::mbs) else {
            let why = failed[i].clone().unwrap_or_else(|| "no run".into());
            rows.push(vec![engine.to_string(), format!("failed: {why}")]);
            best.push(None);
            continue;
        };
        let mark = |r: &Run| if r.contended() { "*" } else { "" };
        let every: Vec<String> = all[i]
            .iter()
            .map(|r| format!("{:.0}{}", r.mbs(), mark(r)))
            .collect();
        rows.push(vec![
            engine.to_string(),
            format!("{:.0}{}", m.mbs(), mark(&m)),
            format!("{:.3}", m.cpu_per_gib()),
            format!(
                "{:.0} % / {:.0} %",
                100.0 * m.srv_cpu / m.srv_secs,
                100.0 * m.srv_delay / m.srv_secs
            ),
            format!(
                "{:.0} % / {:.0} %",
                100.0 * m.load_cpu / m.secs,
                100.0 * m.load_delay / m.secs
            ),
            m.backend.clone(),
            every.join(" / "),
        ]);
        best.push(Some(m));
    }
    let judge = |o: &Run, p: &Run, f: fn(&Run) -> f64| {
        (!o.contended() && !p.contended()).then(|| f(o) / f(p))
    };
    let peer = best[2].as_ref();
    let mut checks = Vec::new();
    for (i, label) in [(0, "ringport-tls (io_uring)"), (1, "ringport-tls (poll)")] {
        let ours = best[i].as_ref();
        let show = |r: Option<&Run>, f: fn(&Run) -> String| r.map_or("failed".into(), f);
        checks.push(Check {
            what: format!("{label}: echo MB/s vs tokio-rustls"),
            ours: show(ours, |r| format!("{:.0} MB/s", r.mbs())),
            peer: show(peer, |r| format!("{:.0} MB/s", r.mbs())),
            ratio: ours.zip(peer).and_then(|(o, p)| judge(o, p, Run::mbs)),
            target: if i == 0 {
                Target::AtLeast(1.0)
            } else {
                Target::None
            },
        });
        checks.push(Check {
            what: format!("{label}: server CPU s per GiB vs tokio-rustls"),
            ours: show(ours, |r| format!("{:.3} s", r.cpu_per_gib())),
            peer: show(peer, |r| format!("{:.3} s", r.cpu_per_gib())),
            ratio: ours
                .zip(peer)
                .and_then(|(o, p)| judge(o, p, Run::cpu_per_gib)),
            target: Target::None,
        });
    }
    let notes = vec![
        format!(
            "One TLS 1.3 connection over loopback, TLS13_AES_128_GCM_SHA256 only, rustls 0.23 \
             with the ring provider on every side. The load generator (tokio current-thread + \
             tokio-rustls, its stream split into a writing and a reading task) sends {} MiB in \
             {} KiB writes and reads the echo back at the same time, then sends close_notify; \
             MB/s = payload bytes ÷ the load generator's wall time from the end of the \
             handshake to the last echoed byte (each byte crosses loopback twice).",
            opts.mib,
            CHUNK / 1024
        ),
        "Servers, one thread each, a 64 KiB read buffer, read then write_all in a loop until \
         the clean end: ringport-tls (`TlsAcceptor::accept`, `AsyncRead::read` with an owned \
         `Vec`, `AsyncWriteExt::write_all`; io_uring, and the poll backend by \
         `RINGPORT_BACKEND=poll`) and tokio-rustls 0.26 on `new_current_thread()` \
         (`AsyncReadExt::read` + `write_all`)."
            .to_string(),
        "Server CPU s per GiB = the server's own user + system CPU time (getrusage, all \
         threads) from the end of the handshake to the end of the echo ÷ GiB echoed. \"CPU \
         use / wait for CPU\" as in `echo`: CPU seconds and run delay (schedstat) over the \
         window, as shares of it."
            .to_string(),
        format!(
            "{} runs per server, servers interleaved; the figures are the median run's (by \
             MB/s) among runs where neither side waited for its CPU more than {:.0} % of the \
             window (contended runs are marked *).",
            opts.reps,
            CONTENDED * 100.0
        ),
    ];
    Ok(Section {
        title: "tls: TLS echo throughput, one connection, one core per side".into(),
        notes,
        header: vec![
            "server",
            "MB/s",
            "server CPU s per GiB",
            "server CPU use / wait for CPU",
            "load generator CPU use / wait for CPU",
            "backend",
            "MB/s, every run",
        ],
        rows,
        checks,
    })
}

fn one(engine: &str, mib: u64, cert: &Path, key: &Path) -> Result<Run, String> {
    let (name, env) = match engine {
        "ringport-poll" => ("ringport", Some(("RINGPORT_BACKEND", "poll"))),
        "tokio-rustls" => ("tokio", None),
        e => (e, None),
    };
    let cert_s = cert.to_string_lossy().to_string();
    let key_s = key.to_string_lossy().to_string();
    let mut cmd = child::worker(&[
        "tls-server",
        "--engine",
        name,
        "--cert",
        &cert_s,
        "--key",
        &key_s,
    ]);
    cmd.envs(env);
    let mut server = child::spawn(cmd, 0)?;
    let line = match server.line() {
        Ok(line) => line,
        Err(e) => return Err(server.finish().err().unwrap_or(e)),
    };
    let port = line
        .strip_prefix("LISTEN ")
        .ok_or_else(|| format!("tls server printed {line:?}"))?
        .to_string();
    let bytes = (mib << 20).to_string();
    let cmd = child::worker(&[
        "tls-load", "--port", &port, "--bytes", &bytes, "--cert", &cert_s,
    ]);
    let load = child::spawn(cmd, 1).and_then(child::Running::finish);
    let srv = server.finish();
    let (load, srv): (Outcome, Outcome) = match (load, srv) {
        (Ok(l), Ok(s)) => (l, s),
        (Err(e), _) => return Err(format!("load generator: {e}")),
        (_, Err(e)) => return Err(format!("server: {e}")),
    };
    Ok(Run {
        bytes: load.num("bytes")?,
        secs: load.num("secs")?,
        load_cpu: load.num("cpu_s")?,
        load_delay: load.num("delay_s")?,
        srv_cpu: srv.num("cpu_s")?,
        srv_delay: srv.num("delay_s")?,
        srv_secs: srv.num("secs")?,
        backend: srv.kv.get("backend").cloned().unwrap_or_default(),
    })
}

// ---- the workers ----

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites = vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256];
    Arc::new(p)
}

fn server_config(args: &Args) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = ringport_tls::config::load_certs(Path::new(args.req("cert")?))
        .map_err(|e| e.to_string())?;
    let key =
        ringport_tls::config::load_key(Path::new(args.req("key")?)).map_err(|e| e.to_string())?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// The measured part of a server's life: CPU, run delay and wall time around `f`.
struct Window {
    cpu: Duration,
    delay: Duration,
    start: Instant,
}

impl Window {
    fn open() -> Window {
        Window {
            cpu: cpu_now(),
            delay: run_delay(),
            start: Instant::now(),
        }
    }

    fn close(self, bytes: u64, reads: u64, backend: &str) {
        let pairs = [
            ("bytes", bytes.to_string()),
            ("reads", reads.to_string()),
            (
                "cpu_s",
                format!("{:.6}", (cpu_now() - self.cpu).as_secs_f64()),
            ),
            (
                "delay_s",
                format!("{:.6}", (run_delay() - self.delay).as_secs_f64()),
            ),
            ("secs", format!("{:.6}", self.start.elapsed().as_secs_f64())),
        ];
        let mut all: Vec<(&str, String)> = pairs.to_vec();
        all.push(("backend", backend.to_string()));
        child::emit(&all);
    }
}

pub fn server(args: &Args) -> Result<(), String> {
    let engine = args.req("engine")?.to_string();
    let config = server_config(args)?;
    let l = listener()?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    match engine.as_str() {
        "ringport" => ringport_server(l, port, config),
        "tokio" => tokio_server(l, port, config),
        other => Err(format!("unknown tls engine {other}")),
    }
}

fn ringport_server(
    l: std::net::TcpListener,
    port: u16,
    config: Arc<rustls::ServerConfig>,
) -> Result<(), String> {
    use ringport::buf::{BufResult, IoBuf};
    use ringport::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
    let rt = ringport::Runtime::new().map_err(|e| format!("ringport runtime: {e}"))?;
    let backend = format!("{:?}", rt.backend());
    rt.block_on(async move {
        let listener = ringport::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        println!("LISTEN {port}");
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| format!("accept: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let acceptor = ringport_tls::TlsAcceptor::new(config);
        let mut tls = acceptor.accept(stream).await.map_err(|e| e.to_string())?;
        let window = Window::open();
        let mut total = 0u64;
        let mut reads = 0u64;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
        loop {
            buf.clear();
            let BufResult(res, back) = tls.read(buf).await;
            let n = res.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            reads += 1;
            let BufResult(res, back) = tls.write_all(back.slice(..n)).await;
            res.map_err(|e| format!("write: {e}"))?;
            buf = back.into_inner();
        }
        tls.shutdown_write()
            .await
            .map_err(|e| format!("shutdown: {e}"))?;
        window.close(total, reads, &backend);
        Ok(())
    })
}

fn tokio_server(
    l: std::net::TcpListener,
    port: u16,
    config: Arc<rustls::ServerConfig>,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        println!("LISTEN {port}");
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| format!("accept: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let mut tls = acceptor.accept(stream).await.map_err(|e| e.to_string())?;
        let window = Window::open();
        let mut total = 0u64;
        let mut reads = 0u64;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = tls.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            reads += 1;
            tls.write_all(&buf[..n])
                .await
                .map_err(|e| format!("write: {e}"))?;
        }
        tls.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
        window.close(total, reads, "epoll");
        Ok(())
    })
}

/// The load generator: tokio-rustls, writing and reading at once.
pub fn load(args: &Args) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port: u16 = args.get("port", 0)?;
    let bytes: u64 = args.get("bytes", 1 << 30)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in
        ringport_tls::config::load_certs(Path::new(args.req("cert")?)).map_err(|e| e.to_string())?
    {
        roots.add(c).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (cpu0, delay0, start) = (cpu_now(), run_delay(), Instant::now());
        let (mut r, mut w) = tokio::io::split(tls);
        let writer = tokio::spawn(async move {
            let chunk: Vec<u8> = (0..CHUNK).map(|i| i as u8).collect();
            let mut sent = 0u64;
            while sent < bytes {
                let n = CHUNK.min((bytes - sent) as usize);
                w.write_all(&chunk[..n]).await?;
                sent += n as u64;
            }
            w.shutdown().await?;
            std::io::Result::Ok(())
        });
        let mut got = 0u64;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = r.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        writer
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("write: {e}"))?;
        let secs = start.elapsed().as_secs_f64();
        if got != bytes {
            return Err(format!("echo returned {got} of {bytes} bytes"));
        }
        child::emit(&[
            ("bytes", got.to_string()),
            ("secs", format!("{secs:.6}")),
            ("cpu_s", format!("{:.6}", (cpu_now() - cpu0).as_secs_f64())),
            (
                "delay_s",
                format!("{:.6}", (run_delay() - delay0).as_secs_f64()),
            ),
        ]);
        Ok::<(), String>(())
    })
}
