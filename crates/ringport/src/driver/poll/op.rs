//! Each operation as a poll-backend entry: a non-blocking attempt retried on readiness, a
//! blocking call for the syscall pool, or a result known at once.

use crate::buf::{BufRing, IoBuf, IoBufMut};
use crate::driver::op::{
    accept, close, connect, fallocate, fsync, nop, open, path, poll, read, recv, send, shutdown,
    splice, statx, write,
};
use crate::driver::pool::Syscall;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::os::fd::{AsRawFd, RawFd};

/// What the poll backend does with an operation.
pub(crate) enum PollEntry {
    /// Nothing to wait for: completes with this result at the next loop turn.
    Ready(i32),
    /// Has no non-blocking form: runs on the syscall pool.
    Pool(Syscall),
    /// Tried without blocking on the loop thread; on EAGAIN retried when the fd is ready.
    Try(Attempt),
}

/// A non-blocking attempt and what it needs.
pub(crate) enum Attempt {
    Recv {
        fd: RawFd,
        buf: *mut u8,
        len: usize,
    },
    Send {
        fd: RawFd,
        buf: *const u8,
        len: usize,
    },
    RecvMsg {
        fd: RawFd,
        msg: *mut libc::msghdr,
    },
    SendMsg {
        fd: RawFd,
        msg: *const libc::msghdr,
    },
    Accept {
        fd: RawFd,
        addr: *mut libc::sockaddr,
        len: *mut libc::socklen_t,
        multi: bool,
    },
    Connect {
        fd: RawFd,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
        started: bool,
    },
    /// A read or write at the stream position (pipes, terminals, signalfds, sockets).
    Stream {
        fd: RawFd,
        iov: StreamIov,
        write: bool,
        owned: bool,
    },
    PollFd {
        fd: RawFd,
        events: i16,
    },
    RecvBuf {
        fd: RawFd,
        ring: BufRing,
        multi: bool,
    },
}

/// One buffer, or an iovec array owned by the op.
#[derive(Clone, Copy)]
pub(crate) enum StreamIov {
    One(*mut u8, usize),
    Many(*const libc::iovec, i32),
}

/// How the poll backend runs an operation.
pub(crate) trait PollOp {
    fn poll_entry(&mut self) -> PollEntry;
}

const STREAM: u64 = u64::MAX;

fn off(o: u64) -> i64 {
    o as i64
}

impl PollOp for nop::Nop {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Ready(0)
    }
}

impl<B: IoBufMut> PollOp for read::Read<B> {
    fn poll_entry(&mut self) -> PollEntry {
        let (fd, buf, len) = (
            self.fd.as_raw_fd(),
            self.buf.stable_mut_ptr(),
            self.buf.bytes_total(),
        );
        if self.offset == STREAM {
            let iov = StreamIov::One(buf, len);
            return PollEntry::Try(Attempt::Stream {
                fd,
                iov,
                write: false,
                owned: self.fd.is_owned(),
            });
        }
        PollEntry::Pool(Syscall::Pread {
            fd,
            buf,
            len,
            off: off(self.offset),
        })
    }
}

impl<B: IoBufMut> PollOp for read::Readv<B> {
    fn poll_entry(&mut self) -> PollEntry {
        let (fd, iov, cnt) = (
            self.fd.as_raw_fd(),
            self.iovecs.as_ptr(),
            self.iovecs.len() as i32,
        );
        if self.offset == STREAM {
            let iov = StreamIov::Many(iov, cnt);
            return PollEntry::Try(Attempt::Stream {
                fd,
                iov,
                write: false,
                owned: self.fd.is_owned(),
            });
        }
        PollEntry::Pool(Syscall::Preadv {
            fd,
            iov,
            cnt,
            off: off(self.offset),
        })
    }
}

impl<B: IoBuf> PollOp for write::Write<B> {
    fn poll_entry(&mut self) -> PollEntry {
        let (fd, buf, len) = (
            self.fd.as_raw_fd(),
            self.buf.stable_ptr(),
            self.buf.bytes_init(),
        );
        if self.offset == STREAM {
            let iov = StreamIov::One(buf as *mut u8, len);
            return PollEntry::Try(Attempt::Stream {
                fd,
                iov,
                write: true,
                owned: self.fd.is_owned(),
            });
        }
        PollEntry::Pool(Syscall::Pwrite {
            fd,
            buf,
            len,
            off: off(self.offset),
        })
    }
}

impl<B: IoBuf> PollOp for write::Writev<B> {
    fn poll_entry(&mut self) -> PollEntry {
        let (fd, iov, cnt) = (
            self.fd.as_raw_fd(),
            self.iovecs.as_ptr(),
            self.iovecs.len() as i32,
        );
        if self.offset == STREAM {
            let iov = StreamIov::Many(iov, cnt);
            return PollEntry::Try(Attempt::Stream {
                fd,
                iov,
                write: true,
                owned: self.fd.is_owned(),
            });
        }
        PollEntry::Pool(Syscall::Pwritev {
            fd,
            iov,
            cnt,
            off: off(self.offset),
        })
    }
}

impl PollOp for fsync::Fsync {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Pool(Syscall::Fsync {
            fd: self.fd.as_raw_fd(),
            datasync: self.datasync,
        })
    }
}

impl PollOp for fallocate::Fallocate {
    fn poll_entry(&mut self) -> PollEntry {
        let (fd, mode) = (self.fd.as_raw_fd(), self.mode);
        PollEntry::Pool(Syscall::Fallocate {
            fd,
            mode,
            off: self.offset as i64,
            len: self.len as i64,
        })
    }
}

impl PollOp for fallocate::Ftruncate {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Pool(Syscall::Ftruncate {
            fd: self.fd.as_raw_fd(),
            len: self.len as i64,
        })
    }
}

