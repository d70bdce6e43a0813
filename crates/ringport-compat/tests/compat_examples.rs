//! Every example, run as its own process on the backend `RINGPORT_BACKEND` names, and
//! answered by the real curl, by std sockets, or by a ringport-http server.

mod util;

use std::io::{Read, Write};
use util::{curl, Example};

fn hyper_server_answers_curl(mode: &[&str]) {
    let ex = Example::start("hyper_server", &[&["127.0.0.1:0"], mode].concat());
    let url = ex.address();
    assert!(url.starts_with("http://127.0.0.1:"), "{}", ex.first_line);
    assert_eq!(curl(&[&url]), "Hello, World!");
    // Keep-alive: curl reuses one connection for both URLs.
    let two = curl(&[&url, &url]);
    assert_eq!(two, "Hello, World!Hello, World!");
    // A body larger than both adapter buffers comes back whole.
    let body: String = (0..300_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, &body).unwrap();
    let echoed = curl(&[
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{url}echo"),
    ]);
    assert_eq!(echoed.len(), body.len());
    assert!(echoed == body, "the echoed body differs");
    let code = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{url}missing"),
    ]);
    assert_eq!(code, "404");
}

#[test]
fn hyper_server_completion_mode_answers_curl() {
    hyper_server_answers_curl(&[]);
}

#[test]
fn hyper_server_readiness_mode_answers_curl() {
    hyper_server_answers_curl(&["--readiness"]);
}

#[test]
fn hyper_client_fetches_from_ringport_http() {
    // The server: ringport-http on its own thread and runtime.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        util::run(async move {
            let server = ringport_http::Server::bind("127.0.0.1:0").unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            let conns = std::rc::Rc::new(std::cell::Cell::new(0u32));
            let seen = conns.clone();
            let handler = move |req: ringport_http::http::Request<_>| async move {
                let body = format!("you asked for {}", req.uri().path());
                ringport_http::http::Response::new(body.into())
            };
            let stop = async move {
                while stop_rx.try_recv().is_err() {
                    ringport::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            };
            let server = server.on_response(move |_| seen.set(seen.get() + 1));
            server.serve_with_shutdown(handler, stop).await.unwrap();
            conns.get()
        })
    });
    let addr = rx.recv().unwrap();
    let out = util::example_command("hyper_client")
        .args([&format!("http://{addr}/some/path"), "3"])
        .output()
        .unwrap();
    stop_tx.send(()).unwrap();
    let responses = server.join().unwrap();
    assert!(
        out.status.success(),
        "hyper_client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, "200 you asked for /some/path\n".repeat(3));
    assert_eq!(responses, 3, "the server answered every request");
}

#[test]
fn hyper_client_without_url_fetches_from_its_own_ringport_http() {
    let out = util::example_command("hyper_client").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "200 Hello from ringport-http\n"
    );
}

#[test]
fn axum_router_answers_curl() {
    let ex = Example::start("axum_server", &["127.0.0.1:0"]);
    let url = ex.address();
    assert_eq!(curl(&[&url]), "Hello from axum on ringport");
    assert_eq!(curl(&[&format!("{url}hello/ring")]), "Hello, ring!");
    assert_eq!(
        curl(&["-d", "posted text", &format!("{url}echo")]),
        "posted text"
    );
    let code = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{url}nowhere"),
    ]);
    assert_eq!(code, "404");
}

#[test]
fn lines_codec_upper_cases_lines_until_bye() {
    let ex = Example::start("lines_codec", &["127.0.0.1:0"]);
    let mut s = std::net::TcpStream::connect(ex.address()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let long = "x".repeat(40_000);
    write!(s, "hello\nring port\n{long}\nBYE\nignored\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, format!("HELLO\nRING PORT\n{}\n", long.to_uppercase()));
}

#[test]
fn hyper_http2_client_and_server_with_the_local_executor() {
    let out = util::example_command("hyper_h2")
        .args(["--self-test", "20"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Hello over h2\n".repeat(20)
    );
}

#[test]
fn hyper_http2_server_answers_curl_with_prior_knowledge() {
    let ex = Example::start("hyper_h2", &["127.0.0.1:0"]);
    let url = ex.address();
    let out = curl(&["--http2-prior-knowledge", "-w", " %{http_version}", &url]);
    assert_eq!(out, "Hello over h2 2");
}
