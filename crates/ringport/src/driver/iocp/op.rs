//! Each operation as the IOCP backend runs it: an overlapped call, a pool call, a packet the
//! driver posts itself, or a result known at once.

use super::call::{Bufs, Io};
use super::pool::Call;
use super::Entry;
use crate::buf::{IoBuf, IoBufMut};
use crate::driver::op::nop;
use crate::driver::op::windows::*;

/// How the IOCP backend runs an operation.
pub(crate) trait IocpOp {
    fn iocp_entry(&mut self) -> Entry;
}

/// A length as Windows takes it: at most `u32::MAX`, and at most `i32::MAX` so the result fits.
fn len32(n: usize) -> u32 {
    n.min(i32::MAX as usize) as u32
}

impl IocpOp for nop::Nop {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Nop
    }
}

impl<B: IoBufMut> IocpOp for Read<B> {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::ReadFile {
            fd: self.fd.raw(),
            buf: self.buf.stable_mut_ptr(),
            len: len32(self.buf.bytes_total()),
            offset: self.offset,
        })
    }
}

impl<B: IoBuf> IocpOp for Write<B> {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::WriteFile {
            fd: self.fd.raw(),
            buf: self.buf.stable_ptr(),
            len: len32(self.buf.bytes_init()),
            offset: self.offset,
        })
    }
}

impl<B: IoBufMut> IocpOp for Recv<B> {
    fn iocp_entry(&mut self) -> Entry {
        let len = len32(self.buf.bytes_total()).min(self.limit);
        let bufs = Bufs::One(self.buf.stable_mut_ptr(), len);
        Entry::Io(Io::Recv {
            fd: self.fd.raw(),
            bufs,
        })
    }
}

impl<B: IoBuf> IocpOp for Send<B> {
    fn iocp_entry(&mut self) -> Entry {
        let len = len32(self.buf.bytes_init()).min(self.limit);
        let bufs = Bufs::One(self.buf.stable_ptr() as *mut u8, len);
        Entry::Io(Io::Send {
            fd: self.fd.raw(),
            bufs,
        })
    }
}

impl<B: IoBufMut> IocpOp for RecvVectored<B> {
    fn iocp_entry(&mut self) -> Entry {
        let bufs = Bufs::Many(self.wsabufs.as_ptr(), self.wsabufs.len() as u32);
        Entry::Io(Io::Recv {
            fd: self.fd.raw(),
            bufs,
        })
    }
}

impl<B: IoBuf> IocpOp for SendVectored<B> {
    fn iocp_entry(&mut self) -> Entry {
        let bufs = Bufs::Many(self.wsabufs.as_ptr(), self.wsabufs.len() as u32);
        Entry::Io(Io::Send {
            fd: self.fd.raw(),
            bufs,
        })
    }
}

impl<B: IoBufMut> IocpOp for RecvFrom<B> {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::RecvFrom {
            fd: self.fd.raw(),
            buf: self.buf.stable_mut_ptr(),
            len: len32(self.buf.bytes_total()),
            out: &mut *self.addr,
        })
    }
}

impl<B: IoBuf> IocpOp for SendTo<B> {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::SendTo {
            fd: self.fd.raw(),
            buf: self.buf.stable_ptr(),
            len: len32(self.buf.bytes_init()),
            addr: self.addr.as_ptr().cast(),
            addr_len: self.addr.len(),
        })
    }
}

impl IocpOp for Accept {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::Accept {
            fd: self.fd.raw(),
            family: self.family,
            out: &mut *self.addr,
        })
    }
}

impl IocpOp for Connect {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::Connect {
            fd: self.fd.raw(),
            addr: self.addr.as_ptr().cast(),
            addr_len: self.addr.len(),
        })
    }
}

impl IocpOp for Shutdown {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::Shutdown {
            fd: self.fd.raw(),
            how: self.how,
        })
    }
}

impl IocpOp for RecvBuf {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::RecvRing {
            fd: self.fd.raw(),
            ring: self.ring.clone(),
        })
    }
}

impl IocpOp for TransmitFile {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::TransmitFile {
            sock: self.sock.raw(),
            file: self.file.raw(),
            offset: self.offset,
            len: self.len,
        })
    }
}

impl IocpOp for Open {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Pool(Call::Open {
            path: self.path.as_ptr(),
            access: self.access,
            share: self.share,
            disposition: self.disposition,
            flags: self.flags,
        })
    }
}

impl IocpOp for OpenBeneath {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Pool(Call::OpenBeneath {
            dir: self.dir.raw().raw,
            path: self.path.as_ptr(),
            len: self.path.len(),
            access: self.access,
            share: self.share,
            disposition: self.disposition,
            flags: self.flags,
            beneath: self.beneath,
            no_symlinks: self.no_symlinks,
        })
    }
}

impl IocpOp for Close {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Pool(Call::Close { fd: self.fd })
    }
}

impl IocpOp for FileCall {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Pool(Call::File {
            handle: self.fd.raw().raw,
            call: self.call,
        })
    }
}

impl IocpOp for Stat {
    fn iocp_entry(&mut self) -> Entry {
        let out: *mut FileStat = &mut *self.out;
        Entry::Pool(match &self.target {
            StatTarget::Fd(fd) => Call::StatHandle {
                handle: fd.raw().raw,
                out,
            },
            StatTarget::Path { path, follow } => Call::StatPath {
                path: path.as_ptr(),
                follow: *follow,
                out,
            },
        })
    }
}

impl IocpOp for PathCall {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Pool(match self {
            PathCall::Rename { from, to } => Call::Rename {
                from: from.as_ptr(),
                to: to.as_ptr(),
            },
            PathCall::Remove { path, dir } => Call::Remove {
                path: path.as_ptr(),
                dir: *dir,
            },
            PathCall::Mkdir { path } => Call::Mkdir {
                path: path.as_ptr(),
            },
            PathCall::WaitPipe { name, ms } => Call::WaitPipe {
                name: name.as_ptr(),
                ms: *ms,
            },
        })
    }
}

impl IocpOp for ConnectPipe {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Io(Io::ConnectPipe { fd: self.fd.raw() })
    }
}

impl IocpOp for WaitObject {
    fn iocp_entry(&mut self) -> Entry {
        Entry::Wait {
            handle: self.fd.raw().raw,
        }
    }
}
