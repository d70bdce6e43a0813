//! A request-response connection costs no failed receive per message: after a receive has
//! drained the socket, the next one waits for data rather than trying first (the poll
//! backend tracks readiness; io_uring receives in the kernel, which arms its own poll).
//! The loop thread runs under `strace`, which counts the receives that found nothing.

#![cfg(target_os = "linux")] // strace

mod util;

use ringport::buf::BufResult;
use ringport::net::TcpStream;
use std::io::{Read, Write};
use std::process::Command;

const ROUNDS: usize = 300;

/// The workload, run by the test below in a child process under strace.
#[test]
#[ignore = "run under strace by a_drained_socket_is_not_tried_again_before_data_comes"]
fn strace_child_request_response() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 8];
        for _ in 0..ROUNDS {
            s.read_exact(&mut buf).unwrap();
            // Answer a little later, so that every receive of the client would otherwise find
            // an empty socket.
            std::thread::sleep(std::time::Duration::from_micros(200));
            s.write_all(&buf).unwrap();
        }
    });
    util::run(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        // SAFETY: getppid has no preconditions; it marks the start of the traced section.
        unsafe { libc::getppid() };
        let mut buf: Vec<u8> = Vec::with_capacity(64);
        for i in 0..ROUNDS as u64 {
            let BufResult(res, _) = stream.write_all(i.to_le_bytes().to_vec()).await;
            res.unwrap();
            // A receive may return part of the answer (the fault layer cuts some): read on
            // until all eight bytes are here.
            let mut answer = Vec::new();
            while answer.len() < 8 {
                buf.clear();
                let BufResult(res, back) = stream.read(buf).await;
                assert!(
                    res.unwrap() > 0,
                    "the peer closed after {} bytes",
                    answer.len()
                );
                answer.extend_from_slice(&back);
                buf = back;
            }
            assert_eq!(answer, i.to_le_bytes());
        }
        // SAFETY: as above; marks the end.
        unsafe { libc::getppid() };
    });
    peer.join().unwrap();
}

#[test]
fn a_drained_socket_is_not_tried_again_before_data_comes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&log)
        .args(["-e", "trace=getppid,recvfrom,recvmsg,read,readv"])
        .arg(&exe)
        .args([
            "--ignored",
            "--exact",
            "strace_child_request_response",
            "--nocapture",
        ])
        .status()
        .expect("strace must be installed (.ci/run installs it)");
    assert!(status.success(), "the traced workload failed");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<(u32, &str, &str)> = text.lines().filter_map(util::strace::parse).collect();
    let markers: Vec<_> = lines.iter().filter(|l| l.1 == "getppid").collect();
    assert_eq!(markers.len(), 2, "expected two markers in:\n{text}");
    let loop_tid = markers[0].0;
    let mut inside = false;
    let (mut receives, mut empty) = (0, 0);
    for &(tid, name, line) in &lines {
        if tid != loop_tid {
            continue;
        }
        if name == "getppid" {
            inside = !inside;
        } else if inside {
            receives += 1;
            if line.contains("EAGAIN") {
                empty += 1;
            }
        }
    }
    assert!(
        empty * 10 < ROUNDS,
        "{empty} of {receives} receives on the loop thread found the socket empty, for \
         {ROUNDS} round trips"
    );
}

/// Data and the peer's close reported in one event, then a short read: the end of stream
/// brings no later edge, so the next read must still try and find it (it waited forever
/// before: a pipe copy hung on the poll backend).
#[test]
fn the_end_of_stream_after_a_short_read_is_seen() {
    use std::time::Duration;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        go_rx.recv().unwrap();
        // Late enough that the first read is already waiting on the registered fd.
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b"first").unwrap();
        go_rx.recv().unwrap();
        s.write_all(b"second").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        sent_tx.send(()).unwrap();
    });
    util::run(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let limit = Duration::from_secs(5);
        // The first read waits (the fd is registered), then comes back short.
        let read = stream.read(Vec::with_capacity(64));
        go_tx.send(()).unwrap();
        let BufResult(res, buf) = ringport::time::timeout(limit, read).await.expect("first");
        assert_eq!((res.unwrap(), &buf[..]), (5, &b"first"[..]));
        // Data and FIN arrive while the loop is busy: one event carries both.
        go_tx.send(()).unwrap();
        sent_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let read = stream.read(Vec::with_capacity(64));
        let BufResult(res, buf) = ringport::time::timeout(limit, read).await.expect("second");
        assert_eq!((res.unwrap(), &buf[..]), (6, &b"second"[..]));
        let read = stream.read(Vec::with_capacity(64));
        let BufResult(res, _) = ringport::time::timeout(limit, read)
            .await
            .expect("the end of stream was never reported");
        assert_eq!(res.unwrap(), 0);
    });
    peer.join().unwrap();
}
