//! The Linux-only libc items ringport's Unix code names, for macOS and the BSDs, so that code
//! builds there unchanged: a file that needs them says
//! `#[cfg(all(unix, not(target_os = "linux")))] use crate::libc_compat as libc;`, which
//! shadows the `libc` crate with this module (everything of the real crate, re-exported,
//! plus what follows).
//!
//! What Linux has and these systems lack fails at run time with `ENOSYS` (openat2, splice,
//! preadv2, signalfd, pidfd, futex), or takes the portable road: `statx` is `fstatat`,
//! `accept4` and `pipe2` are the plain call plus `fcntl` on macOS, `fdatasync` is `fsync` on
//! macOS. Callers already fall back where the Linux call may be missing (an old kernel), so
//! the poll backend's portable paths are what runs. This is a build port: CI type-checks
//! macOS and FreeBSD, no test runs there yet.
// C names, kept as libc spells them.
#![allow(non_camel_case_types, non_upper_case_globals)]

pub(crate) use ::libc::*;

pub(crate) use ::libc::{c_char, c_int, c_long, c_uint, size_t, ssize_t};

/// Linux's `mode_t` is 32 bits (macOS's and FreeBSD's are 16): the code's modes and the
/// `S_IF*` kinds are compared as Linux's.
pub(crate) type mode_t = u32;
pub(crate) const S_IFMT: u32 = ::libc::S_IFMT as u32;
pub(crate) const S_IFREG: u32 = ::libc::S_IFREG as u32;
pub(crate) const S_IFDIR: u32 = ::libc::S_IFDIR as u32;
pub(crate) const S_IFLNK: u32 = ::libc::S_IFLNK as u32;
pub(crate) const S_IFBLK: u32 = ::libc::S_IFBLK as u32;
pub(crate) const S_IFIFO: u32 = ::libc::S_IFIFO as u32;
pub(crate) const S_IFSOCK: u32 = ::libc::S_IFSOCK as u32;

/// macOS has no `O_PATH`: the component walk opens each directory read-only instead.
#[cfg(target_os = "macos")]
pub(crate) const O_PATH: c_int = 0;

/// `mkdirat` with Linux's 32-bit mode.
///
/// # Safety
///
/// As for `mkdirat`.
pub(crate) unsafe fn mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int {
    // SAFETY: the caller's contract; modes fit 16 bits.
    unsafe { ::libc::mkdirat(dirfd, path, mode as ::libc::mode_t) }
}

/// Sets `errno` and returns -1, as a failed libc call does.
fn fail(code: c_int) -> c_int {
    // SAFETY: errno is this thread's; `__error` returns its address on macOS and FreeBSD.
    unsafe { *::libc::__error() = code };
    -1
}

pub(crate) type loff_t = i64;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct statx_timestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub __reserved: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub __spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: statx_timestamp,
    pub stx_btime: statx_timestamp,
    pub stx_ctime: statx_timestamp,
    pub stx_mtime: statx_timestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub stx_mnt_id: u64,
    pub stx_dio_mem_align: u32,
    pub stx_dio_offset_align: u32,
    pub __spare3: [u64; 12],
}

pub(crate) const STATX_TYPE: c_uint = 0x1;
pub(crate) const STATX_ATIME: c_uint = 0x20;
pub(crate) const STATX_MTIME: c_uint = 0x40;
pub(crate) const STATX_SIZE: c_uint = 0x200;
pub(crate) const STATX_BLOCKS: c_uint = 0x400;
pub(crate) const STATX_CTIME: c_uint = 0x80;
/// `AT_STATX_DONT_SYNC`: `fstatat` never syncs anyway; the emulated `statx` ignores it.
pub(crate) const AT_STATX_DONT_SYNC: c_int = 0x4000;
pub(crate) const STATX_BASIC_STATS: c_uint = 0x7ff;
pub(crate) const STATX_BTIME: c_uint = 0x800;
pub(crate) const STATX_DIOALIGN: c_uint = 0x2000;

/// `AT_EMPTY_PATH` (FreeBSD has its own; macOS has none, and `statx` below handles it).
#[cfg(target_os = "macos")]
pub(crate) const AT_EMPTY_PATH: c_int = 0x1000_0000;

