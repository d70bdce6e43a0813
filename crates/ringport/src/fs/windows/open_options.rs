//! `OpenOptions` on Windows: `CreateFileW` on the pool, always `FILE_FLAG_OVERLAPPED`;
//! `direct` is `FILE_FLAG_NO_BUFFERING`, `dsync` is `FILE_FLAG_WRITE_THROUGH`.

use super::{beneath, wide, File};
use crate::driver::op::windows::{Open, OpenBeneath};
use crate::driver::Op;
use std::io;
use std::path::Path;
use windows_sys::Win32::Foundation::{GENERIC_READ, GENERIC_WRITE};
use windows_sys::Win32::Storage::FileSystem::{
    CREATE_ALWAYS, CREATE_NEW, FILE_APPEND_DATA, FILE_FLAG_NO_BUFFERING, FILE_FLAG_OVERLAPPED,
    FILE_FLAG_WRITE_THROUGH, FILE_GENERIC_WRITE, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, OPEN_ALWAYS, OPEN_EXISTING, TRUNCATE_EXISTING,
};

/// Options for opening a file, as with `std::fs::OpenOptions`, plus `direct` (unbuffered) and
/// `dsync` (write-through).
///
/// ```no_run
/// use ringport::fs::OpenOptions;
/// # async fn demo() -> std::io::Result<()> {
/// let file = OpenOptions::new()
///     .read(true)
///     .write(true)
///     .create(true)
///     .direct(true)
///     .dsync(true)
///     .open("data.bin")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    direct: bool,
    dsync: bool,
    custom_flags: u32,
    resolve_beneath: bool,
    no_symlinks: bool,
}

impl OpenOptions {
    /// Nothing allowed yet: set at least `read` or `write`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }

    /// Writes at the stream position go to the end.
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Truncate to length 0 when opened.
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create the file if it does not exist.
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create the file, failing if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// `FILE_FLAG_NO_BUFFERING`: no cache; buffer address, length and offset must be aligned
    /// to the volume's sector size (use [`AlignedBuf`](crate::buf::AlignedBuf)).
    pub fn direct(&mut self, on: bool) -> &mut Self {
        self.direct = on;
        self
    }

    /// `FILE_FLAG_WRITE_THROUGH`: a write completes once it is on the device.
    pub fn dsync(&mut self, on: bool) -> &mut Self {
        self.dsync = on;
        self
    }

    /// More `FILE_FLAG_*` bits for `CreateFileW`.
    pub fn custom_flags(&mut self, flags: u32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// With [`open_at`](Self::open_at): the path must stay beneath the directory; a path
    /// that would leave it (a `..`, a drive or stream name, a link or junction that resolves
    /// outside) fails with `PermissionDenied`. See `fs::confinement` for how.
    pub fn resolve_beneath(&mut self, on: bool) -> &mut Self {
        self.resolve_beneath = on;
        self
    }

    /// With [`resolve_beneath`](Self::resolve_beneath): refuse every symbolic link or
    /// junction on the way, inside or not (`PermissionDenied`).
    pub fn resolve_no_symlinks(&mut self, on: bool) -> &mut Self {
        self.no_symlinks = on;
        self
    }

    fn access(&self) -> io::Result<u32> {
        let mut access = 0;
        if self.read {
            access |= GENERIC_READ;
        }
        if self.write || self.append {
            access |= if self.append && !self.write {
                FILE_APPEND_DATA | (FILE_GENERIC_WRITE & !0x2) // without FILE_WRITE_DATA
            } else {
                GENERIC_WRITE
            };
        }
        if access == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "open a file for reading, writing or both",
            ));
        }
        if self.direct && access & GENERIC_WRITE != 0 {
            // Unbuffered handles refuse FILE_APPEND_DATA, which GENERIC_WRITE includes.
            access = (access & !GENERIC_WRITE) | (FILE_GENERIC_WRITE & !FILE_APPEND_DATA);
        }
        Ok(access)
    }

    fn disposition(&self) -> u32 {
        match (self.create, self.truncate, self.create_new) {
            (_, _, true) => CREATE_NEW,
            (true, true, false) => CREATE_ALWAYS,
            (true, false, false) => OPEN_ALWAYS,
            (false, true, false) => TRUNCATE_EXISTING,
            (false, false, false) => OPEN_EXISTING,
        }
    }

    fn flags(&self) -> u32 {
        let mut flags = FILE_FLAG_OVERLAPPED | self.custom_flags;
        if self.direct {
            flags |= FILE_FLAG_NO_BUFFERING;
        }
        if self.dsync {
            flags |= FILE_FLAG_WRITE_THROUGH;
        }
        flags
    }

    /// Opens `path` relative to the directory `dir` (a `File` opened on a directory); with
    /// [`resolve_beneath`](Self::resolve_beneath) it cannot leave `dir`. On the driver's pool.
    pub async fn open_at(&self, dir: &File, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let op = OpenBeneath {
            dir: dir.shared_fd().clone(),
            path: beneath::relative(path, self.resolve_beneath)?,
            access: self.access()?,
            share: FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            disposition: self.disposition(),
            flags: self.flags(),
            beneath: self.resolve_beneath,
            no_symlinks: self.resolve_beneath && self.no_symlinks,
        };
        let (done, _) = Op::new(op).await;
        let handle = done.result.map_err(|e| beneath::explain(e, path))?;
        Ok(File::from_handle(handle as usize, self.direct))
    }

    /// Opens `path` (on the pool: an open can take milliseconds).
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let flags = self.flags();
        let op = Open {
            path: wide(path)?,
            access: self.access()?,
            share: FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            disposition: self.disposition(),
            flags,
        };
        let (done, _) = Op::new(op).await;
        let handle = done
            .result
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(File::from_handle(handle as usize, self.direct))
    }
}
