//! The syscall pool: threads that run the blocking system calls of operations a backend has
//! no asynchronous form for (file I/O on the poll backend, an opcode the kernel's io_uring
//! lacks). Results come back as completions through the loop, like the kernel's.
//!
//! A job is a [`Syscall`]: raw arguments pointing into memory the operation owns (the same
//! contract as an io_uring entry), so queuing one allocates nothing. A queued job can be
//! withdrawn; a running one finishes and its result is delivered (or, for a dropped
//! operation, released by the driver).

use super::Unpark;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A blocking system call with its raw arguments.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // some are io_uring fallbacks only
pub(crate) enum Syscall {
    Pread {
        fd: i32,
        buf: *mut u8,
        len: usize,
        off: i64,
    },
    Pwrite {
        fd: i32,
        buf: *const u8,
        len: usize,
        off: i64,
    },
    Preadv {
        fd: i32,
        iov: *const libc::iovec,
        cnt: i32,
        off: i64,
    },
    /// `read`/`write`/`readv`/`writev` at the stream position.
    Read {
        fd: i32,
        buf: *mut u8,
        len: usize,
    },
    Write {
        fd: i32,
        buf: *const u8,
        len: usize,
    },
    Readv {
        fd: i32,
        iov: *const libc::iovec,
        cnt: i32,
    },
    Writev {
        fd: i32,
        iov: *const libc::iovec,
        cnt: i32,
    },
    Pwritev {
        fd: i32,
        iov: *const libc::iovec,
        cnt: i32,
        off: i64,
    },
    Fsync {
        fd: i32,
        datasync: bool,
    },
    Fallocate {
        fd: i32,
        mode: i32,
        off: i64,
        len: i64,
    },
    Ftruncate {
        fd: i32,
        len: i64,
    },
    OpenAt {
        dirfd: i32,
        path: *const libc::c_char,
        flags: i32,
        mode: libc::mode_t,
    },
    OpenAt2 {
        dirfd: i32,
        path: *const libc::c_char,
        how: *const libc::open_how,
    },
    Close {
        fd: i32,
    },
    Statx {
        dirfd: i32,
        path: *const libc::c_char,
        flags: i32,
        mask: u32,
        out: *mut libc::statx,
    },
    RenameAt {
        from: *const libc::c_char,
        to: *const libc::c_char,
    },
    UnlinkAt {
        path: *const libc::c_char,
        flags: i32,
    },
    MkdirAt {
        path: *const libc::c_char,
        mode: libc::mode_t,
    },
    Splice {
        fd_in: i32,
        off_in: i64,
        fd_out: i32,
        off_out: i64,
        len: usize,
    },
    Recv {
        fd: i32,
        buf: *mut u8,
        len: usize,
        flags: i32,
    },
    Send {
        fd: i32,
        buf: *const u8,
        len: usize,
        flags: i32,
    },
    RecvMsg {
        fd: i32,
        msg: *mut libc::msghdr,
        flags: i32,
    },
    SendMsg {
        fd: i32,
        msg: *const libc::msghdr,
        flags: i32,
    },
    Accept {
        fd: i32,
        addr: *mut libc::sockaddr,
        len: *mut libc::socklen_t,
    },
    Connect {
        fd: i32,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
    },
    Shutdown {
        fd: i32,
        how: i32,
    },
    Poll {
        fd: i32,
        events: i16,
    },
}

// SAFETY: the pointers refer to memory owned by the operation (heap or 'static), which the
// driver keeps alive until the job's result is delivered, exactly as for a kernel operation.
unsafe impl Send for Syscall {}

