//! `ringport get https://…` end to end: the real binary against the misbehaving origin over
//! TLS, `openssl s_server -WWW` (no ranges), and nginx with TLS; every guarantee of plain
//! `get` (If-Range, change detection, retries, resume after `kill -9`) over HTTPS; sessions
//! resumed across connections; the TLS errors, one line each, exit 10; `--insecure`.
// Unix only, like cli_get.rs (nginx, `openssl s_server`, `kill -9` and SIGTERM); `get` on
// Windows is tested in cli_windows.rs.
#![cfg(unix)]

mod get_origin;
mod util;

use get_origin::{data, Faults, Origin};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use util::pki::Pki;

fn get(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = util::ringport();
    cmd.current_dir(dir).arg("get").args(args);
    cmd.stdin(Stdio::null());
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    get(dir, args).output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, log: impl Fn() -> String) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the server did not start: {}", log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One line of error on stderr: `ringport: get: ...`, and nothing else.
fn one_error_line(o: &Output) -> String {
    let text = stderr(o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {text}");
    assert!(lines[0].starts_with("ringport: get: "), "{text}");
    lines[0].to_string()
}

#[test]
fn https_segmented_download_keeps_every_guarantee_and_resumes_sessions() {
    let pki = Pki::new();
    // The third run spreads its lanes over two loops, whose clients share one session cache.
    for (tls12, threads) in [(false, "1"), (true, "1"), (false, "2")] {
        segmented_over(&pki, tls12, threads);
    }
}

fn segmented_over(pki: &Pki, tls12: bool, threads: &str) {
    let body = data(3 << 20, 21);
    let config = if tls12 {
        pki.server_only(&ringport_tls::rustls::version::TLS12)
    } else {
        pki.server()
    };
    let origin = Origin::start_tls(body.clone(), vec![], Faults::default(), config);
    let dir = tempfile::tempdir().unwrap();
    let url = origin.url("/file");
    let o = run(
        dir.path(),
        &[
            &url,
            "-o",
            "out.bin",
            "-n",
            "4",
            "--json",
            "--cacert",
            path(&pki.ca),
            "--threads",
            threads,
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("out.bin")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(events.contains("\"event\":\"steal\""), "{events}");
    let second_loop = events.contains("\"event\":\"lane\",\"lane\":1,\"loop\":1");
    assert_eq!(second_loop, threads == "2", "{events}");
    assert!(events.contains("\"ranges\":\"yes\""), "{events}");
    let seen = origin.seen();
    assert!(seen.len() >= 4, "{} requests", seen.len());
    assert_eq!(seen[0].header("range").as_deref(), Some("bytes=0-"));
    for s in &seen[1..] {
        assert_eq!(
            s.header("if-range").as_deref(),
            Some("\"v1\""),
            "{}",
            s.head
        );
    }
    // One TLS session cache for all connections: the first handshake is a full one, and
    // the connections opened after the first answer resume its session. A TLS 1.2 session
    // serves any number of them; a TLS 1.3 ticket serves one (RFC 8446 C.4), and the origin
    // (as rustls, OpenSSL and nginx do) sends two per handshake, so of the three lanes that
    // connect at once two resume, and later connections use the tickets of the ones before.
    let resumed = origin.resumed();
    assert!(resumed.len() >= 4, "{resumed:?}");
    assert!(!resumed[0], "{resumed:?}");
    let later = resumed[1..].iter().filter(|r| **r).count();
    if tls12 {
        assert_eq!(later, resumed.len() - 1, "TLS 1.2: {resumed:?}");
    } else {
        assert!(later >= 2, "TLS 1.3: {resumed:?}");
    }
}

#[test]
fn https_changes_cuts_and_ignored_ranges() {
    let pki = Pki::new();
    let ca = ["--cacert", path(&pki.ca)];
    // A change on the server: stopped (exit 5), never a mix.
    let (v1, v2) = (data(2 << 20, 22), data(2 << 20, 23));
    let faults = Faults {
        change_at: Some(2),
        rate: Some(4 << 20),
        ..Faults::default()
    };
    let origin = Origin::start_tls(v1, v2, faults, pki.server());
    let dir = tempfile::tempdir().unwrap();
    let url = origin.url("/file");
    let o = run(dir.path(), &[&url, "-o", "f", "-n", "4", ca[0], ca[1]]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(!dir.path().join("f").exists());
    // Connections cut after 300 kB without close_notify: retried, never taken for the end.
    let body = data(4 << 20, 24);
    let faults = Faults {
        close_after: Some(300_000),
        ..Faults::default()
    };
    let origin = Origin::start_tls(body.clone(), vec![], faults, pki.server());
    let url = origin.url("/file");
    let o = run(
        dir.path(),
        &[&url, "-o", "g", "-n", "4", "--json", ca[0], ca[1]],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("g")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(
        events.contains("close_notify"),
        "the retries say why: {events}"
    );
    // A server that ignores ranges: one stream.
    let faults = Faults {
        ignore_range: true,
        ..Faults::default()
    };
    let origin = Origin::start_tls(body.clone(), vec![], faults, pki.server());
    let url = origin.url("/file");
    let o = run(dir.path(), &[&url, "-o", "h", "-n", "8", ca[0], ca[1]]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("h")).unwrap(), body);
    assert_eq!(origin.requests(), 1);
}

#[test]
fn https_kill_9_then_resume_gives_the_right_file() {
    let pki = Pki::new();
    let body = data(6 << 20, 25);
    let faults = Faults {
        rate: Some(1 << 20),
        ..Faults::default()
    };
    let origin = Origin::start_tls(body.clone(), vec![], faults, pki.server());
    let dir = tempfile::tempdir().unwrap();
    let url = origin.url("/file");
    let args = [
        url.as_str(),
        "-o",
        "f",
        "-n",
        "4",
        "--cacert",
        path(&pki.ca),
    ];
    let mut child = get(dir.path(), &args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(900));
    let _ = child.kill();
    let _ = child.wait();
    assert!(dir.path().join("f.part.journal").exists(), "killed mid-way");
    let mut again: Vec<&str> = args.to_vec();
    again.push("--json");
    let o = run(dir.path(), &again);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(!events.contains("\"resumed\":0,"), "{events}");
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    assert!(!dir.path().join("f.part.journal").exists());
}

#[test]
fn tls_errors_are_one_line_exit_10_and_not_retried() {
    let pki = Pki::new();
    let stranger = Pki::new();
    let body = data(100_000, 26);
    let (other, other_key) = pki.leaf("other", &["other.example"], None);
    let (old, old_key) = pki.leaf("old", &["localhost"], Some(((2020, 1, 1), (2021, 1, 1))));
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Origin, Vec<String>, &str)> = vec![
        // The system's roots do not know the test CA; nor does another CA's file.
        (
            Origin::start_tls(body.clone(), vec![], Faults::default(), pki.server()),
            vec![],
            "not signed by a CA this side trusts",
        ),
        (
            Origin::start_tls(body.clone(), vec![], Faults::default(), pki.server()),
            vec!["--cacert".into(), path(&stranger.ca).into()],
            "not signed by a CA this side trusts",
        ),
        (
            Origin::start_tls(
                body.clone(),
                vec![],
                Faults::default(),
                pki.server_for(&other, &other_key),
            ),
            vec!["--cacert".into(), path(&pki.ca).into()],
            "is for other.example, not for localhost",
        ),
        (
            Origin::start_tls(
                body.clone(),
                vec![],
                Faults::default(),
                pki.server_for(&old, &old_key),
            ),
            vec!["--cacert".into(), path(&pki.ca).into()],
            "expired on 2021-01-01",
        ),
    ];
    for (origin, extra, words) in &cases {
        let mut args = vec![origin.url("/file"), "-o".into(), "f".into()];
        args.extend(extra.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(dir.path(), &args);
        assert_eq!(code(&o), 10, "{}", stderr(&o));
        let line = one_error_line(&o);
        assert!(line.contains(words), "{words:?} in {line}");
        assert_eq!(origin.connections(), 1, "not retried: {line}");
        assert!(!dir.path().join("f").exists() && !dir.path().join("f.part").exists());
    }
    // Plain HTTP to the TLS port: the TLS server's alert is recognised.
    let origin = &cases[0].0;
    let plain = format!("http://127.0.0.1:{}/file", origin.addr.port());
    let o = run(dir.path(), &[&plain, "-o", "f"]);
    assert_eq!(code(&o), 10, "{}", stderr(&o));
    assert!(
        one_error_line(&o).contains("use https://"),
        "{}",
        stderr(&o)
    );
    // HTTPS to a plain-HTTP server (ringport serve answers the ClientHello with a 400).
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("file"), &body).unwrap();
    let serve = util::Serve::start(root.path(), &["-q"]);
    let url = format!("https://{}/file", serve.addr);
    let o = run(dir.path(), &[&url, "-o", "f", "-k"]);
    assert_eq!(code(&o), 10, "{}", stderr(&o));
    let text = stderr(&o);
    assert!(text.contains("answered in plain HTTP"), "{text}");
    assert!(text.contains("use http://"), "{text}");
    // A --cacert file that is no certificate: a bad argument.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let o = run(
        dir.path(),
        &[&cases[0].0.url("/file"), "--cacert", path(&junk)],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        one_error_line(&o).contains("holds no certificate"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_system_roots_are_the_default_and_honour_ssl_cert_file() {
    let pki = Pki::new();
    let body = data(500_000, 30);
    let origin = Origin::start_tls(body.clone(), vec![], Faults::default(), pki.server());
    let dir = tempfile::tempdir().unwrap();
    let with_store = |store: &Path, out: &str| {
        get(dir.path(), &[&origin.url("/file"), "-o", out])
            .env("SSL_CERT_FILE", store)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap()
    };
    // A "system" store holding the test CA: trusted without --cacert.
    let o = with_store(&pki.ca, "f");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    // An empty store: one line saying so, exit 10.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let o = with_store(&empty, "g");
    assert_eq!(code(&o), 10, "{}", stderr(&o));
    let line = one_error_line(&o);
    assert!(
        line.contains("cannot load this system's CA certificates"),
        "{line}"
    );
}

#[test]
fn insecure_accepts_a_self_signed_origin_and_warns_even_when_quiet() {
    let pki = Pki::new();
    let body = data(1 << 20, 27);
    // Any certificate: here one for another name, from a CA nobody trusts.
    let (other, other_key) = pki.leaf("other", &["other.example"], None);
    let origin = Origin::start_tls(
        body.clone(),
        vec![],
        Faults::default(),
        pki.server_for(&other, &other_key),
    );
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "f", "-k", "-q"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    let text = stderr(&o);
    assert!(text.contains("WARNING: --insecure"), "{text}");
    assert!(text.contains("NOT checked"), "{text}");
    // --insecure and --cacert contradict each other.
    let o = run(
        dir.path(),
        &[&origin.url("/file"), "-k", "--cacert", path(&pki.ca)],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn https_from_openssl_s_server_www_gets_one_stream() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: openssl is not installed");
        return;
    }
    let pki = Pki::new();
    let root = tempfile::tempdir().unwrap();
    let body = data(2 << 20, 28);
    std::fs::write(root.path().join("f.bin"), &body).unwrap();
    let port = free_port();
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
        .args(["-cert", path(&pki.cert), "-key", path(&pki.key)])
        .args(["-WWW", "-quiet"])
        .current_dir(root.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut server, || "openssl s_server".into());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://localhost:{port}/f.bin");
    let o = run(
        dir.path(),
        &[&url, "-o", "f", "--json", "--cacert", path(&pki.ca)],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    // HTTP/1.0, no Content-Length, no ranges: one stream to close_notify.
    assert!(events.contains("\"ranges\":\"no\""), "{events}");
}

/// nginx with TLS (1.2 and 1.3: 1.22's default lacks 1.3) on a free port and plain HTTP on
/// another, serving `root`; `limit_rate` per connection. Its access log records
/// `$ssl_session_reused` per request. Stopped (SIGTERM) when dropped.
struct Nginx {
    child: Child,
    prefix: tempfile::TempDir,
    port: u16,
    plain_port: u16,
}

impl Nginx {
    fn start(root: &Path, pki: &Pki, limit_rate: &str) -> Option<Nginx> {
        if Command::new("nginx").arg("-v").output().is_err() {
            eprintln!("skipped: nginx is not installed");
            return None;
        }
        let (port, plain_port) = (free_port(), free_port());
        let prefix = tempfile::tempdir().unwrap();
        let p = prefix.path().display();
        let conf = prefix.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1; pid {p}/nginx.pid; error_log {p}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{ log_format reuse '$ssl_session_reused $ssl_protocol $status';\n\
                 access_log {p}/access.log reuse;\n\
                 client_body_temp_path {p}; proxy_temp_path {p};\n\
                 fastcgi_temp_path {p}; uwsgi_temp_path {p}; scgi_temp_path {p};\n\
                 server {{ listen 127.0.0.1:{port} ssl; listen 127.0.0.1:{plain_port};\n\
                 ssl_certificate {cert}; ssl_certificate_key {key};\n\
                 ssl_session_cache shared:tls:1m; ssl_protocols TLSv1.2 TLSv1.3;\n\
                 location / {{ root {r}; limit_rate {limit_rate}; }} }} }}\n",
                cert = pki.cert.display(),
                key = pki.key.display(),
                r = root.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("nginx")
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(prefix.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let log = prefix.path().join("error.log");
        wait_for_port(port, &mut child, || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        Some(Nginx {
            child,
            prefix,
            port,
            plain_port,
        })
    }

    /// The access log: one `reused protocol status` line per request (`r` when reused).
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: the pid is our own child's, not reaped yet; SIGTERM stops the worker too.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn https_from_nginx_segmented_with_resumed_sessions() {
    let pki = Pki::new();
    let root = tempfile::tempdir().unwrap();
    let body = data(5 << 20, 29);
    std::fs::write(root.path().join("big.bin"), &body).unwrap();
    let Some(nginx) = Nginx::start(root.path(), &pki, "4m") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://localhost:{}/big.bin", nginx.port);
    let o = run(
        dir.path(),
        &[
            &url,
            "-o",
            "f",
            "-n",
            "4",
            "--json",
            "--cacert",
            path(&pki.ca),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(events.contains("\"event\":\"steal\""), "{events}");
    // Requests on connections after the first resumed its session (`r`); all over TLS.
    let log = nginx.access_log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 4, "{log}");
    assert!(lines.iter().all(|l| l.contains("TLSv1.3")), "{log}");
    assert!(lines.iter().any(|l| l.starts_with("r ")), "{log}");

    // Plain HTTP to nginx's TLS port: nginx says so in a 400, and so does get.
    let plain = format!("http://127.0.0.1:{}/big.bin", nginx.port);
    let o = run(dir.path(), &[&plain, "-o", "g"]);
    assert_eq!(code(&o), 10, "{}", stderr(&o));
    assert!(one_error_line(&o).contains("HTTPS port"), "{}", stderr(&o));
    // HTTPS to its plain port: nginx answers the ClientHello with a plain 400.
    let tls_to_plain = format!("https://localhost:{}/big.bin", nginx.plain_port);
    let o = run(
        dir.path(),
        &[&tls_to_plain, "-o", "g", "--cacert", path(&pki.ca)],
    );
    assert_eq!(code(&o), 10, "{}", stderr(&o));
    assert!(one_error_line(&o).contains("plain HTTP"), "{}", stderr(&o));
}

#[test]
fn a_redirect_from_https_to_http_is_followed_with_a_warning() {
    let pki = Pki::new();
    let body = data(100_000, 23);
    let plain = Origin::start(body.clone(), vec![], Faults::default());
    let tls = Origin::start_tls(body.clone(), vec![], Faults::default(), pki.server());
    let dir = tempfile::tempdir().unwrap();
    let to = plain.url("/file");
    let hop = tls.url(&format!("/away/{}", to.trim_start_matches("http://")));
    let o = run(
        dir.path(),
        &[&hop, "-o", "f", "-q", "--cacert", path(&pki.ca)],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    let err = stderr(&o);
    assert!(
        err.contains("WARNING") && err.contains("NOT encrypted"),
        "{err}"
    );
}