/// `statx` as `fstatat` (or `fstat` for an empty path with `AT_EMPTY_PATH`): the basic
/// fields and the birth time; no direct-I/O alignment (`STATX_DIOALIGN` stays unset).
///
/// # Safety
///
/// As for Linux's `statx`: `path` is NUL-terminated, `out` is writable.
pub(crate) unsafe fn statx(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    _mask: c_uint,
    out: *mut statx,
) -> c_int {
    // SAFETY: the caller's contract; `st` is a local written by the call.
    unsafe {
        let mut st: ::libc::stat = std::mem::zeroed();
        let empty = *path == 0;
        let rc = if empty && flags & AT_EMPTY_PATH != 0 {
            ::libc::fstat(dirfd, &mut st)
        } else {
            let follow = flags & ::libc::AT_SYMLINK_NOFOLLOW;
            ::libc::fstatat(dirfd, path, &mut st, follow)
        };
        if rc < 0 {
            return rc;
        }
        let ts = |sec: i64, nsec: i64| statx_timestamp {
            tv_sec: sec,
            tv_nsec: nsec as u32,
            __reserved: 0,
        };
        let mut x: statx = std::mem::zeroed();
        x.stx_mask = STATX_BASIC_STATS | STATX_BTIME;
        x.stx_blksize = st.st_blksize as u32;
        x.stx_nlink = st.st_nlink as u32;
        x.stx_uid = st.st_uid;
        x.stx_gid = st.st_gid;
        x.stx_mode = st.st_mode as u16;
        x.stx_ino = st.st_ino as u64;
        x.stx_size = st.st_size as u64;
        x.stx_blocks = st.st_blocks as u64;
        x.stx_atime = ts(st.st_atime as i64, st.st_atime_nsec as i64);
        x.stx_mtime = ts(st.st_mtime as i64, st.st_mtime_nsec as i64);
        x.stx_ctime = ts(st.st_ctime as i64, st.st_ctime_nsec as i64);
        x.stx_btime = ts(st.st_birthtime as i64, st.st_birthtime_nsec as i64);
        let dev = st.st_dev as u64;
        x.stx_dev_major = (dev >> 32) as u32;
        x.stx_dev_minor = dev as u32;
        *out = x;
        0
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct open_how {
    pub flags: u64,
    pub mode: u64,
    pub resolve: u64,
}

pub(crate) const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub(crate) const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub(crate) const RESOLVE_BENEATH: u64 = 0x08;

pub(crate) const SYS_futex: c_long = 202;
pub(crate) const SYS_pidfd_send_signal: c_long = 424;
pub(crate) const SYS_pidfd_open: c_long = 434;
pub(crate) const SYS_openat2: c_long = 437;
pub(crate) const FUTEX_WAIT: c_int = 0;
pub(crate) const FUTEX_WAKE: c_int = 1;
pub(crate) const FUTEX_PRIVATE_FLAG: c_int = 128;

extern "C" {
    /// Linux's numbered system calls (openat2, pidfd, futex) do not exist here: this
    /// `syscall` fails every call with `ENOSYS` (the callers fall back), and never reaches the
    /// real `syscall(2)`, which would send SIGSYS for an unknown number.
    #[link_name = "ringport_compat_no_syscall"]
    pub(crate) fn syscall(num: c_long, ...) -> c_long;
}

/// The definition behind [`syscall`]: it reads no argument, so the variadic call is sound.
#[no_mangle]
extern "C" fn ringport_compat_no_syscall(_num: c_long) -> c_long {
    fail(::libc::ENOSYS) as c_long
}

pub(crate) const SPLICE_F_MOVE: c_uint = 1;

/// # Safety
///
/// None needed: it fails with `ENOSYS` (no `splice` here).
pub(crate) unsafe fn splice(
    _fd_in: c_int,
    _off_in: *mut loff_t,
    _fd_out: c_int,
    _off_out: *mut loff_t,
    _len: size_t,
    _flags: c_uint,
) -> ssize_t {
    fail(::libc::ENOSYS) as ssize_t
}

/// `F_SETPIPE_SZ`: fcntl refuses it here (EINVAL), and pipes keep their size.
pub(crate) const F_SETPIPE_SZ: c_int = 1031;
/// `F_GETPIPE_SZ`: refused here too (the pipe pool is for splice, which these systems lack).
pub(crate) const F_GETPIPE_SZ: c_int = 1032;

pub(crate) const RWF_NOWAIT: c_int = 8;

/// # Safety
///
/// None needed: it fails with `ENOSYS` (no `preadv2` here).
pub(crate) unsafe fn preadv2(
    _fd: c_int,
    _iov: *const ::libc::iovec,
    _cnt: c_int,
    _off: ::libc::off_t,
    _flags: c_int,
) -> ssize_t {
    fail(::libc::ENOSYS) as ssize_t
}

/// # Safety
///
/// None needed: it fails with `ENOSYS` (no `pwritev2` here).
pub(crate) unsafe fn pwritev2(
    _fd: c_int,
    _iov: *const ::libc::iovec,
    _cnt: c_int,
    _off: ::libc::off_t,
    _flags: c_int,
) -> ssize_t {
    fail(::libc::ENOSYS) as ssize_t
}

/// `fallocate`: mode 0 is `posix_fallocate` on FreeBSD; anything else is `EOPNOTSUPP`.
///
/// # Safety
///
/// `fd` is an open file.
pub(crate) unsafe fn fallocate(
    fd: c_int,
    mode: c_int,
    off: ::libc::off_t,
    len: ::libc::off_t,
) -> c_int {
    #[cfg(target_os = "freebsd")]
    if mode == 0 {
        // SAFETY: the caller's contract; posix_fallocate returns the error number itself.
        let rc = unsafe { ::libc::posix_fallocate(fd, off, len) };
        return if rc == 0 { 0 } else { fail(rc) };
    }
    let _ = (fd, mode, off, len);
    fail(::libc::EOPNOTSUPP)
}

pub(crate) const SFD_CLOEXEC: c_int = 0x80000;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct signalfd_siginfo {
    pub ssi_signo: u32,
    pub _rest: [u8; 124],
}

/// # Safety
///
/// None needed: it fails with `ENOSYS` (no signalfd here).
pub(crate) unsafe fn signalfd(_fd: c_int, _mask: *const ::libc::sigset_t, _flags: c_int) -> c_int {
    fail(::libc::ENOSYS)
}

/// The highest signal number ringport accepts here.
#[allow(non_snake_case)] // libc's name for it on Linux
pub(crate) fn SIGRTMAX() -> c_int {
    32
}

/// macOS has neither `accept4` nor `pipe2` nor `SOCK_CLOEXEC`: the plain calls, then `fcntl`.
#[cfg(target_os = "macos")]
mod macos {
    use super::fail;
    use ::libc::{c_int, sockaddr, socklen_t};

    pub(crate) const SOCK_CLOEXEC: c_int = 0x1000_0000;
    pub(crate) const SOCK_NONBLOCK: c_int = 0x2000_0000;
    /// No O_DIRECT on macOS: `direct(true)` opens a cached file there.
    pub(crate) const O_DIRECT: c_int = 0;

    /// # Safety
    ///
    /// `fd` is open; `flags` holds only close-on-exec and non-blocking bits.
    unsafe fn set_flags(fd: c_int, flags: c_int) -> c_int {
        // SAFETY: fcntl on an fd we just created.
        unsafe {
            if flags & SOCK_CLOEXEC != 0
                && ::libc::fcntl(fd, ::libc::F_SETFD, ::libc::FD_CLOEXEC) < 0
            {
                return -1;
            }
            if flags & SOCK_NONBLOCK != 0 {
                let fl = ::libc::fcntl(fd, ::libc::F_GETFL);
                if fl < 0 || ::libc::fcntl(fd, ::libc::F_SETFL, fl | ::libc::O_NONBLOCK) < 0 {
                    return -1;
                }
            }
        }
        0
    }

    /// # Safety
    ///
    /// As for `accept`.
    pub(crate) unsafe fn accept4(
        fd: c_int,
        addr: *mut sockaddr,
        len: *mut socklen_t,
        flags: c_int,
    ) -> c_int {
        // SAFETY: the caller's contract.
        unsafe {
            let new = ::libc::accept(fd, addr, len);
            if new >= 0 && set_flags(new, flags) < 0 {
                ::libc::close(new);
                return -1;
            }
            new
        }
    }

    /// # Safety
    ///
    /// `fds` has room for two fds.
    pub(crate) unsafe fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
        let flags = if flags & ::libc::O_CLOEXEC != 0 {
            SOCK_CLOEXEC
        } else {
            0
        } | if flags & ::libc::O_NONBLOCK != 0 {
            SOCK_NONBLOCK
        } else {
            0
        };
        // SAFETY: the caller's contract.
        unsafe {
            if ::libc::pipe(fds) < 0 {
                return -1;
            }
            for i in 0..2 {
                if set_flags(*fds.add(i), flags) < 0 {
                    ::libc::close(*fds);
                    ::libc::close(*fds.add(1));
                    return -1;
                }
            }
        }
        0
    }

    /// # Safety
    ///
    /// `fd` is open.
    pub(crate) unsafe fn fdatasync(fd: c_int) -> c_int {
        // SAFETY: the caller's contract.
        unsafe { ::libc::fsync(fd) }
    }

    /// # Safety
    ///
    /// None needed: it fails with `ENOSYS` (no `copy_file_range` on macOS).
    pub(crate) unsafe fn copy_file_range(
        _fd_in: c_int,
        _off_in: *mut super::loff_t,
        _fd_out: c_int,
        _off_out: *mut super::loff_t,
        _len: usize,
        _flags: ::libc::c_uint,
    ) -> isize {
        fail(::libc::ENOSYS) as isize
    }
}
#[cfg(target_os = "macos")]
pub(crate) use macos::{accept4, copy_file_range, fdatasync, pipe2, O_DIRECT, SOCK_CLOEXEC};

/// `std::os::linux::net::SocketAddrExt`'s constructor: abstract names do not exist here.
pub(crate) trait SocketAddrExt: Sized {
    fn from_abstract_name<N: AsRef<[u8]>>(_name: N) -> std::io::Result<Self> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "abstract Unix socket names exist only on Linux",
        ))
    }
}

impl SocketAddrExt for std::os::unix::net::SocketAddr {}

/// socket2's `Type::cloexec` (macOS sockets are close-on-exec already: socket2 sets it).
#[cfg(target_os = "macos")]
pub(crate) trait CloexecExt {
    fn cloexec(self) -> Self;
}

#[cfg(target_os = "macos")]
impl CloexecExt for socket2::Type {
    fn cloexec(self) -> Self {
        self
    }
}
