//! Errors a person can act on: each failure is one line that names what is wrong (the CA,
//! the names, the dates, the files) and carries a `TlsErrorKind` a program can match.

mod util;

use ringport::buf::BufResult;
use ringport_tls::rustls::version;
use ringport_tls::{config, server_name, TlsAcceptor, TlsConnector, TlsError, TlsErrorKind};
use std::io;
use std::sync::Arc;
use util::Pki;

/// The TLS kind of an error, and its text (checked to be one line).
fn explain(err: &io::Error) -> (Option<TlsErrorKind>, String) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "not one line: {text:?}");
    eprintln!("{text}"); // shown with --nocapture: what a person would read
    (TlsError::of(err).map(TlsError::kind), text)
}

/// Handshakes a client with `client` against a server with `server`, connecting by `name`;
/// returns both sides' results.
async fn handshake(
    server: Arc<ringport_tls::rustls::ServerConfig>,
    client: Arc<ringport_tls::rustls::ClientConfig>,
    name: &str,
) -> (io::Result<()>, io::Result<()>) {
    let (c, s) = util::tcp_pair().await;
    let acceptor = TlsAcceptor::new(server);
    let server = ringport::spawn(async move { acceptor.accept(s).await.map(drop) });
    let client = TlsConnector::new(client)
        .connect(server_name(name).unwrap(), c)
        .await
        .map(drop);
    (client, server.await.unwrap())
}

#[test]
fn unknown_ca() {
    util::run(async {
        let pki = Pki::new();
        let other = Pki::new();
        let (client, server) = handshake(pki.server(&[]), other.client(&[]), "localhost").await;
        let (kind, text) = explain(client.as_ref().unwrap_err());
        assert_eq!(kind, Some(TlsErrorKind::UnknownIssuer), "{text}");
        assert!(
            text.contains("certificate for localhost is not signed by a CA"),
            "{text}"
        );
        assert!(text.contains("--cacert"), "{text}");
        // The client told the server why (an alert), and the server says so.
        let (kind, text) = explain(server.as_ref().unwrap_err());
        assert_eq!(kind, Some(TlsErrorKind::PeerRefused), "{text}");
        assert!(
            text.contains("client refused this server's certificate"),
            "{text}"
        );
    });
}

#[test]
fn hostname_mismatch() {
    util::run(async {
        let pki = Pki::new();
        let (client, _) = handshake(pki.server(&[]), pki.client(&[]), "example.com").await;
        let (kind, text) = explain(client.as_ref().unwrap_err());
        assert_eq!(kind, Some(TlsErrorKind::NameMismatch), "{text}");
        assert!(text.contains("localhost"), "{text}");
        assert!(text.contains("not for example.com"), "{text}");
        // An IP address the certificate names is fine; one it does not is a mismatch.
        let (client, _) = handshake(pki.server(&[]), pki.client(&[]), "127.0.0.1").await;
        client.unwrap();
        let (client, _) = handshake(pki.server(&[]), pki.client(&[]), "127.0.0.2").await;
        let (kind, _) = explain(client.as_ref().unwrap_err());
        assert_eq!(kind, Some(TlsErrorKind::NameMismatch));
    });
}

#[test]
fn expired_and_not_yet_valid() {
    util::run(async {
        let pki = Pki::new();
        let (cert, key) = pki.leaf("old", &["localhost"], Some(((2020, 1, 1), (2021, 1, 1))));
        let server = config::server_from_pem(&cert, &key, &[]).unwrap();
        let (client, _) = handshake(server, pki.client(&[]), "localhost").await;
        let (kind, text) = explain(client.as_ref().unwrap_err());
        assert_eq!(kind, Some(TlsErrorKind::Expired), "{text}");
        assert!(
            text.contains("expired on 2021-01-01 00:00:00 UTC"),
            "{text}"
        );
        assert!(text.contains("it is now 20"), "{text}");

        let (cert, key) = pki.leaf("new", &["localhost"], Some(((2090, 1, 1), (2099, 1, 1))));
        let server = config::server_from_pem(&cert, &key, &[]).unwrap();
        let (client, _) = handshake(server, pki.client(&[]), "localhost").await;
        let (kind, text) = explain(client.as_ref().unwrap_err());
        assert_eq!(kind, Some(TlsErrorKind::NotYetValid), "{text}");
        assert!(text.contains("not valid before 2090-01-01"), "{text}");
    });
}

