//! The client over TLS (`HttpsConnector`) against the scripted origin speaking TLS: keep-alive
//! and session resumption on TLS 1.2 and 1.3, the pool keyed by scheme, bodies cut without
//! `close_notify`, stale pooled connections, and the certificate errors, one line each.

mod client_util;

use client_util::pki::Pki;
use client_util::{response, Origin, Reply};
use ringport_http::client::{Destination, HttpsConnector, Kind, Scheme};
use ringport_http::Client;
use ringport_tls::rustls::version::{TLS12, TLS13};
use ringport_tls::rustls::ProtocolVersion;
use std::io::{Read, Write};
use std::time::Duration;

fn ok(body: &[u8]) -> Reply {
    Reply::Send(response("200 OK", &[], body))
}

fn https(connector: HttpsConnector) -> Client<HttpsConnector> {
    Client::builder().connector(connector).build()
}

fn trusting(pki: &Pki) -> HttpsConnector {
    HttpsConnector::with_ca_file(&pki.ca).unwrap()
}

#[test]
fn keep_alive_and_resumption_on_tls_1_2_and_1_3() {
    let pki = Pki::new();
    for (version, want) in [
        (&TLS13, ProtocolVersion::TLSv1_3),
        (&TLS12, ProtocolVersion::TLSv1_2),
    ] {
        let origin = Origin::start_tls(pki.server_only(version), |req, i| {
            ok(format!("{} #{i}", req.line()).as_bytes())
        });
        let connector = trusting(&pki);
        ringport::run(async {
            // Keep-alive: three requests, one connection.
            let client = https(connector.clone());
            for i in 0..3 {
                let res = client.get(&origin.url("/a")).send().await.unwrap();
                assert_eq!(res.status(), 200);
                assert_eq!(res.text().await.unwrap(), format!("GET /a HTTP/1.1 #{i}"));
            }
            let dest = Destination {
                scheme: Scheme::Https,
                host: "localhost".into(),
                port: origin.addr.port(),
            };
            assert_eq!(client.connections(&dest), 1);
            // No pooling: every request a new connection, each resuming (one cache per
            // connector, shared by its clones and so by both clients).
            let fresh = Client::builder()
                .connector(connector.clone())
                .pool_max_idle_per_host(0)
                .build();
            for i in 3..6 {
                let res = fresh.get(&origin.url("/b")).send().await.unwrap();
                assert_eq!(res.text().await.unwrap(), format!("GET /b HTTP/1.1 #{i}"));
            }
        });
        let hs = origin.handshakes();
        assert_eq!(hs.len(), 4, "{hs:?}");
        assert!(hs.iter().all(|h| h.version == Some(want)), "{hs:?}");
        assert!(!hs[0].resumed, "the first handshake is a full one");
        assert!(hs[1..].iter().all(|h| h.resumed), "{version:?}: {hs:?}");
    }
}

#[test]
fn the_pool_is_keyed_by_scheme_and_plain_http_to_a_tls_port_is_told() {
    let pki = Pki::new();
    let origin = Origin::start_tls(pki.server(), |_, i| ok(format!("r{i}").as_bytes()));
    let port = origin.addr.port();
    ringport::run(async {
        let client = https(trusting(&pki));
        let res = client.get(&origin.url("/")).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "r0");
        // Same host and port, other scheme: not the pooled TLS connection, a new one, and the
        // TLS server's alert says what is wrong.
        let e = client
            .get(&format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), Kind::Tls, "{e}");
        assert!(e.is_tls());
        assert!(e.to_string().contains("answered in TLS"), "{e}");
        assert!(e.to_string().contains("use https://"), "{e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
        let dest = |scheme| Destination {
            scheme,
            host: "localhost".into(),
            port,
        };
        assert_eq!(client.connections(&dest(Scheme::Https)), 1);
        assert_eq!(client.connections(&dest(Scheme::Http)), 0);
        // The TLS connection is still pooled and still good.
        let res = client.get(&origin.url("/")).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "r1");
    });
    assert_eq!(origin.connections(), 2, "one TLS, one plain attempt");
}

