//! What `ringport copy` does on Windows. Windows has no umask and no mode bits: a new file
//! gets the directory's inherited ACL, and only the read-only attribute is carried (as
//! 0o444 against 0o666). Ctrl-C, Ctrl-Break and the console closing stop a copy, reported
//! with the Unix numbers of SIGINT, SIGQUIT and SIGTERM (exit code 130, 131, 143) so that
//! scripts see the same codes. A closed standard output ends the command with code 0, as
//! ripgrep does there (there is no SIGPIPE to die of).

use ringport::fs::{Metadata, OpenOptions};
use ringport::signal::SignalKind;
use std::process::ExitCode;

/// The events that stop a copy: the kind, its name, and the Unix signal number it is
/// reported as (the exit code is 128 + the number).
pub(super) const SIGNALS: [(SignalKind, &str, i32); 3] = [
    (SignalKind::interrupt(), "Ctrl-C", 2),
    (SignalKind::ctrl_break(), "Ctrl-Break", 3),
    (SignalKind::terminate(), "the console closing", 15),
];

/// No umask on Windows.
pub(super) fn umask() -> u32 {
    0
}

/// 0o444 for a read-only file, else 0o666.
pub(super) fn mode_of(meta: &Metadata) -> u32 {
    if meta.readonly() {
        0o444
    } else {
        0o666
    }
}

/// Nothing to set: a new file takes the directory's inherited permissions.
pub(super) fn set_create_mode(opts: &mut OpenOptions, _mode: u32) -> &mut OpenOptions {
    opts
}

/// Whether two metadata describe the same file (volume serial number and file index).
pub(super) fn same_file(a: &Metadata, b: &Metadata) -> bool {
    (a.volume_serial_number(), a.ino()) == (b.volume_serial_number(), b.ino())
}

/// A closed standard output ends the command quietly.
pub(super) fn die_of_sigpipe() -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
