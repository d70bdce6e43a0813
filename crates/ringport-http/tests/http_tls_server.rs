//! The server over TLS (`tls::accept` with `Server::serve_over`): pipelined requests on one
//! TLS connection, bodies from memory (head and body in one write) and files of every size
//! class (read into a pooled buffer, encrypted, streamed through records), on TLS 1.2 and 1.3;
//! the connection ends with `close_notify` (the client's read sees a clean end, not a
//! truncation); a plain-HTTP request is answered in plain HTTP.

#[allow(dead_code)]
#[path = "client_util/pki.rs"]
mod pki;
mod util;

use bytes::Bytes;
use http::{Request, Response};
use pki::Pki;
use ringport::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ringport::net::TcpStream;
use ringport_http::{tls, Body, Server};
use ringport_tls::rustls::{self, ClientConfig, RootCertStore};
use ringport_tls::{config, server_name, TlsAcceptor, TlsConnector, TlsError, TlsErrorKind};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use util::split;

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Serves `dir/<name>` as a file body and `/mem/N` as N bytes from memory, over TLS.
fn start(
    dir: PathBuf,
    acceptor: TlsAcceptor,
) -> (
    std::net::SocketAddr,
    Arc<AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let rt = ringport::Runtime::new().unwrap();
        rt.block_on(async move {
            let server = Server::bind("127.0.0.1:0").unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            let stopped = async move {
                while !flag.load(Ordering::SeqCst) {
                    ringport::time::sleep(Duration::from_millis(10)).await;
                }
            };
            let dir = Rc::new(dir);
            let handler = move |req: Request<Bytes>| {
                let path = req.uri().path().to_string();
                let dir = dir.clone();
                async move {
                    if let Some(n) = path.strip_prefix("/mem/") {
                        return Response::new(Body::from(pattern(n.parse().unwrap())));
                    }
                    let path = dir.join(path.trim_start_matches('/'));
                    let file = ringport::fs::File::open(&path).await.unwrap();
                    let len = file.metadata().await.unwrap().len();
                    Response::new(Body::file(file, 0, len))
                }
            };
            let wrap = move |tcp| {
                let acceptor = acceptor.clone();
                async move { tls::accept(&acceptor, tcp).await }
            };
            server.serve_over(wrap, handler, stopped).await.unwrap();
        });
    });
    (rx.recv().unwrap(), stop, thread)
}

fn client(pki: &Pki, version: &'static rustls::SupportedProtocolVersion) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in config::load_certs(&pki.ca).unwrap() {
        roots.add(cert).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(config::provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::new(Arc::new(config))
}

#[test]
fn pipelined_requests_over_tls_get_every_byte_and_a_clean_close() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let sizes = [
        0usize, 1, 13, 4000, 16_384, 65_536, 65_537, 300_000, 5_000_000,
    ];
    for &n in &sizes {
        std::fs::write(dir.path().join(format!("f{n}")), pattern(n)).unwrap();
    }
    let acceptor = TlsAcceptor::new(pki.server());
    let (addr, stop, thread) = start(dir.path().to_path_buf(), acceptor);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let connector = client(&pki, version);
        let mut paths: Vec<String> = sizes.iter().map(|n| format!("/f{n}")).collect();
        paths.extend(["/mem/0", "/mem/100", "/mem/20000", "/mem/70000"].map(String::from));
        let (res, got, alpn) = ringport::run(async move {
            let tcp = TcpStream::connect(addr).await?;
            let mut tls = connector.connect(server_name("localhost")?, tcp).await?;
            let alpn = tls.alpn_protocol().map(|p| p.to_vec());
            let mut req = String::new();
            for (i, p) in paths.iter().enumerate() {
                let close = if i + 1 == paths.len() {
                    "Connection: close\r\n"
                } else {
                    ""
                };
                req.push_str(&format!(
                    "GET {p} HTTP/1.1\r\nHost: localhost\r\n{close}\r\n"
                ));
            }
            tls.write_all(req.into_bytes()).await.0?;
            tls.flush().await?;
            let (res, got) = tls.read_to_end(Vec::new()).await.into_parts();
            Ok::<_, std::io::Error>((res, got, alpn))
        })
        .unwrap();
        // Ok: the stream ended with close_notify (a bare TCP close is a truncation error).
        assert!(res.is_ok(), "{version:?}: {res:?}");
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        let parsed = split(&got, &[]);
        let lens: Vec<usize> = sizes
            .iter()
            .copied()
            .chain([0, 100, 20_000, 70_000])
            .collect();
        assert_eq!(parsed.len(), lens.len(), "{version:?}");
        for (r, &n) in parsed.iter().zip(&lens) {
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-length"), Some(n.to_string().as_str()));
            assert!(r.body == pattern(n), "{version:?}: {n} bytes differ");
        }
    }
    stop.store(true, Ordering::SeqCst);
    thread.join().unwrap();
}

#[test]
fn plain_http_gets_a_plain_400_and_tls_still_works() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let acceptor = TlsAcceptor::new(pki.server());
    let (addr, stop, thread) = start(dir.path().to_path_buf(), acceptor.clone());
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /mem/5 HTTP/1.1\r\nHost: localhost:1234\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("Use https://localhost:1234/mem/5"), "{text}");
    // The error accept returns says what happened.
    let err = ringport::run(async move {
        let listener = ringport::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(at).unwrap();
            s.write_all(b"HEAD / HTTP/1.0\r\n\r\n").unwrap();
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
            sink
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let err = tls::accept(&acceptor, tcp).await.err().unwrap();
        let answer = client.join().unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 400"));
        err
    });
    let kind = TlsError::of(&err).map(|e| e.kind());
    assert_eq!(kind, Some(TlsErrorKind::PlainHttp), "{err}");
    // And the server still speaks TLS.
    let connector = client(&pki, &rustls::version::TLS13);
    let body = ringport::run(async move {
        let tcp = TcpStream::connect(addr).await?;
        let mut tls = connector.connect(server_name("localhost")?, tcp).await?;
        let req = b"GET /mem/5 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".to_vec();
        tls.write_all(req).await.0?;
        tls.flush().await?;
        let (res, got) = tls.read_to_end(Vec::new()).await.into_parts();
        res.map(|_| got)
    })
    .unwrap();
    assert!(
        body.ends_with(&pattern(5)),
        "{}",
        String::from_utf8_lossy(&body)
    );
    stop.store(true, Ordering::SeqCst);
    thread.join().unwrap();
}
