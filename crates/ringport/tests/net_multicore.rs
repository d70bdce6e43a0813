//! Placing connections on the loops of a multi-loop runtime: a `SO_REUSEPORT` listener per
//! loop, and one acceptor handing connections to the least-loaded loop. Unix only: Windows
//! has no `SO_REUSEPORT`, and a socket stays on the completion port it was first bound to.
#![cfg(unix)]

mod util;

use ringport::net::{ListenOptions, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn runtime(threads: usize) -> ringport::Runtime {
    util::builder().threads(threads).build().expect("runtime")
}

fn reuse_port() -> ListenOptions {
    ListenOptions {
        reuse_port: true,
        ..ListenOptions::default()
    }
}

/// Every loop binds the same port with `SO_REUSEPORT`; the kernel spreads 64 connections
/// over them by their 4-tuple hash, so each listener gets some (a miss: p = 2^-63 per loop
/// pair, or a listener that never accepted).
#[test]
fn every_reuseport_listener_receives_connections() {
    let loops = 2;
    let conns = 64;
    let rt = runtime(loops);
    // Loop 0 picks the port; the others join it.
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = first.local_addr().unwrap().port();
    drop(first);
    let accepted: Arc<Vec<AtomicUsize>> =
        Arc::new((0..loops).map(|_| AtomicUsize::new(0)).collect());
    let bound = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let (a, b, t) = (accepted.clone(), bound.clone(), total.clone());
    let (cb, ct) = (bound.clone(), total.clone());
    let client = std::thread::spawn(move || {
        let (b, t) = (cb, ct);
        assert!(util::wait_until(Duration::from_secs(5), || b
            .load(Ordering::SeqCst)
            == loops));
        let mut held = Vec::new();
        for _ in 0..conns {
            held.push(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        }
        assert!(util::wait_until(Duration::from_secs(5), || t
            .load(Ordering::SeqCst)
            == conns));
        drop(held);
    });
    rt.block_on_all(move || {
        let (a, b, t) = (a.clone(), b.clone(), t.clone());
        async move {
            let l = TcpListener::bind_with(("127.0.0.1", port), reuse_port()).unwrap();
            b.fetch_add(1, Ordering::SeqCst);
            let me = ringport::current_core();
            let mut held = Vec::new();
            while t.load(Ordering::SeqCst) < conns {
                match ringport::time::timeout(Duration::from_millis(20), l.accept()).await {
                    Ok(Ok((s, _))) => {
                        held.push(s);
                        a[me].fetch_add(1, Ordering::SeqCst);
                        t.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Err(e)) => panic!("accept: {e}"),
                    Err(_) => {}
                }
            }
        }
    });
    client.join().unwrap();
    let per: Vec<usize> = accepted.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert_eq!(per.iter().sum::<usize>(), conns);
    assert!(
        per.iter().all(|&n| n > 0),
        "a listener got nothing: {per:?}"
    );
}

/// One acceptor on loop 0 hands each connection (as a std stream, which is `Send`) to the
/// least-loaded loop, where it is served until the client closes it. With every connection
/// alive, the live count per loop stays within 1 + 10 % of each other.
#[test]
fn the_acceptor_keeps_live_connections_balanced() {
    let loops = 4;
    let conns = 40;
    let rt = runtime(loops);
    let live: Arc<Vec<AtomicUsize>> = Arc::new((0..loops).map(|_| AtomicUsize::new(0)).collect());
    let echoed = Arc::new(AtomicUsize::new(0));
    let snapshot = Arc::new(Mutex::new(Vec::new()));
    let (l2, e2, s2) = (live.clone(), echoed.clone(), snapshot.clone());
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (l3, s3) = (l2.clone(), s2.clone());
        let client = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut held = Vec::new();
            for _ in 0..conns {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"x").unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).unwrap();
                held.push(s);
            }
            *s3.lock().unwrap() = l3.iter().map(|a| a.load(Ordering::SeqCst)).collect();
            drop(held);
        });
        for _ in 0..conns {
            let (stream, _) = listener.accept().await.unwrap();
            let std = stream.into_std().unwrap();
            let (live, echoed) = (l2.clone(), e2.clone());
            drop(ringport::spawn_balanced(move || async move {
                let me = ringport::current_core();
                live[me].fetch_add(1, Ordering::SeqCst);
                let s = TcpStream::from_std(std).unwrap();
                loop {
                    let ringport::buf::BufResult(n, buf) = s.read(vec![0u8; 16]).await;
                    match n {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let _ = s.write(buf[..n].to_vec()).await;
                            echoed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                live[me].fetch_sub(1, Ordering::SeqCst);
            }));
        }
        while !client.is_finished() {
            ringport::time::sleep(Duration::from_millis(2)).await;
        }
        client.join().unwrap();
    });
    let per = snapshot.lock().unwrap().clone();
    assert_eq!(per.iter().sum::<usize>(), conns, "{per:?}");
    let (min, max) = (*per.iter().min().unwrap(), *per.iter().max().unwrap());
    assert!(
        max as f64 <= 1.0 + 1.1 * min as f64,
        "live connections per loop out of balance: {per:?}"
    );
    assert_eq!(echoed.load(Ordering::SeqCst), conns);
}
