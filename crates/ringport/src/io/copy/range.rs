//! File to file with `copy_file_range`: the kernel copies (or shares extents, on file systems
//! that can), and no byte enters user space. io_uring has no opcode for it, so one job on the
//! blocking pool makes the calls, a few MiB each, counting progress after every call and
//! stopping between calls when the copy is cancelled or dropped. A sparse source is copied
//! region by region (its holes skipped) and the destination's length set at the end.

use super::engine::Fail;
use super::extents::{Plan, Region};
use super::ops;
use super::probe::Side;
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
pub(super) async fn copy(
    src: &Side,
    dst: &Side,
    plan: &Plan,
    progress: &Progress,
) -> Result<u64, Fail> {
    let fd_in = ops::dup(src.fd()).map_err(Fail::Io)?;
    let fd_out = ops::dup(dst.fd()).map_err(Fail::Io)?;
    let job = Job {
        fd_in,
        off_in: src.offset(),
        fd_out,
        off_out: dst.offset(),
        plan: plan.clone(),
        moved: false,
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
    plan: Plan,
    /// Whether any byte was copied (before, a refusal means "not this way").
    moved: bool,
    progress: Progress,
    stop: Arc<AtomicBool>,
}

impl Job {
    fn run(mut self) -> Result<u64, Fail> {
        if !self.plan.sparse {
            return self.copy(None);
        }
        let regions = std::mem::take(&mut self.plan.regions);
        let mut pos = 0;
        let mut shrunk = false;
        for Region { start, end } in regions {
            // Holes count as copied when passed: they are the destination's at the end.
            self.progress.add(start - pos);
            self.off_in = Some(start);
            self.off_out = Some(start);
            pos = start + self.copy(Some(end - start))?;
            if pos < end {
                shrunk = true; // the file ended early: it shrank since the plan
                break;
            }
        }
        if !shrunk {
            self.progress.add(self.plan.tail - pos);
            self.off_in = Some(self.plan.tail);
            self.off_out = Some(self.plan.tail);
            pos = self.plan.tail + self.copy(None)?;
        }
        self.set_len(self.plan.final_len(pos)).map_err(Fail::Io)?;
        Ok(pos)
    }

    /// Copies `len` bytes (`None`: to the end of the source); returns the bytes copied.
    fn copy(&mut self, len: Option<u64>) -> Result<u64, Fail> {
        let mut done = 0u64;
        loop {
            if self.stop.load(Ordering::Acquire) || self.progress.is_cancel_requested() {
                return Err(Fail::Io(ops::cancelled()));
            }
            let want = len.map_or(CALL, |l| (l - done).min(CALL as u64) as usize);
            if want == 0 {
                return Ok(done);
            }
            match self.call(want) {
                Ok(0) => return Ok(done),
                Ok(n) => {
                    done += n as u64;
                    self.moved = true;
                    self.progress.add(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if !self.moved && ops::unsupported(&e) => return Err(Fail::Unsupported(e)),
                Err(e) => return Err(Fail::Io(e)),
            }
        }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = libc::off_t::try_from(len)
            .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // SAFETY: ftruncate on an fd this job owns.
        if unsafe { libc::ftruncate(self.fd_out.as_raw_fd(), len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One `copy_file_range` call; the kernel advances the offsets it was given.
    fn call(&mut self, len: usize) -> io::Result<usize> {
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
                len,
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
