//! `OpenAt`: open a path relative to the working directory.

use super::OpCode;
use std::ffi::CString;

#[derive(Debug)]
pub(crate) struct OpenAt {
    pub path: CString,
    pub flags: i32,
    pub mode: libc::mode_t,
}

// SAFETY: the path is a CString, whose bytes live on the heap.
unsafe impl OpCode for OpenAt {}
