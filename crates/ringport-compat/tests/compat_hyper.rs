//! hyper's runtime pieces on ringport: `RingportTimer` drives hyper's header-read timeout
//! (a slowloris connection is closed), resets re-arm the same sleep, and a sleep refuses to
//! be polled off its loop.

mod util;

use bytes::Bytes;
use http_body_util::Full;
use hyper::rt::Timer;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use ringport::buf::BufResult;
use ringport::io::{OwnedRead, OwnedWrite};
use ringport_compat::hyper::{HyperIo, RingportSleep, RingportTimer};
use std::convert::Infallible;
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
