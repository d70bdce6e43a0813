//! `OpenAt`: open a path relative to the working directory or to an open directory.

use super::OpCode;
use crate::driver::fd::SharedFd;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::ffi::CString;
use std::os::fd::AsRawFd;

/// `openat(dir, path)`, or `openat2` with resolve flags (`how`).
#[derive(Debug)]
pub(crate) struct OpenAt {
    /// The directory `path` is relative to; the working directory when `None`.
    pub dir: Option<SharedFd>,
    pub path: CString,
    pub flags: i32,
    pub mode: libc::mode_t,
    /// `RESOLVE_*` flags for `openat2` (Linux 5.6), boxed so the kernel's pointer stays put.
    pub how: Option<Box<libc::open_how>>,
}

impl OpenAt {
    /// The directory fd for the call.
    pub fn dirfd(&self) -> i32 {
        self.dir.as_ref().map_or(libc::AT_FDCWD, |d| d.as_raw_fd())
    }
}

// SAFETY: the path is a CString and `how` a Box: both on the heap.
unsafe impl OpCode for OpenAt {}
