//! Opening a path beneath a directory without ever leaving it.
//!
//! The first choice is one kernel call: `openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS` (an `OPENAT2` on the ring, which seccomp filters do not see). Where
//! that call is missing (`ENOSYS`: a kernel before 5.6, or a filter that says so) or refused
//! (`EPERM`: a seccomp filter, as older container profiles have), the same rules are kept by
//! a walk, one component at a time, on the blocking pool ([`walk`]): each directory is opened
//! `O_PATH | O_NOFOLLOW` relative to the one before and used by its fd (so a rename during
//! the walk cannot redirect it), a symbolic link is read and its target walked in turn
//! (refusing absolute targets and `..` above the start, as `RESOLVE_BENEATH` does), and the
//! last component is opened `O_NOFOLLOW`. This is the resolution cap-std does by hand, and
//! nginx's `disable_symlinks` walk with in-root links followed.

#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// The most symbolic links one walk follows, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: u32 = 40;

/// 0 while `openat2` is not known to be missing; else the errno that said it is.
static MISSING: AtomicI32 = AtomicI32::new(0);

/// How paths are kept beneath a directory on this machine (shown by `ringport info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confinement {
    /// `openat2(RESOLVE_BENEATH)`: one kernel call per open.
    Openat2,
    /// A walk one component at a time on the blocking pool; `why` says why (`ENOSYS`, `EPERM`).
    Walk {
        /// The error `openat2` gave.
        why: String,
    },
}

/// Whether the `openat2` system call works in this process, trying it once on `.` (and
/// remembering a failure). The ring's `OPENAT2` does not depend on it (seccomp filters do not
/// apply to io_uring operations); the poll backend and the per-op fallback do.
pub fn confinement() -> Confinement {
    if let Some(why) = missing() {
        return Confinement::Walk { why };
    }
    let Err(err) = try_openat2() else {
        return Confinement::Openat2;
    };
    match err.raw_os_error() {
        Some(code @ (libc::ENOSYS | libc::EPERM)) => {
            MISSING.store(code, Ordering::Relaxed);
            Confinement::Walk {
                why: errno_name(code),
            }
        }
        // Anything else is about "." itself, not the call.
        _ => Confinement::Openat2,
    }
}

/// One `openat2(AT_FDCWD, ".", O_PATH, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`.
#[cfg(target_os = "linux")]
fn try_openat2() -> io::Result<()> {
    // SAFETY: open_how is plain data; zero is valid and the fields are set below.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    let size = std::mem::size_of::<libc::open_how>();
    // SAFETY: a valid C string, a live open_how of the size given.
    let fd = unsafe { libc::syscall(libc::SYS_openat2, libc::AT_FDCWD, c".".as_ptr(), &how, size) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just opened and is ours.
    drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
    Ok(())
}

/// macOS and the BSDs have no `openat2`: every confined open is the walk.
#[cfg(not(target_os = "linux"))]
fn try_openat2() -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// The errno that showed `openat2` missing, once one did.
fn missing() -> Option<String> {
    match MISSING.load(Ordering::Relaxed) {
        0 => None,
        code => Some(errno_name(code)),
    }
}

fn errno_name(code: i32) -> String {
    match code {
        libc::ENOSYS => "ENOSYS: the kernel has no openat2, or a filter hides it".into(),
        libc::EPERM => "EPERM: a seccomp filter forbids openat2".into(),
        other => io::Error::from_raw_os_error(other).to_string(),
    }
}

/// Whether an `openat2` failure means the call itself is unavailable.
pub(crate) fn is_unavailable(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
}

/// Whether `openat2` is already known to be unavailable (skip straight to the walk).
pub(crate) fn known_missing() -> bool {
    MISSING.load(Ordering::Relaxed) != 0
}

/// Records that `openat2` failed with `e` and the walk then worked: the call is unavailable.
pub(crate) fn note_missing(e: &io::Error) {
    if let Some(code) = e.raw_os_error() {
        MISSING.store(code, Ordering::Relaxed);
    }
}

/// Opens `path` beneath the directory `root` with open(2) `flags`, by hand: see the module
/// docs. Blocking: run it on the blocking pool. Escaping is `EXDEV`, a symbolic link under
/// `no_symlinks` (or a loop) `ELOOP`, as `openat2` says them.
pub(crate) fn walk(root: RawFd, path: &Path, flags: i32, no_symlinks: bool) -> io::Result<OwnedFd> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.starts_with(b"/") {
        return Err(io::Error::from_raw_os_error(libc::EXDEV));
    }
    let mut todo: Vec<Vec<u8>> = components(bytes);
    // A trailing slash asks for a directory: keep it on the last component.
    let dir_wanted = bytes.ends_with(b"/");
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == b".." {
            if dirs.pop().is_none() {
                return Err(io::Error::from_raw_os_error(libc::EXDEV));
            }
            continue;
        }
        let base = dirs.last().map_or(root, AsRawFd::as_raw_fd);
        let last = todo.is_empty();
        if last {
            let extra = if dir_wanted { libc::O_DIRECTORY } else { 0 };
            match openat(
                base,
                &name,
                flags | extra | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            ) {
                Err(e)
                    if e.raw_os_error() == Some(libc::ELOOP) && flags & libc::O_NOFOLLOW == 0 => {}
                // ENOTDIR for a trailing slash on a symlink: the link's target decides.
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) && dir_wanted => {}
                done => return done,
            }
        }
        let fd = openat(
            base,
            &name,
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )?;
        let mode = crate::fs::file::cached_statx(fd.as_raw_fd())?.mode() & libc::S_IFMT;
        if mode == libc::S_IFLNK {
            if no_symlinks {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = readlink(fd.as_raw_fd())?;
            if target.starts_with(b"/") {
                return Err(io::Error::from_raw_os_error(libc::EXDEV));
            }
            todo.extend(components(&target));
            continue;
        }
        if last {
            // Reached only for a trailing slash on something that is not a link.
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        if mode != libc::S_IFDIR {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        dirs.push(fd);
    }
    // Nothing named (an empty path, or `a/..`): the directory reached itself.
    let base = dirs.last().map_or(root, AsRawFd::as_raw_fd);
    openat(base, b".", flags | libc::O_CLOEXEC)
}

/// The components of a relative path, last first (a stack to pop), `.` and empty ones dropped.
fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
}

fn openat(dir: RawFd, name: &[u8], flags: i32) -> io::Result<OwnedFd> {
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a valid C string; the result is checked and owned below.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just opened and is ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The target of the symbolic link `fd` (opened `O_PATH | O_NOFOLLOW`).
fn readlink(fd: RawFd) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: the buffer is live and its length given.
        let n = unsafe { libc::readlinkat(fd, c"".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        // Possibly cut short: try again with more room (targets are at most PATH_MAX).
        if buf.len() >= libc::PATH_MAX as usize {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        buf.resize(buf.len() * 4, 0);
    }
}
