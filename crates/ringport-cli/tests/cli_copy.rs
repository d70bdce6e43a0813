//! `ringport copy`, the real binary in a temp directory: contents and permission bits, `-`
//! for stdin and stdout, into a directory, trees, every method, progress lines and JSON; the
//! one-line errors and exit codes (missing source, missing destination directory, no space
//! left, file too large, permission denied, source equals destination); Ctrl-C.
// Unix only (permission bits, rlimits, signals and symlinks are Unix); the Windows side of the CLI is tested in cli_windows.rs.
#![cfg(unix)]

mod util;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use util::ringport;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

fn copy(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = ringport();
    cmd.arg("copy");
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit code 1 and exactly one line on stderr, `ringport: ...` containing `needle`.
fn assert_error(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("ringport: "), "{err}");
    assert!(err.contains(needle), "{needle:?} in {err:?}");
}

#[test]
fn copies_files_with_their_permission_bits() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let block = 256 << 10;
    for len in [0, 1, block - 1, block, block + 1, 10 << 20] {
        let want = data(len, 1);
        std::fs::write(&src, &want).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
        let out = copy(&[&src, &dst]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stderr(&out), "", "no progress off a terminal unless asked");
        assert!(std::fs::read(&dst).unwrap() == want, "at {len}");
        let mode = std::fs::metadata(&dst).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640, "at {len}");
        std::fs::remove_file(&dst).unwrap();
    }
}

#[test]
fn every_method_and_direct() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let want = data(3 << 20 | 1234, 2);
    std::fs::write(&src, &want).unwrap();
    for extra in [
        &["--method", "range"][..],
        &["--method", "splice"],
        &[
            "--method",
            "buffered",
            "--block-size",
            "64K",
            "--depth",
            "8",
        ],
        &["--direct"],
        &["--direct", "--block-size", "1M"],
    ] {
        let dst = dir.path().join("dst");
        let out = ringport()
            .arg("copy")
            .args([&src, &dst])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        assert!(std::fs::read(&dst).unwrap() == want, "{extra:?}");
    }
}

#[test]
fn dash_is_stdin_and_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let want = data(5 << 20, 3);
    std::fs::write(&src, &want).unwrap();
    let out = copy(&[&src, &"-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout == want, "file to stdout");

    let dst = dir.path().join("from-stdin");
    let mut child = ringport()
        .args(["copy", "-"])
        .arg(&dst)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&want).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&dst).unwrap() == want, "stdin to file");

    let out = ringport()
        .args(["copy", "-", "-"])
        .stdin(std::fs::File::open(&src).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout == want, "stdin to stdout");
}

#[test]
fn into_a_directory_and_trees() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tree");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("top.bin"), data(700_000, 4)).unwrap();
    std::fs::write(src.join("a/b/deep.txt"), "deep\n").unwrap();
    std::fs::set_permissions(src.join("a"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(
        src.join("a/b/deep.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("top.bin", src.join("link")).unwrap();

    let into = dir.path().join("into");
    std::fs::create_dir(&into).unwrap();
    let out = copy(&[&src.join("top.bin"), &into]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(into.join("top.bin")).unwrap(),
        data(700_000, 4)
    );

    let out = copy(&[&"-r", &src, &into]);
    assert!(out.status.success(), "{}", stderr(&out));
    let copied = into.join("tree");
    assert_eq!(
        std::fs::read(copied.join("top.bin")).unwrap(),
        data(700_000, 4)
    );
    assert_eq!(
        std::fs::read(copied.join("a/b/deep.txt")).unwrap(),
        b"deep\n"
    );
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&copied.join("a")), 0o750);
    assert_eq!(mode(&copied.join("a/b/deep.txt")), 0o600);
    let link = std::fs::read_link(copied.join("link")).unwrap();
    assert_eq!(link, Path::new("top.bin"));

    let out = copy(&[&src, &dir.path().join("x")]);
    assert_error(&out, "is a directory (use -r");
    let out = copy(&[&"-r", &src, &src.join("a/inside")]);
    assert_error(&out, "into itself");
}

#[test]
fn progress_lines_and_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, data(20 << 20, 5)).unwrap();
    let dst = dir.path().join("dst");
    let out = copy(&[&src, &dst, &"--progress", &"--interval", &"0.01"]);
    assert!(out.status.success());
    let err = stderr(&out);
    let last = err.lines().last().unwrap();
    assert!(last.contains("20.00 MiB / 20.00 MiB (100%)"), "{err}");

    let out = copy(&[&src, &dst, &"--json", &"--interval", &"0.01"]);
    assert!(out.status.success());
    let err = stderr(&out);
    for line in err.lines() {
        assert!(
            line.starts_with("{\"bytes\":") && line.ends_with('}'),
            "{line}"
        );
    }
    let last = err.lines().last().unwrap();
    let bytes = format!("\"bytes\":{},\"total\":{}", 20 << 20, 20 << 20);
    assert!(
        last.contains(&bytes) && last.contains("\"state\":\"done\""),
        "{last}"
    );

    let out = copy(&[&src, &dst, &"--no-progress", &"--json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "conflicting flags are a usage error"
    );
}

