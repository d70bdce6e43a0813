//! The Unix side of `ServeDir`: `O_PATH` probes, non-blocking opens, the fd limit, and
//! directories read with `readdir` on the blocking pool.

use super::listing::DirentKind;
use super::path::is_hidden;
use http::StatusCode;
use ringport::fs::File;
use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `O_PATH`: an fd that names a file without opening it for reading (never blocks on a FIFO).
/// macOS has none; there a plain read-only open stands in (that port only builds).
#[cfg(not(target_os = "macos"))]
const O_PATH: i32 = libc::O_PATH;
#[cfg(target_os = "macos")]
const O_PATH: i32 = 0;

/// The `custom_flags` of an open beneath the root: a probe (`O_PATH`: what a link points at,
/// without opening a FIFO or device for reading), or a read (non-blocking, so that a FIFO
/// cannot stall the open; openat2 refuses those flags with `O_PATH`).
pub(super) fn open_flags(probe: bool) -> i32 {
    if probe {
        O_PATH
    } else {
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY
    }
}

/// A URL path's bytes as a file system path (any bytes are a Unix name).
pub(super) fn rel_path(rel: &[u8]) -> Option<&Path> {
    Some(Path::new(OsStr::from_bytes(rel)))
}

/// The root directory, open (the directory files are opened beneath).
pub(super) fn open_root(root: &Path) -> io::Result<File> {
    Ok(File::from_std(std::fs::File::open(root)?))
}

/// The status of an open that failed with an OS error only Unix has.
pub(super) fn os_status(e: &io::Error) -> Option<StatusCode> {
    match e.raw_os_error()? {
        // It would have left the root (a `..` in a link, an absolute link), or a symbolic link
        // where none are followed, or a loop of them.
        libc::EXDEV | libc::ELOOP => Some(StatusCode::FORBIDDEN),
        libc::EMFILE | libc::ENFILE | libc::ENOMEM => Some(StatusCode::SERVICE_UNAVAILABLE),
        libc::ENAMETOOLONG => Some(StatusCode::NOT_FOUND),
        // A Unix socket (`open` of one fails with ENXIO), or a device with no driver: like
        // a FIFO, not a file to serve.
        libc::ENXIO | libc::ENODEV => Some(StatusCode::FORBIDDEN),
        _ => None,
    }
}

/// The cache's default size: 1,024 entries, or an eighth of the soft fd limit when less.
pub(super) fn default_capacity() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the live struct.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    };
    (soft / 8).min(1024) as usize
}

/// Clears `O_NONBLOCK` on an open file (one `fcntl`, no I/O).
pub(super) fn clear_nonblock(file: &File) {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an fd we own; failure only leaves the flag set.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

/// The names in the directory open at `dir` (a duplicate of its fd is read on the blocking
/// pool: there is no ring operation for reading directories), hidden ones only if `hidden`.
pub(super) async fn names(
    dir: &File,
    _path: PathBuf,
    hidden: bool,
) -> io::Result<Vec<(Vec<u8>, DirentKind)>> {
    // SAFETY: F_DUPFD_CLOEXEC on an fd we hold open; the result is checked.
    let fd = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the duplicate is ours alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    ringport::spawn_blocking(move || read_dir(fd, hidden))
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
}

fn read_dir(fd: OwnedFd, hidden: bool) -> io::Result<Vec<(Vec<u8>, DirentKind)>> {
    // A description of its own (a duplicate shares the read position with the cached fd,
    // which another listing may be reading at the same time).
    // SAFETY: a valid C string; the result is checked.
    let raw = unsafe {
        libc::openat(
            fd.as_raw_fd(),
            c".".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    drop(fd);
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fdopendir takes over the fd (closed by closedir below, or here on failure).
    let dir = unsafe { libc::fdopendir(raw) };
    if dir.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so the fd is still ours.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: `dir` is live; the entry stays valid until the next readdir.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated name inside the live entry.
        let (name, d_type) = unsafe {
            (
                CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes(),
                (*ent).d_type,
            )
        };
        if name == b"." || name == b".." || (!hidden && is_hidden(name)) {
            continue;
        }
        let kind = match d_type {
            libc::DT_REG => DirentKind::File,
            libc::DT_DIR => DirentKind::Dir,
            libc::DT_LNK | libc::DT_UNKNOWN => DirentKind::Unknown,
            _ => DirentKind::Special,
        };
        out.push((name.to_vec(), kind));
    }
    // SAFETY: closes the stream and its fd, once.
    unsafe { libc::closedir(dir) };
    Ok(out)
}
