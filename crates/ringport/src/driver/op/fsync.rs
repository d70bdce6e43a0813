//! `Fsync`: flush a file's data (and metadata, unless `datasync`) to the device.

use super::OpCode;
use crate::driver::fd::SharedFd;

#[derive(Debug)]
pub(crate) struct Fsync {
    pub fd: SharedFd,
    pub datasync: bool,
}

// SAFETY: no memory is handed to the kernel; the fd is kept alive by the Rc.
unsafe impl OpCode for Fsync {
    fn eager(&self) -> bool {
        true
    }
}
