//! TCP scenarios after libuv's suite: ping-pong, write a lot, shutdown, refused and cancelled
//! connects, RST with writes pending, multishot accept, split halves, zero-copy send_file.

mod util;

use ringport::buf::{BufResult, IoBuf};
use ringport::net::{Shutdown, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A server that echoes every connection until EOF, then shuts down its writing side.
fn spawn_echo(listener: TcpListener) {
    ringport::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            ringport::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let BufResult(res, b) = stream.read(buf).await;
                    let n = match res {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let BufResult(res, b) = stream.write_all(b.slice(..n)).await;
                    buf = b.into_inner();
                    if res.is_err() {
                        return;
                    }
                }
                let _ = stream.shutdown(Shutdown::Write).await;
            });
        }
    });
}

fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    spawn_echo(listener);
    addr
}

#[test]
fn ping_pong_a_thousand_times_whole_and_byte_by_byte() {
    util::run(async {
        let addr = echo_server();
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        for i in 0..1000 {
            let one_by_one = i % 2 == 1;
            if one_by_one {
                for &b in b"PING\n" {
                    stream.write_all(vec![b]).await.0.unwrap();
                }
            } else {
                stream.write_all(b"PING\n".as_slice()).await.0.unwrap();
            }
            // Framing survives partial reads: collect until the newline.
            let mut got = Vec::new();
            while !got.ends_with(b"\n") {
                let BufResult(res, buf) = stream.read(Vec::with_capacity(16)).await;
                assert!(res.unwrap() > 0, "EOF in the middle of a frame");
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, b"PING\n");
        }
    });
}

#[test]
fn write_a_lot_then_shutdown_gets_every_byte_back_then_eof() {
    util::run(async {
        let addr = echo_server();
        let stream = Rc::new(TcpStream::connect(addr).await.unwrap());
        // A buffer that is a whole number of pattern periods, written whole each time, keeps
        // byte k of the stream equal to k % 251.
        const CHUNK: usize = 251 * 1024;
        const TOTAL: usize = CHUNK * 410; // a bit over 100 MiB
        let writer = {
            let stream = stream.clone();
            ringport::spawn(async move {
                let mut buf: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
                for _ in 0..TOTAL / CHUNK {
                    let BufResult(res, b) = stream.write_all_ref(buf).await;
                    res.unwrap();
                    buf = b;
                }
                stream.shutdown(Shutdown::Write).await.unwrap();
                TOTAL
            })
        };
        let mut received = 0usize;
        let mut mismatches = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let BufResult(res, b) = stream.read(buf).await;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            mismatches += b[..n]
                .iter()
                .enumerate()
                .filter(|&(i, &x)| x != ((received + i) % 251) as u8)
                .count();
            received += n;
            buf = b;
        }
        let sent = writer.await.unwrap();
        assert_eq!(sent, TOTAL);
        assert_eq!(received, TOTAL, "bytes out equal bytes in");
        assert_eq!(mismatches, 0, "the bytes came back in order");
        // EOF is sticky.
        assert_eq!(stream.read(vec![0u8; 8]).await.0.unwrap(), 0);
    });
}

/// `write_all` through `&TcpStream` (the trait takes `&mut`, the stream is shared here).
trait WriteAllRef {
    async fn write_all_ref(&self, buf: Vec<u8>) -> BufResult<(), Vec<u8>>;
}

impl WriteAllRef for TcpStream {
    async fn write_all_ref(&self, mut buf: Vec<u8>) -> BufResult<(), Vec<u8>> {
        let total = buf.len();
        let mut done = 0;
        while done < total {
            let BufResult(res, slice) = self.write(buf.slice(done..)).await;
            buf = slice.into_inner();
            match res {
                Ok(n) => done += n,
                Err(e) => return BufResult(Err(e), buf),
            }
        }
        BufResult(Ok(()), buf)
    }
}

