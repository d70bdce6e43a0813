//! The Unix facts the commands need: the kernel's release, how paths are confined, and which
//! error numbers mean what.

use ringport::fs::{Confinement, OpenOptions};
use ringport::{Backend, BackendInfo};
use std::io;
use std::path::Path;

/// The kernel's release (`/proc/sys/kernel/osrelease`), or "unknown".
pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// How `resolve_beneath` opens (what `ringport serve` keeps paths inside its root with).
pub fn confinement(info: &BackendInfo) -> String {
    let on_ring =
        info.backend == Backend::Uring && info.opcodes.iter().any(|&(n, ok)| n == "OPENAT2" && ok);
    if on_ring {
        return "openat2 RESOLVE_BENEATH, one OPENAT2 operation on the ring".into();
    }
    match ringport::fs::confinement() {
        Confinement::Openat2 => "openat2 RESOLVE_BENEATH, one call on the syscall pool".into(),
        Confinement::Walk { why } => format!(
            "a walk one component at a time (O_NOFOLLOW) on the blocking pool: openat2 is \
             unavailable ({why})"
        ),
    }
}

/// A path as the user typed such paths.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// Out of fds (`EMFILE`, `ENFILE`).
pub fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// No IPv6 on this machine (`EAFNOSUPPORT`).
pub fn no_ipv6(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EAFNOSUPPORT)
}

/// The disk is full (`ENOSPC`).
pub fn disk_full(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSPC)
}

/// The file system cannot reserve space (`EOPNOTSUPP` from `fallocate`).
pub fn cannot_allocate(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

/// Flushes the directory `dir` (so that a rename in it is durable).
pub async fn sync_dir(dir: &Path) -> io::Result<()> {
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .await?;
    d.sync_all().await?;
    d.close().await
}

/// A reader that goes away (`ringport info | head -1`) ends the process quietly, as it ends
/// `ls`: SIGPIPE back to its default action. Only for commands whose output is a report;
/// `copy` and `serve` keep SIGPIPE ignored and handle EPIPE themselves.
pub fn end_quietly_when_stdout_closes() {
    // SAFETY: setting a signal's disposition to SIG_DFL touches no memory of ours; it runs
    // before the command starts any thread or runtime.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread and so in the threads it starts later: a
/// `serve` with several loops takes them through loop 0's signalfd, whichever thread the
/// kernel hands them to (a thread without the block would take the default action and end
/// the process).
pub fn block_stop_signals() -> io::Result<()> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset; pointers are to locals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}
