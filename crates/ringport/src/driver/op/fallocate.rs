//! `Fallocate` and `Ftruncate`: reserve space in a file, or set its length.

use super::OpCode;
use crate::driver::fd::SharedFd;

/// `fallocate(fd, mode, offset, len)`.
#[derive(Debug)]
pub(crate) struct Fallocate {
    pub fd: SharedFd,
    pub offset: u64,
    pub len: u64,
    pub mode: i32,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for Fallocate {}

/// `ftruncate(fd, len)` (Linux 6.9 and later on the ring).
#[derive(Debug)]
pub(crate) struct Ftruncate {
    pub fd: SharedFd,
    pub len: u64,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for Ftruncate {}
