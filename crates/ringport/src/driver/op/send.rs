//! `Send` and `SendTo`: send from an owned buffer on a socket.

use super::OpCode;
use crate::buf::IoBuf;
use crate::driver::faults::FaultClass;
use crate::driver::fd::SharedFd;
use socket2::SockAddr;

/// `send(fd, buf, MSG_NOSIGNAL)`: a closed peer is EPIPE, never SIGPIPE.
#[derive(Debug)]
pub(crate) struct Send<B> {
    pub fd: SharedFd,
    pub buf: B,
    /// At most this many bytes ([`NO_LIMIT`](super::NO_LIMIT) but under the fault layer).
    pub limit: u32,
}

// SAFETY: the buffer is an `IoBuf`, stable when moved.
unsafe impl<B: IoBuf> OpCode for Send<B> {
    fn fault_class(&self) -> FaultClass {
        super::on_stream(&self.fd, FaultClass::StreamSend)
    }

    fn fault_cut(&mut self, max: u32) {
        self.limit = max;
    }
}

/// `sendmsg` with a destination address (datagram sockets).
#[derive(Debug)]
pub(crate) struct SendTo<B> {
    pub fd: SharedFd,
    pub buf: B,
    pub msg: Box<MsgParts>,
}

/// The message header, its one iovec and the address: boxed together so they stay put.
#[derive(Debug)]
pub(crate) struct MsgParts {
    pub hdr: libc::msghdr,
    pub iov: libc::iovec,
    pub addr: Option<SockAddr>,
}

// SAFETY: the header, iovec and address live in a Box; the buffer is a stable `IoBuf`.
unsafe impl<B: IoBuf> OpCode for SendTo<B> {}

impl<B: IoBuf> SendTo<B> {
    pub fn new(fd: SharedFd, buf: B, addr: SockAddr) -> Self {
        // SAFETY: msghdr is a plain struct; zero is a valid value.
        let hdr = unsafe { std::mem::zeroed() };
        let mut msg: Box<MsgParts> = Box::new(MsgParts {
            hdr,
            iov: libc::iovec {
                iov_base: buf.stable_ptr() as *mut _,
                iov_len: buf.bytes_init(),
            },
            addr: Some(addr),
        });
        let addr = msg.addr.as_ref().expect("just set");
        msg.hdr.msg_name = addr.as_ptr() as *mut _;
        msg.hdr.msg_namelen = addr.len();
        msg.hdr.msg_iov = &mut msg.iov;
        msg.hdr.msg_iovlen = 1;
        SendTo { fd, buf, msg }
    }
}
