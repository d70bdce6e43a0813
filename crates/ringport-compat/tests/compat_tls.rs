//! hyper over TLS through `TlsCompat`: hyper's server over `TlsStream<TcpStream>` (http1, or
//! http2 when ALPN chose it) answered by curl with `--cacert`, and hyper's http1 and http2
//! clients over TLS against it. Certificates are made in the test. Every connection must end
//! cleanly on both sides, which needs `close_notify` from the side that closes (a TLS stream
//! cut without one is a read error).

mod util;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Version};
use ringport::net::{TcpListener, TcpStream};
use ringport_compat::hyper::{RingportExecutor, RingportTimer};
use ringport_compat::TlsCompat;
use ringport_tls::{server_name, TlsAcceptor, TlsConnector, TlsStream};
use std::cell::RefCell;
use std::rc::Rc;
use util::tls::Certs;

/// The size of `GET /big`: many TLS records, and more than the send queue holds.
const BIG: u64 = 2 << 20;

fn pattern_bytes(len: u64) -> Vec<u8> {
    (0..len).map(util::pattern).collect()
}

/// `GET /hello`, `GET /big` (the pattern), `POST /echo` (the body back).
async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let body = match (req.method(), req.uri().path()) {
        (&Method::GET, "/hello") => Bytes::from_static(b"hello over TLS"),
        (&Method::GET, "/big") => Bytes::from(pattern_bytes(BIG)),
        (&Method::POST, "/echo") => req.into_body().collect().await?.to_bytes(),
        _ => {
            let mut res = Response::new(Full::new(Bytes::new()));
            *res.status_mut() = StatusCode::NOT_FOUND;
            return Ok(res);
        }
    };
    Ok(Response::new(Full::new(body)))
}

/// What the server saw.
#[derive(Debug, Default)]
struct Served {
    connections: usize,
    h2: usize,
    /// Connections whose hyper future returned `Ok` (the peer ended with `close_notify`).
    clean: usize,
    errors: Vec<String>,
}

/// Accepts `n` connections; on each, the TLS handshake, then hyper over `TlsCompat` (http2 when
/// ALPN chose `h2`, else http1). Returns once every connection has ended.
async fn serve(listener: TcpListener, acceptor: TlsAcceptor, n: usize) -> Served {
    let served = Rc::new(RefCell::new(Served::default()));
    let mut conns = Vec::new();
    for _ in 0..n {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).unwrap();
        let (acceptor, served) = (acceptor.clone(), served.clone());
        conns.push(ringport::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => return served.borrow_mut().errors.push(format!("handshake: {e}")),
            };
            let h2 = tls.alpn_protocol() == Some(b"h2");
            let io = TlsCompat::new(tls);
            let res = if h2 {
                http2::Builder::new(RingportExecutor)
                    .timer(RingportTimer)
                    .serve_connection(io, service_fn(handle))
                    .await
            } else {
                http1::Builder::new()
                    .timer(RingportTimer)
                    .serve_connection(io, service_fn(handle))
                    .await
            };
            let mut s = served.borrow_mut();
            s.connections += 1;
            s.h2 += h2 as usize;
            match res {
                Ok(()) => s.clean += 1,
                Err(e) => s.errors.push(format!("{e:?}")),
            }
        }));
    }
    for conn in conns {
        conn.await.unwrap();
    }
    Rc::try_unwrap(served).unwrap().into_inner()
}

fn acceptor(certs: &Certs) -> TlsAcceptor {
    TlsAcceptor::new(certs.server(&[b"h2", b"http/1.1"]))
}

