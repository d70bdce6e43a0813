//! `OpenOptions`: how to open a file, `direct` and `dsync` included.

use super::{beneath, cstring, File};
use crate::driver::fd::SharedFd;
use crate::driver::{op::open::OpenAt, Op};
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::Path;

/// Options for opening a file, as with `std::fs::OpenOptions`, plus `direct` (O_DIRECT) and
/// `dsync` (O_DSYNC, write-through).
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
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    direct: bool,
    dsync: bool,
    mode: u32,
    custom_flags: i32,
    resolve_beneath: bool,
    no_symlinks: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// All options off; `mode` 0o666 (before the umask).
    pub fn new() -> Self {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            direct: false,
            dsync: false,
            mode: 0o666,
            custom_flags: 0,
            resolve_beneath: false,
            no_symlinks: false,
        }
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

    /// Append: writes at the fd's position go to the end (positional writes are unaffected).
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }

    /// Truncate to zero length on open.
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }

    /// Create the file when missing.
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }

    /// Create the file, failing when it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }

    /// `O_DIRECT`: bypass the page cache. Buffers, lengths and offsets must then be aligned
    /// (see [`AlignedBuf`](crate::buf::AlignedBuf) and [`File::direct_io_alignment`]).
    pub fn direct(&mut self, on: bool) -> &mut Self {
        self.direct = on;
        self
    }

    /// `O_DSYNC`: each write returns once its data is on the device.
    pub fn dsync(&mut self, on: bool) -> &mut Self {
        self.dsync = on;
        self
    }

    /// Permission bits for a created file.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Refuses, in the kernel, any path that would leave the directory it is opened in (with
    /// [`open_at`](Self::open_at)) or the working directory: `..` above it, an absolute path,
    /// or a symbolic link pointing out (`openat2` with `RESOLVE_BENEATH |
    /// RESOLVE_NO_MAGICLINKS`, Linux 5.6). Such a path fails with `EXDEV`. Relative links that
    /// stay inside are followed; absolute links are refused even when they point inside.
    /// There is no window between a check and the open. Where the `openat2` system call is
    /// missing or forbidden (the poll backend under a seccomp filter), the same rules are kept
    /// by a component-by-component walk on the blocking pool (see [`confinement`](super::confinement)).
    pub fn resolve_beneath(&mut self, on: bool) -> &mut Self {
        self.resolve_beneath = on;
        self
    }

    /// With [`resolve_beneath`](Self::resolve_beneath): refuse every symbolic link on the way,
    /// inside or not (`RESOLVE_NO_SYMLINKS`): such a path fails with `ELOOP`.
    pub fn resolve_no_symlinks(&mut self, on: bool) -> &mut Self {
        self.no_symlinks = on;
        self
    }

    /// Extra `open(2)` flags, or-ed in.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write || self.append) {
            (true, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
            (false, false) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "open options need read, write or append",
                ))
            }
        };
        let writes = self.write || self.append;
        if (self.truncate || self.create || self.create_new) && !writes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "create and truncate need write or append",
            ));
        }
        let mut flags = access | libc::O_CLOEXEC | self.custom_flags;
        let set = [
            (self.append, libc::O_APPEND),
            (self.truncate && !self.create_new, libc::O_TRUNC),
            (self.create && !self.create_new, libc::O_CREAT),
            (self.create_new, libc::O_CREAT | libc::O_EXCL),
            (self.direct, libc::O_DIRECT),
            (self.dsync, libc::O_DSYNC),
        ];
        for (on, bit) in set {
            if on {
                flags |= bit;
            }
        }
        Ok(flags)
    }

    /// Opens `path` with these options (an `OPENAT` on the ring).
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        self.open_in(None, path.as_ref()).await
    }

    /// Opens `path` relative to the directory `dir` (an `OPENAT` on the ring); with
    /// [`resolve_beneath`](Self::resolve_beneath) it cannot leave `dir`.
    pub async fn open_at(&self, dir: &File, path: impl AsRef<Path>) -> io::Result<File> {
        self.open_in(Some(dir.shared_fd().clone()), path.as_ref())
            .await
    }

    async fn open_in(&self, dir: Option<SharedFd>, path: &Path) -> io::Result<File> {
        let flags = self.flags()?;
        let how = self.resolve_beneath.then(|| {
            // SAFETY: open_how is plain data; zero is valid and the fields are set below.
            let mut how: libc::open_how = unsafe { std::mem::zeroed() };
            how.flags = flags as u64;
            how.mode = if flags & libc::O_CREAT != 0 {
                u64::from(self.mode)
            } else {
                0
            };
            how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
            if self.no_symlinks {
                how.resolve |= libc::RESOLVE_NO_SYMLINKS;
            }
            Box::new(how)
        });
        if how.is_some() && beneath::known_missing() {
            return self.walk(dir.as_ref(), path, flags).await;
        }
        let op = OpenAt {
            dir: dir.clone(),
            path: cstring(path)?,
            flags,
            mode: self.mode,
            how,
        };
        let (done, op) = Op::new(op).await;
        let result = match done.result {
            Err(e) if op.how.is_some() && beneath::is_unavailable(&e) => {
                let file = self.walk(dir.as_ref(), path, flags).await?;
                beneath::note_missing(&e);
                return Ok(file);
            }
            other => other,
        };
        let fd = result.map_err(|e| {
            if self.direct && e.raw_os_error() == Some(libc::EINVAL) {
                // The caller names the path (as std's errors do not); no OS text in
                // parentheses, which a caller stripping "(os error N)" would cut in half.
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "O_DIRECT is not supported by this file system",
                )
            } else {
                e
            }
        })?;
        Ok(File::from_fd(fd as i32, self.direct))
    }

    /// The `openat2`-less way to open beneath `dir`: [`beneath::walk`] on the blocking pool,
    /// with a duplicate of the directory's fd (so a dropped future cannot leave the job with
    /// an fd number reused meanwhile).
    async fn walk(&self, dir: Option<&SharedFd>, path: &Path, flags: i32) -> io::Result<File> {
        let root = match dir {
            // SAFETY: F_DUPFD_CLOEXEC on an fd we hold open; the result is checked.
            Some(d) => match unsafe { libc::fcntl(d.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) } {
                fd if fd >= 0 => Some(fd),
                _ => return Err(io::Error::last_os_error()),
            },
            None => None,
        };
        // SAFETY: the duplicate is ours alone.
        let root = root.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
        let (path, no_symlinks) = (path.to_path_buf(), self.no_symlinks);
        let job = move || {
            let at = root.as_ref().map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
            beneath::walk(at, &path, flags, no_symlinks)
        };
        let fd = crate::spawn_blocking(job)
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
        Ok(File::from_fd(fd.into_raw_fd(), self.direct))
    }
}
