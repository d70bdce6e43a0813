//! `Shutdown`: shut down one or both directions of a socket.

use super::OpCode;
use crate::driver::fd::SharedFd;

#[derive(Debug)]
pub(crate) struct Shutdown {
    pub fd: SharedFd,
    pub how: i32,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for Shutdown {}
