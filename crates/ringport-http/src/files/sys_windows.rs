//! The Windows side of `ServeDir`. Files are opened beneath the root by
//! `OpenOptions::open_at` with `resolve_beneath` (a lexical check, then the opened handle's
//! final path checked against the root's: see `ringport::fs::confinement`); a FIFO or device
//! cannot sit in a directory there, so probes and reads open alike. Directories are listed
//! with `std::fs::read_dir` on the blocking pool; every name is then opened beneath the root
//! as a request would be, so the listing never shows what a request could not get.

use super::listing::DirentKind;
use super::path::is_hidden;
use http::StatusCode;
use ringport::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// `FILE_FLAG_BACKUP_SEMANTICS`: what lets `CreateFileW` open a directory.
const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
/// `ERROR_TOO_MANY_OPEN_FILES`, `ERROR_NOT_ENOUGH_MEMORY`, `ERROR_OUTOFMEMORY`,
/// `ERROR_NO_SYSTEM_RESOURCES`.
const OUT_OF_RESOURCES: [i32; 4] = [4, 8, 14, 1450];
/// `ERROR_NOT_SAME_DEVICE` (the file lies outside the root) and `ERROR_CANT_RESOLVE_FILENAME`
/// (a link where none are followed), what `open_at` with `resolve_beneath` reports: 403.
const OUTSIDE: [i32; 2] = [17, 1921];
/// `ERROR_INVALID_NAME`, `ERROR_FILENAME_EXCED_RANGE`, `ERROR_DIRECTORY` (a name Windows
/// cannot have, or a file used as a directory): nothing is there.
const NO_SUCH_NAME: [i32; 3] = [123, 206, 267];

/// The `custom_flags` of an open beneath the root (the same for a probe and a read: Windows
/// has no FIFO in a directory that a read-only open could block on).
pub(super) fn open_flags(_probe: bool) -> u32 {
    0
}

/// A URL path's bytes as a file system path: Windows names are Unicode, so bytes that are
/// not UTF-8 name nothing.
pub(super) fn rel_path(rel: &[u8]) -> Option<&Path> {
    std::str::from_utf8(rel).ok().map(Path::new)
}

/// The root directory, open (`FILE_FLAG_BACKUP_SEMANTICS`: std cannot open a directory
/// otherwise).
pub(super) fn open_root(root: &Path) -> io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(root)?;
    Ok(File::from_std(dir))
}

/// The status of an open that failed with an OS error only Windows has.
pub(super) fn os_status(e: &io::Error) -> Option<StatusCode> {
    let code = e.raw_os_error()?;
    if OUTSIDE.contains(&code) {
        Some(StatusCode::FORBIDDEN)
    } else if OUT_OF_RESOURCES.contains(&code) {
        Some(StatusCode::SERVICE_UNAVAILABLE)
    } else if NO_SUCH_NAME.contains(&code) {
        Some(StatusCode::NOT_FOUND)
    } else {
        None
    }
}

/// The soft fd limit has no Windows counterpart (handles are limited by memory): 1,024.
pub(super) fn default_capacity() -> usize {
    1024
}

/// Nothing to clear: Windows files have no non-blocking flag.
pub(super) fn clear_nonblock(_file: &File) {}

/// The names in the directory at `path` (on the blocking pool), hidden ones only if
/// `hidden`. Names that are not UTF-8 are left out (no URL can name them, see `rel_path`).
pub(super) async fn names(
    _dir: &File,
    path: PathBuf,
    hidden: bool,
) -> io::Result<Vec<(Vec<u8>, DirentKind)>> {
    ringport::spawn_blocking(move || read_dir(&path, hidden))
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
}

fn read_dir(path: &Path, hidden: bool) -> io::Result<Vec<(Vec<u8>, DirentKind)>> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir(path)? {
        let ent = ent?;
        let Ok(name) = ent.file_name().into_string() else {
            continue;
        };
        if !hidden && is_hidden(name.as_bytes()) {
            continue;
        }
        let kind = match ent.file_type() {
            Ok(t) if t.is_symlink() => DirentKind::Unknown,
            Ok(t) if t.is_dir() => DirentKind::Dir,
            Ok(t) if t.is_file() => DirentKind::File,
            Ok(_) => DirentKind::Special,
            Err(_) => DirentKind::Unknown,
        };
        out.push((name.into_bytes(), kind));
    }
    Ok(out)
}
