//! hyper's runtime pieces on ringport: `RingportTimer` drives hyper's header-read timeout
//! (a slowloris connection is closed), resets re-arm the same sleep, and a sleep refuses to
//! be polled off its loop. hyper's connections end cleanly through every adapter when the
//! client closes right after the response.

mod util;

use bytes::Bytes;
use http_body_util::Full;
use hyper::rt::Timer;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use ringport::buf::BufResult;
use ringport::io::{OwnedRead, OwnedWrite};
use ringport_compat::hyper::{HyperIo, RingportSleep, RingportTimer};
use ringport_compat::{Compat, PollIo};
use std::convert::Infallible;
use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

#[test]
fn header_read_timeout_closes_a_slowloris_connection() {
    util::run(async {
        let (client, server) = util::tcp_pair().await;
        let conn = ringport::spawn(async move {
            let svc = service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"no"))))
            });
            http1::Builder::new()
                .timer(RingportTimer)
                .header_read_timeout(Duration::from_millis(200))
                .serve_connection(HyperIo::new(server), svc)
                .await
        });
        let start = Instant::now();
        let BufResult(res, _) = client
            .write_owned(b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec())
            .await;
        res.unwrap();
        // Never finish the head: the server gives up and closes.
        let BufResult(res, buf) = client.read_owned(Vec::with_capacity(1024)).await;
        let n = res.unwrap();
        let waited = start.elapsed();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "got {text:?}");
        assert!(
            waited >= Duration::from_millis(190),
            "closed after {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
        let res = conn.await.unwrap();
        assert!(res.is_err(), "the connection ends with the timeout error");
    });
}

#[test]
fn timer_sleeps_fire_and_reset_in_place() {
    util::run(async {
        let timer = RingportTimer;
        let start = Instant::now();
        let mut sleep = timer.sleep(Duration::from_secs(60));
        // Reset to near: the same boxed sleep is re-armed, and fires soon.
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(20));
        assert!(sleep.as_mut().downcast_mut_pin::<RingportSleep>().is_some());
        sleep.as_mut().await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(20), "fired early: {took:?}");
        assert!(took < Duration::from_secs(5), "fired late: {took:?}");
        let start = Instant::now();
        timer
            .sleep_until(Instant::now() + Duration::from_millis(10))
            .await;
        assert!(start.elapsed() >= Duration::from_millis(10));
    });
}

#[test]
fn a_sleep_polled_off_its_loop_panics() {
    // Made on this thread (a sleep touches its loop's timers only once polled).
    let sleep = RingportTimer.sleep(Duration::from_millis(1));
    let other = std::thread::spawn(move || {
        util::run(async move {
            let mut sleep = sleep;
            sleep.as_mut().await;
        })
    });
    let err = other
        .join()
        .expect_err("polling on another thread must panic");
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(msg.contains("off the loop thread"), "panic: {msg}");
}

/// hyper's http1 server through each adapter, against a client on another thread (blocking
/// std sockets) that closes each connection as soon as it has read the response: every
/// connection must end `Ok`. hyper polls its read before its flush, so an end of stream that
/// arrives in the same loop turn as the write completion its flush waits for would look like a
/// client gone mid-message (`IncompleteMessage`) unless the adapter lets the flush finish first.
#[test]
fn connections_end_cleanly_when_the_client_closes_after_the_response() {
    const N: usize = 300;
    for mode in ["Compat", "Compat, direct writes", "PollIo"] {
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            util::run(async move {
                let listener = ringport::net::TcpListener::bind("127.0.0.1:0").unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let mut errors = Vec::new();
                for _ in 0..N {
                    let (tcp, _) = listener.accept().await.unwrap();
                    let svc = service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"hi",
                        ))))
                    });
                    let http = http1::Builder::new();
                    let res = match mode {
                        "Compat" => http.serve_connection(Compat::new(tcp), svc).await,
                        "PollIo" => http.serve_connection(PollIo::new(tcp), svc).await,
                        _ => {
                            let io = Compat::new(tcp).direct_writes(true);
                            http.serve_connection(io, svc).await
                        }
                    };
                    if let Err(e) = res {
                        errors.push(format!("{e:?}"));
                    }
                }
                errors
            })
        });
        let addr = rx.recv().unwrap();
        for _ in 0..N {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let (mut got, mut buf) = (Vec::new(), [0u8; 512]);
            while !got.ends_with(b"\r\n\r\nhi") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "{mode}: the server closed before the response ended");
                got.extend_from_slice(&buf[..n]);
            }
            // Dropped here: closed right after the response.
        }
        let errors = server.join().unwrap();
        assert!(
            errors.is_empty(),
            "{mode}: {} of {N} connections ended with an error, the first: {}",
            errors.len(),
            errors[0]
        );
    }
}
