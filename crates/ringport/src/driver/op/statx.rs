//! `Statx`: metadata of an open fd or of a path.

use super::OpCode;
use crate::driver::fd::SharedFd;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::ffi::CString;

#[derive(Debug)]
pub(crate) enum StatxTarget {
    Fd(SharedFd),
    Path(CString),
}

#[derive(Debug)]
pub(crate) struct Statx {
    pub target: StatxTarget,
    pub flags: i32,
    pub mask: u32,
    pub out: Box<libc::statx>,
}

// SAFETY: the path is a CString and the output a Box: both on the heap.
unsafe impl OpCode for Statx {}

impl Statx {
    pub fn new(target: StatxTarget, flags: i32, mask: u32) -> Self {
        Statx {
            target,
            flags,
            mask,
            // SAFETY: statx is plain old data; all-zero is a valid value.
            out: Box::new(unsafe { std::mem::zeroed() }),
        }
    }
}
