//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

pub mod alloc;
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

/// How many fds this process has open.
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
