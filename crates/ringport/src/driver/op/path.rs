//! `RenameAt`, `UnlinkAt`, `MkdirAt`: operations on names in the file system.

use super::OpCode;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::ffi::CString;

#[derive(Debug)]
pub(crate) struct RenameAt {
    pub from: CString,
    pub to: CString,
}

// SAFETY: both paths are CStrings on the heap.
unsafe impl OpCode for RenameAt {}

#[derive(Debug)]
pub(crate) struct UnlinkAt {
    pub path: CString,
    pub dir: bool,
}

// SAFETY: the path is a CString on the heap.
unsafe impl OpCode for UnlinkAt {}

#[derive(Debug)]
pub(crate) struct MkdirAt {
    pub path: CString,
    pub mode: libc::mode_t,
}

// SAFETY: the path is a CString on the heap.
unsafe impl OpCode for MkdirAt {}