/// `-errno` of the last failed call.
fn neg_errno() -> i32 {
    -std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn ret(rc: i64) -> i32 {
    if rc < 0 {
        neg_errno()
    } else {
        rc.min(i32::MAX as i64) as i32
    }
}

impl Syscall {
    /// Runs the call (it may block): the result, or `-errno`, as io_uring reports it.
    pub fn run(self) -> i32 {
        use Syscall::*;
        // SAFETY: in every arm the arguments obey the operation contract: pointers are valid
        // for the lengths given and stay valid until the result is delivered; fds stay open
        // because the operation holds them.
        unsafe {
            match self {
                Pread { fd, buf, len, off } => ret(libc::pread(fd, buf.cast(), len, off) as i64),
                Pwrite { fd, buf, len, off } => ret(libc::pwrite(fd, buf.cast(), len, off) as i64),
                Preadv { fd, iov, cnt, off } => ret(libc::preadv(fd, iov, cnt, off) as i64),
                Read { fd, buf, len } => ret(libc::read(fd, buf.cast(), len) as i64),
                Write { fd, buf, len } => ret(libc::write(fd, buf.cast(), len) as i64),
                Readv { fd, iov, cnt } => ret(libc::readv(fd, iov, cnt) as i64),
                Writev { fd, iov, cnt } => ret(libc::writev(fd, iov, cnt) as i64),
                Pwritev { fd, iov, cnt, off } => ret(libc::pwritev(fd, iov, cnt, off) as i64),
                Fsync { fd, datasync } => ret(if datasync {
                    libc::fdatasync(fd)
                } else {
                    libc::fsync(fd)
                } as i64),
                Fallocate { fd, mode, off, len } => ret(libc::fallocate(fd, mode, off, len) as i64),
                Ftruncate { fd, len } => ret(libc::ftruncate(fd, len) as i64),
                OpenAt {
                    dirfd,
                    path,
                    flags,
                    mode,
                } => ret(libc::openat(dirfd, path, flags, mode as libc::c_uint) as i64),
                OpenAt2 { dirfd, path, how } => {
                    let size = std::mem::size_of::<libc::open_how>();
                    ret(libc::syscall(libc::SYS_openat2, dirfd, path, how, size))
                }
                Close { fd } => ret(libc::close(fd) as i64),
                Statx {
                    dirfd,
                    path,
                    flags,
                    mask,
                    out,
                } => ret(libc::statx(dirfd, path, flags, mask, out) as i64),
                RenameAt { from, to } => {
                    ret(libc::renameat(libc::AT_FDCWD, from, libc::AT_FDCWD, to) as i64)
                }
                UnlinkAt { path, flags } => ret(libc::unlinkat(libc::AT_FDCWD, path, flags) as i64),
                MkdirAt { path, mode } => ret(libc::mkdirat(libc::AT_FDCWD, path, mode) as i64),
                Splice {
                    fd_in,
                    off_in,
                    fd_out,
                    off_out,
                    len,
                } => {
                    let mut oi = off_in;
                    let mut oo = off_out;
                    let pi = if off_in < 0 {
                        std::ptr::null_mut()
                    } else {
                        &mut oi as *mut i64
                    };
                    let po = if off_out < 0 {
                        std::ptr::null_mut()
                    } else {
                        &mut oo as *mut i64
                    };
                    ret(libc::splice(fd_in, pi, fd_out, po, len, libc::SPLICE_F_MOVE) as i64)
                }
                Recv {
                    fd,
                    buf,
                    len,
                    flags,
                } => ret(libc::recv(fd, buf.cast(), len, flags) as i64),
                Send {
                    fd,
                    buf,
                    len,
                    flags,
                } => ret(libc::send(fd, buf.cast(), len, flags) as i64),
                RecvMsg { fd, msg, flags } => ret(libc::recvmsg(fd, msg, flags) as i64),
                SendMsg { fd, msg, flags } => ret(libc::sendmsg(fd, msg, flags) as i64),
                Accept { fd, addr, len } => {
                    ret(libc::accept4(fd, addr, len, libc::SOCK_CLOEXEC) as i64)
                }
                Connect { fd, addr, len } => ret(libc::connect(fd, addr, len) as i64),
                Shutdown { fd, how } => ret(libc::shutdown(fd, how) as i64),
                Poll { fd, events } => {
                    let mut p = libc::pollfd {
                        fd,
                        events,
                        revents: 0,
                    };
                    match libc::poll(&mut p, 1, -1) {
                        rc if rc < 0 => neg_errno(),
                        _ => i32::from(p.revents),
                    }
                }
            }
        }
    }
}

/// A handle to the pool; clones share it.
#[derive(Clone)]
pub(crate) struct SyscallPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    work: Condvar,
    /// Signalled when a thread exits.
    exited: Condvar,
    /// Set when `done` has results, so the loop skips the lock otherwise.
    has_done: AtomicBool,
    unpark: Arc<dyn Unpark>,
    max_threads: usize,
}

