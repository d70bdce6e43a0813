//! `Recv`, `RecvFrom` and `RecvMulti`: receive into owned buffers, or from a buffer ring.

use super::send::MsgParts;
use super::OpCode;
use crate::buf::IoBufMut;
use crate::driver::faults::FaultClass;
use crate::driver::fd::SharedFd;
use socket2::{SockAddr, SockAddrStorage};

/// `recv(fd, buf)`.
#[derive(Debug)]
pub(crate) struct Recv<B> {
    pub fd: SharedFd,
    pub buf: B,
    /// At most this many bytes ([`NO_LIMIT`](super::NO_LIMIT) but under the fault layer).
    pub limit: u32,
}

// SAFETY: the buffer is an `IoBufMut`, stable when moved.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    fn fault_class(&self) -> FaultClass {
        super::on_stream(&self.fd, FaultClass::StreamRecv)
    }

    fn fault_cut(&mut self, max: u32) {
        self.limit = max;
    }
}

impl<B: IoBufMut> Recv<B> {
    pub fn into_buf(mut self, n: u32) -> B {
        // SAFETY: the kernel reported writing `n` bytes from the start of the buffer.
        unsafe { self.buf.set_init(n as usize) };
        self.buf
    }
}

/// `recvmsg` that also reports the sender's address (datagram sockets).
#[derive(Debug)]
pub(crate) struct RecvFrom<B> {
    pub fd: SharedFd,
    pub buf: B,
    pub msg: Box<(MsgParts, SockAddrStorage)>,
}

// SAFETY: header, iovec and address storage live in a Box; the buffer is a stable `IoBufMut`.
unsafe impl<B: IoBufMut> OpCode for RecvFrom<B> {}

impl<B: IoBufMut> RecvFrom<B> {
    pub fn new(fd: SharedFd, mut buf: B) -> Self {
        let iov = libc::iovec {
            iov_base: buf.stable_mut_ptr().cast(),
            iov_len: buf.bytes_total(),
        };
        // SAFETY: msghdr is a plain struct; zero is a valid value.
        let hdr = unsafe { std::mem::zeroed() };
        let parts = MsgParts {
            hdr,
            iov,
            addr: None,
        };
        let mut msg = Box::new((parts, SockAddrStorage::zeroed()));
        let (parts, storage) = &mut *msg;
        parts.hdr.msg_name = (storage as *mut SockAddrStorage).cast();
        parts.hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
        parts.hdr.msg_iov = &mut parts.iov;
        parts.hdr.msg_iovlen = 1;
        RecvFrom { fd, buf, msg }
    }

    /// The buffer with `n` bytes received, and the sender's address.
    pub fn into_parts(mut self, n: u32) -> (B, SockAddr) {
        // SAFETY: the kernel wrote `n` bytes at the start of the buffer.
        unsafe { self.buf.set_init(n as usize) };
        let (parts, storage) = *self.msg;
        // SAFETY: the kernel wrote an address of `msg_namelen` bytes into the storage.
        let addr = unsafe { SockAddr::new(storage, parts.hdr.msg_namelen) };
        (self.buf, addr)
    }
}

/// `recv` with the buffer picked from a [`BufRing`](crate::buf::BufRing) when data arrives.
#[derive(Debug)]
pub(crate) struct RecvBuf {
    pub fd: SharedFd,
    pub ring: crate::buf::BufRing,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // the ring's id for io_uring
    pub bgid: u16,
}

// SAFETY: no memory of the op's own is handed to the kernel; the ring's memory stays alive
// (and registered) while this op holds a clone of it.
unsafe impl OpCode for RecvBuf {
    fn orphan_completion(&mut self, _res: i32, flags: u32) {
        if let Some(bid) = crate::driver::buffer_id(flags) {
            self.ring.give_back(bid);
        }
    }
}

/// Multishot `recv` from a [`BufRing`](crate::buf::BufRing): one completion per arrival.
#[derive(Debug)]
pub(crate) struct RecvMultiBuf {
    pub fd: SharedFd,
    pub ring: crate::buf::BufRing,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // the ring's id for io_uring
    pub bgid: u16,
}

// SAFETY: as for `RecvBuf`.
unsafe impl OpCode for RecvMultiBuf {
    fn orphan_completion(&mut self, _res: i32, flags: u32) {
        if let Some(bid) = crate::driver::buffer_id(flags) {
            self.ring.give_back(bid);
        }
    }
}
