//! Each operation as an io_uring submission entry.

use crate::buf::{IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::op::{
    accept, close, connect, fallocate, fsync, nop, open, path, poll, read, recv, send, shutdown,
    splice, statx, write,
};
use crate::driver::HandleInner;
use io_uring::{opcode, squeue::Entry, types, IoUring};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Weak;

/// How an operation becomes a submission entry. The entry may point into the op's memory,
/// which the `OpCode` contract keeps valid until the op is dropped. `files` names the op's fd
/// by its fixed-file slot when it has one (see [`Files::target`]).
pub(crate) trait UringOp {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry;
}

/// How an entry names its fd.
pub(crate) enum Target {
    Fd(RawFd),
    Fixed(u32),
}

/// The ring's fixed-file table, as the ops that use it see it while building their entry.
pub(crate) struct Files<'a> {
    pub table: &'a mut super::FixedTable,
    pub ring: &'a IoUring,
    pub owner: &'a Weak<HandleInner>,
    /// Operations an fd needs before it gets a slot.
    pub after: u16,
}

impl Files<'_> {
    /// The fd's fixed slot in this ring, registering it once it has been used often enough;
    /// its plain number otherwise (never used enough, not ours, or the table is full).
    #[inline]
    pub fn target(&mut self, fd: &SharedFd) -> Target {
        if let Some(slot) = fd.fixed_in(self.owner.as_ptr()) {
            return Target::Fixed(slot);
        }
        if fd.note_use(self.after) {
            return self.register(fd);
        }
        Target::Fd(fd.as_raw_fd())
    }

    #[cold]
    fn register(&mut self, fd: &SharedFd) -> Target {
        match self.table.register(self.ring, fd.as_raw_fd()) {
            Some(slot) => {
                fd.set_fixed(Some((slot, self.owner)));
                Target::Fixed(slot)
            }
            None => {
                fd.set_fixed(None);
                Target::Fd(fd.as_raw_fd())
            }
        }
    }
}

/// Builds an entry with `$fd` bound to the op's fd as `types::Fd` or `types::Fixed`.
macro_rules! with_fd {
    ($files:expr, $shared:expr, |$fd:ident| $build:expr) => {
        match $files.target($shared) {
            Target::Fd(raw) => {
                let $fd = types::Fd(raw);
                $build
            }
            Target::Fixed(slot) => {
                let $fd = types::Fixed(slot);
                $build
            }
        }
    };
}

/// The most one read or write asks for: Linux's own cap, so a huge buffer is a short transfer.
const MAX_RW: usize = 0x7fff_f000;

fn rw_len(n: usize) -> u32 {
    n.min(MAX_RW) as u32
}

impl UringOp for nop::Nop {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        opcode::Nop::new().build()
    }
}

impl<B: IoBufMut> UringOp for read::Read<B> {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let (ptr, len) = (self.buf.stable_mut_ptr(), rw_len(self.buf.bytes_total()));
        let offset = self.offset;
        with_fd!(files, &self.fd, |fd| opcode::Read::new(fd, ptr, len)
            .offset(offset)
            .build())
    }
}

impl<B: IoBufMut> UringOp for read::Readv<B> {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let (iov, n, offset) = (self.iovecs.as_ptr(), self.iovecs.len() as u32, self.offset);
        with_fd!(files, &self.fd, |fd| opcode::Readv::new(fd, iov, n)
            .offset(offset)
            .build())
    }
}

impl<B: IoBuf> UringOp for write::Write<B> {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let (ptr, len) = (self.buf.stable_ptr(), rw_len(self.buf.bytes_init()));
        let offset = self.offset;
        with_fd!(files, &self.fd, |fd| opcode::Write::new(fd, ptr, len)
            .offset(offset)
            .build())
    }
}

impl<B: IoBuf> UringOp for write::Writev<B> {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let (iov, n, offset) = (self.iovecs.as_ptr(), self.iovecs.len() as u32, self.offset);
        with_fd!(files, &self.fd, |fd| opcode::Writev::new(fd, iov, n)
            .offset(offset)
            .build())
    }
}

impl UringOp for fsync::Fsync {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let flags = if self.datasync {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        with_fd!(files, &self.fd, |fd| opcode::Fsync::new(fd)
            .flags(flags)
            .build())
    }
}

impl UringOp for fallocate::Fallocate {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        opcode::Fallocate::new(types::Fd(self.fd.as_raw_fd()), self.len)
            .offset(self.offset)
            .mode(self.mode)
            .build()
    }
}

impl UringOp for fallocate::Ftruncate {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        opcode::Ftruncate::new(types::Fd(self.fd.as_raw_fd()), self.len).build()
    }
}