struct State {
    queue: VecDeque<(usize, Syscall)>,
    done: Vec<(usize, i32)>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

impl fmt::Debug for SyscallPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyscallPool")
    }
}

const KEEP_ALIVE: Duration = Duration::from_secs(10);

impl SyscallPool {
    pub fn new(max_threads: usize, unpark: Arc<dyn Unpark>) -> SyscallPool {
        SyscallPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    done: Vec::new(),
                    threads: 0,
                    idle: 0,
                    shutdown: false,
                }),
                work: Condvar::new(),
                exited: Condvar::new(),
                has_done: AtomicBool::new(false),
                unpark,
                max_threads: max_threads.max(1),
            }),
        }
    }

    /// Queues the call of operation `key`.
    pub fn submit(&self, key: usize, call: Syscall) {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.queue.push_back((key, call));
        // Each idle thread takes one queued call. A thread already woken still counts as idle
        // until it takes its call, so compare with the queue, or a call could wait behind a
        // blocking one (a receive waiting for the send queued after it).
        if st.idle >= st.queue.len() {
            self.inner.work.notify_one();
        } else if st.threads < self.inner.max_threads {
            st.threads += 1;
            drop(st);
            let inner = self.inner.clone();
            let spawned = std::thread::Builder::new()
                .name("ringport-syscall".into())
                .spawn(move || inner.work());
            if spawned.is_err() {
                // The queued job waits for a running thread; count only live ones.
                self.inner
                    .state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .threads -= 1;
            }
        }
    }

    /// Takes operation `key`'s call back if no thread has started it.
    pub fn withdraw(&self, key: usize) -> bool {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        match st.queue.iter().position(|&(k, _)| k == key) {
            Some(i) => {
                st.queue.remove(i);
                true
            }
            None => false,
        }
    }

    /// Moves the finished calls' results into `out`.
    #[inline]
    pub fn drain(&self, out: &mut Vec<(usize, i32)>) {
        if self.inner.has_done.load(Ordering::Acquire) {
            self.drain_slow(out);
        }
    }

    #[cold]
    fn drain_slow(&self, out: &mut Vec<(usize, i32)>) {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.has_done.store(false, Ordering::Relaxed);
        out.append(&mut st.done);
    }

    /// Lets the threads exit once their current call returns, and waits up to `grace` for
    /// them to be gone (so nothing they hold, like the poller's fds, outlives the runtime).
    pub fn shutdown(&self, grace: Duration) {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.shutdown = true;
        self.inner.work.notify_all();
        let (mut st, _) = self
            .inner
            .exited
            .wait_timeout_while(st, grace, |st| st.threads > 0)
            .unwrap_or_else(|e| e.into_inner());
        if st.threads == 0 {
            // The last thread to leave may still hold `inner` for a moment after it said so,
            // and frees it then: give the queues' storage back now, with the runtime (a busy
            // runtime grows them to hundreds of calls).
            st.queue = VecDeque::new();
            st.done = Vec::new();
        }
        drop(st);
    }
}

impl Inner {
    fn work(self: Arc<Self>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some((key, call)) = st.queue.pop_front() {
                drop(st);
                let res = call.run();
                st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                st.done.push((key, res));
                self.has_done.store(true, Ordering::Release);
                self.unpark.unpark();
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, KEEP_ALIVE)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
        self.exited.notify_all();
    }
}
