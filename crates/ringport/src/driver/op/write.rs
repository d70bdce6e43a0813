//! `Write` and `Writev`: write at an offset from owned buffers.

use super::OpCode;
use crate::buf::IoBuf;
use crate::driver::faults::FaultClass;
use crate::driver::fd::SharedFd;

/// Write the buffer's initialised bytes at `offset` (`u64::MAX`: the fd's own position).
#[derive(Debug)]
pub(crate) struct Write<B> {
    pub fd: SharedFd,
    pub buf: B,
    pub offset: u64,
}

// SAFETY: the buffer is an `IoBuf`, whose memory is stable when moved; the fd is an Rc.
unsafe impl<B: IoBuf> OpCode for Write<B> {
    fn fault_class(&self) -> FaultClass {
        if self.offset == u64::MAX {
            FaultClass::Other
        } else {
            FaultClass::PosWrite
        }
    }

    fn eager(&self) -> bool {
        self.offset != u64::MAX
    }
}

/// Write several buffers at `offset`, in order.
#[derive(Debug)]
pub(crate) struct Writev<B> {
    pub fd: SharedFd,
    pub bufs: Vec<B>,
    pub iovecs: Vec<libc::iovec>,
    pub offset: u64,
}

// SAFETY: the iovec array and every buffer live on the heap and are owned by the op.
unsafe impl<B: IoBuf> OpCode for Writev<B> {
    fn eager(&self) -> bool {
        self.offset != u64::MAX
    }
}

impl<B: IoBuf> Writev<B> {
    pub fn new(fd: SharedFd, bufs: Vec<B>, offset: u64) -> Self {
        let iovecs = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.stable_ptr() as *mut _,
                iov_len: b.bytes_init(),
            })
            .collect();
        Writev {
            fd,
            bufs,
            iovecs,
            offset,
        }
    }
}
