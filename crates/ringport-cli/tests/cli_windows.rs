//! The `ringport` command on Windows (run under Wine in CI): `info` names the IOCP backend;
//! `copy` moves files, standard input and output, unbuffered files, with JSON progress, and
//! refuses what has no Windows form in one line; `serve` answers files, ranges and listings
//! and keeps requests inside its root (links out of it, `..`, streams are 403); `get`
//! downloads from `serve`.
#![cfg(windows)]

mod util;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use util::{raw, ringport, Serve};

/// Bytes that differ from block to block (a shifted copy would not compare equal).
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

fn run(cmd: &mut Command) -> Output {
    util::start_retrying(cmd, Command::output).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn info_names_the_completion_port_backend() {
    let out = run(ringport().arg("info"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("backend:     iocp"), "{text}");
    assert!(text.contains("operations:  overlapped"), "{text}");
}

#[test]
fn copy_a_file_with_json_progress() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(3 << 20 | 12345); // several blocks and a short tail
    std::fs::write(dir.path().join("src.bin"), &data).unwrap();
    let out = run(ringport().current_dir(dir.path()).args([
        "copy",
        "src.bin",
        "dst.bin",
        "--json",
        "--block-size",
        "65536",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.path().join("dst.bin")).unwrap(), data);
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or("");
    assert!(last.contains("\"state\":\"done\""), "{err}");
    assert!(last.contains(&format!("\"bytes\":{}", data.len())), "{err}");
}

#[test]
fn copy_unbuffered_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(1 << 20 | 777); // not a whole number of sectors
    std::fs::write(dir.path().join("src.bin"), &data).unwrap();
    let out = run(ringport()
        .current_dir(dir.path())
        .args(["copy", "--direct", "src.bin", "dst.bin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.path().join("dst.bin")).unwrap(), data);
}

#[test]
fn copy_standard_input_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(700_000);
    std::fs::write(dir.path().join("src.bin"), &data).unwrap();
    // A file to standard output.
    let out = run(ringport()
        .current_dir(dir.path())
        .args(["copy", "src.bin", "-"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, data);
    // Standard input to a file.
    let mut cmd = ringport();
    cmd.current_dir(dir.path())
        .args(["copy", "-", "in.bin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = util::start_retrying(&mut cmd, Command::spawn).unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.path().join("in.bin")).unwrap(), data);
}

#[test]
fn copy_refuses_what_windows_lacks_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("src.bin"), b"abc").unwrap();
    std::fs::create_dir(dir.path().join("tree")).unwrap();
    for (args, says) in [
        (
            &["copy", "--method", "range", "src.bin", "a.bin"][..],
            "copy_file_range has no Windows form",
        ),
        (
            &["copy", "--method", "splice", "src.bin", "b.bin"][..],
            "splice has no Windows form",
        ),
        (
            &["copy", "-r", "tree", "c"][..],
            "copying a tree (-r) is not supported on Windows yet",
        ),
    ] {
        let out = run(ringport().current_dir(dir.path()).args(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // The refused copies left no partial file behind.
    assert!(!dir.path().join("a.bin").exists());
    assert!(!dir.path().join("b.bin").exists());
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A symbolic link, or `false` when this system does not let the test make one.
fn symlink(target: &Path, link: &Path, dir: bool) -> bool {
    let made = if dir {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    };
    // Wine 8's CreateSymbolicLinkW reports success and makes nothing: look.
    let made = made.and_then(|()| std::fs::symlink_metadata(link).map(drop));
    if let Err(e) = &made {
        let _ = writeln!(
            std::io::stderr(),
            "skipped the link checks: this system made no symbolic link ({e})"
        );
    }
    made.is_ok()
}

#[test]
fn serve_files_ranges_listings_and_confinement() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("www");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir(top.path().join("outside")).unwrap();
    std::fs::write(root.join("a.txt"), "hello").unwrap();
    std::fs::write(root.join("sub").join("b.txt"), "inner").unwrap();
    std::fs::write(top.path().join("outside").join("secret.txt"), "secret").unwrap();
    let big = pattern(3 << 20);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    // Relative targets (Wine 8 resolves those; its absolute Windows targets dangle).
    let links = symlink(
        Path::new("..\\outside\\secret.txt"),
        &root.join("escape.txt"),
        false,
    ) && symlink(Path::new("a.txt"), &root.join("inside.txt"), false);

    let s = Serve::start(&root, &[]);
    let get = |path: &str| raw(s.addr, &format!("GET {path} HTTP/1.1"));
    let a = get("/a.txt");
    assert_eq!((status(&a), body(&a)), (200, "hello"), "{a}");
    let b = get("/sub/b.txt");
    assert_eq!((status(&b), body(&b)), (200, "inner"), "{b}");
    let range = raw(s.addr, "GET /a.txt HTTP/1.1\r\nRange: bytes=1-3");
    assert_eq!((status(&range), body(&range)), (206, "ell"), "{range}");
    assert_eq!(status(&get("/sub")), 301);
    assert_eq!(status(&get("/nothing.txt")), 404);
    // `..` however spelled, drive and stream names: never outside the root.
    for path in [
        "/..%2foutside/secret.txt",
        "/sub/..%5c..%5coutside/secret.txt",
    ] {
        let answer = get(path);
        assert!(matches!(status(&answer), 403 | 404), "{path}: {answer}");
        assert!(!answer.contains("secret"), "{path}: {answer}");
    }
    let stream = get("/a.txt::$DATA");
    assert!(matches!(status(&stream), 403 | 404), "{stream}");
    assert!(!stream.contains("hello"), "{stream}");
    // A large file goes out whole (TransmitFile), and from an offset.
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut c, &mut all).unwrap();
    let at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(all.len() - at, big.len());
    assert!(all[at..] == big[..], "the large body differs");
    let listing = get("/");
    assert_eq!(status(&listing), 200, "{listing}");
    assert!(listing.contains("href=\"a.txt\""), "{listing}");
    assert!(listing.contains("href=\"sub/\""), "{listing}");
    if links {
        let escape = get("/escape.txt");
        assert_eq!(status(&escape), 403, "{escape}");
        assert!(!escape.contains("secret"), "{escape}");
        let inside = get("/inside.txt");
        assert_eq!((status(&inside), body(&inside)), (200, "hello"), "{inside}");
        let listing = get("/");
        assert!(!listing.contains("escape.txt"), "{listing}");
        assert!(listing.contains("href=\"inside.txt\""), "{listing}");
    }
}

#[test]
fn serve_refuses_every_link_with_no_symlinks() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("www");
    std::fs::create_dir_all(root.join("real")).unwrap();
    std::fs::write(root.join("a.txt"), "hello").unwrap();
    std::fs::write(root.join("real").join("b.txt"), "inner").unwrap();
    if !(symlink(Path::new("a.txt"), &root.join("link.txt"), false)
        && symlink(Path::new("real"), &root.join("linkdir"), true))
    {
        return;
    }
    let s = Serve::start(&root, &["--no-symlinks"]);
    let get = |path: &str| raw(s.addr, &format!("GET {path} HTTP/1.1"));
    assert_eq!(body(&get("/a.txt")), "hello");
    let real = get("/real/b.txt");
    assert_eq!(body(&real), "inner", "{real}");
    assert_eq!(status(&get("/link.txt")), 403);
    assert_eq!(status(&get("/linkdir/b.txt")), 403);
}

#[test]
fn get_downloads_from_serve() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("www");
    std::fs::create_dir(&root).unwrap();
    let data = pattern(5 << 20);
    std::fs::write(root.join("file.bin"), &data).unwrap();
    let s = Serve::start(&root, &["--quiet"]);
    let out = run(ringport().current_dir(top.path()).args([
        "get",
        &s.url("/file.bin"),
        "-o",
        "got.bin",
        "-n",
        "4",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(top.path().join("got.bin")).unwrap(), data);
    // Lanes on a second loop: each opens the part file on its own completion port.
    let out = run(ringport().current_dir(top.path()).args([
        "get",
        &s.url("/file.bin"),
        "-o",
        "got2.bin",
        "-n",
        "4",
        "--threads",
        "2",
        "--json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(
        events.contains("\"event\":\"lane\",\"lane\":1,\"loop\":1"),
        "{events}"
    );
    assert_eq!(std::fs::read(top.path().join("got2.bin")).unwrap(), data);
}

/// Links made on the Unix side (scripts/wine-test.sh makes them, since Wine 8 cannot):
/// `www/inside.txt -> a.txt`, `www/escape.txt -> ../outside/secret.txt`,
/// `www/outdir -> ../outside`, `www/subdir -> sub`. Named by `RINGPORT_WINE_LINKS`.
#[test]
fn serve_follows_links_inside_and_refuses_links_out_made_on_the_host() {
    let Some(top) = std::env::var_os("RINGPORT_WINE_LINKS") else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: RINGPORT_WINE_LINKS names no fixture (scripts/wine-test.sh makes one)"
        );
        return;
    };
    let root = Path::new(&top).join("www");
    let s = Serve::start(&root, &[]);
    let get = |path: &str| raw(s.addr, &format!("GET {path} HTTP/1.1"));
    let inside = get("/inside.txt");
    assert_eq!((status(&inside), body(&inside)), (200, "hello"), "{inside}");
    let sub = get("/subdir/b.txt");
    assert_eq!((status(&sub), body(&sub)), (200, "inner"), "{sub}");
    for path in ["/escape.txt", "/outdir/secret.txt", "/outdir/"] {
        let answer = get(path);
        assert_eq!(status(&answer), 403, "{path}: {answer}");
        assert!(
            !answer.contains("secret\r") && !body(&answer).contains("secret"),
            "{answer}"
        );
    }
    let listing = get("/");
    assert!(listing.contains("href=\"inside.txt\""), "{listing}");
    assert!(!listing.contains("escape.txt"), "{listing}");
    assert!(!listing.contains("outdir"), "{listing}");
    drop(s);
    // With --no-symlinks every link is refused, inside or not.
    let s = Serve::start(&root, &["--no-symlinks"]);
    let get = |path: &str| raw(s.addr, &format!("GET {path} HTTP/1.1"));
    assert_eq!(body(&get("/a.txt")), "hello");
    for path in ["/inside.txt", "/subdir/b.txt", "/escape.txt"] {
        assert_eq!(status(&get(path)), 403, "{path}");
    }
}

/// `--threads 2` on Windows: loop 0 accepts and hands each connection to the loop with the
/// fewest open ones (the only mode there), so of ten connections held open at once five live
/// on loop 1, whose completion port adopts them at their first receive; every one is
/// answered. `--accept reuseport` with more than one loop is a usage error.
#[test]
fn serve_with_two_loops_answers_every_handed_connection() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello, loops").unwrap();
    let s = Serve::start(dir.path(), &["--threads", "2", "--quiet"]);
    assert!(s.stderr().contains("from 2 loops"), "{}", s.stderr());
    let mut held = Vec::new();
    for i in 0..10 {
        let mut c = std::net::TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        // Twice on each connection: the second request reads on the loop it was handed to.
        for round in 0..2 {
            let what = format!("connection {i}, request {round}");
            util::get_kept_alive(&mut c, "/hello.txt", b"hello, loops", &what);
        }
        held.push(c);
    }
    drop(held);
    let out = run(ringport().arg("serve").arg(dir.path()).args([
        "--addr",
        "127.0.0.1:0",
        "--threads",
        "2",
        "--accept",
        "reuseport",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--accept acceptor"),
        "{}",
        stderr(&out)
    );
}
