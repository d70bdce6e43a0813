//! `Server::from_acceptor`: one loop accepts, every loop serves what a `net::Acceptor` hands
//! it. Kept-alive connections spread evenly over the loops, each is answered by the loop it
//! was handed to, and a shutdown ends every loop's server. On every platform (Windows too:
//! the accepting loop never touches a connection it hands on).

use ringport::net::{Acceptor, TcpListener};
use ringport_http::http::Response;
use ringport_http::{Body, Server};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reads one response with a `Content-Length` body from a kept-alive connection.
fn response(s: &mut std::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).expect("a response");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .expect("a content-length")
                .trim()
                .parse()
                .unwrap();
            if got.len() >= end + 4 + len {
                return text[end + 4..end + 4 + len].to_string();
            }
        }
    }
}

#[test]
fn handed_connections_spread_over_the_loops_and_shut_down() {
    let loops = 2;
    let conns = 10;
    let rt = ringport::Runtime::builder().threads(loops).build().unwrap();
    let acceptor = Acceptor::new(loops);
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = Arc::new(Mutex::new(Some(std_listener)));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (acceptor, stop) = (acceptor.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let mut answered = vec![0usize; loops];
            for _ in 0..conns {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                let body = response(&mut s);
                let core: usize = body.strip_prefix("loop ").unwrap().parse().unwrap();
                answered[core] += 1;
                held.push(s);
            }
            let live: Vec<usize> = (0..loops).map(|c| acceptor.live(c)).collect();
            // A second request on every connection is answered by the same loop.
            for s in &mut held {
                s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                let body = response(s);
                assert!(body.starts_with("loop "), "{body}");
            }
            stop.store(true, Ordering::SeqCst);
            (answered, live)
        })
    };
    let ends = rt.block_on_all({
        let (acceptor, stop) = (acceptor.clone(), stop.clone());
        move || {
            let (acceptor, listener, stop) = (acceptor.clone(), listener.clone(), stop.clone());
            async move {
                let me = ringport::current_core();
                let stopped = {
                    let stop = stop.clone();
                    move || {
                        let stop = stop.clone();
                        async move {
                            while !stop.load(Ordering::SeqCst) {
                                ringport::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    }
                };
                let accepting = (me == 0).then(|| {
                    let l =
                        TcpListener::from_std(listener.lock().unwrap().take().unwrap()).unwrap();
                    let (a, s) = (acceptor.clone(), stopped());
                    ringport::spawn(async move { a.run(&l, s, |e| panic!("accept: {e}")).await })
                });
                let server = Server::from_acceptor(acceptor.incoming(me), addr);
                assert_eq!(server.local_addr().unwrap(), addr);
                let served = server
                    .serve_with_shutdown(
                        move |_req| async move {
                            Response::new(Body::from(format!("loop {}", ringport::current_core())))
                        },
                        stopped(),
                    )
                    .await;
                // The listener closes when the accepting task ends.
                if let Some(task) = accepting {
                    task.await.unwrap();
                }
                served
            }
        }
    });
    let (answered, live) = client.join().unwrap();
    for end in ends {
        end.expect("every loop's server returns Ok");
    }
    assert_eq!(live.iter().sum::<usize>(), conns, "{live:?}");
    assert_eq!(
        answered, live,
        "each connection is answered where it was handed"
    );
    assert!(
        answered.iter().all(|&n| n == conns / loops),
        "not spread evenly: {answered:?}"
    );
    // The listener's close is handed to the loop (or its pool) as the task ends: soon after.
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still listening after the shutdown"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
