//! Placing connections on the loops of a multi-loop runtime: a `SO_REUSEPORT` listener per
//! loop (Unix: Windows has no `SO_REUSEPORT`), and one acceptor handing connections to the
//! least-loaded loop (every platform: on Windows an accepted socket that did no I/O yet is
//! attached to the port of the loop that adopts it).

mod util;

#[cfg(unix)]
use ringport::net::ListenOptions;
use ringport::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn runtime(threads: usize) -> ringport::Runtime {
    util::builder().threads(threads).build().expect("runtime")
}

#[cfg(unix)]
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
#[cfg(unix)]
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
    // Why connections ended on the server side before the client closed them (none should).
    let early: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    // Set once the client has its snapshot and closes its connections.
    let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (l2, e2, s2) = (live.clone(), echoed.clone(), snapshot.clone());
    let (early2, closing2) = (early.clone(), closing.clone());
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (l3, s3, closing3) = (l2.clone(), s2.clone(), closing2.clone());
        let client = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut held = Vec::new();
            for _ in 0..conns {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                // A lost echo fails the test instead of hanging it.
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.write_all(b"x").unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).expect("the echo of one byte");
                held.push(s);
            }
            *s3.lock().unwrap() = l3.iter().map(|a| a.load(Ordering::SeqCst)).collect();
            closing3.store(true, Ordering::SeqCst);
            drop(held);
        });
        for _ in 0..conns {
            let (stream, _) = listener.accept().await.unwrap();
            let std = stream.into_std().unwrap();
            let (live, echoed, early) = (l2.clone(), e2.clone(), early2.clone());
            let closing = closing2.clone();
            drop(ringport::spawn_balanced(move || async move {
                let me = ringport::current_core();
                live[me].fetch_add(1, Ordering::SeqCst);
                let s = TcpStream::from_std(std).unwrap();
                loop {
                    let ringport::buf::BufResult(n, buf) = s.read(vec![0u8; 16]).await;
                    match n {
                        Ok(0) => {
                            if !closing.load(Ordering::SeqCst) {
                                early.lock().unwrap().push("end of stream".into());
                            }
                            break;
                        }
                        Err(e) => {
                            early.lock().unwrap().push(format!("read: {e}"));
                            break;
                        }
                        Ok(n) => {
                            // Counted before the echo leaves: the client may have it (and the
                            // test may end) before this task runs again.
                            echoed.fetch_add(1, Ordering::SeqCst);
                            if let Err(e) = s.write(buf[..n].to_vec()).await.0 {
                                early.lock().unwrap().push(format!("write: {e}"));
                            }
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
    let early = early.lock().unwrap().clone();
    assert!(early.is_empty(), "connections ended early: {early:?}");
    assert_eq!(per.iter().sum::<usize>(), conns, "{per:?}");
    let (min, max) = (*per.iter().min().unwrap(), *per.iter().max().unwrap());
    assert!(
        max as f64 <= 1.0 + 1.1 * min as f64,
        "live connections per loop out of balance: {per:?}"
    );
    assert_eq!(echoed.load(Ordering::SeqCst), conns);
}

/// `net::Acceptor`: loop 0 accepts and hands every connection to the receiver with the fewest
/// live ones; each loop serves what it is handed (an echo) while holding the connection's
/// `LiveGuard`. With every connection open the live counts stay within 1 + 10 % of each other,
/// every connection is served on the loop it was handed to, and the counts fall back to zero
/// once the client closes them all.
#[test]
fn the_acceptor_type_balances_and_counts_live_connections() {
    use ringport::net::Acceptor;
    let loops = 4;
    let conns = 60;
    let rt = runtime(loops);
    let acceptor = Acceptor::new(loops);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = Arc::new(Mutex::new(Some(listener)));
    let snapshot = Arc::new(Mutex::new(Vec::new()));
    let served: Arc<Vec<AtomicUsize>> = Arc::new((0..loops).map(|_| AtomicUsize::new(0)).collect());
    let done = Arc::new(AtomicUsize::new(0));
    let client = {
        let (acceptor, snapshot, done) = (acceptor.clone(), snapshot.clone(), done.clone());
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut held = Vec::new();
            for i in 0..conns {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                s.write_all(&[i as u8]).unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).expect("the echo");
                assert_eq!(b[0], i as u8);
                held.push(s);
            }
            *snapshot.lock().unwrap() = (0..loops).map(|c| acceptor.live(c)).collect::<Vec<_>>();
            drop(held);
            assert!(
                util::wait_until(Duration::from_secs(10), || (0..loops)
                    .all(|c| acceptor.live(c) == 0)),
                "live connections left after the client closed them: {acceptor:?}"
            );
            done.store(1, Ordering::SeqCst);
            acceptor.close();
        })
    };
    rt.block_on_all({
        let (acceptor, served, done) = (acceptor.clone(), served.clone(), done.clone());
        move || {
            let (acceptor, listener, served, done) = (
                acceptor.clone(),
                listener.clone(),
                served.clone(),
                done.clone(),
            );
            async move {
                let me = ringport::current_core();
                if me == 0 {
                    let std = listener.lock().unwrap().take().unwrap();
                    let l = TcpListener::from_std(std).unwrap();
                    let a = acceptor.clone();
                    let stop = async move {
                        while done.load(Ordering::SeqCst) == 0 {
                            ringport::time::sleep(Duration::from_millis(5)).await;
                        }
                    };
                    ringport::spawn(
                        async move { a.run(&l, stop, |e| panic!("accept: {e}")).await },
                    );
                }
                let mut mine = acceptor.incoming(me);
                let mut tasks = Vec::new();
                while let Some((s, guard)) = mine.next().await {
                    assert_eq!(ringport::current_core(), me);
                    served[me].fetch_add(1, Ordering::SeqCst);
                    tasks.push(ringport::spawn(async move {
                        let _guard = guard;
                        loop {
                            let ringport::buf::BufResult(n, buf) = s.read(vec![0u8; 16]).await;
                            match n {
                                Ok(0) => break,
                                Ok(n) => {
                                    s.write_all(buf[..n].to_vec()).await.0.expect("echo write")
                                }
                                Err(e) => panic!("read: {e}"),
                            }
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            }
        }
    });
    client.join().unwrap();
    let per = snapshot.lock().unwrap().clone();
    assert_eq!(per.iter().sum::<usize>(), conns, "{per:?}");
    let (min, max) = (*per.iter().min().unwrap(), *per.iter().max().unwrap());
    assert!(
        max as f64 <= 1.0 + 1.1 * min as f64,
        "live connections per loop out of balance: {per:?}"
    );
    let served: Vec<usize> = served.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    assert_eq!(served, per, "each loop served what it was handed");
}
