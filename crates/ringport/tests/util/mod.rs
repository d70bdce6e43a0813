//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

pub mod alloc;
#[cfg(unix)]
pub mod strace;

use ringport::{Backend, Runtime};
use std::time::{Duration, Instant};

/// A runtime on the backend `RINGPORT_BACKEND` names (`.ci/run` runs the suite once per
/// backend), or the automatic choice.
pub fn runtime() -> Runtime {
    builder().build().expect("runtime")
}

pub fn builder() -> ringport::Builder {
    Runtime::builder().backend(Backend::Auto)
}

/// Whether the suite runs on io_uring (some assertions are about the ring itself).
pub fn is_uring() -> bool {
    runtime().backend() == ringport::Backend::Uring
}

/// Runs `f` in a fresh runtime.
pub fn run<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// How many handles this process has open. Wine 8's `GetProcessHandleCount` is a stub that
/// says 0: under Wine a count is meaningless (see [`handle_count_works`]).
#[cfg(windows)]
pub fn open_fds() -> usize {
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessHandleCount};
    let mut n = 0u32;
    // SAFETY: queries this process's handle count into a local.
    let ok = unsafe { GetProcessHandleCount(GetCurrentProcess(), &mut n) };
    assert!(ok != 0, "GetProcessHandleCount failed");
    n as usize
}

/// A pipe: an overlapped named pipe's server end to read (cancellable through the port, as
/// a Unix pipe is), and a synchronous client end to write with std.
#[cfg(windows)]
pub fn pipe() -> (
    std::os::windows::io::OwnedHandle,
    std::os::windows::io::OwnedHandle,
) {
    use std::os::windows::io::FromRawHandle;
    use std::sync::atomic::{AtomicU32, Ordering};
    use windows_sys::Win32::Foundation::{GENERIC_WRITE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
        PIPE_ACCESS_INBOUND,
    };
    use windows_sys::Win32::System::Pipes::CreateNamedPipeW;
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        r"\\.\pipe\ringport-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
    // SAFETY: creates a pipe and opens its client end; the name is NUL-terminated.
    unsafe {
        let r = CreateNamedPipeW(
            wide.as_ptr(),
            PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
            0, // PIPE_TYPE_BYTE | PIPE_WAIT
            1,
            65536,
            65536,
            0,
            std::ptr::null(),
        );
        assert!(r != INVALID_HANDLE_VALUE, "CreateNamedPipeW failed");
        let w = CreateFileW(
            wide.as_ptr(),
            GENERIC_WRITE,
            0,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        );
        assert!(
            w != INVALID_HANDLE_VALUE,
            "opening the pipe's client end failed"
        );
        (
            std::os::windows::io::OwnedHandle::from_raw_handle(r),
            std::os::windows::io::OwnedHandle::from_raw_handle(w),
        )
    }
}

/// Whether [`open_fds`] counts anything (not under Wine 8, whose count is always 0).
#[cfg(windows)]
pub fn handle_count_works() -> bool {
    open_fds() > 0
}

/// Whether the tests run under Wine, which lacks some Windows calls (ARCHITECTURE.md lists
/// the tests it skips, and each prints why).
#[cfg(windows)]
pub fn wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll\0".encode_utf16().collect();
    // SAFETY: looks a name up in a loaded module.
    unsafe {
        let m = GetModuleHandleW(ntdll.as_ptr());
        !m.is_null() && GetProcAddress(m, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// Skips the rest of a test under Wine, saying why.
#[cfg(windows)]
#[macro_export]
macro_rules! skip_under_wine {
    ($why:expr) => {
        if $crate::util::wine() {
            // Straight to stderr: libtest captures `eprintln!` of passing tests.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "skipped under Wine: {}", $why);
            return;
        }
    };
}

/// How many fds this process has open.
#[cfg(unix)]
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A pipe as two raw fds (read, write), non-blocking and close-on-exec.
#[cfg(unix)]
pub fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two fds; the result is checked.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are fresh and owned here.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}
