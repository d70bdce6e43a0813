//! Helpers for the `ringport serve` tests: the real binary on a free port in a temp
//! directory, its stderr collected, and `curl`.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

// The same certificate fixtures as ringport-http's client tests (one file for both).
#[path = "../../../ringport-http/tests/client_util/pki.rs"]
pub mod pki;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `ringport` run in the system temp directory (never the working directory).
pub fn ringport() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringport"));
    cmd.current_dir(std::env::temp_dir());
    cmd
}

/// Wine 8 sometimes fails `CreateProcess` with `ERROR_INTERNAL_ERROR` (1359) for a program
/// that starts fine the next time (seen in CI on 2026-12-03). A start that fails so is tried
/// again, up to three times, and said on stderr; every other error is returned at once.
pub fn start_retrying<T>(
    cmd: &mut Command,
    start: impl Fn(&mut Command) -> std::io::Result<T>,
) -> std::io::Result<T> {
    const WINE_INTERNAL_ERROR: i32 = 1359;
    let mut tries = 1;
    loop {
        match start(cmd) {
            Err(e)
                if cfg!(windows) && e.raw_os_error() == Some(WINE_INTERNAL_ERROR) && tries < 4 =>
            {
                eprintln!(
                    "starting {:?} failed with {e} (try {tries}): trying again",
                    cmd.get_program()
                );
                tries += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// A running `ringport serve`; killed when dropped.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// The reader of its stderr has seen the end (everything it wrote is in `stderr`).
    eof: Arc<std::sync::atomic::AtomicBool>,
}

impl Serve {
    /// Starts `ringport serve <dir> --addr 127.0.0.1:0 <extra>` and waits for its address.
    pub fn start(dir: &Path, extra: &[&str]) -> Serve {
        let mut args = vec!["--addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Serve::start_with(dir, &args)
    }

    /// Starts `ringport serve <dir> <args>` and waits for the URL it prints.
    pub fn start_with(dir: &Path, args: &[&str]) -> Serve {
        Serve::spawn(ringport().arg("serve").arg(dir).args(args))
    }

    /// Starts a prepared `ringport serve` command and waits for the URL it prints.
    pub fn spawn(cmd: &mut Command) -> Serve {
        let mut child = start_retrying(cmd.stderr(Stdio::piped()), Command::spawn).unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let eof = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sink, done) = (stderr.clone(), eof.clone());
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let start = Instant::now();
        let addr = loop {
            let text = stderr.lock().unwrap().clone();
            // `http://ADDR/`, or `https://ADDR/` with `--tls-*`.
            if let Some(at) = text
                .find("http://")
                .or_else(|| text.find("https://").map(|a| a + 1))
            {
                let rest = &text[at + 7..];
                let end = rest.find('/').unwrap();
                break rest[..end].parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no address: {text}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        Serve {
            child,
            addr,
            stderr,
            eof,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle` (the log is written asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = self.stderr();
            if text.contains(needle) || start.elapsed() > Duration::from_secs(5) {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGINT and waits for the exit status (10 s at most).
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        self.signal("-INT");
        self.wait_exit(Duration::from_secs(10))
    }

    /// Sends a signal (`-INT`, `-TERM`) without waiting.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(ok.success());
    }

    /// The exit status, waited for up to `limit` (a panic after that).
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader catch up with what it wrote before it exited.
                let caught_up = Instant::now() + Duration::from_secs(2);
                while !self.eof.load(std::sync::atomic::Ordering::SeqCst)
                    && Instant::now() < caught_up
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                return status;
            }
            assert!(start.elapsed() < limit, "still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the real `curl` with a 10 s limit.
pub fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is installed")
}

/// curl's stdout as text, after checking it succeeded.
pub fn curl_text(args: &[&str]) -> String {
    let out = curl(args);
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The status code curl got.
pub fn status(args: &[&str]) -> u16 {
    let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    curl_text(&all).parse().unwrap()
}

/// Sends `request` as it is and returns the whole answer (until the server closes).
pub fn raw_request(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Sends `GET path` on a kept-alive connection and reads until the answer ends with `body`;
/// panics on an early close or a status other than 200. `what` names the request in messages.
pub fn get_kept_alive(c: &mut TcpStream, path: &str, body: &[u8], what: &str) {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(body) {
        let n = c.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "{what}: closed after {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{what}: {}",
        String::from_utf8_lossy(&got)
    );
}

/// Sends one raw request (with `Connection: close`) and returns the whole answer as text.
pub fn raw(addr: SocketAddr, request_line: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("{request_line}\r\nHost: t\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
