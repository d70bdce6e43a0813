//! Invariant 4 for `io::copy_with_progress`: every way of copying (copy_file_range, splice,
//! buffered, O_DIRECT) runs under `strace -f`, and between two markers the loop thread makes
//! no file system call: the kernel copies run on the ring or on the blocking pool.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

#[path = "util/copy.rs"]
mod copy_util;
mod util;

use ringport::fs::{File, OpenOptions};
use ringport::io::{copy_with_progress, Strategy};
use std::process::Command;

/// Calls that would block the loop on a file.
const FORBIDDEN: &[&str] = &[
    "read",
    "write",
    "pread64",
    "pwrite64",
    "preadv2",
    "pwritev2",
    "openat",
    "statx",
    "fstat",
    "newfstatat",
    "ftruncate",
    "close",
    "copy_file_range",
    "splice",
];

#[test]
#[ignore = "run under strace by copies_make_no_file_syscall_on_the_loop_thread"]
fn strace_child_copies() {
    let dir = std::path::PathBuf::from(std::env::var("COPY_STRACE_DIR").unwrap());
    let src = copy_util::source(&dir, "src", (3 << 20) + 777, 9);
    util::run(async {
        // SAFETY: getppid has no preconditions; it marks the start of the traced section.
        unsafe { libc::getppid() };
        for (i, strategy) in [Strategy::Auto, Strategy::Splice, Strategy::Buffered]
            .into_iter()
            .enumerate()
        {
            let s = File::open(&src).await.unwrap();
            let d = File::create(dir.join(format!("dst{i}"))).await.unwrap();
            let n = copy_with_progress(&s, &d).strategy(strategy).await.unwrap();
            assert_eq!(n, (3 << 20) + 777);
        }
        let open = |direct| {
            let mut o = OpenOptions::new();
            o.read(true).write(true).create(true).direct(direct);
            o
        };
        let s = open(true).open(&src).await.unwrap();
        let d = open(true).open(dir.join("direct")).await.unwrap();
        copy_with_progress(&s, &d).await.unwrap();
        let (tx, rx) = ringport::pipe::pipe().unwrap();
        let piped = dir.join("piped");
        let receiver = ringport::spawn(async move {
            let out = File::create(piped).await.unwrap();
            copy_with_progress(rx, &out).await.unwrap()
        });
        let s = File::open(&src).await.unwrap();
        copy_with_progress(&s, tx).await.unwrap();
        assert_eq!(receiver.await.unwrap(), (3 << 20) + 777);
        // SAFETY: as above; marks the end.
        unsafe { libc::getppid() };
    });
}

#[test]
fn copies_make_no_file_syscall_on_the_loop_thread() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let trace = format!("getppid,{}", FORBIDDEN.join(","));
    let status = Command::new("strace")
        .args(["-f", "-qq", "-y", "-o"])
        .arg(&log)
        .arg("-e")
        .arg(format!("trace={trace}"))
        .arg(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "strace_child_copies", "--nocapture"])
        .env("COPY_STRACE_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("strace must be installed (.ci/run installs it)");
    assert!(status.success(), "the traced copies failed");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<(u32, &str, &str)> = text.lines().filter_map(util::strace::parse).collect();
    let markers: Vec<_> = lines.iter().filter(|l| l.1 == "getppid").collect();
    assert_eq!(markers.len(), 2, "two markers in:\n{text}");
    let loop_tid = markers[0].0;
    let mut inside = false;
    let mut others = 0;
    for &(tid, name, line) in &lines {
        if tid != loop_tid {
            others += usize::from(inside && name != "getppid");
            continue;
        }
        if name == "getppid" {
            inside = !inside;
        } else if inside {
            assert!(
                !util::strace::on_a_file(line),
                "the loop thread touched a file: {line}"
            );
        }
    }
    assert!(others > 0, "the copies ran on other threads: none traced");
}