#[test]
fn hyper_server_over_tls_answers_curl() {
    let certs = Certs::new();
    let tls = acceptor(&certs);
    let (tx, rx) = std::sync::mpsc::channel();
    const CONNECTIONS: usize = 5;
    let server = std::thread::spawn(move || {
        util::run(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            serve(listener, tls, CONNECTIONS).await
        })
    });
    let port = rx.recv().unwrap();
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let ca = certs.ca.to_str().unwrap();
    // The name checked is `localhost`, which the certificate holds; curl trusts only our CA.
    let curl = |args: &[&str]| {
        let mut all = vec!["--cacert", ca, "--resolve", &resolve];
        all.extend_from_slice(args);
        util::curl(&all)
    };
    let dir = tempfile::tempdir().unwrap();

    // 1. http1: a small response.
    let out = curl(&["--http1.1", "-w", " %{http_version}", &url("/hello")]);
    assert_eq!(out, "hello over TLS 1.1");

    // 2. A request body of many records, echoed back.
    let sent = pattern_bytes(300_000);
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::write(&input, &sent).unwrap();
    let data = format!("@{}", input.display());
    let echoed = output.to_str().unwrap();
    curl(&[
        "--http1.1",
        "--data-binary",
        &data,
        "-o",
        echoed,
        &url("/echo"),
    ]);
    assert!(
        std::fs::read(&output).unwrap() == sent,
        "echoed body differs"
    );

    // 3. A response larger than the TLS send queue.
    curl(&["--http1.1", "-o", echoed, &url("/big")]);
    assert!(
        std::fs::read(&output).unwrap() == pattern_bytes(BIG),
        "big body differs"
    );

    // 4. Two requests on one kept-alive connection.
    let out = curl(&["--http1.1", &url("/hello"), &url("/hello")]);
    assert_eq!(out, "hello over TLShello over TLS");

    // 5. http2, chosen by ALPN.
    let out = curl(&["--http2", "-w", " %{http_version}", &url("/hello")]);
    assert_eq!(out, "hello over TLS 2");

    let served = server.join().unwrap();
    assert_eq!(served.connections, CONNECTIONS, "{served:?}");
    assert_eq!(served.h2, 1, "{served:?}");
    assert!(served.errors.is_empty(), "{served:?}");
    assert_eq!(served.clean, CONNECTIONS, "{served:?}");
}

/// A client TLS stream to `addr`, asking for `alpn`.
async fn connect(certs: &Certs, addr: std::net::SocketAddr, alpn: &[u8]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let tls = TlsConnector::new(certs.client(&[alpn]))
        .connect(server_name("localhost").unwrap(), tcp)
        .await
        .expect("client handshake");
    assert_eq!(tls.alpn_protocol(), Some(alpn));
    tls
}

async fn body(res: Response<Incoming>) -> Vec<u8> {
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body().collect().await.unwrap().to_bytes().to_vec()
}

#[test]
fn hyper_clients_over_tls_fetch_from_hyper_server_over_tls() {
    let certs = Certs::new();
    util::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringport::spawn(serve(listener, acceptor(&certs), 2));
        let get = |path: &str| {
            Request::get(format!("https://localhost:{}{path}", addr.port()))
                .body(Full::new(Bytes::new()))
                .unwrap()
        };

        // http1 over TLS: small, echoed (a request body of many records) and big.
        let io = TlsCompat::new(connect(&certs, addr, b"http/1.1").await);
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .unwrap();
        let conn = ringport::spawn(conn);
        let res = sender.send_request(get("/hello")).await.unwrap();
        assert_eq!(res.version(), Version::HTTP_11);
        assert_eq!(body(res).await, b"hello over TLS");
        let sent = pattern_bytes(1 << 20);
        let post = Request::post("/echo")
            .body(Full::new(Bytes::from(sent.clone())))
            .unwrap();
        let res = sender.send_request(post).await.unwrap();
        assert!(body(res).await == sent, "echoed body differs");
        let res = sender.send_request(get("/big")).await.unwrap();
        assert!(body(res).await == pattern_bytes(BIG), "big body differs");
        drop(sender);
        conn.await
            .unwrap()
            .expect("the http1 client connection ends cleanly");

        // http2 over TLS (ALPN h2): concurrent streams on one connection.
        let io = TlsCompat::new(connect(&certs, addr, b"h2").await);
        let (sender, conn) = hyper::client::conn::http2::Builder::new(RingportExecutor)
            .timer(RingportTimer)
            .handshake::<_, Empty<Bytes>>(io)
            .await
            .unwrap();
        let conn = ringport::spawn(conn);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let mut sender = sender.clone();
            let path = if i % 2 == 0 { "/hello" } else { "/big" };
            let req = Request::get(format!("https://localhost:{}{path}", addr.port()))
                .body(Empty::<Bytes>::new())
                .unwrap();
            tasks.push(ringport::spawn(async move {
                let res = sender.send_request(req).await.unwrap();
                assert_eq!(res.version(), Version::HTTP_2);
                (path, body(res).await)
            }));
        }
        for task in tasks {
            let (path, got) = task.await.unwrap();
            match path {
                "/hello" => assert_eq!(got, b"hello over TLS"),
                _ => assert!(got == pattern_bytes(BIG), "big body over h2 differs"),
            }
        }
        drop(sender);
        conn.await
            .unwrap()
            .expect("the http2 client connection ends cleanly");

        let served = server.await.unwrap();
        assert_eq!(served.connections, 2, "{served:?}");
        assert_eq!(served.h2, 1, "{served:?}");
        assert!(served.errors.is_empty(), "{served:?}");
        assert_eq!(served.clean, 2, "{served:?}");
    });
}
