//! `ringport serve --tls-cert FILE --tls-key FILE` end to end: curl on TLS 1.2 and 1.3 (ALPN
//! http/1.1, small and large files, ranges), `openssl s_client` resuming sessions on both
//! versions, `ringport get` over HTTPS from it, a plain-HTTP client on the TLS port, and the
//! certificate and key errors (one line, exit 1; a missing half, exit 2).

mod util;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use util::pki::Pki;
use util::Serve;

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A directory with a small and a large file (its bytes not a repeating short pattern).
fn site() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hello over TLS\n").unwrap();
    let mut big = vec![0u8; (5 << 20) + 12345];
    let mut x: u32 = 0x1234_5678;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    (dir, big)
}

fn serve_tls(dir: &Path, pki: &Pki, extra: &[&str]) -> Serve {
    let mut args = vec![
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        path(&pki.cert),
        "--tls-key",
        path(&pki.key),
    ];
    args.extend_from_slice(extra);
    Serve::start_with(dir, &args)
}

fn https(serve: &Serve, file: &str) -> String {
    format!("https://localhost:{}{file}", serve.addr.port())
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is installed")
}

#[test]
fn curl_gets_files_over_tls12_and_tls13_with_alpn_http11() {
    let pki = Pki::new();
    let (dir, big) = site();
    let mut serve = serve_tls(dir.path(), &pki, &[]);
    assert!(
        serve.stderr().contains("https://127.0.0.1:"),
        "{}",
        serve.stderr()
    );
    let resolve = format!("localhost:{}:127.0.0.1", serve.addr.port());
    for (min, max) in [("--tlsv1.2", "1.2"), ("--tlsv1.3", "1.3")] {
        let base = [
            "--cacert",
            path(&pki.ca),
            "--resolve",
            &resolve,
            min,
            "--tls-max",
            max,
        ];
        let mut args = base.to_vec();
        args.extend(["-v", "-w", "%{http_version} %{ssl_verify_result}"]);
        let url = https(&serve, "/hello.txt");
        args.push(&url);
        let out = curl(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "TLS {max}: {err}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello over TLS\n1.1 0",
            "TLS {max}"
        );
        assert!(
            err.contains(&format!("TLSv{max}")),
            "curl speaks TLS {max}: {err}"
        );
        assert!(
            err.contains("ALPN: server accepted http/1.1"),
            "ALPN http/1.1 chosen: {err}"
        );

        // A large file streams through records whole; a range of it too.
        let mut args = base.to_vec();
        let url = https(&serve, "/big.bin");
        args.push(&url);
        let out = curl(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == big,
            "the 5 MiB file came back whole over TLS {max}"
        );
        let mut args = base.to_vec();
        args.extend(["-r", "1000000-3999999", &url]);
        let out = curl(&args);
        assert!(out.status.success());
        assert!(
            out.stdout == big[1_000_000..4_000_000],
            "the range over TLS {max}"
        );
    }
    // Keep-alive over TLS: two files on one connection.
    let url1 = https(&serve, "/hello.txt");
    let url2 = https(&serve, "/hello.txt");
    let out = curl(&[
        "--cacert",
        path(&pki.ca),
        "--resolve",
        &resolve,
        "-v",
        &url1,
        &url2,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello over TLS\n".repeat(2)
    );
    assert!(
        err.contains("Re-using existing") || err.contains("Reusing existing"),
        "one connection for both: {err}"
    );
    let status = serve.interrupt();
    assert!(status.success(), "exit {status:?}: {}", serve.stderr());
    assert!(
        serve.stderr().contains("GET /big.bin"),
        "{}",
        serve.stderr()
    );
}

/// `openssl s_client` with a GET on stdin; returns its stdout.
fn s_client(port: u16, ca: &Path, version: &str, sess: (&str, &Path)) -> String {
    let connect = format!("127.0.0.1:{port}");
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &connect, "-servername", "localhost"])
        .args(["-CAfile", path(ca), "-verify_return_error", version])
        .args(["-alpn", "http/1.1", "-ign_eof", sess.0, path(sess.1)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "s_client {version}: {out}");
    out
}

