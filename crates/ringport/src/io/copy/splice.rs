//! Copies with `SPLICE` on the ring: the bytes move between fds inside the kernel. One end
//! must be a pipe; when neither is (a file to a socket, a socket to a file, file to file),
//! they go through a pipe of the copy's own, filled and drained in turn. Between regular
//! files, only a sparse source's data regions go through it.

use super::engine::Fail;
use super::extents::{Plan, Region};
use super::ops;
use super::probe::{Side, What};
use crate::driver::fd::SharedFd;
use crate::io::Progress;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::io;
use std::os::fd::AsRawFd;

/// The pipe size asked for (the kernel may give less): the most one splice moves.
const PIPE_SIZE: i32 = 1 << 20;

/// One end of a splice: its fd, its offset when positional, and whether it is a stream
/// (a pipe or socket of the caller's, which may have nothing to give or no room).
struct End<'a> {
    fd: &'a SharedFd,
    off: Option<u64>,
    stream: bool,
}

impl<'a> End<'a> {
    fn of(side: &'a Side) -> End<'a> {
        End {
            fd: side.fd(),
            off: side.offset(),
            stream: matches!(side.what, What::Pipe | What::Socket),
        }
    }

    /// One end of the copy's own pipe, which never makes a splice wait.
    fn inner(fd: &'a SharedFd) -> End<'a> {
        End {
            fd,
            off: None,
            stream: false,
        }
    }
}

/// Copies `src` to `dst` with splices; `Fail::Unsupported` when the very first one says the
/// kernel cannot (nothing was moved then). Between regular files, a sparse source's holes are
/// skipped and the destination's length set at the end.
pub(super) async fn copy(
    src: &Side,
    dst: &Side,
    plan: &Plan,
    progress: &Progress,
) -> Result<u64, Fail> {
    let mut from = End::of(src);
    let mut to = End::of(dst);
    if src.what == What::Pipe || dst.what == What::Pipe {
        return direct(&mut from, &mut to, progress).await;
    }
    let (r, w) = crate::pipe::raw_pipe().map_err(Fail::Io)?;
    // SAFETY: fcntl on a pipe fd we own; a refusal only leaves the default size.
    let size = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
    let chunk = if size > 0 { size as u32 } else { 65536 };
    let mut pipe = Through {
        r,
        w,
        chunk,
        moved: false,
    };
    if !plan.sparse {
        return pipe.copy(&mut from, &mut to, None, progress).await;
    }
    let mut pos = 0;
    let mut shrunk = false;
    for &Region { start, end } in &plan.regions {
        progress.add(start - pos); // a hole: the destination's once its length is set
        (from.off, to.off) = (Some(start), Some(start));
        pos = start
            + pipe
                .copy(&mut from, &mut to, Some(end - start), progress)
                .await?;
        if pos < end {
            shrunk = true; // the file ended early: it shrank since the plan
            break;
        }
    }
    if !shrunk {
        progress.add(plan.tail - pos);
        (from.off, to.off) = (Some(plan.tail), Some(plan.tail));
        pos = plan.tail + pipe.copy(&mut from, &mut to, None, progress).await?;
    }
    ops::set_len(dst.fd(), plan.final_len(pos))
        .await
        .map_err(Fail::Io)?;
    Ok(pos)
}

/// The copy's own pipe, between two ends neither of which is one.
struct Through {
    r: SharedFd,
    w: SharedFd,
    chunk: u32,
    /// Whether any byte went through (before, a refusal means "not this way").
    moved: bool,
}

impl Through {
    /// Moves `len` bytes (`None`: to the end of the source) through the pipe; returns them.
    async fn copy(
        &mut self,
        from: &mut End<'_>,
        to: &mut End<'_>,
        len: Option<u64>,
        progress: &Progress,
    ) -> Result<u64, Fail> {
        let mut copied = 0u64;
        loop {
            let want = len.map_or(self.chunk, |l| {
                (l - copied).min(u64::from(self.chunk)) as u32
            });
            if want == 0 {
                return Ok(copied);
            }
            let mut pipe_in = End::inner(&self.w);
            let filled = match step(from, &mut pipe_in, want).await {
                Ok(0) => return Ok(copied),
                Ok(n) => n,
                Err(e) if !self.moved && ops::unsupported(&e) => return Err(Fail::Unsupported(e)),
                Err(e) => return Err(Fail::Io(e)),
            };
            self.moved = true;
            let mut pipe_out = End::inner(&self.r);
            let mut left = filled;
            while left > 0 {
                let n = step(&mut pipe_out, to, left).await.map_err(Fail::Io)?;
                if n == 0 {
                    return Err(Fail::Io(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the destination took 0 bytes",
                    )));
                }
                left -= n;
                copied += u64::from(n);
                progress.add(u64::from(n));
            }
        }
    }
}

/// One end is a pipe: splice straight from `from` to `to` until the end.
async fn direct(from: &mut End<'_>, to: &mut End<'_>, progress: &Progress) -> Result<u64, Fail> {
    let mut copied = 0u64;
    loop {
        match step(from, to, PIPE_SIZE as u32).await {
            Ok(0) => return Ok(copied),
            Ok(n) => {
                copied += u64::from(n);
                progress.add(u64::from(n));
            }
            Err(e) if copied == 0 && ops::unsupported(&e) => return Err(Fail::Unsupported(e)),
            Err(e) => return Err(Fail::Io(e)),
        }
    }
}

/// One splice of up to `len` bytes, once the streams at either end are ready: a splice that
/// blocks in the kernel cannot be cancelled everywhere (on the poll backend it holds a pool
/// thread), a readiness wait can. Retried after `EINTR`, and after `EAGAIN` once an end is
/// ready again (which one was not is not said: the source, then the sink).
async fn step(from: &mut End<'_>, to: &mut End<'_>, len: u32) -> io::Result<u32> {
    if from.stream {
        ops::ready(from.fd, libc::POLLIN).await?;
    }
    if to.stream {
        ops::ready(to.fd, libc::POLLOUT).await?;
    }
    let mut wait_for_sink = false;
    loop {
        match ops::splice(from.fd, from.off, to.fd, to.off, len).await {
            Ok(n) => {
                from.off = from.off.map(|o| o + u64::from(n));
                to.off = to.off.map(|o| o + u64::from(n));
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if wait_for_sink {
                    ops::ready(to.fd, libc::POLLOUT).await?;
                } else {
                    ops::ready(from.fd, libc::POLLIN).await?;
                }
                wait_for_sink = !wait_for_sink;
            }
            Err(e) => return Err(e),
        }
    }
}
