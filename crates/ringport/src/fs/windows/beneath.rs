//! Opening a path beneath a directory without leaving it, on Windows (`OpenOptions::open_at`
//! with `resolve_beneath`). Windows has no `openat2`; the same guarantee is kept in three
//! steps, all in one job on the blocking pool:
//!
//! 1. A lexical check: the path is relative, and each component is a plain name: no `..`, no
//!    drive or stream (`:`), no `\\?\` prefix. The full path is built as
//!    `\\?\<directory's final path>\<components>`, so device names (`CON`, `NUL`), trailing
//!    dots and spaces are plain names, never the legacy DOS meanings.
//! 2. The open itself (`CreateFileW`, `FILE_FLAG_BACKUP_SEMANTICS` so that directories open
//!    too; with `resolve_no_symlinks`, `FILE_FLAG_OPEN_REPARSE_POINT`, and a final component
//!    that is a reparse point is refused).
//! 3. The check that decides: the opened handle's own path (`GetFinalPathNameByHandleW`,
//!    every link and junction resolved by the kernel) must lie inside the directory's final
//!    path, or the handle is closed and the open refused (`PermissionDenied`, "leads out of").
//!    With `resolve_no_symlinks` it must be exactly the directory's path plus the components
//!    (case-insensitively), so a link anywhere on the way is refused. Since the check is made
//!    on the handle, a link swapped in between the steps cannot lead outside either.
//!
//! Unlike `RESOLVE_BENEATH`, a `..` that would stay inside (`a/../b`) is refused too.

use super::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::{Component, Path};
use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, GetFileInformationByHandle, GetFinalPathNameByHandleW, BY_HANDLE_FILE_INFORMATION,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
    FILE_NAME_NORMALIZED, VOLUME_NAME_DOS,
};

/// How paths are kept beneath a directory on this machine (shown by `ringport info`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confinement {
    /// A lexical check, the open, then the opened handle's final path checked against the
    /// directory's (`GetFinalPathNameByHandleW`), on the blocking pool.
    FinalPath,
}

/// How `resolve_beneath` works here: always [`Confinement::FinalPath`] on Windows.
pub fn confinement() -> Confinement {
    Confinement::FinalPath
}

/// What an open beneath a directory needs, sent to the pool.
pub(super) struct Request {
    pub dir: usize,
    pub path: Vec<u16>,
    pub shown: String,
    pub access: u32,
    pub share: u32,
    pub disposition: u32,
    pub flags: u32,
    pub beneath: bool,
    pub no_symlinks: bool,
}

/// The components of `path` joined with `\`, after the lexical check.
pub(super) fn relative(path: &Path, beneath: bool) -> io::Result<Vec<u16>> {
    let mut out: Vec<u16> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(name) => {
                let name: Vec<u16> = name.encode_wide().collect();
                if name.contains(&0) || (beneath && name.contains(&u16::from(b':'))) {
                    return Err(outside(path, "names a drive or a stream"));
                }
                if !out.is_empty() {
                    out.push(u16::from(b'\\'));
                }
                out.extend(name);
            }
            Component::ParentDir if !beneath => {
                if !out.is_empty() {
                    out.push(u16::from(b'\\'));
                }
                out.extend([u16::from(b'.'), u16::from(b'.')]);
            }
            Component::ParentDir => return Err(outside(path, "has a `..` component")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(outside(path, "is not relative"));
            }
        }
    }
    Ok(out)
}

fn outside(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{} leads out of the directory: it {why}", path.display()),
    )
}

/// Runs on the pool: the open and the final-path check. Returns the handle.
pub(super) fn open(req: Request) -> io::Result<usize> {
    let root = final_path(req.dir as HANDLE)?;
    let mut full = root.clone();
    if !req.path.is_empty() {
        full.push(u16::from(b'\\'));
        full.extend_from_slice(&req.path);
    }
    full.push(0);
    let mut flags = req.flags | FILE_FLAG_BACKUP_SEMANTICS;
    if req.no_symlinks {
        flags |= FILE_FLAG_OPEN_REPARSE_POINT;
    }
    // SAFETY: `full` is NUL-terminated UTF-16 and outlives the call; no security attributes
    // and no template handle.
    let h = unsafe {
        CreateFileW(
            full.as_ptr(),
            req.access,
            req.share,
            std::ptr::null(),
            req.disposition,
            flags,
            std::ptr::null_mut(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{}: {e}", req.shown)));
    }
    let checked = if req.beneath {
        check(h, &root, &full[..full.len() - 1], &req)
    } else {
        Ok(())
    };
    match checked {
        Ok(()) => Ok(h as usize),
        Err(e) => {
            // SAFETY: `h` was opened above and is not used after this.
            unsafe { CloseHandle(h) };
            Err(e)
        }
    }
}

/// The handle `h` (opened as `asked`) is beneath `root`, and with `no_symlinks` exactly at
/// `asked`.
fn check(h: HANDLE, root: &[u16], asked: &[u16], req: &Request) -> io::Result<()> {
    let shown = Path::new(&req.shown);
    if req.no_symlinks {
        // SAFETY: a plain struct, written by the call below.
        let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: `h` is open; `info` is writable.
        if unsafe { GetFileInformationByHandle(h, &mut info) } == 0 {
            return Err(io::Error::last_os_error());
        }
        if info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is a symbolic link or junction", req.shown),
            ));
        }
    }
    let got = final_path(h)?;
    let inside = if req.no_symlinks {
        eq_ignore_case(&got, asked)
    } else {
        eq_ignore_case(&got, root)
            || (got.len() > root.len()
                && got[root.len()] == u16::from(b'\\')
                && eq_ignore_case(&got[..root.len()], root))
    };
    if inside {
        return Ok(());
    }
    let why = if req.no_symlinks {
        "is reached through a symbolic link or junction"
    } else {
        "resolves to a file outside it"
    };
    Err(outside(shown, why))
}

/// ASCII case folding, as NTFS compares most names (a non-ASCII difference in case is
/// refused, the safe side).
fn eq_ignore_case(a: &[u16], b: &[u16]) -> bool {
    let fold = |c: u16| {
        if (u16::from(b'a')..=u16::from(b'z')).contains(&c) {
            c - 32
        } else {
            c
        }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| fold(x) == fold(y))
}

/// The handle's path with every link resolved (`\\?\C:\...`), without a trailing `\`.
fn final_path(h: HANDLE) -> io::Result<Vec<u16>> {
    let mut buf = vec![0u16; 512];
    loop {
        // SAFETY: `buf` is writable for `buf.len()` units.
        let n = unsafe {
            GetFinalPathNameByHandleW(
                h,
                buf.as_mut_ptr(),
                buf.len() as u32,
                FILE_NAME_NORMALIZED | VOLUME_NAME_DOS,
            )
        } as usize;
        if n == 0 {
            // SAFETY: no arguments; reads the thread's last error.
            let code = unsafe { GetLastError() };
            return Err(io::Error::from_raw_os_error(code as i32));
        }
        if n < buf.len() {
            buf.truncate(n);
            while buf.last() == Some(&u16::from(b'\\')) {
                buf.pop();
            }
            return Ok(buf);
        }
        buf.resize(n + 1, 0);
    }
}

/// A `File` for the handle `open` returned.
pub(super) fn adopt(handle: usize, direct: bool) -> File {
    File::from_handle(handle, direct)
}
