//! `ringport serve` as a static server people use: hidden dotfiles, the listing, index.html,
//! `--spa`, `--cors`, `--cache-control`, precompressed siblings, content types of source
//! files, preconditions (412), `/file.txt/`, the `--addr` forms and the URL printed.
// Unix only (curl, FIFOs and symlinks); the Windows side of the CLI is tested in cli_windows.rs.
#![cfg(unix)]

mod util;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use util::{curl, curl_text, raw, status, Serve};

/// A site: files, a subdirectory, dotfiles, links of every kind, a FIFO, sources.
fn site() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    for d in ["docs", "Assets", ".git", "app", ".well-known"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let files: &[(&str, &[u8])] = &[
        ("hello.txt", b"hello, ring\n"),
        ("file2.txt", b"two"),
        ("file10.txt", b"ten"),
        ("File1.txt", b"one"),
        ("big.bin", &[7u8; 3000]),
        (".env", b"SECRET=1"),
        (".git/config", b"[core]"),
        (".well-known/security.txt", b"Contact: x"),
        ("docs/index.html", b"<p>docs index</p>"),
        ("app/index.html", b"<p>app</p>"),
        ("main.rs", b"fn main() {}"),
        ("Cargo.toml", b"[package]"),
        ("ci.yaml", b"on: push"),
        ("run.sh", b"#!/bin/sh"),
        ("Makefile", b"all:"),
        ("LICENSE", b"MIT"),
    ];
    for (name, data) in files {
        std::fs::write(root.join(name), data).unwrap();
    }
    std::fs::write(tmp.path().join("outside.txt"), "outside").unwrap();
    symlink("hello.txt", root.join("inside-link.txt")).unwrap();
    symlink("../outside.txt", root.join("out-link.txt")).unwrap();
    symlink("missing.txt", root.join("dangling.txt")).unwrap();
    symlink("docs", root.join("docs-link")).unwrap();
    let fifo = std::ffi::CString::new(root.join("pipe").to_str().unwrap()).unwrap();
    // SAFETY: a valid C path; the result is checked.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    // A Unix socket: its open fails (ENXIO), which is a 403 like the FIFO's, not a 500.
    let socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    std::mem::forget(socket);
    (tmp, root)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn dotfiles_are_hidden_unless_asked_for() {
    let (_tmp, root) = site();
    let s = Serve::start(&root, &["--quiet"]);
    for path in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/docs/../.env",
        "/%2Eenv",
    ] {
        let got = status(&["--path-as-is", &s.url(path)]);
        assert!(got == 404 || got == 403, "{path}: {got}");
    }
    assert_eq!(status(&[&s.url("/.env")]), 404);
    assert_eq!(status(&[&s.url("/.git/config")]), 404);
    assert_eq!(
        curl_text(&[&s.url("/.well-known/security.txt")]),
        "Contact: x"
    );
    let page = curl_text(&[&s.url("/")]);
    assert!(!page.contains(".env") && !page.contains(".git"), "{page}");

    let shown = Serve::start(&root, &["--quiet", "--hidden"]);
    assert_eq!(curl_text(&[&shown.url("/.env")]), "SECRET=1");
    assert_eq!(curl_text(&[&shown.url("/.git/config")]), "[core]");
    let page = curl_text(&[&shown.url("/")]);
    assert!(
        page.contains(">.env<") && page.contains(">.git/<"),
        "{page}"
    );
}

/// The rows of a listing, as (href, shown name, size cell, type cell).
fn rows(page: &str) -> Vec<(String, String, String, String)> {
    let body = page.split("<tbody>").nth(1).unwrap_or("");
    body.split("<tr")
        .skip(1)
        .filter_map(|row| {
            let href = row.split("href=\"").nth(1)?.split('"').next()?.to_string();
            let name = row.split("</a>").next()?.rsplit('>').next()?.to_string();
            let cells: Vec<&str> = row.split("<td").skip(1).collect();
            let cell = |i: usize| {
                cells.get(i).map_or(String::new(), |c| {
                    let text = c.split_once('>').map_or("", |(_, t)| t);
                    text.split("</td>").next().unwrap_or("").to_string()
                })
            };
            Some((href, name, cell(1), cell(3)))
        })
        .collect()
}

