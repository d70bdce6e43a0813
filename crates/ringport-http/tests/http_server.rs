//! The server against the real `curl` and a raw TCP client: GET, HEAD, keep-alive, chunked
//! bodies both ways, `Expect: 100-continue`, `Date`, `Connection: close`, file bodies.

mod util;

use std::io::{Read, Write};
use util::{connect, curl, raw, split, start, test_limits};

fn text(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_get_and_head() {
    if util::skip_without_curl() {
        return;
    }
    let server = start(test_limits(), None);
    let url = format!("http://{}/hello", server.addr);
    assert_eq!(text(&curl(&[&url])), "path=/hello");
    let head = text(&curl(&["-I", &url]));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-length: 11\r\n"), "{head}");
    let date = head
        .lines()
        .find_map(|l| l.strip_prefix("date: "))
        .expect("a Date header");
    assert!(httpdate::parse_http_date(date.trim()).is_ok(), "{date}");
    server.stop().unwrap();
}

#[test]
fn curl_reuses_the_connection_for_two_urls() {
    if util::skip_without_curl() {
        return;
    }
    let server = start(test_limits(), None);
    let a = format!("http://{}/a", server.addr);
    let b = format!("http://{}/b", server.addr);
    let out = curl(&["-v", &a, &b]);
    assert_eq!(text(&out), "path=/apath=/b");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Re-using existing connection") || log.contains("Reusing existing connection"),
        "{log}"
    );
}

#[test]
fn head_sends_no_body_and_the_connection_goes_on() {
    let server = start(test_limits(), None);
    let req = b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n\
                GET /y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let got = raw(server.addr, req);
    let res = split(&got, &[true, true, false]);
    assert_eq!(res.len(), 3, "{}", String::from_utf8_lossy(&got));
    assert_eq!(res[0].header("content-length"), Some("7")); // "path=/x"
    assert!(res[0].body.is_empty());
    assert_eq!(res[1].header("transfer-encoding"), Some("chunked"));
    assert_eq!(res[2].text(), "path=/y");
    assert_eq!(res[2].header("connection"), Some("close"));
}

#[test]
fn a_stream_is_sent_chunked_to_1_1_and_until_close_to_1_0() {
    if util::skip_without_curl() {
        return;
    }
    let server = start(test_limits(), None);
    let url = format!("http://{}/stream", server.addr);
    let raw_out = text(&curl(&["-si", "--raw", &url]));
    assert!(
        raw_out.contains("transfer-encoding: chunked\r\n"),
        "{raw_out}"
    );
    assert!(
        raw_out.ends_with("4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"),
        "{raw_out}"
    );
    assert_eq!(text(&curl(&[&url])), "one,two,three");
    let got = raw(server.addr, b"GET /stream HTTP/1.0\r\n\r\n");
    let res = split(&got, &[]);
    assert_eq!(res[0].header("transfer-encoding"), None);
    assert_eq!(res[0].header("connection"), Some("close"));
    assert_eq!(res[0].text(), "one,two,three");
}

#[test]
fn curl_sends_a_body_in_chunks_and_gets_it_back() {
    if util::skip_without_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let server = start(test_limits(), None);
    let url = format!("http://{}/echo", server.addr);
    let file = format!("@{}", path.display());
    let args = [
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &file,
        &url,
    ];
    let out = curl(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, data);
    // And with Content-Length, through curl's own Expect: 100-continue.
    let args = ["-H", "Expect: 100-continue", "--data-binary", &file, &url];
    let out = curl(&args);
    assert_eq!(out.stdout, data);
}

#[test]
fn expect_100_continue_waits_for_the_go_ahead() {
    let server = start(test_limits(), None);
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    s.write_all(b"GET /z HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let got = util::read_to_close(&mut s);
    let res = split(&got, &[]);
    assert_eq!((res[0].status, res[0].text().as_str()), (200, "hello"));
    assert_eq!(res[1].text(), "path=/z");
}

#[test]
fn file_bodies_go_out_whole_and_204_has_no_body() {
    if util::skip_without_curl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let data: Vec<u8> = (0..9_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let server = start(test_limits(), Some(path));
    let out = curl(&[&format!("http://{}/file", server.addr)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data, "{} bytes", out.stdout.len());
    let got = raw(
        server.addr,
        b"GET /no-content HTTP/1.1\r\nHost: t\r\n\r\nGET /q HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let res = split(&got, &[]);
    assert_eq!(res[0].status, 204);
    assert_eq!(res[0].header("content-length"), None);
    assert_eq!(res[1].text(), "path=/q");
}

#[test]
fn connection_close_from_the_client_closes_after_the_answer() {
    let server = start(test_limits(), None);
    let mut s = connect(server.addr);
    s.write_all(b"GET /one HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let got = util::read_to_close(&mut s); // returns: the server closed
    let res = split(&got, &[]);
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].header("connection"), Some("close"));
    // HTTP/1.0 with keep-alive stays open and says so.
    let mut s = connect(server.addr);
    s.write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n")
        .unwrap();
    let res = split(&util::read_to_close(&mut s), &[]);
    assert_eq!(res[0].header("connection"), Some("keep-alive"));
    assert_eq!(res[1].text(), "path=/b");
}
