//! `ringport copy` held against `cp`, the real binaries in a temp directory: set-user-ID
//! copies, holes, the umask and existing modes, dangling destination links, trees (an
//! unreadable part, a second run, FIFOs), a closed stdout, the JSON end line, buffers, and
//! the error messages that used to mislead.
// Unix only (held against `cp`, with set-user-ID bits and capabilities); the Windows side of the CLI is tested in cli_windows.rs.
#![cfg(unix)]

#[path = "util/cp.rs"]
mod cp;

use cp::{
    allocated, cp, is_root, mode, output, owner, permissions_enforced, ringport_copy, stderr,
    with_umask, without_dac_override,
};
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Exit code 1 and one line on stderr containing `needle`.
fn assert_one_error(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(needle), "{needle:?} in {err:?}");
}

#[test]
fn a_setuid_file_of_another_owner_is_not_copied_setuid() {
    if !is_root() {
        eprintln!("skipped: giving a file to another owner needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("s");
    std::fs::copy("/bin/true", &src).unwrap();
    std::os::unix::fs::chown(&src, Some(65534), Some(65534)).unwrap();
    chmod(&src, 0o6755);

    let by_cp = dir.path().join("by-cp");
    assert!(output(with_umask(&mut cp(&[&src, &by_cp]), 0o022))
        .status
        .success());
    let by_us = dir.path().join("by-ringport");
    let out = output(with_umask(&mut ringport_copy(&[&src, &by_us]), 0o022));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(owner(&by_us), (0, 0), "the copy is root's");
    assert_eq!(mode(&by_us), 0o755, "no setuid-root copy of nobody's file");
    assert_eq!(mode(&by_us), mode(&by_cp), "as cp");

    // Inside a tree too, files and directories.
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::copy(&src, tree.join("sub/s")).unwrap();
    std::os::unix::fs::chown(tree.join("sub/s"), Some(65534), Some(65534)).unwrap();
    chmod(&tree.join("sub/s"), 0o6755);
    std::os::unix::fs::chown(tree.join("sub"), Some(65534), Some(65534)).unwrap();
    chmod(&tree.join("sub"), 0o2755);
    let copied = dir.path().join("tree-copy");
    let out = output(with_umask(
        &mut ringport_copy(&[&"-r", &tree, &copied]),
        0o022,
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&copied.join("sub/s")), 0o755);
    assert_eq!(mode(&copied.join("sub")), 0o755);

    // Not even when the copy has the source's owner: cp drops them too.
    let own = dir.path().join("own");
    std::fs::copy("/bin/true", &own).unwrap();
    chmod(&own, 0o6755);
    let own_copy = dir.path().join("own-copy");
    let out = output(with_umask(&mut ringport_copy(&[&own, &own_copy]), 0o022));
    assert!(out.status.success(), "{}", stderr(&out));
    let own_by_cp = dir.path().join("own-by-cp");
    assert!(output(with_umask(&mut cp(&[&own, &own_by_cp]), 0o022))
        .status
        .success());
    assert_eq!(
        mode(&own_copy),
        0o755,
        "no set-user-ID copy of root's own program"
    );
    assert_eq!(mode(&own_copy), mode(&own_by_cp), "as cp");

    let help = output(Command::new(env!("CARGO_BIN_EXE_ringport")).args(["copy", "--help"]));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("set-user-ID"), "{help}");
}

#[test]
fn holes_stay_holes_like_cp() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sparse");
    let f = std::fs::File::create(&src).unwrap();
    f.set_len(1 << 30).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"data in the middle", 300 << 20).unwrap();
    drop(f);
    let by_cp = dir.path().join("by-cp");
    assert!(output(&mut cp(&[&src, &by_cp])).status.success());
    let cp_alloc = allocated(&by_cp);
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::rename(&by_cp, tree.join("sparse")).unwrap();
    for extra in [
        &[][..],
        &["--method", "range"],
        &["--method", "splice"],
        &["--method", "buffered"],
        &["--direct"],
        &["-r"],
    ] {
        let (from, dst) = match extra {
            ["-r"] => (tree.clone(), dir.path().join("tree-copy")),
            _ => (src.clone(), dir.path().join("copy")),
        };
        let out = output(ringport_copy(&[&from, &dst]).args(extra.iter()));
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        let file = match extra {
            ["-r"] => dst.join("sparse"),
            _ => dst.clone(),
        };
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 1 << 30);
        let alloc = allocated(&file);
        assert!(
            alloc <= cp_alloc + (1 << 20),
            "{extra:?}: {alloc} bytes allocated, cp {cp_alloc}"
        );
        let mut got = vec![0u8; 18];
        std::os::unix::fs::FileExt::read_exact_at(
            &std::fs::File::open(&file).unwrap(),
            &mut got,
            300 << 20,
        )
        .unwrap();
        assert_eq!(got, b"data in the middle", "{extra:?}");
        let mut zeros = vec![1u8; 4096];
        std::os::unix::fs::FileExt::read_exact_at(
            &std::fs::File::open(&file).unwrap(),
            &mut zeros,
            1 << 20,
        )
        .unwrap();
        assert!(
            zeros.iter().all(|&b| b == 0),
            "{extra:?}: a hole reads as zeros"
        );
        match extra {
            ["-r"] => std::fs::remove_dir_all(&dst).unwrap(),
            _ => std::fs::remove_file(&dst).unwrap(),
        }
    }
}

