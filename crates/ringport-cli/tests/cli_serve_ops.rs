//! `ringport serve` as an operator sees it: the access log's byte counts and its combined
//! format, the shutdown messages and the second Ctrl-C, a stuck reader of stderr, and
//! running out of file descriptors (503 with `Retry-After`, one warning).
// Unix only (`kill`, signals and rlimits); the Windows side of the CLI is tested in cli_windows.rs.
#![cfg(unix)]

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::{curl_text, ringport, Serve};

fn root_with(files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    for (name, data) in files {
        std::fs::write(root.join(name), data).unwrap();
    }
    (tmp, root)
}

/// The log line of a request for `path`, once it is there.
fn log_line(s: &Serve, path: &str) -> String {
    let needle = format!("\"GET {path} HTTP/1.1\"");
    let log = s.wait_for_log(&needle);
    log.lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no line for {path} in {log}"))
        .to_string()
}

#[test]
fn the_log_counts_the_bytes_that_went_out() {
    let big: Vec<u8> = (0..20_000_000u32).map(|i| i as u8).collect();
    let (_tmp, root) = root_with(&[("big.bin", big), ("small.txt", b"twelve bytes".to_vec())]);
    let s = Serve::start(&root, &[]);
    curl_text(&[&s.url("/small.txt")]);
    let line = log_line(&s, "/small.txt");
    assert!(line.contains("\" 200 12 "), "{line}");
    // A download cut short: the head and part of the body read, then the client leaves.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = vec![0u8; 256 * 1024];
    c.read_exact(&mut got).unwrap();
    drop(c);
    let line = log_line(&s, "/big.bin");
    let bytes: u64 = line
        .split("\" 200 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        bytes > 0 && bytes < 20_000_000,
        "cut short after {bytes} bytes: {line}"
    );
    // A request refused by the server itself (no Host: 400) counts its error body too.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /x HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(!body.is_empty(), "{answer}");
    let log = s.wait_for_log(" 400 ");
    let line = log.lines().find(|l| l.contains(" 400 ")).unwrap();
    let logged = line.split(" 400 ").nth(1).and_then(|r| r.split(' ').next());
    assert_eq!(logged, Some(body.len().to_string().as_str()), "{line}");
}

#[test]
fn combined_log_format() {
    let (_tmp, root) = root_with(&[("a.txt", b"abc".to_vec())]);
    let s = Serve::start(&root, &["--log-format", "combined"]);
    curl_text(&[
        "-H",
        "Referer: https://example.com/page",
        "-A",
        "tester/1.0 \"quoted\"",
        &s.url("/a.txt"),
    ]);
    let line = log_line(&s, "/a.txt");
    // 127.0.0.1 - - [22/Nov/2026:00:56:00 +0000] "GET /a.txt HTTP/1.1" 200 3 "ref" "ua"
    let (host, rest) = line.split_once(" - - [").unwrap();
    assert_eq!(host, "127.0.0.1", "{line}");
    let (date, rest) = rest.split_once("] ").unwrap();
    assert_eq!(date.len(), 26, "{date}");
    assert!(
        date.ends_with(" +0000") && date.as_bytes()[2] == b'/',
        "{date}"
    );
    assert_eq!(
        rest,
        "\"GET /a.txt HTTP/1.1\" 200 3 \"https://example.com/page\" \"tester/1.0 \\\"quoted\\\"\""
    );
    curl_text(&[&s.url("/a.txt?no-headers")]);
    let line = log_line(&s, "/a.txt?no-headers");
    assert!(
        line.ends_with("200 3 \"-\" \"curl/") || line.contains(" \"-\" \"curl/"),
        "{line}"
    );
}

/// Opens a connection, asks for `path`, and reads nothing: the response stays in flight.
fn stalled_download(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    // A small receive window keeps the server's send blocked.
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    c.write_all(req.as_bytes()).unwrap();
    c
}