#[test]
fn the_listing_has_columns_order_and_only_what_is_served() {
    let (_tmp, root) = site();
    let s = Serve::start(&root, &["--quiet"]);
    let out = curl(&["-i", &s.url("/")]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        header(&text, "content-type") == Some("text/html; charset=utf-8"),
        "{text}"
    );
    let page = text.split("\r\n\r\n").nth(1).unwrap();
    // The page: a header row, a viewport, a style sheet aware of dark mode, no script, no
    // external file.
    for needle in [
        "<th class=\"n\">Name</th>",
        "<th class=\"s\">Size</th>",
        "<th class=\"m\">Modified</th>",
        "<th class=\"t\">Type</th>",
        "<meta name=\"viewport\"",
        "prefers-color-scheme: dark",
        "<title>Index of /</title>",
    ] {
        assert!(page.contains(needle), "{needle} in {page}");
    }
    assert!(!page.contains("<script") && !page.contains("<link") && !page.contains("src="));
    assert!(!page.contains("href=\"../\""), "no parent link at the root");
    let rows = rows(page);
    let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    // Directories first (a link to one counts as one), then natural, case-insensitive order;
    // a dangling link, a link out of the root, a FIFO and hidden names are left out.
    assert_eq!(
        names,
        [
            ".well-known/",
            "app/",
            "Assets/",
            "docs/",
            "docs-link/",
            "big.bin",
            "Cargo.toml",
            "ci.yaml",
            "File1.txt",
            "file2.txt",
            "file10.txt",
            "hello.txt",
            "inside-link.txt",
            "LICENSE",
            "main.rs",
            "Makefile",
            "run.sh",
        ],
        "{page}"
    );
    let big = rows.iter().find(|r| r.1 == "big.bin").unwrap();
    assert_eq!(big.2, "2.9 KiB");
    assert_eq!(big.3, "File");
    let hello = rows.iter().find(|r| r.1 == "hello.txt").unwrap();
    assert_eq!(hello.2, "12 B");
    assert_eq!(hello.3, "Text");
    let folder = rows.iter().find(|r| r.1 == "Assets/").unwrap();
    assert_eq!(
        (folder.0.as_str(), folder.3.as_str()),
        ("Assets/", "Folder")
    );
    // Dates look like 2026-11-22 13:05.
    let date = page.split("<td class=\"m\">").nth(2).unwrap();
    let date = &date[..16];
    assert!(
        date.as_bytes()[4] == b'-' && date.as_bytes()[10] == b' ' && date.as_bytes()[13] == b':',
        "{date}"
    );
    // Below the root: a parent link.
    let assets = curl_text(&[&s.url("/Assets/")]);
    assert!(assets.contains("<a href=\"../\">../</a>"), "{assets}");
}

#[test]
fn index_html_or_a_listing() {
    let (_tmp, root) = site();
    let s = Serve::start(&root, &["--quiet"]);
    assert_eq!(curl_text(&[&s.url("/docs/")]), "<p>docs index</p>");
    assert_eq!(curl_text(&["-L", &s.url("/docs")]), "<p>docs index</p>");
    let listed = Serve::start(&root, &["--quiet", "--no-index"]);
    let page = curl_text(&[&listed.url("/docs/")]);
    assert!(
        page.contains("Index of /docs/") && page.contains(">index.html<"),
        "{page}"
    );
}

#[test]
fn spa_falls_back_to_the_root_index() {
    let (_tmp, root) = site();
    std::fs::write(root.join("index.html"), "<p>spa shell</p>").unwrap();
    let plain = Serve::start(&root, &["--quiet"]);
    assert_eq!(status(&[&plain.url("/users/42")]), 404);
    let spa = Serve::start(&root, &["--quiet", "--spa"]);
    let out = curl_text(&["-i", &spa.url("/users/42")]);
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    assert!(out.ends_with("<p>spa shell</p>"), "{out}");
    // Real files are still themselves; hidden ones still 404.
    assert_eq!(curl_text(&[&spa.url("/hello.txt")]), "hello, ring\n");
    assert_eq!(status(&[&spa.url("/.env")]), 404);
}

