//! `Metadata`: what `statx` says about a file.

#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::fmt;
use std::fs::Permissions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

/// A file's metadata, from `statx`.
#[derive(Clone)]
pub struct Metadata {
    stat: libc::statx,
}

impl Metadata {
    pub(crate) fn new(stat: libc::statx) -> Self {
        Metadata { stat }
    }

    fn kind(&self) -> u32 {
        u32::from(self.stat.stx_mode) & libc::S_IFMT
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.stat.stx_size
    }

    /// Whether the size is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }

    /// A symbolic link (only from [`symlink_metadata`](super::symlink_metadata)).
    pub fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK
    }

    /// The mode bits, type included.
    pub fn mode(&self) -> u32 {
        u32::from(self.stat.stx_mode)
    }

    /// The permission bits.
    pub fn permissions(&self) -> Permissions {
        Permissions::from_mode(self.mode() & 0o7777)
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.stat.stx_ino
    }

    /// The device the file is on, as `(major, minor)`.
    pub fn dev(&self) -> (u32, u32) {
        (self.stat.stx_dev_major, self.stat.stx_dev_minor)
    }

    /// The owner's user id.
    pub fn uid(&self) -> u32 {
        self.stat.stx_uid
    }

    /// The owning group's id.
    pub fn gid(&self) -> u32 {
        self.stat.stx_gid
    }

    /// Bytes of storage allocated to the file (`st_blocks` × 512): less than
    /// [`len`](Self::len) when it has holes.
    pub fn allocated(&self) -> u64 {
        self.stat.stx_blocks.saturating_mul(512)
    }

    /// The device a device file stands for, as `(major, minor)`.
    pub fn rdev(&self) -> (u32, u32) {
        (self.stat.stx_rdev_major, self.stat.stx_rdev_minor)
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u32 {
        self.stat.stx_nlink
    }

    /// Preferred I/O block size.
    pub fn blksize(&self) -> u32 {
        self.stat.stx_blksize
    }

    /// Last modification time.
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_MTIME, self.stat.stx_mtime)
    }

    /// Last status change (`ctime`): contents, owner, mode or links. A file replaced by
    /// `rename` keeps its mtime when the writer preserved it; its ctime still moves.
    pub fn changed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_CTIME, self.stat.stx_ctime)
    }

    /// Last access time.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_ATIME, self.stat.stx_atime)
    }

    /// Creation time, where the file system records it.
    pub fn created(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_BTIME, self.stat.stx_btime)
    }

    fn time(&self, bit: u32, t: libc::statx_timestamp) -> io::Result<SystemTime> {
        if self.stat.stx_mask & bit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this time is not recorded by the file system",
            ));
        }
        let nanos = Duration::new(t.tv_sec.unsigned_abs(), t.tv_nsec);
        let at = if t.tv_sec >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(nanos)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(nanos)
        };
        at.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "timestamp out of range"))
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len())
            .field("mode", &format_args!("{:o}", self.mode()))
            .field("ino", &self.ino())
            .finish()
    }
}
