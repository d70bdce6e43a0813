//! Operations, each declared once as a portable struct that owns its fd and buffers.
//!
//! A backend implements each op in its own folder (`driver/uring/op.rs`); adding a backend
//! touches those files, not the ops. [`Op`] is the future that drives any of them.

#[cfg(unix)]
pub(crate) mod accept;
#[cfg(unix)]
pub(crate) mod close;
#[cfg(unix)]
pub(crate) mod connect;
#[cfg(unix)]
pub(crate) mod fallocate;
#[cfg(unix)]
pub(crate) mod fsync;
pub(crate) mod nop;
#[cfg(unix)]
pub(crate) mod open;
#[cfg(unix)]
pub(crate) mod path;
#[cfg(unix)]
pub(crate) mod poll;
#[cfg(unix)]
pub(crate) mod read;
#[cfg(unix)]
pub(crate) mod recv;
#[cfg(unix)]
pub(crate) mod send;
#[cfg(unix)]
pub(crate) mod shutdown;
#[cfg(unix)]
pub(crate) mod splice;
#[cfg(unix)]
pub(crate) mod statx;
/// The Windows ops (handles, WSABUFs, UTF-16 paths), beside the Unix ones above.
#[cfg(windows)]
pub(crate) mod windows;
#[cfg(unix)]
pub(crate) mod write;

pub use nop::nop;

use super::faults::FaultClass;
use super::{Completion, Handle};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An operation every backend can run.
///
/// # Safety
///
/// Any memory an operation hands to the kernel (buffers, paths, `statx` output, iovecs) must be
/// owned by the op through a heap pointer (or be `'static`), so that it stays valid and at the
/// same address when the op value is moved, until the op is dropped. The driver moves a
/// cancelled op into its own storage while the kernel may still use that memory.
pub(crate) unsafe trait OpCode: super::BackendOp + Unpin + 'static {
    /// A completion that arrives after the op's future was dropped: release whatever the
    /// kernel handed over (an accepted fd is closed, a ring buffer goes back to its ring).
    fn orphan_completion(&mut self, _res: i32, _flags: u32) {}

    /// Whether a device serves the op (a positional read or write, a sync), so that queuing a
    /// few is worth ending the loop's turn early to hand them over (see `should_flush`).
    /// Socket and stream ops wait for a peer instead: the default.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // io_uring's should_flush only
    fn eager(&self) -> bool {
        false
    }

    /// Which faults the fault layer may inject into this op (see `driver/faults.rs`); asked
    /// only when the layer is on. The default allows only delays.
    fn fault_class(&self) -> FaultClass {
        FaultClass::Other
    }

    /// The fault layer cuts this stream op to at most `max` bytes before the kernel sees it
    /// (a short receive or a partial send, both legal on a stream). Only stream receives and
    /// sends take it; the default ignores it.
    fn fault_cut(&mut self, _max: u32) {}
}

/// The `limit` of a stream receive or send that nothing cut.
pub(crate) const NO_LIMIT: u32 = u32::MAX;

/// `class` for an op on a stream socket, else only delays (asked only by the fault layer).
pub(crate) fn on_stream(fd: &crate::driver::fd::SharedFd, class: FaultClass) -> FaultClass {
    if is_stream_socket(fd) {
        class
    } else {
        FaultClass::Other
    }
}

/// Whether a handle is a stream socket: the kind it was opened as.
#[cfg(windows)]
fn is_stream_socket(fd: &crate::driver::fd::SharedFd) -> bool {
    fd.raw().kind == crate::driver::fd::Kind::Stream
}

/// `class` for a positional transfer on a file, else only delays (asked only by the fault
/// layer).
#[cfg(windows)]
pub(crate) fn on_file(
    fd: &crate::driver::fd::SharedFd,
    offset: u64,
    class: FaultClass,
) -> FaultClass {
    if offset != windows::STREAM && fd.raw().kind == crate::driver::fd::Kind::File {
        class
    } else {
        FaultClass::Other
    }
}

/// Whether an fd is a stream socket (only asked by the fault layer, which is a test mode).
#[cfg(unix)]
fn is_stream_socket(fd: &crate::driver::fd::SharedFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `ty` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut ty as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && ty == libc::SOCK_STREAM
}

/// A dropped op's data, parked in the driver until its last completion.
pub(crate) trait Orphan {
    fn completed(&mut self, res: i32, flags: u32);
}

