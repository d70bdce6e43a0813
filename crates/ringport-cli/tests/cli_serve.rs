//! `ringport serve`, the real binary in a temp directory, against the real `curl`: GET, HEAD,
//! ranges, revalidation, listings, keep-alive, path traversal, the access log, signals and
//! bad arguments.
// Unix only (the real `curl` (a Linux program Wine cannot start), symlinks and signals); the Windows side of the CLI is tested in cli_windows.rs.
#![cfg(unix)]

mod util;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use util::{curl, curl_text, raw, ringport, status, Serve};

/// `<tmp>/root` with a few files, and `<tmp>/secret.txt` outside it.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("site")).unwrap();
    std::fs::write(root.join("hello.txt"), "hello, ring\n").unwrap();
    std::fs::write(root.join("my file.json"), "{}").unwrap();
    std::fs::write(root.join("<b>&'x\".html"), "tricky").unwrap();
    std::fs::write(root.join("sub/inner.bin"), [1u8, 2, 3]).unwrap();
    std::fs::write(root.join("site/index.html"), "<p>index</p>").unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "TOP-SECRET").unwrap();
    symlink(tmp.path().join("secret.txt"), root.join("leak.txt")).unwrap();
    symlink(tmp.path(), root.join("up")).unwrap();
    symlink("hello.txt", root.join("alias.txt")).unwrap();
    // Absolute links are refused even when they point inside (RESOLVE_BENEATH).
    symlink(root.join("hello.txt"), root.join("abs-alias.txt")).unwrap();
    (tmp, root)
}

#[test]
fn get_and_head_with_content_types() {
    let (_tmp, root) = tree();
    let s = Serve::start(&root, &[]);
    let out = curl_text(&["-i", &s.url("/hello.txt")]);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.contains("content-type: text/plain; charset=utf-8\r\n"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nhello, ring\n"), "{out}");
    let head = curl_text(&["-I", &s.url("/my%20file.json")]);
    assert!(head.contains("content-length: 2\r\n"), "{head}");
    assert!(
        head.contains("content-type: application/json\r\n"),
        "{head}"
    );
    assert_eq!(curl_text(&[&s.url("/sub/inner.bin")]).as_bytes(), [1, 2, 3]);
    assert_eq!(
        curl_text(&[&s.url("/alias.txt")]),
        "hello, ring\n",
        "a symlink inside"
    );
    assert_eq!(status(&[&s.url("/nope")]), 404);
    assert_eq!(status(&["-X", "DELETE", &s.url("/hello.txt")]), 405);
}

#[test]
fn a_large_file_arrives_whole() {
    let (_tmp, root) = tree();
    let data: Vec<u8> = (0..6_000_000u32).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(root.join("big.bin"), &data).unwrap();
    let s = Serve::start(&root, &["--quiet"]);
    let out = curl(&[&s.url("/big.bin")]);
    assert!(out.status.success());
    assert!(out.stdout == data, "{} bytes", out.stdout.len());
}

#[test]
fn ranges_206_and_416() {
    let (_tmp, root) = tree();
    let s = Serve::start(&root, &[]);
    let url = s.url("/hello.txt");
    let out = curl_text(&["-i", "-r", "2-4", &url]);
    assert!(out.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{out}");
    assert!(out.contains("content-range: bytes 2-4/12\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nllo"), "{out}");
    assert_eq!(curl_text(&["-r", "-5", &url]), "ring\n");
    assert_eq!(curl_text(&["-r", "7-", &url]), "ring\n");
    let out = curl_text(&["-i", "-r", "100-200", &url]);
    assert!(out.starts_with("HTTP/1.1 416 "), "{out}");
    assert!(out.contains("content-range: bytes */12\r\n"), "{out}");
    // A first byte past 64 bits is still past the end.
    let huge = ["-H", "Range: bytes=99999999999999999999-", &url];
    assert_eq!(status(&huge), 416);
    // Several ranges: the whole file instead.
    assert_eq!(status(&["-r", "0-1,3-4", &url]), 200);
    // An empty file: a suffix range is satisfiable (RFC 9110 §14.1.1) and gets it whole, 200;
    // any first position is past its end, 416.
    std::fs::write(root.join("empty.txt"), b"").unwrap();
    let empty = s.url("/empty.txt");
    assert_eq!(status(&["-r", "-5", &empty]), 200);
    assert_eq!(status(&["-r", "0-", &empty]), 416);
    // As are two Range fields: which one to honour is not the server's guess.
    let two = ["-H", "Range: bytes=0-1", "-H", "Range: bytes=3-4", &url];
    assert_eq!(status(&two), 200);
}

#[test]
fn etag_and_last_modified_give_304() {
    let (_tmp, root) = tree();
    let s = Serve::start(&root, &[]);
    let url = s.url("/hello.txt");
    let head = curl_text(&["-I", &url]);
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {head}"))
            .trim()
            .to_string()
    };
    let etag = field("etag: ");
    let modified = field("last-modified: ");
    assert_eq!(
        status(&["-H", &format!("If-None-Match: {etag}"), &url]),
        304
    );
    assert_eq!(
        status(&["-H", &format!("If-None-Match: \"x\", W/{etag}"), &url]),
        304
    );
    assert_eq!(status(&["-H", "If-None-Match: \"other\"", &url]), 200);
    assert_eq!(
        status(&["-H", &format!("If-Modified-Since: {modified}"), &url]),
        304
    );
    let old = "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT";
    assert_eq!(status(&["-H", old, &url]), 200);
    // If-Range with a stale tag: the whole file, not the range.
    assert_eq!(
        status(&["-r", "0-1", "-H", "If-Range: \"stale\"", &url]),
        200
    );
    assert_eq!(
        status(&["-r", "0-1", "-H", &format!("If-Range: {etag}"), &url]),
        206
    );
}

#[test]
fn listings_escape_names_and_directories_redirect() {
    let (_tmp, root) = tree();
    let s = Serve::start(&root, &[]);
    let page = curl_text(&[&s.url("/")]);
    assert!(page.contains("<a href=\"sub/\">sub/</a>"), "{page}");
    assert!(page.contains("&lt;b&gt;&amp;&#39;x&quot;.html"), "{page}");
    assert!(page.contains("href=\"%3Cb%3E%26%27x%22.html\""), "{page}");
    assert!(page.contains("href=\"my%20file.json\""), "{page}");
    assert!(!page.contains("<b>&"), "{page}");
    assert!(!page.contains("href=\"../\""), "no parent link at the root");
    let sub = curl_text(&[&s.url("/sub/")]);
    assert!(
        sub.contains("href=\"../\"") && sub.contains("inner.bin"),
        "{sub}"
    );
    let redirect = curl_text(&["-i", &s.url("/sub?x=1")]);
    assert!(redirect.starts_with("HTTP/1.1 301"), "{redirect}");
    assert!(redirect.contains("location: /sub/?x=1\r\n"), "{redirect}");
    let redirect = raw(s.addr, "GET //evil.example/sub HTTP/1.1");
    assert!(!redirect.contains("location: //"), "{redirect}");
    assert_eq!(curl_text(&["-L", &s.url("/site")]), "<p>index</p>");
}

#[test]
fn curl_reuses_the_connection() {
    let (_tmp, root) = tree();
    let s = Serve::start(&root, &[]);
    let out = curl(&["-v", &s.url("/hello.txt"), &s.url("/hello.txt")]);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello, ring\nhello, ring\n");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Re-using existing connection") || log.contains("Reusing existing connection"),
        "{log}"
    );
}