#[test]
fn new_files_and_directories_honour_the_umask_like_cp() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f");
    std::fs::write(&src, b"x").unwrap();
    chmod(&src, 0o644);
    let tree = dir.path().join("t");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/g"), b"y").unwrap();
    chmod(&tree.join("sub/g"), 0o664);
    for (tool, name) in [(0, "cp"), (1, "ringport")] {
        let run = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
            let mut cmd = if tool == 0 {
                cp(args)
            } else {
                ringport_copy(args)
            };
            let out = output(with_umask(&mut cmd, 0o077));
            assert!(out.status.success(), "{name}: {}", stderr(&out));
        };
        let file = dir.path().join(format!("{name}-file"));
        run(&[&src, &file]);
        let copy = dir.path().join(format!("{name}-tree"));
        run(&[&"-r", &tree, &copy]);
        assert_eq!(mode(&file), 0o600, "{name}: new file");
        assert_eq!(mode(&copy), 0o700, "{name}: new directory");
        assert_eq!(mode(&copy.join("sub")), 0o700, "{name}: new subdirectory");
        assert_eq!(mode(&copy.join("sub/g")), 0o600, "{name}: file in the tree");

        // An existing destination keeps its own mode.
        let existing = dir.path().join(format!("{name}-existing"));
        std::fs::write(&existing, b"old").unwrap();
        chmod(&existing, 0o640);
        run(&[&src, &existing]);
        assert_eq!(mode(&existing), 0o640, "{name}: existing file");
        assert_eq!(std::fs::read(&existing).unwrap(), b"x");
    }
}

#[test]
fn a_dangling_destination_link_is_refused_like_cp() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f");
    std::fs::write(&src, b"x").unwrap();
    let link = dir.path().join("d");
    std::os::unix::fs::symlink(dir.path().join("newtarget"), &link).unwrap();
    let by_cp = output(&mut cp(&[&src, &link]));
    assert!(!by_cp.status.success());
    let out = output(&mut ringport_copy(&[&src, &link]));
    assert_one_error(&out, "not writing through dangling symlink");
    assert!(stderr(&by_cp).contains("not writing through dangling symlink"));
    assert!(!dir.path().join("newtarget").exists(), "nothing written");

    // A link to an existing file is written through, as cp does.
    std::fs::write(dir.path().join("newtarget"), b"old").unwrap();
    let out = output(&mut ringport_copy(&[&src, &link]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.path().join("newtarget")).unwrap(), b"x");
}

/// A tree with a file, a subdirectory, a link and a FIFO.
fn tree(at: &Path) {
    std::fs::create_dir_all(at.join("sub")).unwrap();
    std::fs::write(at.join("a"), b"first").unwrap();
    std::fs::write(at.join("sub/b"), b"deep").unwrap();
    std::os::unix::fs::symlink("a", at.join("link")).unwrap();
    let fifo = std::ffi::CString::new(at.join("fifo").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
}

#[test]
fn a_second_tree_copy_replaces_links_and_updates_files_like_cp() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tree");
    tree(&src);
    for (tool, name) in [(0, "cp"), (1, "ringport")] {
        let into = dir.path().join(format!("{name}-into"));
        std::fs::create_dir(&into).unwrap();
        for (round, content) in [b"first", b"again"].into_iter().enumerate() {
            std::fs::write(src.join("a"), content).unwrap();
            let args: [&dyn AsRef<std::ffi::OsStr>; 3] = [&"-r", &src, &into];
            let mut cmd = if tool == 0 {
                cp(&args)
            } else {
                ringport_copy(&args)
            };
            let out = output(&mut cmd);
            assert!(
                out.status.success(),
                "{name} round {round}: {}",
                stderr(&out)
            );
            assert_eq!(stderr(&out), "", "{name} round {round}");
            let copy = into.join("tree");
            assert_eq!(std::fs::read(copy.join("a")).unwrap(), content, "{name}");
            assert_eq!(
                std::fs::read_link(copy.join("link")).unwrap(),
                Path::new("a")
            );
            let ft = std::fs::symlink_metadata(copy.join("fifo"))
                .unwrap()
                .file_type();
            assert!(ft.is_fifo(), "{name}: the FIFO is recreated");
            assert_eq!(std::fs::read(copy.join("sub/b")).unwrap(), b"deep");
        }
    }
}

