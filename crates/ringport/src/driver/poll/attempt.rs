//! Running an [`Attempt`] without blocking, and its blocking form for the syscall pool.

use super::op::{Attempt, StreamIov};
use crate::driver::pool::Syscall;
use crate::driver::slots::FLAG_MORE;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::os::fd::RawFd;

/// What one non-blocking attempt came to.
pub(crate) enum Outcome {
    /// Finished with this result and completion flags.
    Done(i32, u32),
    /// A multishot op produced one result and wants to be tried again.
    More(i32, u32),
    /// Try again when the fd is readable (`false`) or writable (`true`).
    Wait { write: bool },
    /// This fd cannot be used without blocking: run the call on the pool.
    Pool(Syscall),
}

/// `IORING_CQE_F_BUFFER`, with the buffer id in the high 16 bits, as io_uring reports it.
const FLAG_BUFFER: u32 = 1;

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A syscall's return: the result, or EAGAIN as "wait", or `-errno`.
fn outcome(rc: isize, write: bool) -> Outcome {
    if rc >= 0 {
        return Outcome::Done(rc.min(i32::MAX as isize) as i32, 0);
    }
    match errno() {
        libc::EAGAIN | libc::EINTR => Outcome::Wait { write },
        e => Outcome::Done(-e, 0),
    }
}

/// Sets or clears `O_NONBLOCK`.
fn set_nonblocking(fd: RawFd, on: bool) {
    // SAFETY: fcntl on an fd the operation holds open.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            let want = if on {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            };
            if want != flags {
                libc::fcntl(fd, libc::F_SETFL, want);
            }
        }
    }
}

impl StreamIov {
    /// The iovec array and its length (a one-buffer iovec lives in `one`).
    fn parts(self, one: &mut libc::iovec) -> (*const libc::iovec, i32) {
        match self {
            StreamIov::One(buf, len) => {
                *one = libc::iovec {
                    iov_base: buf.cast(),
                    iov_len: len,
                };
                (one, 1)
            }
            StreamIov::Many(iov, cnt) => (iov, cnt),
        }
    }
}

impl Attempt {
    /// The fd this attempt waits on.
    pub fn fd(&self) -> RawFd {
        match *self {
            Attempt::Recv { fd, .. }
            | Attempt::Send { fd, .. }
            | Attempt::RecvMsg { fd, .. }
            | Attempt::SendMsg { fd, .. }
            | Attempt::Accept { fd, .. }
            | Attempt::Connect { fd, .. }
            | Attempt::Stream { fd, .. }
            | Attempt::PollFd { fd, .. }
            | Attempt::RecvBuf { fd, .. } => fd,
        }
    }

    /// For a plain stream read or write: whether it writes, and how many bytes it asks for (a
    /// transfer shorter than that drained the socket's queue, or filled its send buffer).
    /// `None` for everything else, which is always tried.
    pub fn transfer(&self) -> Option<(bool, usize)> {
        match *self {
            Attempt::Recv { len, .. } => Some((false, len)),
            Attempt::Send { len, .. } => Some((true, len)),
            Attempt::Stream {
                iov: StreamIov::One(_, len),
                write,
                ..
            } => Some((write, len)),
            _ => None,
        }
    }

    /// One try that never blocks.
    pub fn run(&mut self) -> Outcome {
        let dontwait = libc::MSG_DONTWAIT;
        // SAFETY: every call below gets pointers from the operation, which keeps the memory
        // they name alive and in place until its completion is delivered.
        unsafe {
            match self {
                Attempt::Recv { fd, buf, len } => {
                    outcome(libc::recv(*fd, buf.cast(), *len, dontwait), false)
                }
                Attempt::Send { fd, buf, len } => {
                    let flags = dontwait | libc::MSG_NOSIGNAL;
                    outcome(libc::send(*fd, buf.cast(), *len, flags), true)
                }
                Attempt::RecvMsg { fd, msg } => outcome(libc::recvmsg(*fd, *msg, dontwait), false),
                Attempt::SendMsg { fd, msg } => outcome(
                    libc::sendmsg(*fd, *msg, dontwait | libc::MSG_NOSIGNAL),
                    true,
                ),
                Attempt::Accept {
                    fd,
                    addr,
                    len,
                    multi,
                } => {
                    // accept4 has no per-call "don't wait": the listener itself is made
                    // non-blocking (accepted sockets stay blocking, as io_uring wants them).
                    set_nonblocking(*fd, true);
                    let rc = libc::accept4(*fd, *addr, *len, libc::SOCK_CLOEXEC);
                    match outcome(rc as isize, false) {
                        Outcome::Done(n, _) if *multi && n >= 0 => Outcome::More(n, FLAG_MORE),
                        other => other,
                    }
                }
                Attempt::Connect {
                    fd,
                    addr,
                    len,
                    started,
                } => self_connect(*fd, *addr, *len, started),
                Attempt::Stream {
                    fd,
                    iov,
                    write,
                    owned,
                } => stream(*fd, *iov, *write, *owned),
                Attempt::PollFd { fd, events } => {
                    let mut p = libc::pollfd {
                        fd: *fd,
                        events: *events,
                        revents: 0,
                    };
                    match libc::poll(&mut p, 1, 0) {
                        rc if rc < 0 => Outcome::Done(-errno(), 0),
                        0 => Outcome::Wait {
                            write: *events & libc::POLLIN == 0,
                        },
                        _ => Outcome::Done(i32::from(p.revents), 0),
                    }
                }
                Attempt::RecvBuf { fd, ring, multi } => {
                    let Some((bid, buf, len)) = ring.peek_free() else {
                        return Outcome::Done(-libc::ENOBUFS, 0);
                    };
                    let rc = libc::recv(*fd, buf.cast(), len as usize, dontwait);
                    match outcome(rc, false) {
                        Outcome::Done(n, _) if n > 0 => {
                            ring.consume_free();
                            let flags = FLAG_BUFFER | (u32::from(bid) << 16);
                            if *multi {
                                Outcome::More(n, flags | FLAG_MORE)
                            } else {
                                Outcome::Done(n, flags)
                            }
                        }
                        other => other,
                    }
                }
            }
        }
    }

