//! Invariant 4: no blocking syscall on a loop thread. A file workload runs under `strace -f`;
//! between two markers the loop thread may enter the kernel only through `io_uring_enter`.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

mod util;

use ringport::buf::BufResult;
use std::collections::BTreeMap;
use std::process::Command;

/// Syscalls that would block the loop on a file.
const FORBIDDEN: &[&str] = &[
    "read",
    "write",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "fsync",
    "fdatasync",
    "open",
    "openat",
    "openat2",
    "statx",
    "newfstatat",
    "fstat",
    "ftruncate",
    "fallocate",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "close",
    "copy_file_range",
    "sendfile",
    "splice",
];

/// The workload, run by the test below in a child process under strace.
#[test]
#[ignore = "run under strace by loop_thread_makes_no_blocking_file_syscalls"]
fn strace_child_file_workload() {
    let dir = std::env::var("RINGPORT_STRACE_DIR").expect("run by the strace test");
    let dir = std::path::PathBuf::from(dir);
    let rt = util::runtime();
    rt.block_on(async {
        // SAFETY: getppid has no preconditions; it marks the start of the traced section.
        unsafe { libc::getppid() };
        let path = dir.join("work");
        let file = ringport::fs::File::create(&path).await.unwrap();
        for i in 0..64u64 {
            let BufResult(res, _) = file.write_all_at(vec![i as u8; 16384], i * 16384).await;
            res.unwrap();
        }
        file.sync_all().await.unwrap();
        file.sync_data().await.unwrap();
        file.set_len(512 * 1024).await.unwrap();
        for i in 0..32u64 {
            let BufResult(res, buf) = file.read_exact_at(vec![0u8; 16384], i * 16384).await;
            res.unwrap();
            assert!(buf.iter().all(|&b| b == i as u8));
        }
        assert_eq!(file.metadata().await.unwrap().len(), 512 * 1024);
        // The one file call allowed on the loop thread: the in-memory metadata of an open fd.
        assert_eq!(file.cached_metadata().unwrap().len(), 512 * 1024);
        file.close().await.unwrap();
        ringport::fs::create_dir(dir.join("sub")).await.unwrap();
        ringport::fs::rename(&path, dir.join("sub/moved"))
            .await
            .unwrap();
        let data = ringport::fs::read(dir.join("sub/moved")).await.unwrap();
        assert_eq!(data.len(), 512 * 1024);
        ringport::fs::write(dir.join("small"), b"x".as_slice())
            .await
            .unwrap();
        ringport::fs::remove_file(dir.join("small")).await.unwrap();
        // SAFETY: as above; marks the end.
        unsafe { libc::getppid() };
    });
}

#[test]
fn loop_thread_makes_no_blocking_file_syscalls() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let exe = std::env::current_exe().unwrap();
    let mut trace = String::from("getppid,io_uring_enter,epoll_wait,epoll_pwait,epoll_pwait2,");
    trace.push_str(&FORBIDDEN.join(","));
    let status = Command::new("strace")
        .arg("-f")
        .arg("-qq")
        .arg("-y")
        .arg("-o")
        .arg(&log)
        .arg("-e")
        .arg(format!("trace={trace}"))
        .arg(&exe)
        .args([
            "--ignored",
            "--exact",
            "strace_child_file_workload",
            "--nocapture",
        ])
        .env("RINGPORT_STRACE_DIR", dir.path())
        .status()
        .expect("strace must be installed (.ci/run installs it)");
    assert!(status.success(), "the traced workload failed");

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<(u32, &str, &str)> = text.lines().filter_map(util::strace::parse).collect();
    let markers: Vec<_> = lines.iter().filter(|l| l.1 == "getppid").collect();
    assert_eq!(markers.len(), 2, "expected two markers in:\n{text}");
    let loop_tid = markers[0].0;
    assert_eq!(markers[1].0, loop_tid);

    let mut inside = false;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for &(tid, name, line) in &lines {
        if tid != loop_tid {
            continue;
        }
        if name == "getppid" {
            inside = !inside;
            continue;
        }
        if inside {
            if util::strace::is_cached_fd_stat(line) {
                *counts.entry("statx (cached, fd)").or_default() += 1;
                continue;
            }
            assert!(
                !(FORBIDDEN.contains(&name) && util::strace::on_a_file(line)),
                "the loop thread made a blocking file syscall: {line}"
            );
            *counts.entry(name).or_default() += 1;
        }
    }
    let waits: usize = [
        "io_uring_enter",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
    ]
    .iter()
    .map(|n| counts.get(n).copied().unwrap_or(0))
    .sum();
    assert!(
        waits > 0,
        "the loop never entered the kernel to wait: {counts:?}"
    );
    assert_eq!(
        counts.get("statx (cached, fd)"),
        Some(&1),
        "cached_metadata is one statx(fd, \"\", AT_STATX_DONT_SYNC) on the loop: {counts:?}"
    );
}