#[test]
fn openssl_s_client_resumes_sessions_on_tls12_and_tls13() {
    let pki = Pki::new();
    let (dir, _) = site();
    let serve = serve_tls(dir.path(), &pki, &["-q"]);
    let port = serve.addr.port();
    for version in ["-tls1_2", "-tls1_3"] {
        let sess = pki.dir.path().join(format!("session{version}"));
        let first = s_client(port, &pki.ca, version, ("-sess_out", &sess));
        assert!(first.contains("New, TLSv1"), "{version} first: {first}");
        assert!(first.contains("Verify return code: 0 (ok)"), "{first}");
        assert!(first.contains("ALPN protocol: http/1.1"), "{first}");
        assert!(first.contains("hello over TLS"), "{first}");
        let second = s_client(port, &pki.ca, version, ("-sess_in", &sess));
        assert!(
            second.contains("Reused, TLSv1"),
            "{version}: the second connection resumes: {second}"
        );
        assert!(second.contains("hello over TLS"), "{second}");
    }
}

#[test]
fn ringport_get_downloads_from_ringport_serve_over_https() {
    let pki = Pki::new();
    let (dir, big) = site();
    let serve = serve_tls(dir.path(), &pki, &["-q"]);
    let out_dir = tempfile::tempdir().unwrap();
    let url = https(&serve, "/big.bin");
    let out = util::ringport()
        .current_dir(out_dir.path())
        .args([
            "get",
            &url,
            "-o",
            "got",
            "-n",
            "4",
            "-q",
            "--cacert",
            path(&pki.ca),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = std::fs::read(out_dir.path().join("got")).unwrap();
    assert!(got == big, "ringport get over HTTPS: the file whole");
}

#[test]
fn plain_http_on_the_tls_port_is_told_to_use_https() {
    let pki = Pki::new();
    let (dir, _) = site();
    let serve = serve_tls(dir.path(), &pki, &[]);
    let url = format!("http://127.0.0.1:{}/hello.txt", serve.addr.port());
    let out = curl(&["-i", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        text.contains(&format!(
            "Use https://127.0.0.1:{}/hello.txt",
            serve.addr.port()
        )),
        "{text}"
    );
    let log = serve.wait_for_log("plain HTTP");
    assert!(
        log.contains("sent plain HTTP to this HTTPS port"),
        "a warning: {log}"
    );
    // The port still speaks TLS afterwards.
    let resolve = format!("localhost:{}:127.0.0.1", serve.addr.port());
    let url = https(&serve, "/hello.txt");
    let out = curl(&["--cacert", path(&pki.ca), "--resolve", &resolve, &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello over TLS\n");
    // A client that is neither TLS nor HTTP is closed on, and the server carries on.
    let mut raw = std::net::TcpStream::connect(serve.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = raw.read_to_end(&mut buf);
    assert!(!buf.starts_with(b"HTTP/"), "no HTTP answer to garbage");
    let out = curl(&["--cacert", path(&pki.ca), "--resolve", &resolve, &url]);
    assert!(out.status.success());
}

/// `ringport serve` with these arguments, expected to fail at once: its exit code and stderr.
fn fails(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = util::ringport()
        .arg("serve")
        .arg(dir.path())
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

fn one_line(err: &str) -> &str {
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    lines[0]
}

#[test]
fn bad_certificate_or_key_files_are_one_line_and_exit_1() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("missing.pem");
    let garbage = pki.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let broken = pki.dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    let (_, other_key) = pki.leaf("other", &["localhost"], None);
    let (cert, key) = (path(&pki.cert), path(&pki.key));

    let cases: [(&[&str], &str); 6] = [
        (
            &["--tls-cert", path(&missing), "--tls-key", key],
            "cannot read the certificate file",
        ),
        (
            &["--tls-cert", cert, "--tls-key", path(&missing)],
            "cannot read the private key file",
        ),
        (
            &["--tls-cert", path(&garbage), "--tls-key", key],
            "holds no certificate",
        ),
        (
            &["--tls-cert", path(&broken), "--tls-key", key],
            "is not valid PEM",
        ),
        (
            &["--tls-cert", cert, "--tls-key", cert],
            "holds no private key",
        ),
        (
            &["--tls-cert", cert, "--tls-key", path(&other_key)],
            "does not belong to the certificate",
        ),
    ];
    for (args, says) in cases {
        let (code, err) = fails(args);
        assert_eq!(code, 1, "{args:?}: {err}");
        let line = one_line(&err);
        assert!(
            line.starts_with("ringport: cannot serve HTTPS: TLS: "),
            "{line}"
        );
        assert!(line.contains(says), "{args:?}: {line}");
    }
    // Half of the pair is an argument error.
    let (code, err) = fails(&["--tls-cert", cert]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-key"), "{err}");
    let (code, err) = fails(&["--tls-key", key]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-cert"), "{err}");
}

#[test]
fn serve_help_documents_the_tls_flags_and_exit_codes() {
    let out = util::ringport().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "--tls-cert <FILE>",
        "--tls-key <FILE>",
        "Exit codes: 0",
        "ALPN http/1.1",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
