//! Helpers for the tests that hold `ringport copy` against `cp`: running either in a temp
//! directory with a umask, without root's file capabilities, and reading modes and owners.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Output};

/// `ringport copy ARGS` in the temp directory.
pub fn ringport_copy(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringport"));
    cmd.current_dir(std::env::temp_dir()).arg("copy");
    for a in args {
        cmd.arg(a);
    }
    cmd
}

/// `cp ARGS` in the temp directory.
pub fn cp(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut cmd = Command::new("cp");
    cmd.current_dir(std::env::temp_dir());
    for a in args {
        cmd.arg(a);
    }
    cmd
}

/// Runs `cmd` with the umask `mask`.
pub fn with_umask(cmd: &mut Command, mask: u32) -> &mut Command {
    // SAFETY: only umask (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask as libc::mode_t);
            Ok(())
        })
    }
}

/// Drops the capabilities that let root ignore permission bits (for this child and what it
/// runs); a no-op for an ordinary user, who has none.
pub fn without_dac_override(cmd: &mut Command) -> &mut Command {
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

/// Whether permission bits hold for a child without root's capabilities here (they do not
/// where the test runs with other privileges that bypass them).
pub fn permissions_enforced(dir: &Path) -> bool {
    let probe = dir.join("probe-unreadable");
    std::fs::write(&probe, b"x").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = without_dac_override(Command::new("cat").arg(&probe))
        .output()
        .unwrap();
    std::fs::remove_file(&probe).unwrap();
    !out.status.success()
}

/// Runs the command and returns its output.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("the command runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The permission bits (with set-user-ID, set-group-ID and sticky) of `path`, not following
/// a link.
pub fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// `(uid, gid)` of `path`.
pub fn owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

/// Bytes of disk `path` uses.
pub fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// Whether this process is root (some checks need it: chown, setuid files).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
