//! Files and the file system, every call an operation on the ring.

#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
mod beneath;
pub(crate) mod file;
mod metadata;
mod open_options;

pub use beneath::{confinement, Confinement};
pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;

use crate::buf::{BufResult, IoBuf};
use crate::driver::op::path::{MkdirAt, RenameAt, UnlinkAt};
use crate::driver::op::statx::{Statx, StatxTarget};
use crate::driver::Op;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path {:?} contains a NUL byte", path),
        )
    })
}

pub(crate) async fn statx(target: StatxTarget, flags: i32, mask: u32) -> io::Result<Metadata> {
    let (done, op) = Op::new(Statx::new(target, flags, mask)).await;
    done.result?;
    Ok(Metadata::new(*op.out))
}

/// Metadata of the file `path` names, following symbolic links.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let target = StatxTarget::Path(cstring(path.as_ref())?);
    statx(target, 0, libc::STATX_BASIC_STATS | libc::STATX_BTIME).await
}

/// Metadata of `path` itself, not following a symbolic link.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let target = StatxTarget::Path(cstring(path.as_ref())?);
    let mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
    statx(target, libc::AT_SYMLINK_NOFOLLOW, mask).await
}

/// Reads a whole file.
///
/// ```no_run
/// # ringport::run(async {
/// let bytes = ringport::fs::read("/etc/hostname").await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let hint = file.metadata().await.map(|m| m.len() as usize).unwrap_or(0);
    let mut buf = Vec::with_capacity(hint.max(64) + 1);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let pos = buf.len();
        let BufResult(res, slice) = file.read_at(buf.slice(pos..), pos as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    file.close().await?;
    Ok(buf)
}

/// Writes `contents` to a file, creating or truncating it.
pub async fn write(path: impl AsRef<Path>, contents: impl IoBuf) -> io::Result<()> {
    let file = File::create(path).await?;
    file.write_all_at(contents, 0).await.0?;
    file.close().await
}

/// Renames `from` to `to`, replacing `to` when it exists (`RENAMEAT`).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let op = RenameAt {
        from: cstring(from.as_ref())?,
        to: cstring(to.as_ref())?,
    };
    Op::new(op).await.0.result.map(drop)
}

/// Removes a file (`UNLINKAT`).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let op = UnlinkAt {
        path: cstring(path.as_ref())?,
        dir: false,
    };
    Op::new(op).await.0.result.map(drop)
}

/// Removes an empty directory (`UNLINKAT` with `AT_REMOVEDIR`).
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let op = UnlinkAt {
        path: cstring(path.as_ref())?,
        dir: true,
    };
    Op::new(op).await.0.result.map(drop)
}

/// Creates a directory (`MKDIRAT`, mode 0o777 before the umask).
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    create_dir_mode(path, 0o777).await
}

/// Creates a directory with the permission bits `mode`, before the umask (`MKDIRAT`).
pub async fn create_dir_mode(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    let op = MkdirAt {
        path: cstring(path.as_ref())?,
        mode: mode & 0o7777,
    };
    Op::new(op).await.0.result.map(drop)
}
