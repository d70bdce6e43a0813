//! `Close`: close an fd that no other operation uses any more.

use super::OpCode;
use std::os::fd::RawFd;

#[derive(Debug)]
pub(crate) struct Close {
    pub fd: RawFd,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for Close {}
