//! Graceful shutdown through the injectable trigger: requests in flight finish (with
//! `Connection: close`), idle connections close, new ones are refused, `serve` returns.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};
use util::{connect, read_to_close, split, start, test_limits};

#[test]
fn shutdown_finishes_requests_in_flight_and_closes_idle_ones() {
    let server = start(test_limits(), None);
    let addr = server.addr;
    // An idle kept-alive connection.
    let mut idle = connect(addr);
    idle.write_all(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // A request in flight (the handler takes 400 ms).
    let busy = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        read_to_close(&mut s)
    });
    std::thread::sleep(Duration::from_millis(150));
    let start = Instant::now();
    server.stop().expect("serve returns Ok");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(150),
        "waited for the slow request: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "did not need the grace period: {took:?}"
    );

    let res = split(&busy.join().unwrap(), &[]);
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].text(), "slow done");
    assert_eq!(res[0].header("connection"), Some("close"));

    let res = split(&read_to_close(&mut idle), &[]);
    assert_eq!(
        res.len(),
        1,
        "the idle connection was closed after its one answer"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}

#[test]
fn the_grace_period_bounds_a_stuck_request() {
    let limits = ringport_http::Limits {
        shutdown_grace: Duration::from_millis(200),
        header_timeout: Duration::from_secs(30),
        ..test_limits()
    };
    let server = start(limits, None);
    // Half a head: in flight, and it would take the 30 s header timeout to end.
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    server.stop().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(
        read_to_close(&mut s).is_empty(),
        "dropped without an answer"
    );
}
