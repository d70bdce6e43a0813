//! The client roots: the platform verifier (the system's CA store, which on Linux honours
//! `SSL_CERT_FILE`), `--cacert`-style files, and the insecure configuration.
//!
//! This binary sets `SSL_CERT_FILE` for itself before any thread starts: its tests run one
//! after the other in one test function.

mod util;

use ringport::buf::BufResult;
use ringport::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ringport_tls::{config, server_name, TlsAcceptor, TlsConnector, TlsError, TlsErrorKind};
use std::sync::Arc;
use util::Pki;

async fn fetch(
    server: Arc<ringport_tls::rustls::ServerConfig>,
    client: Arc<ringport_tls::rustls::ClientConfig>,
    name: &str,
) -> std::io::Result<Vec<u8>> {
    let (c, s) = util::tcp_pair().await;
    let acceptor = TlsAcceptor::new(server);
    let server = ringport::spawn(async move {
        if let Ok(mut tls) = acceptor.accept(s).await {
            tls.write_all(b"trusted".to_vec()).await.0.unwrap();
            tls.shutdown_write().await.unwrap();
        }
    });
    let res = async {
        let mut tls = TlsConnector::new(client)
            .connect(server_name(name)?, c)
            .await?;
        let BufResult(res, buf) = tls.read_to_end(Vec::new()).await;
        res?;
        tls.shutdown_write().await?;
        Ok(buf)
    }
    .await;
    server.await.unwrap();
    res
}

#[test]
fn platform_roots_cacert_files_and_insecure() {
    let pki = Pki::new();
    let stranger = Pki::new();
    // The "system" store is this test's CA: the platform verifier reads SSL_CERT_FILE.
    // No other thread reads the environment: this is the binary's only test.
    std::env::set_var("SSL_CERT_FILE", &pki.ca);
    std::env::remove_var("SSL_CERT_DIR");
    util::run(async {
        if cfg!(windows) {
            // Windows' platform verifier asks the system's certificate store (CryptoAPI),
            // which SSL_CERT_FILE does not feed.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "skipped the platform-roots step on Windows: the test's CA is not in the \
                 system store"
            );
        } else {
            let platform = config::client_platform(&[]).unwrap();
            assert_eq!(
                fetch(pki.server(&[]), platform.clone(), "localhost")
                    .await
                    .unwrap(),
                b"trusted"
            );
            // A server whose CA is not in the store is refused, in words.
            let err = fetch(stranger.server(&[]), platform, "localhost")
                .await
                .unwrap_err();
            assert_eq!(
                TlsError::of(&err).map(TlsError::kind),
                Some(TlsErrorKind::UnknownIssuer),
                "{err}"
            );
        }

        // --cacert: only that CA.
        let cacert = config::client_with_ca(&stranger.ca, &[]).unwrap();
        assert_eq!(
            fetch(stranger.server(&[]), cacert.clone(), "localhost")
                .await
                .unwrap(),
            b"trusted"
        );
        assert!(fetch(pki.server(&[]), cacert, "localhost").await.is_err());

        // --insecure: any CA and any name pass, and data still flows encrypted.
        let insecure = config::client_insecure(&[]);
        assert_eq!(
            fetch(stranger.server(&[]), insecure.clone(), "localhost")
                .await
                .unwrap(),
            b"trusted"
        );
        assert_eq!(
            fetch(pki.server(&[]), insecure, "example.com")
                .await
                .unwrap(),
            b"trusted"
        );
    });
}
