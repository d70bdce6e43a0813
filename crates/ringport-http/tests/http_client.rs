//! The client against a scripted origin: framing, keep-alive and the pool, redirects, stale
//! connections, timeouts, ranges and validators, bodies into files.

mod client_util;

use client_util::{response, Origin, Reply};
use ringport::buf::BufResult;
use ringport::fs::File;
use ringport::io::Progress;
use ringport_http::client::{redirect::Policy, Kind};
use ringport_http::parse::ContentRange;
use ringport_http::Client;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn ok(body: &[u8]) -> Reply {
    Reply::Send(response("200 OK", &[], body))
}

#[test]
fn keep_alive_reuses_one_connection() {
    let origin = Origin::start(|req, i| ok(format!("{} #{i}", req.line()).as_bytes()));
    ringport::run(async {
        let client = Client::new();
        for i in 0..3 {
            let res = client.get(&origin.url("/a?x=1")).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let want = format!("GET /a?x=1 HTTP/1.1 #{i}");
            assert_eq!(res.content_length(), Some(want.len() as u64));
            assert_eq!(res.text().await.unwrap(), want);
        }
    });
    assert_eq!(origin.connections(), 1);
    let seen = origin.seen();
    assert_eq!(seen[0].header("host"), Some(origin.addr.to_string()));
    assert!(seen[0]
        .header("user-agent")
        .unwrap()
        .starts_with("ringport/"));
}

#[test]
fn chunked_until_close_head_and_204() {
    let origin = Origin::start(|req, _| match req.line() {
        l if l.starts_with("GET /chunked") => Reply::Send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n\
              1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n"
                .to_vec(),
        ),
        l if l.starts_with("GET /close") => {
            Reply::SendClose(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end".to_vec())
        }
        l if l.starts_with("HEAD") => {
            Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec())
        }
        _ => Reply::Send(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n".to_vec()),
    });
    ringport::run(async {
        let client = Client::new();
        let res = client.get(&origin.url("/chunked")).send().await.unwrap();
        assert_eq!(res.content_length(), None);
        assert_eq!(&res.bytes().await.unwrap()[..], b"hello world");
        let res = client.head(&origin.url("/h")).send().await.unwrap();
        assert!(
            res.is_body_done(),
            "HEAD has no body whatever Content-Length says"
        );
        let res = client.get(&origin.url("/empty")).send().await.unwrap();
        assert_eq!(res.status(), 204, "the 100 Continue was skipped");
        assert_eq!(res.content_length(), Some(0));
        let res = client.get(&origin.url("/close")).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "until the end");
        let res = client.get(&origin.url("/empty")).send().await.unwrap();
        assert_eq!(res.status(), 204);
    });
    // chunked, HEAD, 204 and until-close went over the first connection; until-close ended
    // it, so the last request needed a second.
    assert_eq!(origin.connections(), 2);
}

#[test]
fn ranges_validators_and_content_range() {
    let origin = Origin::start(|req, _| {
        let range = req.header("range").unwrap_or_default();
        let if_range = req.header("if-range").unwrap_or_default();
        Reply::Send(response(
            "206 Partial Content",
            &[
                ("Content-Range", "bytes 10-19/100"),
                ("ETag", "\"v1\""),
                ("Accept-Ranges", "bytes"),
            ],
            format!("{range}|{if_range}").as_bytes(),
        ))
    });
    ringport::run(async {
        let client = Client::new();
        let res = client
            .get(&origin.url("/f"))
            .range(10..=19)
            .if_range("\"v1\"")
            .header("X-Extra", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.content_range(),
            Some(ContentRange::Bytes {
                first: 10,
                last: 19,
                total: Some(100)
            })
        );
        assert!(res.accepts_ranges());
        assert_eq!(res.etag(), Some("\"v1\""));
        assert_eq!(res.text().await.unwrap(), "bytes=10-19|\"v1\"");
        let res = client
            .get(&origin.url("/f"))
            .range_from(5)
            .send()
            .await
            .unwrap();
        assert_eq!(res.text().await.unwrap(), "bytes=5-|");
    });
    assert_eq!(origin.seen()[0].header("x-extra").as_deref(), Some("1"));
}

