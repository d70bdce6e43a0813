//! File to file with `copy_file_range`: the kernel copies (or shares extents, on file systems
//! that can), and no byte enters user space. io_uring has no opcode for it, so one job on the
//! blocking pool makes the calls, a few MiB each, counting progress after every call and
//! stopping between calls when the copy is cancelled or dropped.

use super::ops;
use super::probe::Side;
use super::Fail;
use crate::io::Progress;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bytes per `copy_file_range` call: small enough that a cancel is seen within milliseconds.
const CALL: usize = 8 << 20;

/// Sets its flag when dropped, so that a job whose copy was dropped stops at its next call.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Copies `src` to `dst`; `Fail::Unsupported` when the very first call says the kernel
/// cannot (nothing was copied then).
pub(super) async fn copy(src: &Side, dst: &Side, progress: &Progress) -> Result<u64, Fail> {
    let fd_in = ops::dup(src.fd()).map_err(Fail::Io)?;
    let fd_out = ops::dup(dst.fd()).map_err(Fail::Io)?;
    let job = Job {
        fd_in,
        off_in: src.offset(),
        fd_out,
        off_out: dst.offset(),
        progress: progress.clone(),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let _stop = StopOnDrop(job.stop.clone());
    match crate::spawn_blocking(move || job.run()).await {
        Ok(res) => res,
        Err(e) => Err(Fail::Io(io::Error::other(e))),
    }
}

/// The blocking side: owns duplicates of both fds, so they stay open while it runs.
struct Job {
    fd_in: OwnedFd,
    off_in: Option<u64>,
    fd_out: OwnedFd,
    off_out: Option<u64>,
    progress: Progress,
    stop: Arc<AtomicBool>,
}

impl Job {
    fn run(mut self) -> Result<u64, Fail> {
        let mut done = 0u64;
        loop {
            if self.stop.load(Ordering::Acquire) || self.progress.is_cancel_requested() {
                return Err(Fail::Io(ops::cancelled()));
            }
            match self.call() {
                Ok(0) => return Ok(done),
                Ok(n) => {
                    done += n as u64;
                    self.progress.add(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if done == 0 && ops::unsupported(&e) => return Err(Fail::Unsupported(e)),
                Err(e) => return Err(Fail::Io(e)),
            }
        }
    }

    /// One `copy_file_range` call; the kernel advances the offsets it was given.
    fn call(&mut self) -> io::Result<usize> {
        let mut off_in = self.off_in.map(|o| o as libc::loff_t);
        let mut off_out = self.off_out.map(|o| o as libc::loff_t);
        let p_in = off_in
            .as_mut()
            .map_or(std::ptr::null_mut(), |o| o as *mut libc::loff_t);
        let p_out = off_out
            .as_mut()
            .map_or(std::ptr::null_mut(), |o| o as *mut libc::loff_t);
        // SAFETY: both fds are open (owned by this job); the offset pointers are null or point
        // at locals that outlive the call.
        let rc = unsafe {
            libc::copy_file_range(
                self.fd_in.as_raw_fd(),
                p_in,
                self.fd_out.as_raw_fd(),
                p_out,
                CALL,
                0,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        self.off_in = off_in.map(|o| o as u64);
        self.off_out = off_out.map(|o| o as u64);
        Ok(rc as usize)
    }
}
