//! `ringport serve --threads N`: one loop per thread, each with its own `SO_REUSEPORT`
//! listener; every loop answers, all of them stop on one Ctrl-C or SIGTERM, and bad values
//! are a one-line usage error. Run on each backend (`RINGPORT_BACKEND` is inherited).
// Unix only: SO_REUSEPORT, and the stops are signals. Windows (acceptor mode): cli_windows.rs.
#![cfg(unix)]

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;
use util::{ringport, Serve};

fn root() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello, loops").unwrap();
    (tmp, root)
}

/// One request on a connection of its own (a new source port each: the kernel's reuseport
/// hash picks the loop per connection).
fn get(s: &Serve) -> String {
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

/// `served N responses: a on loop 0, b on loop 1`, as numbers.
fn served(log: &str) -> (u64, Vec<u64>) {
    let line = log
        .lines()
        .find(|l| l.starts_with("ringport: served "))
        .unwrap_or_else(|| panic!("no served line in {log}"));
    let total = line["ringport: served ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let per = line
        .split(": ")
        .nth(2)
        .unwrap()
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    (total, per)
}

#[test]
fn two_loops_answer_every_connection_and_both_serve() {
    let (_tmp, root) = root();
    let mut s = Serve::start(&root, &["--threads", "2", "--quiet"]);
    assert!(
        s.stderr().contains(" from 2 loops on http://"),
        "{}",
        s.stderr()
    );
    const N: u64 = 200;
    for i in 0..N {
        let reply = get(&s);
        assert!(reply.starts_with("HTTP/1.1 200"), "request {i}: {reply}");
        assert!(reply.ends_with("hello, loops"), "request {i}: {reply}");
    }
    assert!(s.interrupt().success(), "{}", s.stderr());
    let (total, per) = served(&s.stderr());
    assert_eq!(total, N, "{}", s.stderr());
    assert_eq!(per.len(), 2);
    assert_eq!(per.iter().sum::<u64>(), N);
    // The kernel hashes each 4-tuple: 200 connections all on one loop is p = 2^-199.
    assert!(per.iter().all(|&n| n > 0), "a loop served nothing: {per:?}");
}

#[test]
fn sigterm_stops_every_loop() {
    let (_tmp, root) = root();
    let mut s = Serve::start(&root, &["--threads", "3"]);
    for _ in 0..30 {
        assert!(get(&s).starts_with("HTTP/1.1 200"));
    }
    s.signal("-TERM");
    let status = s.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}: {}", s.stderr());
    let log = s.stderr();
    assert!(log.contains("ringport: shutting down"), "{log}");
    let (total, per) = served(&log);
    assert_eq!((total, per.len()), (30, 3), "{log}");
    // The access log of every loop reached stderr.
    assert_eq!(
        log.matches("\"GET /hello.txt HTTP/1.1\" 200").count(),
        30,
        "{log}"
    );
}

#[test]
fn a_stalled_response_on_any_loop_holds_shutdown_and_a_second_signal_ends_it() {
    let (_tmp, root) = root();
    std::fs::write(root.join("big.bin"), vec![7u8; 64 << 20]).unwrap();
    let mut s = Serve::start(&root, &["--threads", "2", "--quiet"]);
    // Downloads that nobody reads: their responses stay in flight on whichever loop has them.
    let stalled: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    s.signal("-INT");
    let log = s.wait_for_log("waiting up to");
    assert!(log.contains("waiting up to"), "{log}");
    // Still running: the graceful stop waits for the stalled responses.
    std::thread::sleep(Duration::from_millis(300));
    assert!(s.child.try_wait().unwrap().is_none(), "{log}");
    s.signal("-INT");
    let status = s.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(s.stderr().contains("stopped at once"), "{}", s.stderr());
    drop(stalled);
}

#[test]
fn bad_thread_counts_are_one_line_usage_errors() {
    let (_tmp, root) = root();
    for (value, needle) in [
        ("0", "0 loops cannot serve"),
        ("two", "is not a number of threads"),
        // clap reads a leading dash as a flag.
        ("-1", "unexpected argument '-1'"),
        ("5000", "too many"),
    ] {
        let out = ringport()
            .arg("serve")
            .arg(&root)
            .args(["--addr", "127.0.0.1:0", "--threads", value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {err}");
        assert!(err.contains(needle), "{value}: {err}");
        // One line says what is wrong (clap adds its usual "For more information" hint).
        let first = err.lines().next().unwrap();
        assert!(first.starts_with("error: "), "{value}: {err}");
        assert!(
            first.contains(needle) || first.contains("--threads"),
            "{value}: {err}"
        );
    }
}

#[test]
fn a_port_another_server_listens_on_is_refused() {
    let (_tmp, root) = root();
    // A listener of this user with SO_REUSEPORT would let the port be shared silently.
    let s = Serve::start(&root, &["--threads", "2"]);
    let out = ringport()
        .arg("serve")
        .arg(&root)
        .args(["--addr", &s.addr.to_string(), "--threads", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot listen on"), "{err}");
}

/// `--accept acceptor`: loop 0 alone listens and hands each connection to the loop with the
/// fewest open ones. Ten kept-alive connections held open at once are split five and five
/// (what `SO_REUSEPORT`'s hash does not promise), each answered on its loop; the served line
/// counts them; a Ctrl-C stops both loops and the port closes.
#[test]
fn the_acceptor_spreads_open_connections_evenly() {
    let (_tmp, root) = root();
    let mut s = Serve::start(
        &root,
        &["--threads", "2", "--accept", "acceptor", "--quiet"],
    );
    let mut held = Vec::new();
    for i in 0..10 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        util::get_kept_alive(
            &mut c,
            "/hello.txt",
            b"hello, loops",
            &format!("connection {i}"),
        );
        held.push(c);
    }
    drop(held);
    assert!(s.interrupt().success(), "{}", s.stderr());
    let (total, per) = served(&s.stderr());
    assert_eq!(total, 10, "{}", s.stderr());
    assert_eq!(
        per,
        vec![5, 5],
        "the ten held connections were not split five and five"
    );
    assert!(TcpStream::connect(s.addr).is_err(), "still listening");
}

#[test]
fn a_bad_accept_mode_is_a_usage_error() {
    let (_tmp, root) = root();
    let out = ringport()
        .arg("serve")
        .arg(&root)
        .args(["--addr", "127.0.0.1:0", "--accept", "hash"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("reuseport") && err.contains("acceptor"),
        "{err}"
    );
}
