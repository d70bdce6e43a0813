//! `Connect`: connect a socket to an address.

use super::OpCode;
use crate::driver::fd::SharedFd;
use socket2::SockAddr;

#[derive(Debug)]
pub(crate) struct Connect {
    pub fd: SharedFd,
    pub addr: Box<SockAddr>,
}

// SAFETY: the address lives in a Box.
unsafe impl OpCode for Connect {}