#[test]
fn after_shutdown_write_the_peer_reads_all_then_eof_and_we_still_read() {
    util::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringport::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let s = s;
            let (res, got) = s.read_to_end(Vec::new()).await.into_parts();
            res.unwrap();
            // Our read side ended; we can still write back.
            s.write_all(b"reply".as_slice()).await.0.unwrap();
            got
        });
        let client = TcpStream::connect(addr).await.unwrap();
        client.write_all(vec![7u8; 100_000]).await.0.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        let err = client.shutdown(Shutdown::Write).await.unwrap_err();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::NotConnected,
            "a second shutdown fails"
        );
        let (res, reply) = client.read_exact(vec![0u8; 5]).await.into_parts();
        res.unwrap();
        assert_eq!(reply, b"reply", "reading still works after shutdown(Write)");
        let got = server.await.unwrap();
        assert_eq!(got.len(), 100_000);
        assert!(got.iter().all(|&b| b == 7));
    });
}

#[test]
fn writing_after_the_peer_closed_is_epipe_or_reset() {
    util::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        drop(server);
        ringport::time::sleep(Duration::from_millis(20)).await;
        let mut last = None;
        for _ in 0..100 {
            match client.write(vec![1u8; 65536]).await.0 {
                Ok(_) => continue,
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        let err = last.expect("writes to a closed peer fail");
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "got {err}"
        );
    });
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    util::run(async {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let start = Instant::now();
        let err = TcpStream::connect(("127.0.0.1", port)).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn connecting_by_host_name_resolves_off_the_loop() {
    util::run(async {
        let addr = echo_server();
        let stream = TcpStream::connect(format!("localhost:{}", addr.port()))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), addr.port());
        let err = TcpListener::bind("example.invalid:80").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn close_with_rst_while_writes_are_pending_completes_every_write_once() {
    util::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = Rc::new(TcpStream::connect(addr).await.unwrap());
        let (server, _) = listener.accept().await.unwrap();
        // The server never reads, so the client's writes fill the buffers and wait.
        let writers: Vec<_> = (0..20)
            .map(|_| {
                let c = client.clone();
                ringport::spawn(async move { c.write_all_ref(vec![3u8; 1 << 20]).await.0 })
            })
            .collect();
        ringport::time::sleep(Duration::from_millis(50)).await;
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server); // RST
        let mut errors = 0;
        for w in writers {
            // Each write finishes exactly once: an Ok (it fit before the reset) or an error.
            if w.await.unwrap().is_err() {
                errors += 1;
            }
        }
        assert!(errors > 0, "the reset failed no write");
    });
}

#[test]
fn multishot_accept_takes_many_connections() {
    util::run(async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let l = listener.clone();
        let acceptor = ringport::spawn(async move {
            let mut incoming = l.incoming();
            let mut peers = Vec::new();
            for _ in 0..50 {
                let s = incoming.next().await.unwrap();
                peers.push(s.peer_addr().unwrap().port());
            }
            peers
        });
        let mut clients = Vec::new();
        for _ in 0..50 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut peers = acceptor.await.unwrap();
        let mut ports: Vec<u16> = clients
            .iter()
            .map(|c| c.local_addr().unwrap().port())
            .collect();
        peers.sort();
        ports.sort();
        assert_eq!(peers, ports);
    });
}

#[test]
fn split_halves_read_and_write_from_two_tasks() {
    util::run(async {
        let addr = echo_server();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (rd, wr) = stream.into_split();
        let writer = ringport::spawn(async move {
            for i in 0..100u8 {
                wr.write_all(vec![i; 1000]).await.0.unwrap();
            }
            wr.shutdown_write().await.unwrap();
        });
        let (res, all) = rd.read_to_end(Vec::new()).await.into_parts();
        res.unwrap();
        writer.await.unwrap();
        assert_eq!(all.len(), 100_000);
        for (i, chunk) in all.chunks(1000).enumerate() {
            assert!(chunk.iter().all(|&b| b == i as u8));
        }
    });
}

