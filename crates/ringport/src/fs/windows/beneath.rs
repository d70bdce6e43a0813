//! Opening a path beneath a directory without leaving it, on Windows (`OpenOptions::open_at`
//! with `resolve_beneath`). Windows has no `openat2`; the same guarantee is kept in three
//! steps:
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
//! Step 1 is here; steps 2 and 3 are one job on the driver's pool (`driver/iocp/beneath.rs`),
//! so an open dropped in flight still closes its handle when the job ends.
//!
//! Unlike `RESOLVE_BENEATH`, a `..` that would stay inside (`a/../b`) is refused too.

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::{Component, Path};

/// What the pool's check reports (`driver/iocp/beneath.rs`): outside the directory
/// (`ERROR_NOT_SAME_DEVICE`), or a link where none may be (`ERROR_CANT_RESOLVE_FILENAME`).
const OUTSIDE: i32 = 17;
const LINKED: i32 = 1921;

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

/// The error of a failed open beneath a directory, with words for the pool's two verdicts
/// (the OS code is kept, so `raw_os_error` still tells them apart).
pub(super) fn explain(e: io::Error, path: &Path) -> io::Error {
    let why = match e.raw_os_error() {
        Some(OUTSIDE) => "leads out of the directory (it resolves to a file outside it)",
        Some(LINKED) => "is, or is reached through, a symbolic link or junction",
        _ => return io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    };
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} {why} (os error {})",
            path.display(),
            e.raw_os_error().unwrap_or(0)
        ),
    )
}
