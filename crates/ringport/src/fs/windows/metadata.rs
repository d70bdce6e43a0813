//! `Metadata` on Windows, from `GetFileInformationByHandle`.

use crate::driver::op::windows::FileStat;
use std::fmt;
use std::io;
use std::time::{Duration, SystemTime};

const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
/// FILETIME ticks (100 ns) between 1601-01-01 and the Unix epoch.
const EPOCH_TICKS: u64 = 116_444_736_000_000_000;

/// What a file is: its size, kind and times.
#[derive(Clone)]
pub struct Metadata {
    stat: FileStat,
}

impl Metadata {
    pub(crate) fn new(stat: FileStat) -> Self {
        Metadata { stat }
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        self.stat.size
    }

    /// Whether the size is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A regular file (not a directory, not a reparse point such as a symbolic link).
    pub fn is_file(&self) -> bool {
        !self.is_dir() && !self.is_symlink()
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.stat.attributes & FILE_ATTRIBUTE_DIRECTORY != 0
    }

    /// A reparse point (a symbolic link or junction), when asked not to follow links.
    pub fn is_symlink(&self) -> bool {
        self.stat.attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0
    }

    /// Whether the read-only attribute is set.
    pub fn readonly(&self) -> bool {
        self.stat.attributes & FILE_ATTRIBUTE_READONLY != 0
    }

    /// The file attributes (`FILE_ATTRIBUTE_*`).
    pub fn attributes(&self) -> u32 {
        self.stat.attributes
    }

    /// The number of hard links.
    pub fn nlink(&self) -> u32 {
        self.stat.nlink
    }

    /// The file's index on its volume (the inode number's counterpart).
    pub fn ino(&self) -> u64 {
        self.stat.index
    }

    /// The serial number of the file's volume (0 under Wine, which does not report it).
    pub fn volume_serial_number(&self) -> u32 {
        self.stat.volume
    }

    /// Last modification.
    pub fn modified(&self) -> io::Result<SystemTime> {
        time(self.stat.modified)
    }

    /// Last access.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        time(self.stat.accessed)
    }

    /// Creation.
    pub fn created(&self) -> io::Result<SystemTime> {
        time(self.stat.created)
    }
}

fn time(ticks: u64) -> io::Result<SystemTime> {
    if ticks == 0 {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this time is not recorded for the file",
        ));
    }
    let since = |t: u64| Duration::from_nanos(t.saturating_mul(100));
    Ok(if ticks >= EPOCH_TICKS {
        SystemTime::UNIX_EPOCH + since(ticks - EPOCH_TICKS)
    } else {
        SystemTime::UNIX_EPOCH - since(EPOCH_TICKS - ticks)
    })
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len())
            .field("attributes", &format_args!("{:#x}", self.stat.attributes))
            .field("modified", &self.modified().ok())
            .finish()
    }
}
