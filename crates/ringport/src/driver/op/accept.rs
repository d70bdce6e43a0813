//! `Accept` and `AcceptMulti`: take connections from a listening socket.

use super::OpCode;
use crate::driver::faults::FaultClass;
use crate::driver::fd::SharedFd;
use socket2::{SockAddr, SockAddrStorage};

/// Where the kernel writes the peer's address.
#[derive(Debug)]
pub(crate) struct AddrOut {
    pub storage: SockAddrStorage,
    pub len: libc::socklen_t,
}

impl AddrOut {
    pub fn new() -> Box<AddrOut> {
        Box::new(AddrOut {
            storage: SockAddrStorage::zeroed(),
            len: std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        })
    }

    /// The address the kernel wrote.
    pub fn into_addr(self) -> SockAddr {
        let AddrOut { storage, len } = self;
        // SAFETY: the kernel initialised `len` bytes of the storage with an address of the
        // family it records there.
        unsafe { SockAddr::new(storage, len) }
    }
}

#[derive(Debug)]
pub(crate) struct Accept {
    pub fd: SharedFd,
    pub addr: Box<AddrOut>,
}

// SAFETY: the address output lives in a Box.
unsafe impl OpCode for Accept {
    fn fault_class(&self) -> FaultClass {
        FaultClass::Accept
    }

    fn orphan_completion(&mut self, res: i32, _flags: u32) {
        close_accepted(res);
    }
}

/// Accepts connections until cancelled or the kernel stops (no addresses are returned).
#[derive(Debug)]
pub(crate) struct AcceptMulti {
    pub fd: SharedFd,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for AcceptMulti {
    fn orphan_completion(&mut self, res: i32, _flags: u32) {
        close_accepted(res);
    }
}

/// An fd accepted after nobody waits for it any more is closed, never leaked.
fn close_accepted(res: i32) {
    if res >= 0 {
        // SAFETY: the kernel just created this fd for us and nobody else knows it.
        unsafe { libc::close(res) };
    }
}