impl<T: OpCode> Orphan for T {
    fn completed(&mut self, res: i32, flags: u32) {
        self.orphan_completion(res, flags);
    }
}

/// The future of one in-flight operation: submits on first poll, resolves once with the
/// completion and the op's data (its buffers and fd) handed back.
pub(crate) struct Op<T: OpCode> {
    handle: Handle,
    /// The slot, once submitted ([`NOT_SUBMITTED`] before, and again once completed).
    key: usize,
    data: Option<T>,
    /// A cancel was requested through a `CancelToken`; the completion is still awaited.
    cancel_sent: bool,
}

/// `Op::key` of an op not in flight.
const NOT_SUBMITTED: usize = usize::MAX;

impl<T: OpCode> Op<T> {
    /// An operation on the current thread's driver, submitted when first polled.
    #[inline]
    pub fn new(data: T) -> Op<T> {
        Op {
            handle: Handle::current(),
            key: NOT_SUBMITTED,
            data: Some(data),
            cancel_sent: false,
        }
    }
}

impl<T: OpCode> Future for Op<T> {
    type Output = (Completion, T);

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let cancel = !this.cancel_sent && super::cancel::requested();
        if this.key == NOT_SUBMITTED {
            let data = this.data.as_mut().expect("Op polled after it completed");
            let key = this.handle.submit(data, cx.waker());
            this.key = key;
            if cancel {
                // Started under a cancelled token: cancel right behind the submission.
                this.cancel_sent = true;
                this.handle.request_cancel(key);
            }
            // Never inline: the loop flushes the submission and wakes us on completion.
            return Poll::Pending;
        }
        if cancel {
            this.cancel_sent = true;
            this.handle.request_cancel(this.key);
        }
        match this.handle.poll_op(this.key, cx) {
            Poll::Ready(completion) => {
                this.key = NOT_SUBMITTED;
                if let Err(e) = &completion.result {
                    if is_retry(e) {
                        return this.resubmit(cx);
                    }
                }
                let data = this.data.take().expect("Op completed twice");
                Poll::Ready((completion, data))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// EINTR: the call did nothing, so the op is submitted again (invariant 1: `Interrupted` is
/// not a completion). EAGAIN is not retried here: it reaches only ops on fds the kernel does
/// not wait for (a non-blocking pipe under splice), whose callers wait for readiness.
#[inline]
fn is_retry(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINTR)
}

impl<T: OpCode> Op<T> {
    #[cold]
    #[inline(never)]
    fn resubmit(&mut self, cx: &mut Context<'_>) -> Poll<(Completion, T)> {
        let data = self.data.as_mut().expect("Op completed twice");
        self.key = self.handle.submit(data, cx.waker());
        if self.cancel_sent {
            self.handle.request_cancel(self.key);
        }
        Poll::Pending
    }
}

impl<T: OpCode> Drop for Op<T> {
    #[inline]
    fn drop(&mut self) {
        if self.key == NOT_SUBMITTED {
            return;
        }
        if let Some(data) = self.data.take() {
            let key = self.key;
            // In flight: the kernel may still use the data. Park it in the driver, which asks
            // the kernel to cancel and drops the data when the completion comes.
            self.handle.cancel(key, Box::new(data));
        }
    }
}

/// A multishot operation: one submission, a stream of completions, ended by the kernel (or
/// by a cancel when dropped).
pub(crate) struct MultiOp<T: OpCode> {
    handle: Handle,
    key: Option<usize>,
    data: Option<T>,
    finished: bool,
}

impl<T: OpCode> MultiOp<T> {
    pub fn new(data: T) -> MultiOp<T> {
        MultiOp {
            handle: Handle::current(),
            key: None,
            data: Some(data),
            finished: false,
        }
    }

    /// The next completion; `None` once the kernel ended the operation.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Completion>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let Some(key) = self.key else {
            let data = self.data.as_mut().expect("MultiOp data is kept until drop");
            self.key = Some(self.handle.submit_multi(data, cx.waker()));
            return Poll::Pending;
        };
        match self.handle.poll_multi(key, cx) {
            Poll::Ready(None) => {
                self.key = None;
                self.finished = true;
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl<T: OpCode> Drop for MultiOp<T> {
    fn drop(&mut self) {
        if let (Some(key), Some(data)) = (self.key, self.data.take()) {
            self.handle.cancel(key, Box::new(data));
        }
    }
}