#[test]
fn redirects_follow_method_rules_limits_and_loops() {
    let origin = Origin::start(|req, _| {
        let path = req.line().split(' ').nth(1).unwrap_or("/").to_string();
        let to =
            |status: &str, loc: &str| Reply::Send(response(status, &[("Location", loc)], b"moved"));
        match path.as_str() {
            "/a" => to("301 Moved Permanently", "/b"),
            "/b" => to("302 Found", "c"),
            "/c" => ok(format!("{} body={}", req.line(), req.body.len()).as_bytes()),
            "/see" => to("303 See Other", "/c"),
            "/temp" => to("307 Temporary Redirect", "/c"),
            "/loop1" => to("302 Found", "/loop2"),
            "/loop2" => to("302 Found", "/loop1"),
            p if p.starts_with("/n") => {
                let n: u32 = p[2..].parse().unwrap_or(0);
                to("302 Found", &format!("/n{}", n + 1))
            }
            _ => Reply::Send(response("404 Not Found", &[], b"no")),
        }
    });
    ringport::run(async {
        let client = Client::new();
        let res = client.get(&origin.url("/a")).send().await.unwrap();
        assert_eq!(res.url().path(), "/c");
        assert_eq!(res.redirects().len(), 2);
        assert_eq!(res.text().await.unwrap(), "GET /c HTTP/1.1 body=0");
        let res = client
            .post(&origin.url("/see"))
            .body("data")
            .send()
            .await
            .unwrap();
        assert_eq!(res.text().await.unwrap(), "GET /c HTTP/1.1 body=0");
        let res = client
            .post(&origin.url("/temp"))
            .body("data")
            .send()
            .await
            .unwrap();
        assert_eq!(res.text().await.unwrap(), "POST /c HTTP/1.1 body=4");
        let e = client.get(&origin.url("/loop1")).send().await.unwrap_err();
        assert!(e.is_redirect() && e.to_string().contains("loop"), "{e}");
        let e = client.get(&origin.url("/n0")).send().await.unwrap_err();
        assert!(
            e.is_redirect() && e.to_string().contains("more than 10"),
            "{e}"
        );
        let none = Client::builder().redirect(Policy::none()).build();
        let res = none.get(&origin.url("/a")).send().await.unwrap();
        assert_eq!(res.status(), 301);
        let e = client
            .get(&origin.url("/x"))
            .send()
            .await
            .unwrap()
            .error_for_status();
        assert_eq!(e.unwrap_err().status().map(|s| s.as_u16()), Some(404));
    });
    // Redirect bodies were short: every hop reused the one connection.
    assert_eq!(
        origin.connections(),
        2,
        "one for the client, one for the no-redirect client"
    );
}

#[test]
fn a_stale_pooled_connection_is_replaced_once() {
    // The origin answers, then closes the connection without saying so.
    let origin =
        Origin::start(|_, i| Reply::SendClose(response("200 OK", &[], format!("r{i}").as_bytes())));
    ringport::run(async {
        let client = Client::new();
        for i in 0..3 {
            let res = client.get(&origin.url("/")).send().await.unwrap();
            assert_eq!(res.text().await.unwrap(), format!("r{i}"));
            // Let the close arrive, so the pooled connection is stale.
            ringport::time::sleep(Duration::from_millis(30)).await;
        }
    });
    assert_eq!(origin.connections(), 3);
    assert_eq!(
        origin.seen().len(),
        3,
        "no request was sent twice to the origin"
    );
}

#[test]
fn timeouts_and_connect_errors() {
    let origin = Origin::start(|_, _| {
        Reply::SendStall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial".to_vec(),
            Duration::from_millis(1500),
        )
    });
    ringport::run(async {
        let client = Client::builder()
            .read_timeout(Duration::from_millis(200))
            .build();
        let mut res = client.get(&origin.url("/")).send().await.unwrap();
        let start = Instant::now();
        let BufResult(r, buf) = res.read(Vec::with_capacity(1000)).await;
        assert_eq!(&buf[..r.unwrap()], b"partial");
        let BufResult(r, buf) = res.read(buf).await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
        assert!(buf.capacity() >= 1000, "the buffer came back");
        assert!(start.elapsed() < Duration::from_secs(1));

        // Nothing listens on a port we just closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = client
            .get(&format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(e.is_connect(), "{e}");
        let e = client.get("https://127.0.0.1:1/").send().await.unwrap_err();
        assert_eq!(e.kind(), Kind::Unsupported);
        assert!(e.to_string().contains("TLS"), "{e}");
        let e = client.get("ftp://x/").send().await.unwrap_err();
        assert_eq!(e.kind(), Kind::Url);
    });
}

