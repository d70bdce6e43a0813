//! Pipelining: several requests written at once, with bodies of both framings in between,
//! are answered in order on one connection.

mod util;

use std::io::Write;
use util::{connect, read_to_close, split, start, test_limits};

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start(test_limits(), None);
    let mut s = connect(server.addr);
    let batch = b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n\
        POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nbody-2\
        GET /slow HTTP/1.1\r\nHost: t\r\n\r\n\
        POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbod\r\n3\r\ny-4\r\n0\r\n\r\n\
        HEAD /5 HTTP/1.1\r\nHost: t\r\n\r\n\
        GET /6 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    s.write_all(batch).unwrap();
    let got = read_to_close(&mut s);
    let res = split(&got, &[false, false, false, false, true, false]);
    let bodies: Vec<String> = res.iter().map(|r| r.text()).collect();
    assert_eq!(
        bodies,
        ["path=/1", "body-2", "slow done", "body-4", "", "path=/6"],
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(res.iter().all(|r| r.status == 200));
    assert_eq!(res[4].header("content-length"), Some("7"));
}

#[test]
fn a_pipeline_sent_byte_by_byte_is_answered_the_same() {
    let server = start(test_limits(), None);
    let mut s = connect(server.addr);
    s.set_nodelay(true).unwrap();
    let batch = b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\n\
        Content-Length: 2\r\n\r\nokGET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    for b in batch {
        s.write_all(&[*b]).unwrap();
    }
    let res = split(&read_to_close(&mut s), &[]);
    let bodies: Vec<String> = res.iter().map(|r| r.text()).collect();
    assert_eq!(bodies, ["path=/a", "ok", "path=/c"]);
}

#[test]
fn many_pipelined_requests_in_one_write() {
    let server = start(test_limits(), None);
    let mut s = connect(server.addr);
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"GET /end HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    s.write_all(&batch).unwrap();
    let res = split(&read_to_close(&mut s), &[]);
    assert_eq!(res.len(), 201);
    for (i, r) in res.iter().take(200).enumerate() {
        assert_eq!(r.text(), format!("path=/{i}"));
    }
}
