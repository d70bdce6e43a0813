//! Files and the file system on Windows: overlapped reads and writes at offsets through the
//! completion port, everything else (opens, metadata, flushes, path calls) on the driver's
//! pool.

mod beneath;
mod file;
mod metadata;
mod open_options;

pub use beneath::{confinement, Confinement};
pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;

use crate::buf::{BufResult, IoBuf};
use crate::driver::op::windows::{FileStat, PathCall, Stat, StatTarget};
use crate::driver::Op;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

/// A NUL-terminated UTF-16 path, as the wide Win32 calls take it.
pub(crate) fn wide(path: &Path) -> io::Result<Vec<u16>> {
    let mut w: Vec<u16> = path.as_os_str().encode_wide().collect();
    if w.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path {} contains a NUL character", path.display()),
        ));
    }
    w.push(0);
    Ok(w)
}

pub(crate) async fn stat(target: StatTarget) -> io::Result<Metadata> {
    let op = Stat {
        target,
        out: Box::new(FileStat::default()),
    };
    let (done, op) = Op::new(op).await;
    done.result?;
    Ok(Metadata::new(*op.out))
}

/// Metadata of the file `path` names, following symbolic links.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = wide(path.as_ref())?;
    stat(StatTarget::Path { path, follow: true }).await
}

/// Metadata of `path` itself, not following a symbolic link.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = wide(path.as_ref())?;
    stat(StatTarget::Path {
        path,
        follow: false,
    })
    .await
}

/// Reads a whole file.
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

async fn path_call(call: PathCall) -> io::Result<()> {
    Op::new(call).await.0.result.map(drop)
}

/// Renames `from` to `to`, replacing `to` when it exists (`MoveFileExW`).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    path_call(PathCall::Rename {
        from: wide(from.as_ref())?,
        to: wide(to.as_ref())?,
    })
    .await
}

/// Removes a file (`DeleteFileW`).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    path_call(PathCall::Remove {
        path: wide(path.as_ref())?,
        dir: false,
    })
    .await
}

/// Removes an empty directory (`RemoveDirectoryW`).
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    path_call(PathCall::Remove {
        path: wide(path.as_ref())?,
        dir: true,
    })
    .await
}

/// Creates a directory (`CreateDirectoryW`).
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    path_call(PathCall::Mkdir {
        path: wide(path.as_ref())?,
    })
    .await
}