#[test]
fn short_bodies_and_excess_bytes_are_told() {
    let origin = Origin::start(|req, _| match req.line() {
        l if l.contains("/short") => {
            Reply::SendClose(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec())
        }
        l if l.contains("/bad-chunk") => Reply::SendClose(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        ),
        _ => Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA".to_vec()),
    });
    ringport::run(async {
        let client = Client::new();
        let e = client
            .get(&origin.url("/short"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err();
        assert!(
            e.is_protocol() && e.to_string().contains("7 bytes before the end"),
            "{e}"
        );
        let e = client
            .get(&origin.url("/bad-chunk"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err();
        assert!(e.is_protocol(), "{e}");
        let mut res = client.get(&origin.url("/long")).send().await.unwrap();
        let BufResult(n, buf) = res.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..n.unwrap()], b"abc");
        assert!(res.is_body_done());
        assert_eq!(
            res.excess(),
            5,
            "the bytes past Content-Length are reported"
        );
    });
}

#[test]
fn endless_interim_responses_an_unasked_upgrade_and_other_codings_are_refused() {
    let interim = b"HTTP/1.1 102 Processing\r\n\r\n";
    let origin = Origin::start(move |req, _| match req.line() {
        // 32 interim responses are skipped; a 33rd is one too many.
        l if l.contains("/32") => {
            let mut bytes = interim.repeat(32);
            bytes.extend_from_slice(&response("200 OK", &[], b"final"));
            Reply::Send(bytes)
        }
        l if l.contains("/33") => Reply::SendClose(interim.repeat(33)),
        l if l.contains("/gzip") => Reply::SendClose(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                .to_vec(),
        ),
        _ => Reply::SendClose(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
                .to_vec(),
        ),
    });
    ringport::run(async {
        let client = Client::new();
        let res = client.get(&origin.url("/32")).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "final");
        let e = client.get(&origin.url("/33")).send().await.unwrap_err();
        assert!(e.is_protocol() && e.to_string().contains("interim"), "{e}");
        let e = client.get(&origin.url("/gzip")).send().await.unwrap_err();
        assert!(e.is_protocol() && e.to_string().contains("gzip"), "{e}");
        let e = client.get(&origin.url("/101")).send().await.unwrap_err();
        assert!(e.is_protocol() && e.to_string().contains("101"), "{e}");
    });
}

#[test]
fn the_pool_caps_live_connections_per_host() {
    let origin = Origin::start(|_, _| {
        std::thread::sleep(Duration::from_millis(50));
        ok(b"x")
    });
    ringport::run(async {
        let client = Client::builder().max_connections_per_host(2).build();
        let url = Rc::new(origin.url("/"));
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (client, url) = (client.clone(), url.clone());
            tasks.push(ringport::spawn(async move {
                client
                    .get(&url)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(&t.await.unwrap()[..], b"x");
        }
    });
    assert_eq!(origin.connections(), 2, "six requests over two connections");
}

#[test]
fn save_to_writes_at_an_offset_with_progress() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let body = data.clone();
    let origin = Origin::start(move |_, _| ok(&body));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    ringport::run(async {
        let client = Client::new();
        let file = File::create(&path).await.unwrap();
        let (progress, recorder) = Progress::recorder();
        let mut res = client.get(&origin.url("/")).send().await.unwrap();
        let n = res.save_to(&file, 7, Some(&recorder)).await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(progress.transferred(), n);
        file.close().await.unwrap();
    });
    let got = std::fs::read(&path).unwrap();
    assert_eq!(&got[..7], &[0u8; 7]);
    assert_eq!(&got[7..], &data[..]);
}

#[test]
fn a_trickled_head_is_bounded_by_the_read_timeout() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let _ = conn.read(&mut [0u8; 4096]);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nX-Slow: ");
        // A byte every 50 ms: each read brings data long before the 300 ms timeout.
        for _ in 0..60 {
            if conn.write_all(b"a").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    ringport::run(async {
        let client = Client::builder()
            .read_timeout(Duration::from_millis(300))
            .build();
        let start = Instant::now();
        let e = client
            .get(&format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), Kind::Timeout, "{e}");
        assert!(e.to_string().contains("did not arrive whole"), "{e}");
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "{:?}",
            start.elapsed()
        );
    });
    server.join().unwrap();
}