    /// The same call made blocking, for a backend that runs it on the pool (`None` for a
    /// buffer-ring receive, which needs a backend that hands ring buffers out).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // used by the io_uring backend only
    pub fn blocking(&self) -> Option<Syscall> {
        Some(match *self {
            Attempt::Recv { fd, buf, len } => Syscall::Recv {
                fd,
                buf,
                len,
                flags: 0,
            },
            Attempt::Send { fd, buf, len } => Syscall::Send {
                fd,
                buf,
                len,
                flags: libc::MSG_NOSIGNAL,
            },
            Attempt::RecvMsg { fd, msg } => Syscall::RecvMsg { fd, msg, flags: 0 },
            Attempt::SendMsg { fd, msg } => Syscall::SendMsg {
                fd,
                msg,
                flags: libc::MSG_NOSIGNAL,
            },
            Attempt::Accept { fd, addr, len, .. } => Syscall::Accept { fd, addr, len },
            Attempt::Connect { fd, addr, len, .. } => Syscall::Connect { fd, addr, len },
            Attempt::Stream { fd, iov, write, .. } => stream_call(fd, iov, write),
            Attempt::PollFd { fd, events } => Syscall::Poll { fd, events },
            Attempt::RecvBuf { .. } => return None,
        })
    }
}

/// A non-blocking connect: start it, then wait until writable and read `SO_ERROR`.
fn self_connect(
    fd: RawFd,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
    started: &mut bool,
) -> Outcome {
    // SAFETY: the address and fd belong to the operation and outlive the call.
    unsafe {
        if !*started {
            set_nonblocking(fd, true);
            *started = true;
            if libc::connect(fd, addr, len) == 0 {
                set_nonblocking(fd, false);
                return Outcome::Done(0, 0);
            }
            return match errno() {
                libc::EINPROGRESS | libc::EAGAIN | libc::EINTR => Outcome::Wait { write: true },
                e => {
                    set_nonblocking(fd, false);
                    Outcome::Done(-e, 0)
                }
            };
        }
        let mut err: libc::c_int = 0;
        let mut n = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut i32).cast(),
            &mut n,
        );
        set_nonblocking(fd, false);
        match (rc, err) {
            (r, _) if r < 0 => Outcome::Done(-errno(), 0),
            (_, 0) => Outcome::Done(0, 0),
            (_, e) => Outcome::Done(-e, 0),
        }
    }
}

/// A read or write at the stream position without blocking: `RWF_NOWAIT` where the file
/// supports it; otherwise `O_NONBLOCK` on an fd ringport owns; otherwise (stdio, which other
/// processes share) the pool.
fn stream(fd: RawFd, iov: StreamIov, write: bool, owned: bool) -> Outcome {
    let mut one = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let (ptr, cnt) = iov.parts(&mut one);
    // SAFETY: the iovecs name memory the operation owns; the kernel copies them during the call.
    let rc = unsafe {
        if write {
            libc::pwritev2(fd, ptr, cnt, -1, libc::RWF_NOWAIT)
        } else {
            libc::preadv2(fd, ptr, cnt, -1, libc::RWF_NOWAIT)
        }
    };
    if rc >= 0 || errno() != libc::EOPNOTSUPP {
        return outcome(rc, write);
    }
    if owned {
        set_nonblocking(fd, true);
        // SAFETY: as above, now on a non-blocking fd.
        let rc = unsafe {
            if write {
                libc::writev(fd, ptr, cnt)
            } else {
                libc::readv(fd, ptr, cnt)
            }
        };
        return outcome(rc, write);
    }
    Outcome::Pool(stream_call(fd, iov, write))
}

/// The blocking call at the stream position.
fn stream_call(fd: RawFd, iov: StreamIov, write: bool) -> Syscall {
    match iov {
        StreamIov::One(buf, len) if write => Syscall::Write { fd, buf, len },
        StreamIov::One(buf, len) => Syscall::Read { fd, buf, len },
        StreamIov::Many(iov, cnt) if write => Syscall::Writev { fd, iov, cnt },
        StreamIov::Many(iov, cnt) => Syscall::Readv { fd, iov, cnt },
    }
}