#[test]
fn shutdown_says_what_it_waits_for_and_a_second_ctrl_c_stops_at_once() {
    let big = vec![1u8; 64 << 20];
    let (_tmp, root) = root_with(&[("big.bin", big)]);
    let mut s = Serve::start(&root, &["--quiet"]);
    let _stalled = stalled_download(s.addr, "/big.bin");
    std::thread::sleep(Duration::from_millis(300));
    s.signal("-INT");
    let log = s.wait_for_log("press Ctrl-C again");
    assert!(
        log.contains("ringport: shutting down: waiting up to 30 s for 1 response; press Ctrl-C again to stop now"),
        "{log}"
    );
    // Still waiting for the stalled response...
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.child.try_wait().unwrap().is_none(), "it did not wait");
    // ...until the second Ctrl-C.
    let start = Instant::now();
    s.signal("-INT");
    let status = s.wait_exit(Duration::from_secs(3));
    assert!(status.success(), "{status:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(s.stderr().contains("stopped at once"), "{}", s.stderr());

    // With nothing in flight it just stops.
    let (_tmp2, root2) = root_with(&[("a.txt", b"a".to_vec())]);
    let mut idle = Serve::start(&root2, &["--quiet"]);
    curl_text(&[&idle.url("/a.txt")]);
    assert!(idle.interrupt().success());
    // The reader of its stderr may lag behind the exit for a moment.
    let log = idle.wait_for_log("ringport: shutting down");
    assert!(log.contains("ringport: shutting down\n"), "{log}");
}

#[test]
fn a_stuck_stderr_reader_does_not_hold_shutdown_up() {
    let (_tmp, root) = root_with(&[("a.txt", b"a".to_vec())]);
    // stderr is a pipe nobody reads: once it is full, every write to it would block.
    let mut child = ringport()
        .arg("serve")
        .arg(&root)
        .args(["--addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut first = [0u8; 512];
    let n = stderr.read(&mut first).unwrap();
    let text = String::from_utf8_lossy(&first[..n]).to_string();
    let at = text.find("http://").unwrap() + 7;
    let addr: std::net::SocketAddr = text[at..].split('/').next().unwrap().parse().unwrap();
    // 3,000 log lines: far more than the pipe holds.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n".repeat(3000);
    c.write_all(&req).unwrap();
    let mut seen = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while seen < 3000 {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0);
        seen += buf[..n].windows(8).filter(|w| w == b"HTTP/1.1").count();
    }
    let start = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let give_up = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < give_up,
            "still running with a stuck stderr"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?} to stop",
        start.elapsed()
    );
}

#[test]
fn out_of_file_descriptors_is_503_with_retry_after() {
    let (_tmp, root) = root_with(&[("a.txt", b"a".to_vec()), ("b.txt", b"b".to_vec())]);
    let mut cmd = ringport();
    cmd.arg("serve")
        .arg(&root)
        .args(["--addr", "127.0.0.1:0", "--quiet"]);
    // SAFETY: setrlimit in the child before exec: async-signal-safe, no allocation.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let s = Serve::spawn(&mut cmd);
    // Idle connections until the server has no fd left (it stops accepting; the rest wait
    // in the backlog).
    let mut conns = Vec::new();
    for _ in 0..80 {
        conns.push(TcpStream::connect(s.addr).unwrap());
    }
    std::thread::sleep(Duration::from_millis(300));
    // On the first connection (accepted), a file that is not open yet.
    let c = &mut conns[0];
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /b.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1\r\n"),
        "{text}"
    );
    let log = s.wait_for_log("out of file descriptors");
    let warnings = log.matches("out of file descriptors").count();
    assert_eq!(warnings, 1, "{log}");
    // Once fds are free again, it serves.
    drop(conns);
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let out = util::curl(&["-s", &s.url("/b.txt")]);
        if out.stdout == b"b" {
            break;
        }
        assert!(Instant::now() < give_up, "does not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
}