#[test]
fn socket_options_and_addresses() {
    util::run(async {
        let addr = echo_server();
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        s.set_nodelay(false).unwrap();
        assert!(!s.nodelay().unwrap());
        s.set_keepalive(true).unwrap();
        s.set_linger(Some(Duration::from_secs(1))).unwrap();
        assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(s.peer_addr().unwrap(), addr);
        assert!(s.local_addr().unwrap().ip().is_loopback());
    });
}

#[test]
fn send_file_moves_a_file_region_to_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 13 % 256) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    util::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = ringport::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            s.read_to_end(Vec::new()).await.into_parts()
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let file = ringport::fs::File::open(&path).await.unwrap();
        let sent = client.send_file(&file, 1000, 2_000_000).await.unwrap();
        assert_eq!(sent, 2_000_000);
        // Past the end: only what the file has.
        let sent = client.send_file(&file, 2_999_000, 5000).await.unwrap();
        assert_eq!(sent, 1000);
        client.shutdown(Shutdown::Write).await.unwrap();
        let (res, got) = reader.await.unwrap();
        res.unwrap();
        let mut expected = data[1000..2_001_000].to_vec();
        expected.extend_from_slice(&data[2_999_000..]);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "spliced bytes differ");
    });
}

/// The pipes of this process (`pipe:[…]` in /proc/self/fd), both ends counted.
#[cfg(target_os = "linux")]
fn pipe_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| t.to_string_lossy().starts_with("pipe:"))
        .count()
}

#[cfg(target_os = "linux")] // the splice pipe pool (Windows sends files with TransmitFile)
#[test]
fn many_send_files_share_a_few_pipes() {
    // In a child process of its own: the other tests' pipes would blur the count.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "send_files_child", "--nocapture"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("SEND-FILES-CHILD-OK"),
        "child failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(target_os = "linux")]
#[test]
#[ignore = "run in a child process by many_send_files_share_a_few_pipes"]
fn send_files_child() {
    const STREAMS: usize = 40;
    const LEN: usize = 2 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src");
    let data: Vec<u8> = (0..LEN as u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let before = pipe_fds();
    let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (most, done) = (most.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most.fetch_max(pipe_fds(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    util::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let file = std::rc::Rc::new(ringport::fs::File::open(&path).await.unwrap());
        let mut readers = Vec::new();
        let mut senders = Vec::new();
        for _ in 0..STREAMS {
            let client = TcpStream::connect(addr).await.unwrap();
            let (s, _) = listener.accept().await.unwrap();
            // Readers start late, so the senders' sockets fill up and they queue for pipes.
            readers.push(ringport::spawn(async move {
                ringport::time::sleep(Duration::from_millis(50)).await;
                s.read_to_end(Vec::new()).await.into_parts()
            }));
            let file = file.clone();
            senders.push(ringport::spawn(async move {
                let sent = client.send_file(&file, 0, LEN as u64).await.unwrap();
                client.shutdown(Shutdown::Write).await.unwrap();
                sent
            }));
        }
        for s in senders {
            assert_eq!(s.await.unwrap(), LEN as u64);
        }
        for r in readers {
            let (res, got) = r.await.unwrap();
            res.unwrap();
            assert!(got == data, "a stream's bytes differ");
        }
    });
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let most = most.load(std::sync::atomic::Ordering::Relaxed);
    // 16 pipes per loop thread, two fds each, plus what the process had before.
    assert!(
        most <= before + 32,
        "{most} pipe fds at once for {STREAMS} streams ({before} before)"
    );
    assert!(most > before, "send_file used no pipe at all");
    println!("SEND-FILES-CHILD-OK {most} pipe fds at most ({before} before)");
}
/// A peer's last bytes and its FIN arrive together while the loop is busy: the one hang-up
/// event comes before the short read that takes the bytes, and the read after it must still
/// see EOF. (Found by the fault layer: the poll backend took the short read as "drained" and
/// waited for an event that had already come, forever.)
#[test]
fn the_last_bytes_and_the_fin_together_end_in_eof() {
    use std::io::Write as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (sent, sent_wait) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"a").unwrap();
        wait.recv().unwrap();
        s.write_all(b"0123456789").unwrap();
        drop(s);
        sent.send(()).unwrap();
    });
    util::run(async move {
        let c = TcpStream::connect(addr).await.unwrap();
        // The first read waits for data (the fd gets registered), and drains the queue.
        let BufResult(res, buf) = c.read(Vec::with_capacity(64)).await;
        assert_eq!((res.unwrap(), &buf[..]), (1, &b"a"[..]));
        // Keep the loop busy while the rest and the FIN arrive.
        go.send(()).unwrap();
        sent_wait.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut got = Vec::new();
        let done = ringport::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let BufResult(res, buf) = c.read(Vec::with_capacity(64)).await;
                match res.unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(done.is_ok(), "the read after the last bytes never saw EOF");
        assert_eq!(got, b"0123456789");
    });
    peer.join().unwrap();
}

