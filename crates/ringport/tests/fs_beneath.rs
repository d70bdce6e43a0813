//! `OpenOptions::resolve_beneath`: paths stay beneath the directory they are opened in, with
//! `openat2` and, where a seccomp filter hides it, with the component walk; both must give
//! the same answers.

#![cfg(target_os = "linux")] // openat2 and seccomp

mod util;

use ringport::fs::{Confinement, File, OpenOptions};
use std::os::unix::fs::symlink;
use std::path::Path;

/// `<tmp>/root` with files, a subdirectory and links of every kind, `<tmp>/secret` outside.
fn tree() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("a.txt"), "a").unwrap();
    std::fs::write(root.join("sub/b.txt"), "b").unwrap();
    std::fs::write(root.join("sub/deeper/c.txt"), "c").unwrap();
    std::fs::write(tmp.path().join("secret"), "secret").unwrap();
    symlink("a.txt", root.join("to-a")).unwrap();
    symlink("sub", root.join("to-sub")).unwrap();
    symlink("../b.txt", root.join("sub/deeper/up-b")).unwrap();
    symlink("to-a", root.join("chain")).unwrap();
    symlink("../secret", root.join("out")).unwrap();
    symlink(tmp.path().join("secret"), root.join("abs-out")).unwrap();
    symlink(root.join("a.txt"), root.join("abs-in")).unwrap();
    symlink("loop2", root.join("loop1")).unwrap();
    symlink("loop1", root.join("loop2")).unwrap();
    symlink("missing", root.join("dangling")).unwrap();
    tmp
}

/// What opening `path` beneath `root` gave: the file's contents, or the errno.
async fn open(root: &File, path: &str, no_symlinks: bool) -> Result<String, i32> {
    let file = OpenOptions::new()
        .read(true)
        .resolve_beneath(true)
        .resolve_no_symlinks(no_symlinks)
        .open_at(root, path)
        .await
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let (res, buf) = file.read_at(Vec::with_capacity(64), 0).await.into_parts();
    res.map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    Ok(String::from_utf8(buf).unwrap())
}

/// Every case and its answer, through whatever backend and confinement `rt` has.
fn check_all(rt: &ringport::Runtime, root: &Path) {
    rt.block_on(async {
        let dir = File::from_std(std::fs::File::open(root).unwrap());
        let cases: &[(&str, bool, Result<&str, i32>)] = &[
            ("a.txt", false, Ok("a")),
            ("sub/b.txt", false, Ok("b")),
            ("./sub/./deeper/c.txt", false, Ok("c")),
            ("sub/deeper/../b.txt", false, Ok("b")),
            ("to-a", false, Ok("a")),
            ("chain", false, Ok("a")),
            ("to-sub/b.txt", false, Ok("b")),
            ("sub/deeper/up-b", false, Ok("b")),
            ("to-sub/deeper/../../a.txt", false, Ok("a")),
            ("../secret", false, Err(libc::EXDEV)),
            ("sub/../../secret", false, Err(libc::EXDEV)),
            ("/etc/hostname", false, Err(libc::EXDEV)),
            ("out", false, Err(libc::EXDEV)),
            ("abs-out", false, Err(libc::EXDEV)),
            // Absolute links are refused even when they point inside (RESOLVE_BENEATH).
            ("abs-in", false, Err(libc::EXDEV)),
            ("loop1", false, Err(libc::ELOOP)),
            ("dangling", false, Err(libc::ENOENT)),
            ("nope", false, Err(libc::ENOENT)),
            ("a.txt/", false, Err(libc::ENOTDIR)),
            ("a.txt/x", false, Err(libc::ENOTDIR)),
            ("a.txt", true, Ok("a")),
            ("sub/deeper/c.txt", true, Ok("c")),
            ("to-a", true, Err(libc::ELOOP)),
            ("to-sub/b.txt", true, Err(libc::ELOOP)),
        ];
        for &(path, no_symlinks, want) in cases {
            let got = open(&dir, path, no_symlinks).await;
            assert_eq!(
                got.as_deref().map_err(|e| *e),
                want,
                "{path} (no_symlinks: {no_symlinks}): {got:?}"
            );
        }
    });
}

#[test]
fn paths_stay_beneath_the_directory() {
    let tmp = tree();
    check_all(&util::runtime(), &tmp.path().join("root"));
}

/// A seccomp filter that makes the `openat2` system call fail with `errno`, as a container
/// profile written before Linux 5.6 does.
fn hide_openat2(errno: i32) {
    const LD_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    let filter = [
        libc::sock_filter {
            code: LD_NR,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: JEQ,
            jt: 0,
            jf: 1,
            k: libc::SYS_openat2 as u32,
        },
        libc::sock_filter {
            code: RET,
            jt: 0,
            jf: 0,
            k: 0x0005_0000 | errno as u32, // SECCOMP_RET_ERRNO
        },
        libc::sock_filter {
            code: RET,
            jt: 0,
            jf: 0,
            k: 0x7fff_0000, // SECCOMP_RET_ALLOW
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl calls with a valid, live filter program.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        let rc = libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const _,
        );
        assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
    }
}

#[test]
#[ignore = "run in a child process by the walk_gives_the_same_answers test"]
fn walk_child() {
    let errno: i32 = std::env::var("RINGPORT_HIDE_OPENAT2")
        .unwrap()
        .parse()
        .unwrap();
    hide_openat2(errno);
    let tmp = tree();
    let root = tmp.path().join("root");
    // On io_uring the ring's OPENAT2 is not subject to seccomp: mask it, so opens go to the
    // syscall pool and meet the filter there, as they do on the poll backend.
    let rt = util::builder().mask_opcodes(["OPENAT2"]).build().unwrap();
    check_all(&rt, &root);
    let Confinement::Walk { why } = ringport::fs::confinement() else {
        panic!("confinement() does not see the filter");
    };
    println!("WALK-CHILD-OK {why}");
}

#[test]
fn walk_gives_the_same_answers() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "walk_child", "--nocapture"])
            .env("RINGPORT_HIDE_OPENAT2", errno.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("WALK-CHILD-OK"),
            "errno {errno}: child failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let name = if errno == libc::ENOSYS {
            "ENOSYS"
        } else {
            "EPERM"
        };
        assert!(text.contains(name), "the reason names {name}: {text}");
    }
    assert_eq!(ringport::fs::confinement(), Confinement::Openat2);
}
