//! Every limit and timeout answered with its status (431, 414, 413, 400, 505, 408), the
//! connection closed, and other connections served meanwhile.

mod util;

use std::io::Write;
use std::thread::sleep;
use std::time::{Duration, Instant};
use util::{assert_serves, connect, raw, read_to_close, split, start, test_limits, TestServer};

const FAST: Duration = Duration::from_millis(400);

/// Sends `req`, expects one response with `status` and the connection closed, then checks the
/// server still answers others.
fn refused(server: &TestServer, req: &[u8], status: u16) {
    let got = raw(server.addr, req);
    let res = split(&got, &[]);
    assert_eq!(res.len(), 1, "{}", String::from_utf8_lossy(&got));
    assert_eq!(res[0].status, status, "{}", String::from_utf8_lossy(&got));
    assert_eq!(res[0].header("connection"), Some("close"));
    assert_serves(server.addr, FAST);
}

#[test]
fn head_size_and_field_count_are_431_and_a_long_target_414() {
    let server = start(test_limits(), None);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "a".repeat(5000)
    );
    refused(&server, big.as_bytes(), 431);
    // A head that never ends is refused once it passes the limit, without waiting; when the
    // request line alone is too long, that is the target's fault (414, as nginx says it).
    refused(
        &server,
        format!("GET /{}", "a".repeat(10_000)).as_bytes(),
        414,
    );
    let long = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(70_000));
    refused(&server, long.as_bytes(), 414);
    let fields: String = (0..25).map(|i| format!("X-{i}: v\r\n")).collect();
    refused(
        &server,
        format!("GET / HTTP/1.1\r\nHost: t\r\n{fields}\r\n").as_bytes(),
        431,
    );
}

#[test]
fn bodies_over_the_limit_are_413() {
    let server = start(test_limits(), None);
    // Announced: refused before any body byte, and no 100 Continue.
    let req =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n";
    refused(&server, req, 413);
    // Sent anyway: the response still arrives (lingering close, no reset).
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 100_000));
    refused(&server, &req, 413);
    // Chunked: found out on the way.
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        req.extend_from_slice(b"1000\r\n");
        req.extend(std::iter::repeat_n(b'y', 4096));
        req.extend_from_slice(b"\r\n");
    }
    refused(&server, &req, 413);
}

#[test]
fn broken_framing_is_400_and_other_versions_505() {
    let server = start(test_limits(), None);
    let bad_chunk = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    refused(&server, bad_chunk, 400);
    let both = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    refused(&server, both, 400);
    refused(&server, b"GET / HTTP/1.1\r\n\r\n", 400); // no Host
    refused(
        &server,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        400,
    ); // TLS hello
    refused(&server, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    refused(&server, b"GET / HTTP/3\r\nHost: t\r\n\r\n", 505);
    refused(
        &server,
        b"GET / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n",
        417,
    );
}

/// Opens a connection, lets `client` act slowly on it in a thread, checks other clients are
/// served meanwhile, and returns what the slow one got and how long it took.
fn slow_client(
    server: &TestServer,
    client: impl FnOnce(&mut std::net::TcpStream) + Send + 'static,
) -> (Vec<u8>, Duration) {
    let mut s = connect(server.addr);
    let start = Instant::now();
    let t = std::thread::spawn(move || {
        client(&mut s);
        read_to_close(&mut s)
    });
    sleep(Duration::from_millis(100));
    assert_serves(server.addr, FAST);
    assert_serves(server.addr, FAST);
    (t.join().unwrap(), start.elapsed())
}

fn status_of(got: &[u8]) -> u16 {
    split(got, &[])[0].status
}

#[test]
fn a_slow_head_is_408_while_others_are_served() {
    let server = start(test_limits(), None);
    // Half a head, then silence.
    let (got, took) = slow_client(&server, |s| {
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    });
    assert_eq!(status_of(&got), 408);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // A trickle does not extend the deadline: the head has 600 ms in all.
    let (got, took) = slow_client(&server, |s| {
        for b in b"GET / HTTP/1.1\r\nHost: trickle\r\n" {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            sleep(Duration::from_millis(50));
        }
    });
    assert_eq!(status_of(&got), 408, "{}", String::from_utf8_lossy(&got));
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Nothing at all on a new connection: 408 too.
    let (got, _) = slow_client(&server, |_| {});
    assert_eq!(status_of(&got), 408);
}

#[test]
fn a_slow_body_is_408() {
    let server = start(test_limits(), None);
    let (got, took) = slow_client(&server, |s| {
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            .unwrap();
    });
    assert_eq!(status_of(&got), 408);
    assert!(took >= Duration::from_millis(500), "{took:?}");
    let (got, _) = slow_client(&server, |s| {
        let head = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        s.write_all(head).unwrap();
    });
    assert_eq!(status_of(&got), 408);
    // A byte every 100 ms never lets one read time out (600 ms), but comes far slower than
    // the 1,000 bytes/s a body must average after its first read timeout: 408 then, not
    // after the 100 s the whole body would take.
    let (got, took) = slow_client(&server, |s| {
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
            .unwrap();
        for _ in 0..1000 {
            if s.write_all(b"z").is_err() {
                break;
            }
            sleep(Duration::from_millis(100));
        }
    });
    assert_eq!(status_of(&got), 408, "{}", String::from_utf8_lossy(&got));
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn an_idle_kept_alive_connection_is_closed_quietly() {
    let limits = ringport_http::Limits {
        keep_alive_timeout: Duration::from_millis(300),
        ..test_limits()
    };
    let server = start(limits, None);
    let mut s = connect(server.addr);
    s.write_all(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let got = read_to_close(&mut s);
    let res = split(&got, &[]);
    assert_eq!(res.len(), 1, "only the answer, no 408");
    assert_eq!(res[0].text(), "path=/one");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