/// A listener dropped while an accept on it was in flight stops listening by the time
/// `block_on` returns, though the runtime lives on and no other turn comes: the accept's
/// cancel is handed to the kernel, its completion releases the fd, and the close goes out
/// (they used to wait for the next `block_on`, and a client's connect meanwhile sat in the
/// backlog; under the fault layer the completion is also held for a few turns).
#[test]
fn a_listener_dropped_with_an_accept_in_flight_is_closed_when_block_on_returns() {
    use std::future::Future;
    let rt = util::runtime();
    let addr = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accept = std::pin::pin!(listener.accept());
        // Poll once: the accept is submitted and waits for a client.
        std::future::poll_fn(|cx| {
            assert!(accept.as_mut().poll(cx).is_pending(), "nobody connected");
            std::task::Poll::Ready(())
        })
        .await;
        addr
    });
    // The listener and the accept future were dropped at the end of the block above.
    match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("{addr} still accepts connections after block_on returned"),
    }
    drop(rt);
}

/// A connected pair on loopback that has carried one short message each way, so that each
/// side's backend state for its fd is in use (registered, its queue seen drained).
async fn exchanged_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (b, _) = listener.accept().await.unwrap();
    for (from, to) in [(&a, &b), (&b, &a)] {
        from.write_all(b"hi".as_slice()).await.0.unwrap();
        let BufResult(n, _) = to.read(vec![0u8; 64]).await;
        assert_eq!(n.unwrap(), 2);
    }
    (a, b)
}

/// Sockets dropped after `block_on` returned, or inside another runtime's `block_on` on the
/// same thread, or turned into std sockets there and closed, are closed there and then, and
/// the kernel gives their numbers to the next sockets. Those must work in the runtime that used the old ones: the poll backend kept its
/// state per fd number (registered, queue drained) and IOCP the handles it had attached, and
/// both outlived such a close, so the next socket's reads waited for an event that never came.
#[test]
fn sockets_dropped_outside_their_runtime_leave_nothing_behind_for_the_next_ones() {
    let rt = util::runtime();
    let other = util::runtime();
    for round in 0..9 {
        let (a, b) = rt.block_on(exchanged_pair());
        match round % 3 {
            0 => drop((a, b)),
            1 => other.block_on(async move { drop((a, b)) }),
            // Handed out raw outside the runtime, then closed by std.
            _ => drop((a.into_std().unwrap(), b.into_std().unwrap())),
        }
        rt.block_on(async {
            let next = ringport::time::timeout(Duration::from_secs(5), exchanged_pair()).await;
            assert!(
                next.is_ok(),
                "round {round}: the next sockets were never woken"
            );
        });
    }
}
