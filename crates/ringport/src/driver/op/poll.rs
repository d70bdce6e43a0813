//! `PollAdd`: wait until an fd is ready (used for pidfds and signalfds' readiness).

use super::OpCode;
use crate::driver::fd::SharedFd;

#[derive(Debug)]
pub(crate) struct PollAdd {
    pub fd: SharedFd,
    pub events: u32,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for PollAdd {}
