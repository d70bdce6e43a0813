//! Fixed files: an fd that keeps being used gets a slot in the ring's table of fixed files (its
//! operations then skip the kernel's file lookup), and the slot goes with the fd: a peer sees a
//! dropped socket close at once, a closed file is closed, wherever the drop happens.
//!
//! The ring lists its table in `/proc/self/fdinfo/<ring fd>` ("UserFiles:", then one line per
//! filled slot), which is how these tests see the slots. On the poll backend there is no table:
//! the closing behaviour is checked all the same.

#![cfg(target_os = "linux")] // io_uring's fixed files, read from /proc

mod util;

use ringport::buf::BufResult;
use ringport::io::{AsyncReadExt, AsyncWriteExt};
use ringport::net::TcpStream;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

/// What every filled fixed-file slot of every ring in this process holds ("socket:[123]", a
/// path).
fn registered() -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_ring = std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy() == "anon_inode:[io_uring]");
        if !is_ring {
            continue;
        }
        let info = std::fs::read_to_string(
            std::path::Path::new("/proc/self/fdinfo").join(entry.file_name()),
        )
        .unwrap_or_default();
        let mut in_table = false;
        for line in info.lines() {
            if line.starts_with("UserFiles:") {
                in_table = true;
                continue;
            }
            let slot = line
                .split_once(':')
                .filter(|(n, _)| in_table && n.trim().parse::<u32>().is_ok());
            match slot {
                Some((_, what)) => out.push(what.trim().to_string()),
                None => in_table = false,
            }
        }
    }
    out
}

/// How `/proc/self/fdinfo` names the open file behind `fd`.
fn name_of(fd: i32) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A peer thread that echoes until end of stream, then reports it.
fn echo_peer() -> (std::net::SocketAddr, mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(());
    });
    (addr, rx)
}

/// Enough echoed round trips that the stream's fd is registered.
async fn busy(stream: &mut TcpStream) {
    let mut buf = vec![0u8; 8];
    for i in 0..100u64 {
        let BufResult(res, back) = stream.write_all(i.to_le_bytes().to_vec()).await;
        res.unwrap();
        drop(back);
        let BufResult(res, back) = stream.read_exact(buf).await;
        res.unwrap();
        assert_eq!(back, i.to_le_bytes());
        buf = back;
    }
}

#[test]
fn a_busy_socket_gets_a_slot_and_a_dropped_one_closes_at_once() {
    let (addr, closed) = echo_peer();
    let uring = util::is_uring();
    util::run(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        busy(&mut stream).await;
        let name = name_of(stream.as_raw_fd());
        if uring {
            assert!(
                registered().contains(&name),
                "{name} not in {:?}",
                registered()
            );
        }
        drop(stream);
        // A turn or two for the close and the slot's release to reach the kernel.
        for _ in 0..3 {
            ringport::driver::nop().await.unwrap();
        }
        assert!(
            closed.recv_timeout(Duration::from_secs(5)).is_ok(),
            "the peer did not see the close"
        );
        assert!(!registered().contains(&name), "{name} still registered");
    });
}

#[test]
fn a_socket_dropped_outside_its_runtime_closes_at_once() {
    let (addr, closed) = echo_peer();
    let rt = util::runtime();
    let uring = rt.backend() == ringport::Backend::Uring;
    let stream = rt.block_on(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        busy(&mut stream).await;
        stream
    });
    let name = name_of(stream.as_raw_fd());
    if uring {
        assert!(registered().contains(&name));
    }
    // The runtime is alive but not running: nothing will enter its ring for a while.
    drop(stream);
    assert!(
        closed.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the peer did not see the close"
    );
    assert!(!registered().contains(&name), "{name} still registered");
    drop(rt);
}

#[test]
fn a_socket_registered_by_one_runtime_and_dropped_in_another_closes() {
    let (addr, closed) = echo_peer();
    let first = util::runtime();
    let mut stream = first.block_on(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        busy(&mut stream).await;
        stream
    });
    let name = name_of(stream.as_raw_fd());
    // A second runtime on the same thread uses it (by its plain fd) and drops it.
    let second = util::runtime();
    second.block_on(async move {
        busy(&mut stream).await;
        drop(stream);
        ringport::driver::nop().await.unwrap();
    });
    assert!(
        closed.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the peer did not see the close"
    );
    assert!(!registered().contains(&name), "{name} still registered");
    drop((first, second));
}

#[test]
fn a_busy_file_is_really_closed_by_close_and_by_drop() {
    let dir = tempfile::tempdir().unwrap();
    let uring = util::is_uring();
    for (i, by_close) in [(0, true), (1, false)] {
        let path = dir.path().join(format!("data-{i}"));
        std::fs::write(&path, vec![7u8; 4096]).unwrap();
        let name = path.to_string_lossy().into_owned();
        util::run(async {
            let file = ringport::fs::File::open(&path).await.unwrap();
            let mut buf = vec![0u8; 512];
            for _ in 0..100 {
                let BufResult(res, back) = file.read_at(buf, 0).await;
                assert_eq!(res.unwrap(), 512);
                buf = back;
            }
            if uring {
                assert!(
                    registered().contains(&name),
                    "{name} not in {:?}",
                    registered()
                );
            }
            let fd = file.as_raw_fd();
            if by_close {
                file.close().await.unwrap();
            } else {
                drop(file);
                ringport::driver::nop().await.unwrap();
            }
            ringport::driver::nop().await.unwrap();
            assert!(!registered().contains(&name), "{name} still registered");
            // The close itself may run on a pool thread (poll backend): give it a moment.
            let still_open =
                || std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|l| l == path);
            for _ in 0..400 {
                if !still_open() {
                    break;
                }
                ringport::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(!still_open(), "fd {fd} still names {name}");
        });
    }
}
