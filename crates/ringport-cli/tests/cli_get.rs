//! `ringport get` end to end: the real binary against a misbehaving origin, `ringport serve`
//! and nginx; resume after `kill -9` and Ctrl-C; a full disk; the exit codes.
// Unix only (nginx, `kill -9` and SIGINT; `ringport get` on Windows is in cli_windows.rs); the Windows side of the CLI is tested in cli_windows.rs.
#![cfg(unix)]

mod get_origin;
mod util;

use get_origin::{data, Faults, Origin};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

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

/// Only the final file: no `.part`, no journal.
fn assert_clean(dir: &Path, name: &str) {
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec![name.to_string()], "only the output is left");
}

fn assert_nothing(dir: &Path) {
    let left: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn segmented_download_is_exact_and_leaves_only_the_file() {
    let body = data(3 << 20, 1);
    let origin = Origin::start(body.clone(), vec![], Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[&origin.url("/file"), "-o", "out.bin", "-n", "4", "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("out.bin")).unwrap(), body);
    assert_clean(dir.path(), "out.bin");
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(
        events.contains(&format!("\"sha256\":\"{}\"", sha(&body))),
        "{events}"
    );
    assert!(events.contains("\"event\":\"steal\""), "{events}");
    // Every range request after the first carried If-Range with the first ETag.
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
        assert_eq!(s.header("accept-encoding").as_deref(), Some("identity"));
    }
}

/// The loops each lane of `--json`'s "lane" events ran on.
fn lane_loops(events: &str) -> Vec<u64> {
    events
        .lines()
        .filter(|l| l.contains("\"event\":\"lane\""))
        .map(|l| {
            let at = l.find("\"loop\":").expect("a lane event names its loop") + 7;
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().unwrap()
        })
        .collect()
}

#[test]
fn lanes_spread_over_the_loops_of_threads_and_the_file_is_exact() {
    let body = data(6 << 20, 2);
    let faults = Faults {
        rate: Some(24 << 20),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            &origin.url("/file"),
            "-o",
            "out.bin",
            "-n",
            "4",
            "--threads",
            "2",
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("out.bin")).unwrap(), body);
    assert_clean(dir.path(), "out.bin");
    let events = String::from_utf8_lossy(&o.stdout);
    let loops = lane_loops(&events);
    // Lane 0 (the first response's connection) stays on loop 0; the next goes to the loop
    // with fewer lanes.
    assert_eq!(loops.first(), Some(&0), "{events}");
    assert_eq!(loops.get(1), Some(&1), "{events}");
    let on = |l: u64| loops.iter().filter(|&&x| x == l).count();
    assert!(on(0) >= 2 && on(1) >= 2, "{loops:?}");
    assert!(loops.iter().all(|&l| l < 2), "{loops:?}");
    assert!(
        events.contains(&format!("\"sha256\":\"{}\"", sha(&body))),
        "{events}"
    );
    // One loop (the default) keeps every lane on it.
    let o = run(
        dir.path(),
        &[&origin.url("/file"), "-o", "one.bin", "-n", "3", "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let loops = lane_loops(&String::from_utf8_lossy(&o.stdout));
    assert!(
        loops.len() >= 3 && loops.iter().all(|&l| l == 0),
        "{loops:?}"
    );
    for bad in ["0", "65", "two"] {
        let o = run(dir.path(), &[&origin.url("/file"), "--threads", bad]);
        assert_eq!(code(&o), 2, "--threads {bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--threads"), "{}", stderr(&o));
    }
}

#[test]
fn names_headers_redirects_and_status_codes() {
    let body = data(200_000, 2);
    let faults = Faults {
        disposition: Some("attachment; filename=\"../../evil name.bin\"".into()),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let dir = tempfile::tempdir().unwrap();
    // -O takes the server's name, without its path.
    let o = run(
        dir.path(),
        &[&origin.url("/r1"), "-O", "-H", "X-Token: t1", "-q"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        o.stderr.is_empty() && o.stdout.is_empty(),
        "--quiet prints nothing"
    );
    assert_eq!(
        std::fs::read(dir.path().join("evil name.bin")).unwrap(),
        body
    );
    assert!(origin
        .seen()
        .iter()
        .all(|s| s.header("x-token").as_deref() == Some("t1")));
    // Again: the name the server picked is taken, and is not replaced.
    std::fs::write(dir.path().join("evil name.bin"), "mine").unwrap();
    let o = run(dir.path(), &[&origin.url("/r1"), "-O", "-q"]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(stderr(&o).contains("exists already"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.path().join("evil name.bin")).unwrap(),
        b"mine"
    );
    std::fs::remove_file(dir.path().join("evil name.bin")).unwrap();
    // Without -O: the URL's name.
    let o = run(dir.path(), &[&origin.url("/file"), "-q"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("file")).unwrap(), body);
    let o = run(dir.path(), &[&origin.url("/loop1"), "-o", "x"]);
    assert_eq!(code(&o), 9, "{}", stderr(&o));
    assert!(stderr(&o).contains("redirect loop"), "{}", stderr(&o));
    // No redirect allowed: the first one is over the limit too (exit 9, not the 302's 4).
    let o = run(
        dir.path(),
        &[&origin.url("/loop1"), "-o", "x", "--max-redirects", "0"],
    );
    assert_eq!(code(&o), 9, "{}", stderr(&o));
    assert!(stderr(&o).contains("--max-redirects 0"), "{}", stderr(&o));
    let o = run(dir.path(), &[&origin.url("/missing"), "-o", "x"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("404"), "{}", stderr(&o));
    assert!(!dir.path().join("x").exists() && !dir.path().join("x.part").exists());
    let o = run(dir.path(), &[&origin.url("/empty"), "-o", "empty"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::metadata(dir.path().join("empty")).unwrap().len(),
        0
    );
    // HTTPS is tried like HTTP (cli_get_tls.rs): nothing listens on port 1.
    let o = run(
        dir.path(),
        &["https://127.0.0.1:1/x", "-o", "y", "--retries", "1"],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot connect"), "{}", stderr(&o));
}

#[test]
fn a_server_that_ignores_ranges_gets_one_stream() {
    let body = data(1 << 20, 3);
    let faults = Faults {
        ignore_range: true,
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "f", "-n", "8"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    assert_eq!(origin.requests(), 1, "one stream, no range requests");
}

#[test]
fn a_change_on_the_server_stops_or_restarts() {
    let (v1, v2) = (data(2 << 20, 4), data(2 << 20, 5));
    let faults = Faults {
        change_at: Some(2),
        rate: Some(4 << 20),
        ..Faults::default()
    };
    let origin = Origin::start(v1.clone(), v2.clone(), faults.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "f", "-n", "4"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("changed"), "{}", stderr(&o));
    assert!(
        !dir.path().join("f").exists(),
        "never a mix of two versions"
    );
    // With --restart-on-change it starts over and gets the new version whole.
    let origin = Origin::start(v1, v2.clone(), faults);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            &origin.url("/file"),
            "-o",
            "f",
            "-n",
            "4",
            "--restart-on-change",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), v2);
    assert_clean(dir.path(), "f");
}

#[test]
fn lies_about_content_length_are_errors() {
    let body = data(1 << 20, 6);
    let dir = tempfile::tempdir().unwrap();
    // Ranges whose Content-Length disagrees with Content-Range: a protocol error.
    let faults = Faults {
        length_lie: -1000,
        lie_on_ranges: true,
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let o = run(
        dir.path(),
        &[&origin.url("/file"), "-o", "f", "--retries", "2"],
    );
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    assert!(!dir.path().join("f").exists());
    // The blocks already proven stay for a resume: the server broke the protocol, the file
    // did not change.
    assert!(stderr(&o).contains("kept"), "{}", stderr(&o));
    std::fs::remove_file(dir.path().join("f.part")).unwrap();
    std::fs::remove_file(dir.path().join("f.part.journal")).unwrap();
    // One stream, a Content-Length shorter than the body: the excess is noticed.
    let faults = Faults {
        ignore_range: true,
        length_lie: -1000,
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "g"]);
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("more bytes than its Content-Length"),
        "{}",
        stderr(&o)
    );
    // One stream, a Content-Length longer than the body: the body ends short.
    let faults = Faults {
        ignore_range: true,
        length_lie: 1000,
        ..Faults::default()
    };
    let origin = Origin::start(body, vec![], faults);
    let o = run(
        dir.path(),
        &[&origin.url("/file"), "-o", "h", "--read-timeout", "0.5"],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_nothing(dir.path());
}

#[test]
fn connections_closed_after_k_bytes_and_503s_are_retried() {
    let body = data(4 << 20, 7);
    let faults = Faults {
        close_after: Some(300_000),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[&origin.url("/file"), "-o", "f", "-n", "4", "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(events.contains("\"event\":\"retry\""), "{events}");

    let faults = Faults {
        busy: Some((2, 1)),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let start = Instant::now();
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "g", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("g")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(
        events.contains("\"reason\":\"503 Service Unavailable\""),
        "{events}"
    );
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 was honoured twice"
    );
    assert!(o.stderr.is_empty(), "--json: {}", stderr(&o));
    // Without --json or a terminal, a wait the server asked for is said on stderr (one line for
    // a burst), so a long one does not look like a hang; --quiet says nothing.
    let faults = Faults {
        busy: Some((2, 1)),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "h"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let notes = stderr(&o);
    assert_eq!(
        notes.matches("asked to retry in 1 s (Retry-After)").count(),
        1,
        "{notes}"
    );
    let faults = Faults {
        busy: Some((1, 1)),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "i", "-q"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "--quiet: {}", stderr(&o));
}

#[test]
fn checksum_and_rate_limit() {
    let body = data(600_000, 8);
    let origin = Origin::start(body.clone(), vec![], Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let good = format!("sha256:{}", sha(&body));
    let start = Instant::now();
    let o = run(
        dir.path(),
        &[
            &origin.url("/file"),
            "-o",
            "f",
            "--checksum",
            &good,
            "--limit-rate",
            "400K",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let secs = start.elapsed().as_secs_f64();
    assert!(secs > 1.2, "600 kB at 400 KiB/s took {secs:.2} s");
    let bad = format!("sha256:{}", "0".repeat(64));
    let o = run(
        dir.path(),
        &[&origin.url("/file"), "-o", "g", "--checksum", &bad],
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(stderr(&o).contains("checksum mismatch"), "{}", stderr(&o));
    assert_clean(dir.path(), "f");
}

#[test]
fn mirrors_are_used_together() {
    let body = data(4 << 20, 9);
    let slow = Faults {
        rate: Some(8 << 20),
        ..Faults::default()
    };
    let a = Origin::start(body.clone(), vec![], slow.clone());
    let b = Origin::start(body.clone(), vec![], slow);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[&a.url("/file"), &b.url("/file"), "-o", "f", "-n", "4"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    assert!(
        a.requests() >= 1 && b.requests() >= 1,
        "{} / {}",
        a.requests(),
        b.requests()
    );
}

#[test]
fn a_mirror_with_another_file_is_dropped() {
    let body = data(4 << 20, 17);
    let slow = Faults {
        rate: Some(4 << 20),
        ..Faults::default()
    };
    let good = Origin::start(body.clone(), vec![], slow.clone());
    // Same name, another length: its first range answer gives it away.
    let bad = Origin::start(data(3 << 20, 18), vec![], slow);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            &good.url("/file"),
            &bad.url("/file"),
            "-o",
            "f",
            "-n",
            "4",
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(events.contains("\"event\":\"mirror-dropped\""), "{events}");
    assert!(bad.requests() >= 1);
}

#[test]
fn a_slow_connection_s_last_blocks_are_hedged() {
    // The first connection crawls; the others are fast. Its range is split away until too
    // little is left to split, and then its tail is fetched a second time.
    let body = data(2 << 20, 19);
    let faults = Faults {
        slow: Some((1000, 48 << 10)),
        rate: Some(16 << 20),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let o = run(
        dir.path(),
        &[&origin.url("/file"), "-o", "f", "-n", "2", "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(events.contains("\"event\":\"hedge\""), "{events}");
    // Without the hedge the slow connection's last blocks alone would take seconds.
    eprintln!("hedged download: {:.2} s", start.elapsed().as_secs_f64());
}

/// Starts a throttled download and kills it with SIGKILL after `after`.
fn killed_after(dir: &Path, url: &str, after: Duration) {
    let mut child = get(dir, &[url, "-o", "f", "-n", "4", "-q"])
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn kill_9_at_random_moments_then_resume_gives_the_right_file() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut kills = 0;
    let mut resumed_any = false;
    for round in 0..3 {
        let body = data(8 << 20, 100 + round);
        let faults = Faults {
            rate: Some(512 << 10),
            ..Faults::default()
        };
        let origin = Origin::start(body.clone(), vec![], faults);
        let dir = tempfile::tempdir().unwrap();
        let url = origin.url("/file");
        for _ in 0..8 {
            killed_after(dir.path(), &url, Duration::from_millis(40 + rnd(260)));
            kills += 1;
            if dir.path().join("f").exists() {
                break;
            }
        }
        let o = run(dir.path(), &[&url, "-o", "f", "-n", "4", "--json"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let got = std::fs::read(dir.path().join("f")).unwrap();
        assert_eq!(sha(&got), sha(&body), "round {round}");
        assert_clean(dir.path(), "f");
        let events = String::from_utf8_lossy(&o.stdout);
        resumed_any |= !events.contains("\"resumed\":0,");
    }
    assert!(kills >= 20, "{kills} kills");
    assert!(resumed_any, "some run resumed bytes from the journal");
}

#[test]
fn ctrl_c_keeps_the_part_and_journal_and_resumes() {
    // With lanes on a second loop too: every lane stops before the journal's last commit.
    for threads in ["1", "2"] {
        ctrl_c_then_resume(threads);
    }
}

fn ctrl_c_then_resume(threads: &str) {
    let body = data(4 << 20, 11);
    let faults = Faults {
        rate: Some(2 << 20),
        ..Faults::default()
    };
    let origin = Origin::start(body.clone(), vec![], faults);
    let dir = tempfile::tempdir().unwrap();
    let url = origin.url("/file");
    let child = get(
        dir.path(),
        &[&url, "-o", "f", "-n", "2", "--threads", threads],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: the pid is our own child's, still running (not reaped).
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 130, "{}", stderr(&o));
    assert!(stderr(&o).contains("resumes"), "{}", stderr(&o));
    assert!(dir.path().join("f.part").exists() && dir.path().join("f.part.journal").exists());
    let o = run(dir.path(), &[&url, "-o", "f", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(!events.contains("\"resumed\":0,"), "{events}");
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    assert_clean(dir.path(), "f");
}

#[test]
fn a_resume_against_another_version_is_refused() {
    let (v1, v2) = (data(4 << 20, 12), data(4 << 20, 13));
    let slow = Faults {
        rate: Some(2 << 20),
        ..Faults::default()
    };
    let origin = Origin::start(v1, vec![], slow);
    let dir = tempfile::tempdir().unwrap();
    killed_after(dir.path(), &origin.url("/file"), Duration::from_millis(500));
    drop(origin);
    assert!(dir.path().join("f.part.journal").exists());
    // The same URL now serves another version (ETag v2 from the first request on).
    let changed = Faults {
        change_at: Some(0),
        ..Faults::default()
    };
    let origin = Origin::start(vec![], v2, changed);
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "f"]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(stderr(&o).contains("another version"), "{}", stderr(&o));
    assert!(!dir.path().join("f").exists());
}

#[test]
fn a_full_disk_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .output();
    if !matches!(&mounted, Ok(o) if o.status.success()) {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root): {mounted:?}");
        return;
    }
    let body = data(3 << 20, 14);
    let origin = Origin::start(body, vec![], Faults::default());
    let o = run(&mnt, &[&origin.url("/file"), "-o", "f"]);
    let _ = Command::new("umount").arg(&mnt).status();
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(stderr(&o).contains("disk full"), "{}", stderr(&o));
}

#[test]
fn against_ringport_serve() {
    let dir = tempfile::tempdir().unwrap();
    let body = data(5 << 20, 15);
    std::fs::write(dir.path().join("big.bin"), &body).unwrap();
    let serve = util::Serve::start(dir.path(), &["-q"]);
    let out = tempfile::tempdir().unwrap();
    let o = run(out.path(), &[&serve.url("/big.bin"), "-o", "f", "-n", "4"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(out.path().join("f")).unwrap(), body);
}

#[test]
fn against_nginx() {
    if Command::new("nginx").arg("-v").output().is_err() {
        eprintln!("skipped: nginx is not installed");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let body = data(5 << 20, 16);
    std::fs::write(root.path().join("big.bin"), &body).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prefix = tempfile::tempdir().unwrap();
    let conf = prefix.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1; pid {p}/nginx.pid; error_log {p}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {p}; proxy_temp_path {p};\n\
             fastcgi_temp_path {p}; uwsgi_temp_path {p}; scgi_temp_path {p};\n\
             server {{ listen 127.0.0.1:{port}; location / {{ root {r}; limit_rate 4m; }} }} }}\n",
            p = prefix.path().display(),
            r = root.path().display()
        ),
    )
    .unwrap();
    let mut nginx = Command::new("nginx")
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
    // SIGTERM, not SIGKILL: the master then stops its worker too.
    let stop = |nginx: &mut std::process::Child| {
        // SAFETY: the pid is our own child's, not reaped yet.
        unsafe { libc::kill(nginx.id() as i32, libc::SIGTERM) };
        let _ = nginx.wait();
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) || nginx.try_wait().unwrap().is_some() {
            stop(&mut nginx);
            let log = std::fs::read_to_string(prefix.path().join("error.log")).unwrap_or_default();
            panic!("nginx did not start: {log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/big.bin");
    let o = run(out.path(), &[&url, "-o", "f", "-n", "4", "--json"]);
    stop(&mut nginx);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(out.path().join("f")).unwrap(), body);
    let events = String::from_utf8_lossy(&o.stdout);
    assert!(events.contains("\"event\":\"steal\""), "{events}");
}

/// A server whose every answer is `reply`, then a close; counts the connections.
fn raw_origin(reply: &'static [u8]) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/file", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            seen.fetch_add(1, Ordering::SeqCst);
            let mut head = [0u8; 4096];
            let _ = conn.read(&mut head);
            let _ = conn.write_all(reply);
        }
    });
    (url, count)
}

#[test]
fn a_broken_answer_is_retried_then_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    // An unparsable status line: tried again (a restarting proxy may mend it), exit 8 at last.
    let (url, connections) = raw_origin(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
    let o = run(dir.path(), &[&url, "-o", "f", "--retries", "1"]);
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    assert!(stderr(&o).contains("bad response"), "{}", stderr(&o));
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_nothing(dir.path());
    // Interim responses without end: refused, not waited on forever.
    let endless: &'static [u8] = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(40).leak();
    let (url, _) = raw_origin(endless);
    let start = Instant::now();
    let o = run(dir.path(), &[&url, "-o", "g", "--retries", "0"]);
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    assert!(stderr(&o).contains("interim"), "{}", stderr(&o));
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_nothing(dir.path());
    // A length no file can have is the server's error, not the disk's.
    let (url, _) = raw_origin(b"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nabc");
    let o = run(dir.path(), &[&url, "-o", "h", "--retries", "0"]);
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("more than any file can hold"),
        "{}",
        stderr(&o)
    );
    assert_nothing(dir.path());
}

#[test]
fn special_outputs_and_own_headers_are_refused_and_a_refusing_mirror_is_dropped() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let body = data(1 << 20, 7);
    let origin = Origin::start(body.clone(), vec![], Faults::default());
    // A FIFO (as a device would be) is not replaced by the download.
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "fifo"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    std::fs::remove_file(&fifo).unwrap();
    // A read-only file is not replaced (renaming over it would be allowed): exit 7, untouched.
    let ro = dir.path().join("ro");
    std::fs::write(&ro, b"keep me").unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&ro, perm.clone()).unwrap();
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "ro"]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&ro).unwrap(), b"keep me");
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&ro, perm).unwrap();
    std::fs::remove_file(&ro).unwrap();
    // A symbolic link is written through: the file it names gets the download, the link stays.
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/real"), b"old").unwrap();
    std::os::unix::fs::symlink("data/real", dir.path().join("link")).unwrap();
    let o = run(dir.path(), &[&origin.url("/file"), "-o", "link"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(dir.path().join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(dir.path().join("data/real")).unwrap(), body);
    assert_clean(&dir.path().join("data"), "real"); // no part or journal beside it
    std::fs::remove_file(dir.path().join("link")).unwrap();
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    // Headers get sets itself cannot be doubled.
    for h in [
        "Range: bytes=5-10",
        "Accept-Encoding: gzip",
        "Content-Length: 5",
    ] {
        let o = run(dir.path(), &[&origin.url("/file"), "-o", "x", "-H", h]);
        assert_eq!(code(&o), 2, "{h}: {}", stderr(&o));
    }
    // So are URLs that cannot be used, and timeouts out of range: exit 2, bad arguments.
    for args in [
        &["127.0.0.1:1/x", "-o", "x"][..],
        &["http://[::1", "-o", "x"],
        &["http://127.0.0.1:99999/", "-o", "x"],
        &["http://127.0.0.1:1/", "-o", "x", "--read-timeout", "0"],
    ] {
        let o = run(dir.path(), args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert_nothing(dir.path());
    // A mirror answering 404 is dropped; the primary serves the whole file.
    let (mirror, asked) = raw_origin(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    let o = run(
        dir.path(),
        &[
            &origin.url("/file"),
            &mirror,
            "-o",
            "f",
            "-n",
            "4",
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), body);
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("mirror-dropped"), "{out}");
}