#[test]
fn an_unreadable_part_of_a_tree_is_reported_and_the_rest_copied_like_cp() {
    let dir = tempfile::tempdir().unwrap();
    if !permissions_enforced(dir.path()) {
        eprintln!("skipped: permission bits cannot be enforced here (root keeps its capabilities)");
        return;
    }
    let src = dir.path().join("tree");
    std::fs::create_dir_all(src.join("locked")).unwrap();
    std::fs::create_dir_all(src.join("ok")).unwrap();
    std::fs::write(src.join("locked/hidden"), b"h").unwrap();
    std::fs::write(src.join("ok/f"), b"f").unwrap();
    std::fs::write(src.join("secret"), b"s").unwrap();
    std::fs::write(src.join("z"), b"z").unwrap();
    chmod(&src.join("locked"), 0o000);
    chmod(&src.join("secret"), 0o000);
    let by_cp = output(without_dac_override(&mut cp(&[
        &"-r",
        &src,
        &dir.path().join("by-cp"),
    ])));
    let dst = dir.path().join("by-ringport");
    let out = output(without_dac_override(&mut ringport_copy(&[
        &"-r", &src, &dst, &"--json",
    ])));
    chmod(&src.join("locked"), 0o755);
    assert_eq!(by_cp.status.code(), Some(1));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("tree/locked: Permission denied"), "{err}");
    assert!(err.contains("tree/secret: Permission denied"), "{err}");
    assert_eq!(
        std::fs::read(dst.join("ok/f")).unwrap(),
        b"f",
        "the rest is copied"
    );
    assert_eq!(std::fs::read(dst.join("z")).unwrap(), b"z");
    // The JSON end line says it failed, why, and counts only the files copied.
    let last = err.lines().rev().find(|l| l.starts_with('{')).unwrap();
    assert!(last.contains("\"state\":\"failed\""), "{last}");
    assert!(
        err.ends_with("were not copied (see above)\n"),
        "then the error: {err}"
    );
    assert!(last.contains("\"files\":2"), "ok/f and z: {last}");
    assert!(
        last.contains("\"error\":\"2 entries of the tree were not copied"),
        "{last}"
    );
}

#[test]
fn a_closed_stdout_ends_it_quietly_like_cat() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(&big, vec![7u8; 32 << 20]).unwrap();
    let run = |cmd: &mut Command| {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then closed
        let out = child.wait_with_output().unwrap();
        (out.status.signal(), out.status.code(), stderr(&out))
    };
    let cat = run(Command::new("cat").arg(&big));
    let ours = run(&mut ringport_copy(&[&big, &"-"]));
    assert_eq!(cat, (Some(libc::SIGPIPE), None, String::new()));
    assert_eq!(ours, cat, "killed by SIGPIPE, nothing said");
}

#[test]
fn a_failed_copy_json_line_carries_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, vec![1u8; 100_000]).unwrap();
    let out = output(&mut ringport_copy(&[&src, &"/dev/full", &"--json"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let last = err.lines().rev().find(|l| l.starts_with('{')).unwrap();
    assert!(last.contains("\"files\":0"), "{last}");
    assert!(
        last.contains(
            "\"state\":\"failed\",\"error\":\"writing /dev/full: No space left on device\""
        ),
        "{last}"
    );
}

#[test]
fn huge_buffers_are_capped_or_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("one");
    let want: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &want).unwrap();
    let huge = ["--block-size", "1G", "--depth", "1024"];
    let dst = dir.path().join("two");
    let out = output(ringport_copy(&[&src, &dst]).args(huge));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read(&dst).unwrap() == want,
        "a 1 MiB file needs one 1 MiB buffer"
    );

    // A stream's length is unknown: 1 TiB of buffers is refused, and no file is left.
    let from_stdin = dir.path().join("three");
    let mut child = ringport_copy(&[&"-", &from_stdin])
        .args(huge)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = std::io::Write::write_all(&mut stdin, &want[..4096]);
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_one_error(&out, "memory");
    assert!(!from_stdin.exists(), "no partial file");
}

#[test]
fn messages_that_used_to_mislead() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x");
    let status = Path::new("/proc/self/status");
    let out = output(ringport_copy(&[&status, &x]).args(["--method", "range"]));
    assert_one_error(&out, "copy_file_range cannot copy from this source");
    let out = output(&mut ringport_copy(&[&status, &x, &"--direct"]));
    let err = stderr(&out);
    assert_one_error(&out, "O_DIRECT is not supported");
    assert_eq!(err.matches("/proc/self/status").count(), 1, "{err}");
    assert_eq!(err.matches('(').count(), err.matches(')').count(), "{err}");
    let out = output(&mut ringport_copy(&[&status, &x]));
    assert!(
        out.status.success(),
        "auto copies what range cannot: {}",
        stderr(&out)
    );

    let help = output(Command::new(env!("CARGO_BIN_EXE_ringport")).args(["copy", "--help"]));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("binary: 1K = 1024"), "{help}");
    assert!(help.contains("rounded up to a multiple of 4 KiB"), "{help}");
}