#[test]
fn traversal_and_escaping_symlinks_are_refused() {
    let (_tmp, root) = tree();
    let s = Serve::start(&root, &[]);
    let attempts = [
        "GET /../secret.txt HTTP/1.1",
        "GET /sub/../../secret.txt HTTP/1.1",
        "GET /%2e%2e/secret.txt HTTP/1.1",
        "GET /%2E%2E%2Fsecret.txt HTTP/1.1",
        "GET /sub%2F..%2F..%2Fsecret.txt HTTP/1.1",
        "GET http://t/../secret.txt HTTP/1.1",
        "GET /leak.txt HTTP/1.1",
        "GET /up/secret.txt HTTP/1.1",
        "GET /up/ HTTP/1.1",
        "GET /abs-alias.txt HTTP/1.1",
    ];
    for line in attempts {
        let out = raw(s.addr, line);
        assert!(out.starts_with("HTTP/1.1 403 "), "{line}: {out}");
        assert!(!out.contains("TOP-SECRET"), "{line}: {out}");
    }
    // Absolute paths are paths under the root, never the file system's.
    for line in ["GET //etc/passwd HTTP/1.1", "GET /%2Fetc%2Fpasswd HTTP/1.1"] {
        let out = raw(s.addr, line);
        assert!(out.starts_with("HTTP/1.1 404 "), "{line}: {out}");
        assert!(!out.contains("root:"), "{line}: {out}");
    }
    for line in ["GET /a%00b HTTP/1.1", "GET /%zz HTTP/1.1"] {
        assert!(raw(s.addr, line).starts_with("HTTP/1.1 400 "), "{line}");
    }
    let out = curl(&["--path-as-is", &s.url("/../secret.txt")]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("TOP-SECRET"));
}

#[test]
fn access_log_lines_and_quiet() {
    let (_tmp, root) = tree();
    let mut s = Serve::start(&root, &[]);
    curl_text(&[&s.url("/hello.txt")]);
    let log = s.wait_for_log("\"GET /hello.txt HTTP/1.1\" 200 12");
    assert!(log.contains("\"GET /hello.txt HTTP/1.1\" 200 12 "), "{log}");
    let _ = raw(s.addr, "GET / HTTP/9.9");
    let log = s.wait_for_log("\"-\" 505");
    // The error body the server wrote counts as sent (nginx logs it too).
    let sent = log
        .split("\"-\" 505 ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(matches!(sent, Some(n) if n > 0), "{log}");
    assert!(s.interrupt().success());
    assert!(
        s.stderr().contains("ringport: shutting down"),
        "{}",
        s.stderr()
    );

    let mut quiet = Serve::start(&root, &["--quiet"]);
    curl_text(&[&quiet.url("/hello.txt")]);
    assert!(quiet.interrupt().success(), "Ctrl-C is a clean exit");
    let log = quiet.stderr();
    assert!(!log.contains("GET /hello.txt"), "{log}");
}

fn fails_with(args: &[&str], needle: &str) {
    let out = ringport().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.contains(needle), "{args:?}: {err}");
}

#[test]
fn bad_input_fails_with_a_clear_line() {
    let (tmp, root) = tree();
    let missing = tmp.path().join("missing");
    fails_with(&["serve", path(&missing)], "cannot serve");
    fails_with(&["serve", path(&root.join("hello.txt"))], "not a directory");
    fails_with(
        &["serve", path(&root), "--addr", "nonsense"],
        "invalid value",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    fails_with(&["serve", path(&root), "--addr", &addr], "cannot listen on");
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