impl PollOp for open::OpenAt {
    fn poll_entry(&mut self) -> PollEntry {
        let (dirfd, path) = (self.dirfd(), self.path.as_ptr());
        PollEntry::Pool(match &self.how {
            Some(how) => Syscall::OpenAt2 {
                dirfd,
                path,
                how: &**how,
            },
            None => Syscall::OpenAt {
                dirfd,
                path,
                flags: self.flags,
                mode: self.mode,
            },
        })
    }
}

impl PollOp for close::Close {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Pool(Syscall::Close { fd: self.fd })
    }
}

impl PollOp for statx::Statx {
    fn poll_entry(&mut self) -> PollEntry {
        let out = &mut *self.out as *mut libc::statx;
        let (dirfd, path, flags) = match &self.target {
            statx::StatxTarget::Fd(fd) => (fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH),
            statx::StatxTarget::Path(p) => (libc::AT_FDCWD, p.as_ptr(), 0),
        };
        let (flags, mask) = (self.flags | flags, self.mask);
        PollEntry::Pool(Syscall::Statx {
            dirfd,
            path,
            flags,
            mask,
            out,
        })
    }
}

impl PollOp for path::RenameAt {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Pool(Syscall::RenameAt {
            from: self.from.as_ptr(),
            to: self.to.as_ptr(),
        })
    }
}

impl PollOp for path::UnlinkAt {
    fn poll_entry(&mut self) -> PollEntry {
        let flags = if self.dir { libc::AT_REMOVEDIR } else { 0 };
        PollEntry::Pool(Syscall::UnlinkAt {
            path: self.path.as_ptr(),
            flags,
        })
    }
}

impl PollOp for path::MkdirAt {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Pool(Syscall::MkdirAt {
            path: self.path.as_ptr(),
            mode: self.mode,
        })
    }
}

impl PollOp for accept::Accept {
    fn poll_entry(&mut self) -> PollEntry {
        let addr = (&mut self.addr.storage as *mut socket2::SockAddrStorage).cast();
        let len = &mut self.addr.len as *mut libc::socklen_t;
        PollEntry::Try(Attempt::Accept {
            fd: self.fd.as_raw_fd(),
            addr,
            len,
            multi: false,
        })
    }
}

impl PollOp for accept::AcceptMulti {
    fn poll_entry(&mut self) -> PollEntry {
        let (addr, len) = (std::ptr::null_mut(), std::ptr::null_mut());
        PollEntry::Try(Attempt::Accept {
            fd: self.fd.as_raw_fd(),
            addr,
            len,
            multi: true,
        })
    }
}

impl PollOp for connect::Connect {
    fn poll_entry(&mut self) -> PollEntry {
        let (addr, len) = (self.addr.as_ptr().cast(), self.addr.len());
        PollEntry::Try(Attempt::Connect {
            fd: self.fd.as_raw_fd(),
            addr,
            len,
            started: false,
        })
    }
}

impl<B: IoBuf> PollOp for send::Send<B> {
    fn poll_entry(&mut self) -> PollEntry {
        let len = self.buf.bytes_init().min(self.limit as usize);
        let buf = self.buf.stable_ptr();
        PollEntry::Try(Attempt::Send {
            fd: self.fd.as_raw_fd(),
            buf,
            len,
        })
    }
}

impl<B: IoBuf> PollOp for send::SendTo<B> {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Try(Attempt::SendMsg {
            fd: self.fd.as_raw_fd(),
            msg: &self.msg.hdr,
        })
    }
}

impl<B: IoBufMut> PollOp for recv::Recv<B> {
    fn poll_entry(&mut self) -> PollEntry {
        let len = self.buf.bytes_total().min(self.limit as usize);
        let buf = self.buf.stable_mut_ptr();
        PollEntry::Try(Attempt::Recv {
            fd: self.fd.as_raw_fd(),
            buf,
            len,
        })
    }
}

impl<B: IoBufMut> PollOp for recv::RecvFrom<B> {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Try(Attempt::RecvMsg {
            fd: self.fd.as_raw_fd(),
            msg: &mut self.msg.0.hdr,
        })
    }
}

impl PollOp for recv::RecvBuf {
    fn poll_entry(&mut self) -> PollEntry {
        let ring = self.ring.clone();
        PollEntry::Try(Attempt::RecvBuf {
            fd: self.fd.as_raw_fd(),
            ring,
            multi: false,
        })
    }
}

impl PollOp for recv::RecvMultiBuf {
    fn poll_entry(&mut self) -> PollEntry {
        let ring = self.ring.clone();
        PollEntry::Try(Attempt::RecvBuf {
            fd: self.fd.as_raw_fd(),
            ring,
            multi: true,
        })
    }
}

impl PollOp for shutdown::Shutdown {
    fn poll_entry(&mut self) -> PollEntry {
        // shutdown(2) never blocks: done now, reported at the next turn.
        PollEntry::Ready(
            Syscall::Shutdown {
                fd: self.fd.as_raw_fd(),
                how: self.how,
            }
            .run(),
        )
    }
}

impl PollOp for splice::Splice {
    fn poll_entry(&mut self) -> PollEntry {
        let (fd_in, fd_out) = (self.fd_in.as_raw_fd(), self.fd_out.as_raw_fd());
        let (off_in, off_out, len) = (self.off_in, self.off_out, self.len as usize);
        PollEntry::Pool(Syscall::Splice {
            fd_in,
            off_in,
            fd_out,
            off_out,
            len,
        })
    }
}

impl PollOp for poll::PollAdd {
    fn poll_entry(&mut self) -> PollEntry {
        PollEntry::Try(Attempt::PollFd {
            fd: self.fd.as_raw_fd(),
            events: self.events as i16,
        })
    }
}