#[test]
fn one_line_errors_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, data(300_000, 6)).unwrap();

    let out = copy(&[&dir.path().join("missing"), &dir.path().join("x")]);
    assert_error(&out, "cannot open");
    assert!(stderr(&out).contains("No such file or directory"));

    let out = copy(&[&src, &dir.path().join("no/such/dir/x")]);
    assert_error(&out, "does not exist");

    let out = copy(&[&src, &"/dev/full"]);
    assert_error(&out, "No space left on device");

    let out = copy(&[&src, &src]);
    assert_error(&out, "are the same file");
    let hard = dir.path().join("hard");
    std::fs::hard_link(&src, &hard).unwrap();
    let out = copy(&[&src, &hard]);
    assert_error(&out, "are the same file");
    assert_eq!(std::fs::read(&src).unwrap(), data(300_000, 6), "untouched");

    let out = copy(&[&src, &dir.path().join("x"), &"--block-size", &"lots"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[test]
fn file_too_large_under_rlimit_fsize() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, data(4 << 20, 7)).unwrap();
    let dst = dir.path().join("dst");
    let mut cmd = ringport();
    cmd.arg("copy").args([&src, &dst]);
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1 << 20,
                rlim_max: 1 << 20,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_error(&out, "File too large");
    assert!(stderr(&out).contains(&format!("writing {}", dst.display())));
    assert!(!dst.exists(), "the partial file is removed");
}

/// Drops the capabilities that let root ignore permission bits (for this child and what it
/// runs); a no-op for an ordinary user, who has none.
fn without_dac_override(cmd: &mut Command) -> &mut Command {
    // SAFETY: only prctl between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for cap in [1, 2, 3] {
                // CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER.
                libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
            Ok(())
        })
    }
}

#[test]
fn permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, b"secret").unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o000)).unwrap();
    let probe = without_dac_override(Command::new("cat").arg(&src))
        .output()
        .unwrap();
    if probe.status.success() {
        eprintln!("skipped: permission bits cannot be enforced here (root keeps its capabilities)");
        return;
    }
    let out = without_dac_override(ringport().arg("copy").args([&src, &dir.path().join("x")]))
        .output()
        .unwrap();
    assert_error(&out, "cannot open");
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );

    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o644)).unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = without_dac_override(ringport().arg("copy").args([&src, &locked.join("x")]))
        .output()
        .unwrap();
    assert_error(&out, "cannot create");
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
}

/// Starts `ringport copy - DST extra...` fed slowly, waits until some bytes arrived, sends
/// `signal`, and returns the exit status and stderr.
fn interrupt(dst: &Path, extra: &[&str], signal: i32) -> (Option<i32>, String) {
    let mut child = ringport()
        .args(["copy", "-"])
        .arg(dst)
        .args(extra)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data(100_000, 8)).unwrap();
    let start = Instant::now();
    while std::fs::metadata(dst).map_or(0, |m| m.len()) < 100_000 {
        assert!(start.elapsed() < Duration::from_secs(10), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill with our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    (out.status.code(), stderr(&out))
}

#[test]
fn ctrl_c_removes_the_partial_file_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("partial");
    let (code, err) = interrupt(&dst, &[], libc::SIGINT);
    assert_eq!(code, Some(130), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("interrupted; removed the partial"), "{err}");
    assert!(!dst.exists());

    let (code, err) = interrupt(&dst, &["--keep-partial"], libc::SIGINT);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("kept the partial"), "{err}");
    assert!(std::fs::read(&dst).unwrap() == data(100_000, 8));
}

#[test]
fn sigterm_and_sighup_are_treated_as_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        let dst = dir.path().join(format!("partial-{name}"));
        let (code, err) = interrupt(&dst, &[], signal);
        assert_eq!(code, Some(128 + signal), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let want = format!("interrupted by {name}; removed the partial");
        assert!(err.contains(&want), "{err}");
        assert!(!dst.exists(), "{name}: the partial file is removed");

        let (code, err) = interrupt(&dst, &["--keep-partial"], signal);
        assert_eq!(code, Some(128 + signal), "{name}: {err}");
        assert!(err.contains("kept the partial"), "{err}");
        assert!(std::fs::read(&dst).unwrap() == data(100_000, 8));
    }
}
