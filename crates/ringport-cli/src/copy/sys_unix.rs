//! What `ringport copy` does the Unix way: the umask, permission bits, file identity, the
//! signals that stop a copy and dying of SIGPIPE.

use ringport::fs::{Metadata, OpenOptions};
use ringport::signal::SignalKind;
use std::process::ExitCode;

/// The signals that stop a copy: the kind, its name, and its number (the exit code is
/// 128 + the number).
pub(super) const SIGNALS: [(SignalKind, &str, i32); 3] = [
    (SignalKind::interrupt(), "SIGINT", libc::SIGINT),
    (SignalKind::terminate(), "SIGTERM", libc::SIGTERM),
    (SignalKind::hangup(), "SIGHUP", libc::SIGHUP),
];

/// The process's umask (read by setting it, so call it before any thread starts).
pub(super) fn umask() -> u32 {
    // SAFETY: umask only swaps the process's mask; the old one is put back at once.
    unsafe {
        let old = libc::umask(0o077);
        libc::umask(old);
        old as u32 & 0o777
    }
}

/// The permission bits (and set-user-ID, set-group-ID, sticky) of a file.
pub(super) fn mode_of(meta: &Metadata) -> u32 {
    meta.mode() & 0o7777
}

/// The mode a new file is created with.
pub(super) fn set_create_mode(opts: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    opts.mode(mode)
}

/// Whether two metadata describe the same file (device and inode).
pub(super) fn same_file(a: &Metadata, b: &Metadata) -> bool {
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Ends the process as a write to a closed pipe ends cat: killed by SIGPIPE, silently (the
/// Rust runtime ignores SIGPIPE, so the copy saw EPIPE instead).
pub(super) fn die_of_sigpipe() -> anyhow::Result<ExitCode> {
    // SAFETY: restoring the default action and raising the signal in this thread; nothing
    // here touches memory.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Only reached if SIGPIPE could not end the process: the shell's code for it.
    Ok(ExitCode::from(128 + libc::SIGPIPE as u8))
}
