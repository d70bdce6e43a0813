//! Pipes, standard streams and terminals.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

mod util;

use ringport::buf::BufResult;
use ringport::stdio::Tty;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

#[test]
fn pipe_ping_pong() {
    util::run(async {
        let (to_b, from_a) = ringport::pipe::pipe().unwrap();
        let (to_a, from_b) = ringport::pipe::pipe().unwrap();
        let b = ringport::spawn(async move {
            for _ in 0..500 {
                let (res, buf) = from_a.read_exact(vec![0u8; 5]).await.into_parts();
                res.unwrap();
                assert_eq!(buf, b"PING\n");
                to_a.write_all(b"PONG\n".as_slice()).await.0.unwrap();
            }
        });
        for _ in 0..500 {
            to_b.write_all(b"PING\n".as_slice()).await.0.unwrap();
            let (res, buf) = from_b.read_exact(vec![0u8; 5]).await.into_parts();
            res.unwrap();
            assert_eq!(buf, b"PONG\n");
        }
        b.await.unwrap();
        drop(to_b);
    });
}

#[test]
fn a_pipe_reports_eof_when_the_writer_is_gone_and_epipe_when_the_reader_is() {
    util::run(async {
        let (tx, rx) = ringport::pipe::pipe().unwrap();
        tx.write(b"last".as_slice()).await.0.unwrap();
        drop(tx);
        let (res, got) = rx.read_to_end(Vec::new()).await.into_parts();
        res.unwrap();
        assert_eq!(got, b"last");

        let (tx, rx) = ringport::pipe::pipe().unwrap();
        drop(rx);
        // Dropping queues an asynchronous close (a CLOSE on the ring, or a pool call): writes
        // succeed until it lands, then fail with EPIPE.
        let mut err = None;
        for _ in 0..1000 {
            match tx.write(b"x".as_slice()).await.0 {
                Ok(_) => ringport::time::sleep(std::time::Duration::from_millis(1)).await,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let err = err.expect("the write end saw the reader go");
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
    });
}

fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut leader, mut follower) = (0, 0);
    // SAFETY: openpty writes two fds; null name, termios and winsize are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut leader,
            &mut follower,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are fresh and owned here.
    unsafe { (OwnedFd::from_raw_fd(leader), OwnedFd::from_raw_fd(follower)) }
}

#[test]
fn a_pty_in_raw_mode_reads_64k_sent_in_small_pieces() {
    let (leader, follower) = openpty();
    let mut leader = std::fs::File::from(leader);
    util::run(async move {
        let tty = Tty::from_fd(follower).unwrap();
        tty.set_raw_mode(true).unwrap();
        assert!(tty.is_raw());
        // Every byte value, including ^C, ^D and CR, arrives untouched in raw mode.
        let data: Vec<u8> = (0..65536u32).map(|i| (i % 256) as u8).collect();
        let expected = data.clone();
        let writer = std::thread::spawn(move || {
            for piece in data.chunks(100) {
                leader.write_all(piece).unwrap();
            }
            leader
        });
        let mut got = Vec::with_capacity(65536);
        while got.len() < 65536 {
            let BufResult(res, buf) = tty.read(vec![0u8; 4096]).await;
            let n = res.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        let mut leader = writer.join().unwrap();
        assert!(got == expected, "the bytes differ");
        // Writing to the terminal reaches the leader side.
        tty.write(b"out".as_slice()).await.0.unwrap();
        let mut back = [0u8; 3];
        leader.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"out");
        tty.set_raw_mode(false).unwrap();
        assert!(!tty.is_raw());
    });
}

#[test]
fn a_tty_reports_its_window_size() {
    let (leader, follower) = openpty();
    let ws = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&leader);
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    assert_eq!(rc, 0);
    util::run(async move {
        let tty = Tty::from_fd(follower).unwrap();
        assert_eq!(tty.window_size().unwrap(), (120, 40));
    });
}

#[test]
fn a_non_tty_gets_a_clear_error() {
    let (r, _w) = util::pipe();
    let err = Tty::from_fd(r).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("not a terminal"), "{err}");
}

/// Child side of the stdio test: echo stdin to stdout and stderr through ringport.
#[test]
#[ignore = "run as a child by stdin_and_stdout_are_async_streams"]
fn stdio_child() {
    util::run(async {
        let input = ringport::stdio::stdin();
        let (res, data) = input.read_to_end(Vec::new()).await.into_parts();
        res.unwrap();
        let out = ringport::stdio::stdout();
        out.write_all(b"OUT:".as_slice()).await.0.unwrap();
        out.write_all(data).await.0.unwrap();
        ringport::stdio::stderr()
            .write(b"ERR".as_slice())
            .await
            .0
            .unwrap();
    });
}

#[test]
fn stdin_and_stdout_are_async_streams() {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "stdio_child",
            "--quiet",
            "--test-threads=1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&vec![b'z'; 100_000])
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let start = stdout.find("OUT:").expect("OUT: marker");
    let zs = stdout[start + 4..]
        .bytes()
        .take_while(|&b| b == b'z')
        .count();
    assert_eq!(zs, 100_000);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERR"));
}