#[test]
fn a_key_that_does_not_match_its_certificate() {
    let pki = Pki::new();
    let (_, other_key) = pki.leaf("other", &["localhost"], None);
    let err = config::server_from_pem(&pki.cert, &other_key, &[]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let (kind, text) = explain(&err);
    assert_eq!(kind, Some(TlsErrorKind::KeyMismatch), "{text}");
    assert!(text.contains(&*other_key.to_string_lossy()), "{text}");
    assert!(text.contains(&*pki.cert.to_string_lossy()), "{text}");
    assert!(
        text.contains("does not belong to the certificate"),
        "{text}"
    );
}

#[test]
fn unreadable_pem_files() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let missing = dir.join("missing.pem");
    let err = config::server_from_pem(&missing, &pki.key, &[]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let (kind, text) = explain(&err);
    assert_eq!(kind, Some(TlsErrorKind::Pem));
    assert!(text.contains("cannot read the certificate file"), "{text}");
    assert!(text.contains("missing.pem"), "{text}");

    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let err = config::server_from_pem(&garbage, &pki.key, &[]).unwrap_err();
    let (kind, text) = explain(&err);
    assert_eq!(kind, Some(TlsErrorKind::Pem));
    assert!(text.contains("garbage.pem holds no certificate"), "{text}");
    let err = config::client_with_ca(&garbage, &[]).unwrap_err();
    assert!(explain(&err).1.contains("holds no certificate"));

    // A certificate given where the key belongs.
    let err = config::server_from_pem(&pki.cert, &pki.cert, &[]).unwrap_err();
    let (kind, text) = explain(&err);
    assert_eq!(kind, Some(TlsErrorKind::Pem));
    assert!(text.contains("holds no private key"), "{text}");

    // A PEM block cut short.
    let cut = dir.join("cut.pem");
    let pem = std::fs::read_to_string(&pki.cert).unwrap();
    std::fs::write(&cut, &pem[..pem.len() / 2]).unwrap();
    let err = config::server_from_pem(&cut, &pki.key, &[]).unwrap_err();
    let (kind, text) = explain(&err);
    assert_eq!(kind, Some(TlsErrorKind::Pem));
    assert!(text.contains("cut.pem is not valid PEM"), "{text}");
}

#[test]
fn a_plain_http_client_on_the_tls_port() {
    util::run(async {
        let pki = Pki::new();
        let (c, s) = util::tcp_pair().await;
        let acceptor = TlsAcceptor::new(pki.server(&[]));
        let server = ringport::spawn(async move { acceptor.accept(s).await.map(drop) });
        c.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec())
            .await
            .0
            .unwrap();
        let err = server.await.unwrap().unwrap_err();
        let (kind, text) = explain(&err);
        assert_eq!(kind, Some(TlsErrorKind::PlainHttp), "{text}");
        assert!(text.contains("plain HTTP to this TLS port"), "{text}");
        assert!(text.contains("https://"), "{text}");
    });
}

#[test]
fn a_tls_client_to_a_plain_http_server() {
    util::run(async {
        let pki = Pki::new();
        let (c, s) = util::tcp_pair().await;
        // What a plain HTTP server answers to a ClientHello.
        let server = ringport::spawn(async move {
            let BufResult(res, _) = s.read(vec![0u8; 4096]).await;
            res.unwrap();
            s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec())
                .await
                .0
                .unwrap();
            s.shutdown_write().await.unwrap();
        });
        let err = TlsConnector::new(pki.client(&[]))
            .connect(server_name("localhost").unwrap(), c)
            .await
            .unwrap_err();
        let (kind, text) = explain(&err);
        assert_eq!(kind, Some(TlsErrorKind::PlainHttp), "{text}");
        assert!(text.contains("localhost answered in plain HTTP"), "{text}");
        server.await.unwrap();
    });
}

#[test]
fn a_peer_that_speaks_something_else() {
    util::run(async {
        let pki = Pki::new();
        let (c, s) = util::tcp_pair().await;
        let server = ringport::spawn(async move {
            s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec())
                .await
                .0
                .unwrap();
            let _ = s.read(vec![0u8; 4096]).await;
        });
        let err = TlsConnector::new(pki.client(&[]))
            .connect(server_name("localhost").unwrap(), c)
            .await
            .unwrap_err();
        let (kind, text) = explain(&err);
        assert_eq!(kind, Some(TlsErrorKind::NotTls), "{text}");
        assert!(text.contains("53 53 48 2d"), "{text}"); // "SSH-"
        server.await.unwrap();
    });
}

#[test]
fn no_tls_version_in_common() {
    util::run(async {
        let pki = Pki::new();
        let (server13, _) = pki.pinned(&version::TLS13, None);
        let (_, client12) = pki.pinned(&version::TLS12, None);
        let (client, server) = handshake(server13, client12, "localhost").await;
        let (kind, text) = explain(server.as_ref().unwrap_err());
        assert_eq!(kind, Some(TlsErrorKind::Incompatible), "{text}");
        let (kind, text) = explain(client.as_ref().unwrap_err());
        assert_eq!(kind, Some(TlsErrorKind::Incompatible), "{text}");
        assert!(text.contains("server refused the handshake"), "{text}");
    });
}

#[test]
fn the_peer_hangs_up_during_the_handshake() {
    util::run(async {
        let pki = Pki::new();
        let (c, s) = util::tcp_pair().await;
        let server = ringport::spawn(async move {
            let BufResult(res, _) = s.read(vec![0u8; 4096]).await;
            res.unwrap();
            drop(s);
        });
        let err = TlsConnector::new(pki.client(&[]))
            .connect(server_name("localhost").unwrap(), c)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let (kind, text) = explain(&err);
        assert_eq!(kind, Some(TlsErrorKind::HandshakeEof), "{text}");
        assert!(
            text.contains("closed the connection during the handshake"),
            "{text}"
        );
        server.await.unwrap();
    });
}

#[test]
fn bad_server_names_are_refused_in_one_line() {
    let err = server_name("not a host").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err
        .to_string()
        .contains("not a valid DNS name or IP address"));
    assert_eq!(server_name("[::1]").unwrap().to_str(), "::1");
}
