//! `Splice`: move bytes between an fd and a pipe inside the kernel, no user-space copy.

use super::OpCode;
use crate::driver::faults::FaultClass;
use crate::driver::fd::SharedFd;

#[derive(Debug)]
pub(crate) struct Splice {
    pub fd_in: SharedFd,
    /// Offset in `fd_in`, or -1 for a pipe or the fd's position.
    pub off_in: i64,
    pub fd_out: SharedFd,
    pub off_out: i64,
    pub len: u32,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for Splice {
    fn fault_class(&self) -> FaultClass {
        FaultClass::Splice
    }
}