#[test]
fn cors_and_cache_control() {
    let (_tmp, root) = site();
    let plain = Serve::start(&root, &["--quiet"]);
    let head = curl_text(&["-sI", &plain.url("/hello.txt")]);
    assert_eq!(header(&head, "access-control-allow-origin"), None);
    assert_eq!(header(&head, "cache-control"), None);
    assert_eq!(status(&["-X", "OPTIONS", &plain.url("/hello.txt")]), 405);

    let s = Serve::start(
        &root,
        &["--quiet", "--cors", "--cache-control", "max-age=60, public"],
    );
    let head = curl_text(&["-sI", &s.url("/hello.txt")]);
    assert_eq!(header(&head, "access-control-allow-origin"), Some("*"));
    assert!(
        header(&head, "access-control-expose-headers").is_some_and(|v| v.contains("Content-Range"))
    );
    assert_eq!(header(&head, "cache-control"), Some("max-age=60, public"));
    let etag = header(&head, "etag").unwrap().to_string();
    let not_modified = curl_text(&[
        "-si",
        "-H",
        &format!("If-None-Match: {etag}"),
        &s.url("/hello.txt"),
    ]);
    assert!(not_modified.starts_with("HTTP/1.1 304"), "{not_modified}");
    assert_eq!(
        header(&not_modified, "cache-control"),
        Some("max-age=60, public")
    );
    let pre = curl_text(&[
        "-si",
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://example.com",
        "-H",
        "Access-Control-Request-Method: GET",
        "-H",
        "Access-Control-Request-Headers: range",
        &s.url("/hello.txt"),
    ]);
    assert!(pre.starts_with("HTTP/1.1 204"), "{pre}");
    assert_eq!(header(&pre, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&pre, "access-control-allow-headers"), Some("range"));
    assert!(header(&pre, "access-control-allow-methods").is_some_and(|m| m.contains("GET")));
    let bad = ["--quiet", "--cache-control", "a\nb"];
    let out = util::ringport()
        .arg("serve")
        .arg(&root)
        .args(bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cache-control"));
}

#[test]
fn precompressed_siblings_when_accepted() {
    let (_tmp, root) = site();
    std::fs::write(root.join("app.js"), "console.log('identity')").unwrap();
    std::fs::write(root.join("app.js.br"), "BROTLI-BYTES").unwrap();
    std::fs::write(root.join("app.js.gz"), "GZIP-BYTES").unwrap();
    std::fs::write(root.join("plain.css"), "body{}").unwrap();
    let s = Serve::start(&root, &["--quiet"]);
    let url = s.url("/app.js");
    let get = |ae: &str, extra: &[&str]| {
        let mut args = vec!["-si"];
        if !ae.is_empty() {
            args.extend(["-H", ae]);
        }
        args.extend_from_slice(extra);
        args.push(&url);
        curl_text(&args)
    };
    let br = get("Accept-Encoding: gzip, deflate, br", &[]);
    assert!(br.ends_with("\r\n\r\nBROTLI-BYTES"), "{br}");
    assert_eq!(header(&br, "content-encoding"), Some("br"));
    assert_eq!(
        header(&br, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(header(&br, "vary"), Some("Accept-Encoding"));
    assert_eq!(header(&br, "content-length"), Some("12"));
    let gz = get("Accept-Encoding: gzip", &[]);
    assert!(gz.ends_with("\r\n\r\nGZIP-BYTES"), "{gz}");
    assert_eq!(header(&gz, "content-encoding"), Some("gzip"));
    // br refused (q=0): the next best.
    let gz = get("Accept-Encoding: br;q=0, gzip;q=0.5", &[]);
    assert_eq!(header(&gz, "content-encoding"), Some("gzip"));
    let plain = get("", &[]);
    assert!(plain.ends_with("console.log('identity')"), "{plain}");
    assert_eq!(header(&plain, "content-encoding"), None);
    let identity = get("Accept-Encoding: identity", &[]);
    assert_eq!(header(&identity, "content-encoding"), None);
    // Ranges stay on the identity form.
    let ranged = get("Accept-Encoding: br", &["-r", "0-6"]);
    assert!(ranged.starts_with("HTTP/1.1 206"), "{ranged}");
    assert!(ranged.ends_with("console"), "{ranged}");
    assert_eq!(header(&ranged, "content-encoding"), None);
    // Each form has its own validator.
    let tag = header(&br, "etag").unwrap().to_string();
    assert_ne!(Some(tag.as_str()), header(&plain, "etag"));
    let again = get(
        "Accept-Encoding: br",
        &["-H", &format!("If-None-Match: {tag}")],
    );
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
    // No sibling: no Vary, no encoding.
    let css = curl_text(&[
        "-si",
        "-H",
        "Accept-Encoding: br, gzip",
        &s.url("/plain.css"),
    ]);
    assert_eq!(header(&css, "content-encoding"), None);
    assert_eq!(header(&css, "vary"), None);
    let off = Serve::start(&root, &["--quiet", "--no-precompressed"]);
    let out = curl_text(&["-si", "-H", "Accept-Encoding: br", &off.url("/app.js")]);
    assert_eq!(header(&out, "content-encoding"), None);
}

#[test]
fn source_and_text_files_are_shown_as_text() {
    let (_tmp, root) = site();
    let s = Serve::start(&root, &["--quiet"]);
    for name in [
        "main.rs",
        "Cargo.toml",
        "ci.yaml",
        "run.sh",
        "Makefile",
        "LICENSE",
        "hello.txt",
    ] {
        let head = curl_text(&["-sI", &s.url(&format!("/{name}"))]);
        assert_eq!(
            header(&head, "content-type"),
            Some("text/plain; charset=utf-8"),
            "{name}: {head}"
        );
    }
    let head = curl_text(&["-sI", &s.url("/big.bin")]);
    assert_eq!(
        header(&head, "content-type"),
        Some("application/octet-stream")
    );
}

#[test]
fn preconditions_and_slashes() {
    let (_tmp, root) = site();
    let s = Serve::start(&root, &["--quiet"]);
    let url = s.url("/hello.txt");
    let head = curl_text(&["-sI", &url]);
    let etag = header(&head, "etag").unwrap().to_string();
    let modified = header(&head, "last-modified").unwrap().to_string();
    assert_eq!(status(&["-H", "If-Match: \"other\"", &url]), 412);
    assert_eq!(
        status(&["-H", &format!("If-Match: \"x\", {etag}"), &url]),
        200
    );
    assert_eq!(status(&["-H", "If-Match: *", &url]), 200);
    // If-Match compares strongly: a weak tag never matches.
    assert_eq!(status(&["-H", &format!("If-Match: W/{etag}"), &url]), 412);
    let old = "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT";
    assert_eq!(status(&["-H", old, &url]), 412);
    assert_eq!(
        status(&["-H", &format!("If-Unmodified-Since: {modified}"), &url]),
        200
    );
    // If-Match wins over If-Unmodified-Since.
    assert_eq!(
        status(&["-H", &format!("If-Match: {etag}"), "-H", old, &url]),
        200
    );
    // A file named like a directory is not found; a directory without its slash moves.
    assert_eq!(status(&[&s.url("/hello.txt/")]), 404);
    assert_eq!(status(&[&s.url("/big.bin/")]), 404);
    assert_eq!(status(&[&s.url("/docs")]), 301);
    assert_eq!(curl_text(&[&s.url("/inside-link.txt")]), "hello, ring\n");
    assert_eq!(status(&[&s.url("/out-link.txt")]), 403);
    assert_eq!(status(&[&s.url("/pipe")]), 403);
    assert_eq!(status(&[&s.url("/sock")]), 403);
    let long = format!("GET /{} HTTP/1.1", "a".repeat(70_000));
    assert!(raw(s.addr, &long).starts_with("HTTP/1.1 414 "));
}

#[test]
fn no_symlinks_refuses_every_link() {
    let (_tmp, root) = site();
    let s = Serve::start(&root, &["--quiet", "--no-symlinks"]);
    assert_eq!(status(&[&s.url("/inside-link.txt")]), 403);
    assert_eq!(status(&[&s.url("/docs-link/")]), 403);
    assert_eq!(curl_text(&[&s.url("/hello.txt")]), "hello, ring\n");
    let page = curl_text(&[&s.url("/")]);
    assert!(
        !page.contains("inside-link.txt") && !page.contains("docs-link"),
        "{page}"
    );
}

/// Whether this machine has an IPv6 loopback.
fn has_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

fn serves_at(s: &Serve, root: &Path) {
    assert_eq!(
        curl_text(&[&s.url("/hello.txt")]),
        "hello, ring\n",
        "{}",
        root.display()
    );
}

#[test]
fn addr_forms_and_the_url_printed() {
    let (_tmp, root) = site();
    // localhost:PORT and PORT: this machine only.
    for addr in ["localhost:0", "0", "127.0.0.1:0"] {
        let s = Serve::start_with(&root, &["--quiet", "--addr", addr]);
        assert!(s.addr.ip().is_loopback(), "{addr}: {}", s.addr);
        let line = s.stderr();
        assert!(
            line.contains(&format!("on http://{}/ (Ctrl-C to stop)", s.addr)),
            "{line}"
        );
        serves_at(&s, &root);
    }
    // :PORT: every interface; the URL printed opens on this machine.
    let s = Serve::start_with(&root, &["--quiet", "--addr", ":0"]);
    let line = s.stderr();
    assert!(line.contains("and every interface"), "{line}");
    serves_at(&s, &root);
    if has_ipv6() {
        let v6 = format!("http://[::1]:{}/hello.txt", s.addr.port());
        assert_eq!(curl_text(&[&v6]), "hello, ring\n", ":PORT takes IPv6 too");
        let s = Serve::start_with(&root, &["--quiet", "--addr", "[::]:0"]);
        serves_at(&s, &root);
        let s = Serve::start_with(&root, &["--quiet", "--addr", "[::1]:0"]);
        assert!(s.stderr().contains("on http://[::1]:"), "{}", s.stderr());
        serves_at(&s, &root);
    }
    for bad in ["nonsense", "host:80", "99999", ":x"] {
        let out = util::ringport()
            .args(["serve"])
            .arg(&root)
            .args(["--addr", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not an address"), "{bad}: {err}");
    }
}
