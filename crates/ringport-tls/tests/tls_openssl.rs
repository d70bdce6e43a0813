//! Interop with OpenSSL: the ringport client against `openssl s_server`, and `openssl
//! s_client` against the ringport server, over TLS 1.2 only and TLS 1.3 only, with ALPN.
//! `.ci/run` installs openssl; without it these tests fail rather than pass unseen.

mod util;

use ringport::buf::BufResult;
use ringport::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ringport::net::TcpListener;
use ringport::process::{Child, Command, Stdio};
use ringport::time::timeout;
use ringport_tls::rustls::{version, ProtocolVersion};
use ringport_tls::{server_name, TlsAcceptor, TlsConnector};
use std::time::Duration;
use util::Pki;

const VERSIONS: [(&str, ProtocolVersion); 2] = [
    ("-tls1_2", ProtocolVersion::TLSv1_2),
    ("-tls1_3", ProtocolVersion::TLSv1_3),
];

/// Reads the child's stdout until a line starting with `prefix`; returns that line.
async fn line_starting(child: &mut Child, prefix: &str) -> String {
    let out = child.stdout.as_mut().expect("piped stdout");
    let mut seen = Vec::new();
    loop {
        if let Some(line) = String::from_utf8_lossy(&seen)
            .lines()
            .find(|l| l.starts_with(prefix))
        {
            return line.to_string();
        }
        let BufResult(res, buf) = out.read(Vec::with_capacity(4096)).await;
        let n = res.unwrap();
        assert!(n > 0, "openssl ended before printing {prefix:?}: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// On Windows (and under Wine, whose `openssl` would be the Linux program, which a Windows
/// process cannot start) the interop tests need an `openssl.exe` on PATH; without one they
/// are skipped, saying why. On Unix the command is required (.ci/run installs it).
fn skip_without_openssl() -> bool {
    let missing = cfg!(windows)
        && !std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
    if missing {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped on Windows: no openssl.exe on PATH (the interop runs on Linux)"
        );
    }
    missing
}

fn openssl() -> Command {
    let found = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "these tests need the openssl command (.ci/run installs it)"
    );
    Command::new("openssl")
}

#[test]
fn ringport_client_against_openssl_s_server() {
    if skip_without_openssl() {
        return;
    }
    util::run(async {
        let pki = Pki::new();
        for (flag, expected) in VERSIONS {
            let mut server = openssl()
                .args([
                    "s_server",
                    "-accept",
                    "127.0.0.1:0",
                    "-naccept",
                    "1",
                    "-rev",
                ])
                .args(["-alpn", "http/1.1", flag])
                .arg("-cert")
                .arg(&pki.cert)
                .arg("-key")
                .arg(&pki.key)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let line = line_starting(&mut server, "ACCEPT").await;
            let port = line.rsplit(':').next().unwrap().trim().to_string();
            let tcp = ringport::net::TcpStream::connect(format!("127.0.0.1:{port}"))
                .await
                .unwrap();
            let connector = TlsConnector::new(pki.client(&[b"h2", b"http/1.1"]));
            let mut tls = connector
                .connect(server_name("localhost").unwrap(), tcp)
                .await
                .unwrap();
            assert_eq!(tls.protocol_version(), Some(expected));
            assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
            tls.write_all(b"hello world\n".to_vec()).await.0.unwrap();
            tls.flush().await.unwrap();
            // `-rev` answers each line reversed.
            let BufResult(res, buf) = tls.read_exact(vec![0u8; 12]).await;
            res.unwrap();
            assert_eq!(&buf, b"dlrow olleh\n", "{flag}");
            tls.shutdown_write().await.unwrap();
            let status = timeout(Duration::from_secs(10), server.wait())
                .await
                .expect("s_server exits after its one connection")
                .unwrap();
            assert!(status.success(), "s_server {flag}: {status}");
        }
    });
}

#[test]
fn openssl_s_client_against_ringport_server() {
    if skip_without_openssl() {
        return;
    }
    util::run(async {
        let pki = Pki::new();
        let acceptor = TlsAcceptor::new(pki.server(&[b"http/1.1"]));
        for (flag, expected) in VERSIONS {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let mut client = openssl()
                .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                .args(["-servername", "localhost", "-verify_return_error"])
                .args(["-alpn", "http/1.1", "-quiet", flag])
                .arg("-CAfile")
                .arg(&pki.ca)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            assert_eq!(tls.protocol_version(), Some(expected));
            assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
            assert_eq!(tls.sni_hostname(), Some("localhost"));
            tls.write_all(b"from ringport\n".to_vec()).await.0.unwrap();
            tls.flush().await.unwrap();
            let stdin = client.stdin.take().unwrap();
            stdin.write_all(b"from openssl\n".to_vec()).await.0.unwrap();
            let BufResult(res, buf) = tls.read_exact(vec![0u8; 13]).await;
            res.unwrap();
            assert_eq!(&buf, b"from openssl\n", "{flag}");
            // close_notify: s_client takes it as the end of the session and exits.
            tls.shutdown_write().await.unwrap();
            let out = timeout(Duration::from_secs(10), client.wait_with_output())
                .await
                .expect("s_client exits on close_notify")
                .unwrap();
            drop(stdin);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stdout.contains("from ringport"),
                "{flag}: {stdout:?} {stderr:?}"
            );
            assert!(
                out.status.success(),
                "s_client {flag}: {}: {stderr}",
                out.status
            );
        }
    });
}

/// A TLS 1.3-only server refuses a TLS 1.2-only openssl client, and the client says so.
#[test]
fn openssl_client_with_no_common_version() {
    if skip_without_openssl() {
        return;
    }
    util::run(async {
        let pki = Pki::new();
        let (server, _) = pki.pinned(&version::TLS13, None);
        let acceptor = TlsAcceptor::new(server);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = openssl()
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-tls1_2",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let err = acceptor.accept(tcp).await.unwrap_err();
        assert!(err.to_string().contains("no protocol version"), "{err}");
        let out = timeout(Duration::from_secs(10), client.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("protocol version"), "{stderr}");
    });
}