#[test]
fn https_to_a_plain_http_port_is_told() {
    // A plain server that answers anything with 400, as nginx and ringport serve do.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hello = [0u8; 512];
        let _ = s.read(&mut hello);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    ringport::run(async {
        let client = https(HttpsConnector::insecure());
        let e = client
            .get(&format!("https://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), Kind::Tls, "{e}");
        assert!(e.to_string().contains("answered in plain HTTP"), "{e}");
        assert!(e.to_string().contains("use http://"), "{e}");
    });
    server.join().unwrap();
}

#[test]
fn a_body_cut_without_close_notify_is_an_error_not_an_end() {
    let pki = Pki::new();
    let origin = Origin::start_tls(pki.server(), |req, _| match req.line() {
        l if l.starts_with("GET /clean") => {
            Reply::SendClose(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end".to_vec())
        }
        l if l.starts_with("GET /cut-until-close") => {
            Reply::SendCut(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the".to_vec())
        }
        _ => Reply::SendCut(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf".to_vec()),
    });
    ringport::run(async {
        let client = https(trusting(&pki));
        // close_notify, then the TCP end: the body's end.
        let res = client.get(&origin.url("/clean")).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "until the end");
        // A body framed by the close, cut without close_notify: not a short success.
        let res = client
            .get(&origin.url("/cut-until-close"))
            .send()
            .await
            .unwrap();
        let e = res.text().await.unwrap_err();
        assert!(e.to_string().contains("close_notify"), "{e}");
        assert!(e.to_string().contains("cut short"), "{e}");
        // A Content-Length body cut short.
        let res = client.get(&origin.url("/len")).send().await.unwrap();
        let e = res.text().await.unwrap_err();
        let io = e.io_error().expect("an I/O error inside");
        assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    });
}

#[test]
fn a_stale_pooled_tls_connection_is_replaced_once() {
    let pki = Pki::new();
    // The server ends each connection after one answer: first with close_notify, then by
    // cutting TCP (no close_notify). Either way the pooled connection is stale.
    for cut in [false, true] {
        let origin = Origin::start_tls(pki.server(), move |_, i| {
            let r = response("200 OK", &[], format!("r{i}").as_bytes());
            if cut {
                Reply::SendCut(r)
            } else {
                Reply::SendClose(r)
            }
        });
        ringport::run(async {
            let client = https(trusting(&pki));
            for i in 0..3 {
                let res = client.get(&origin.url("/")).send().await.unwrap();
                assert_eq!(res.text().await.unwrap(), format!("r{i}"));
                ringport::time::sleep(Duration::from_millis(30)).await;
            }
        });
        assert_eq!(origin.connections(), 3, "cut: {cut}");
        assert_eq!(origin.seen().len(), 3, "no request sent twice (cut: {cut})");
    }
}

#[test]
fn certificate_errors_are_one_line_each_and_insecure_skips_them() {
    let pki = Pki::new();
    let stranger = Pki::new();
    let (other, other_key) = pki.leaf("other", &["other.example"], None);
    let (old, old_key) = pki.leaf("old", &["localhost"], Some(((2020, 1, 1), (2021, 1, 1))));
    let good = Origin::start_tls(pki.server(), |_, _| ok(b"hi"));
    let misnamed = Origin::start_tls(pki.server_for(&other, &other_key), |_, _| ok(b"hi"));
    let expired = Origin::start_tls(pki.server_for(&old, &old_key), |_, _| ok(b"hi"));
    ringport::run(async {
        let check = |e: ringport_http::client::Error, words: &[&str]| {
            assert_eq!(e.kind(), Kind::Tls, "{e}");
            let text = e.to_string();
            assert!(!text.contains('\n'), "one line: {text}");
            for w in words {
                assert!(text.contains(w), "{w:?} in {text}");
            }
        };
        // Another CA's file, and the system's roots: neither knows this CA.
        for connector in [trusting(&stranger), HttpsConnector::new()] {
            let e = https(connector)
                .get(&good.url("/"))
                .send()
                .await
                .unwrap_err();
            check(e, &["not signed by a CA this side trusts", "--cacert"]);
        }
        let client = https(trusting(&pki));
        let e = client.get(&misnamed.url("/")).send().await.unwrap_err();
        check(e, &["is for other.example, not for localhost"]);
        let e = client.get(&expired.url("/")).send().await.unwrap_err();
        check(e, &["expired on 2021-01-01"]);
        // --insecure: any of them.
        let insecure = https(HttpsConnector::insecure());
        for origin in [&good, &misnamed, &expired] {
            let res = insecure.get(&origin.url("/")).send().await.unwrap();
            assert_eq!(res.text().await.unwrap(), "hi");
        }
    });
}

#[test]
fn a_server_that_speaks_only_h2_is_refused_by_alpn() {
    let pki = Pki::new();
    let mut config = (*pki.server()).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let origin = Origin::start_tls(std::sync::Arc::new(config), |_, _| ok(b"hi"));
    ringport::run(async {
        let e = https(trusting(&pki))
            .get(&origin.url("/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), Kind::Tls, "{e}");
        assert!(e.to_string().contains("ALPN"), "{e}");
    });
}
