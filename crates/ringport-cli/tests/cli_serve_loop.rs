//! Invariant 4 for `ringport serve`: while it serves files (small and large, ranges,
//! precompressed, listings, misses), its loop thread makes no blocking file system call. The
//! real binary runs under `strace -f` with one loop (`--threads 1`: the main thread is the
//! loop); every call the main thread makes once it is serving is checked. The one file call
//! allowed is `File::cached_metadata`: a `statx` of an fd just opened with
//! `AT_STATX_DONT_SYNC` (answered from the inode in memory).
// Unix only (strace); the Windows side of the CLI is tested in cli_windows.rs.
#![cfg(unix)]

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use util::curl;

/// Kills the traced server (and so strace) if the test fails half way.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// File system calls that may block; none may run on the loop thread.
const FORBIDDEN: &[&str] = &[
    "read",
    "write",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "preadv",
    "preadv2",
    "open",
    "openat",
    "openat2",
    "statx",
    "newfstatat",
    "fstat",
    "lstat",
    "stat",
    "readlink",
    "readlinkat",
    "getdents64",
    "close",
    "sendfile",
    "splice",
    "copy_file_range",
    "fsync",
];

#[test]
fn the_loop_thread_serves_without_blocking_file_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("small.txt"), "small").unwrap();
    std::fs::write(root.join("mid.bin"), vec![3u8; 40_000]).unwrap();
    std::fs::write(root.join("big.bin"), vec![5u8; 3_000_000]).unwrap();
    std::fs::write(root.join("app.js"), "identity").unwrap();
    std::fs::write(root.join("app.js.gz"), "gz").unwrap();
    std::fs::write(root.join("sub/x.txt"), "x").unwrap();
    let log = tmp.path().join("strace.log");
    let mut trace = String::from("io_uring_enter,epoll_wait,epoll_pwait,");
    trace.push_str(&FORBIDDEN.join(","));
    let child = Command::new("strace")
        .args(["-f", "-qq", "-y", "-ttt", "-o"])
        .arg(&log)
        .args(["-e", &format!("trace={trace}")])
        .arg(env!("CARGO_BIN_EXE_ringport"))
        .arg("serve")
        .arg(&root)
        .args(["--addr", "127.0.0.1:0", "--quiet", "--threads", "1"])
        .current_dir(std::env::temp_dir())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace must be installed (.ci/run installs it)");
    let mut child = Killed(child);
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let at = first.find("http://").expect("the URL") + 7;
    let addr = first[at..].split('/').next().unwrap().to_string();
    // From here on the server serves: its setup (canonicalizing the root, opening it) is over.
    let serving = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let url = |p: &str| format!("http://{addr}{p}");
    for _ in 0..3 {
        for p in [
            "/small.txt",
            "/mid.bin",
            "/big.bin",
            "/sub/x.txt",
            "/",
            "/sub/",
            "/nope",
        ] {
            assert!(curl(&["-o", "/dev/null", &url(p)]).status.success(), "{p}");
        }
        assert!(curl(&["-o", "/dev/null", "-r", "10-20", &url("/big.bin")])
            .status
            .success());
        let gz = curl(&["-H", "Accept-Encoding: gzip", &url("/app.js")]);
        assert_eq!(gz.stdout, b"gz");
    }
    let done = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // The server (strace's child, the first pid in its log) stops on Ctrl-C; strace follows.
    let text = std::fs::read_to_string(&log).unwrap();
    let server_pid = text.split_whitespace().next().unwrap().to_string();
    Command::new("kill")
        .args(["-INT", &server_pid])
        .status()
        .unwrap();
    let give_up = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < give_up, "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    // The loop thread is the process's first: the first line's pid.
    let loop_tid = text.split_whitespace().next().unwrap().to_string();
    let mut checked = 0;
    let mut cached_stats = 0;
    for line in text.lines() {
        // `PID TIME call(...)`; strace pads the pid to five columns.
        let mut fields = line.split_whitespace();
        let (Some(tid), Some(time)) = (fields.next(), fields.next()) else {
            continue;
        };
        let at = line.find(time).unwrap_or(0) + time.len();
        let call = line[at..].trim_start();
        let Ok(time) = time.parse::<f64>() else {
            continue;
        };
        if tid != loop_tid || time < serving || time > done {
            continue;
        }
        // A call another thread interrupted is split: its first line (checked) has the
        // arguments, the `<... name resumed>` line only the result.
        if call.starts_with("<... ") {
            continue;
        }
        let name = call
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap();
        checked += 1;
        if name == "statx"
            && call.contains(", \"\", ")
            && call.contains("AT_STATX_DONT_SYNC")
            && call.contains("AT_EMPTY_PATH")
        {
            cached_stats += 1;
            continue;
        }
        // An fd strace shows as a path is a file; sockets, pipes, eventfds are not.
        let on_file = call.contains("</") || !call.contains('<');
        assert!(
            !(FORBIDDEN.contains(&name) && on_file),
            "the loop thread made a blocking file call: {line}"
        );
    }
    assert!(checked > 0, "nothing traced on the loop thread:\n{text}");
    assert!(cached_stats > 0, "no cached statx seen:\n{text}");
}