impl UringOp for open::OpenAt {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let dirfd = types::Fd(self.dirfd());
        match &self.how {
            Some(how) => {
                // OpenHow is a transparent wrapper of the kernel's open_how, as libc's is.
                let how = (&**how as *const libc::open_how).cast::<types::OpenHow>();
                opcode::OpenAt2::new(dirfd, self.path.as_ptr(), how).build()
            }
            None => opcode::OpenAt::new(dirfd, self.path.as_ptr())
                .flags(self.flags)
                .mode(self.mode)
                .build(),
        }
    }
}

impl UringOp for close::Close {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        opcode::Close::new(types::Fd(self.fd)).build()
    }
}

impl UringOp for statx::Statx {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let out = (&mut *self.out as *mut libc::statx).cast::<types::statx>();
        let (dirfd, path, flags) = match &self.target {
            statx::StatxTarget::Fd(fd) => (fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH),
            statx::StatxTarget::Path(p) => (libc::AT_FDCWD, p.as_ptr(), 0),
        };
        opcode::Statx::new(types::Fd(dirfd), path, out)
            .flags(self.flags | flags)
            .mask(self.mask)
            .build()
    }
}

impl UringOp for path::RenameAt {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        opcode::RenameAt::new(cwd, self.from.as_ptr(), cwd, self.to.as_ptr()).build()
    }
}

impl UringOp for path::UnlinkAt {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let flags = if self.dir { libc::AT_REMOVEDIR } else { 0 };
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(flags)
            .build()
    }
}

impl UringOp for path::MkdirAt {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }
}

impl UringOp for accept::Accept {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let addr = (&mut self.addr.storage as *mut socket2::SockAddrStorage).cast();
        opcode::Accept::new(types::Fd(self.fd.as_raw_fd()), addr, &mut self.addr.len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }
}

impl UringOp for accept::AcceptMulti {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }
}

impl UringOp for connect::Connect {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let fd = types::Fd(self.fd.as_raw_fd());
        opcode::Connect::new(fd, self.addr.as_ptr().cast(), self.addr.len()).build()
    }
}

impl<B: IoBuf> UringOp for send::Send<B> {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let len = rw_len(self.buf.bytes_init()).min(self.limit);
        let ptr = self.buf.stable_ptr();
        with_fd!(files, &self.fd, |fd| opcode::Send::new(fd, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build())
    }
}

impl<B: IoBuf> UringOp for send::SendTo<B> {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let fd = types::Fd(self.fd.as_raw_fd());
        opcode::SendMsg::new(fd, &self.msg.hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }
}

impl<B: IoBufMut> UringOp for recv::Recv<B> {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let len = rw_len(self.buf.bytes_total()).min(self.limit);
        let ptr = self.buf.stable_mut_ptr();
        with_fd!(files, &self.fd, |fd| opcode::Recv::new(fd, ptr, len)
            .build())
    }
}

impl<B: IoBufMut> UringOp for recv::RecvFrom<B> {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let fd = types::Fd(self.fd.as_raw_fd());
        opcode::RecvMsg::new(fd, &mut self.msg.0.hdr).build()
    }
}

impl UringOp for shutdown::Shutdown {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        opcode::Shutdown::new(types::Fd(self.fd.as_raw_fd()), self.how).build()
    }
}

impl UringOp for splice::Splice {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        let fd_in = types::Fd(self.fd_in.as_raw_fd());
        let fd_out = types::Fd(self.fd_out.as_raw_fd());
        opcode::Splice::new(fd_in, self.off_in, fd_out, self.off_out, self.len)
            .flags(libc::SPLICE_F_MOVE)
            .build()
    }
}

impl UringOp for poll::PollAdd {
    fn uring_entry(&mut self, _files: &mut Files<'_>) -> Entry {
        opcode::PollAdd::new(types::Fd(self.fd.as_raw_fd()), self.events).build()
    }
}

impl UringOp for recv::RecvBuf {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let (len, bgid) = (self.ring.buf_len() as u32, self.bgid);
        with_fd!(files, &self.fd, |fd| opcode::Recv::new(
            fd,
            std::ptr::null_mut(),
            len
        )
        .buf_group(bgid)
        .build()
        .flags(io_uring::squeue::Flags::BUFFER_SELECT))
    }
}

impl UringOp for recv::RecvMultiBuf {
    fn uring_entry(&mut self, files: &mut Files<'_>) -> Entry {
        let bgid = self.bgid;
        with_fd!(files, &self.fd, |fd| opcode::RecvMulti::new(fd, bgid)
            .build())
    }
}
