//! `Read` and `Readv`: read at an offset into owned buffers.

use super::OpCode;
use crate::buf::IoBufMut;
use crate::driver::faults::FaultClass;
use crate::driver::fd::SharedFd;

/// Read up to the buffer's capacity at `offset` (`u64::MAX`: the fd's own position).
#[derive(Debug)]
pub(crate) struct Read<B> {
    pub fd: SharedFd,
    pub buf: B,
    pub offset: u64,
}

// SAFETY: the buffer is an `IoBufMut`, whose memory is stable when moved; the fd is an Rc.
unsafe impl<B: IoBufMut> OpCode for Read<B> {
    fn fault_class(&self) -> FaultClass {
        if self.offset == u64::MAX {
            FaultClass::Other
        } else {
            FaultClass::PosRead
        }
    }

    fn eager(&self) -> bool {
        self.offset != u64::MAX
    }
}

impl<B: IoBufMut> Read<B> {
    /// Marks the bytes the kernel wrote as initialised and gives the buffer back.
    pub fn into_buf(mut self, n: u32) -> B {
        // SAFETY: the kernel reported writing `n` bytes from the start of the buffer.
        unsafe { self.buf.set_init(n as usize) };
        self.buf
    }
}

/// Read into several buffers at `offset`, in order.
#[derive(Debug)]
pub(crate) struct Readv<B> {
    pub fd: SharedFd,
    pub bufs: Vec<B>,
    pub iovecs: Vec<libc::iovec>,
    pub offset: u64,
}

// SAFETY: the iovec array and every buffer live on the heap and are owned by the op.
unsafe impl<B: IoBufMut> OpCode for Readv<B> {
    fn eager(&self) -> bool {
        self.offset != u64::MAX
    }
}

impl<B: IoBufMut> Readv<B> {
    pub fn new(fd: SharedFd, mut bufs: Vec<B>, offset: u64) -> Self {
        let iovecs = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr().cast(),
                iov_len: b.bytes_total(),
            })
            .collect();
        Readv {
            fd,
            bufs,
            iovecs,
            offset,
        }
    }

    /// Spreads the `n` bytes read over the buffers' initialised lengths.
    pub fn into_bufs(mut self, n: u32) -> Vec<B> {
        let mut left = n as usize;
        for b in &mut self.bufs {
            let take = left.min(b.bytes_total());
            // SAFETY: the kernel filled the buffers in order, `n` bytes in all.
            unsafe { b.set_init(take) };
            left -= take;
        }
        self.bufs
    }
}
