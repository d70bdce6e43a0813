//! The pipes [`TcpStream::send_file`](super::TcpStream::send_file) splices through: a few per
//! loop thread, shared by every stream on it and lent for one chunk at a time.
//!
//! A pipe of 1 MiB holds 256 pages of the user's pipe budget (`pipe-user-pages-soft`, 16,384
//! pages by default, shared by every process of the user: past it the kernel shrinks new pipes
//! to one page). One pipe per connection would use the budget up at 64 large downloads; a
//! pool of [`MAX_PIPES`] per loop uses a quarter of it however many connections there are. A
//! stream takes a pipe, fills it from the file, drains it into the socket, and gives it back
//! empty; a pipe left holding bytes (an error, a dropped future) is closed instead, so stale
//! bytes never reach another response. When every pipe is lent, callers wait in turn.

use crate::driver::fd::SharedFd;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use slab::Slab;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::task::{Poll, Waker};

/// Pipes per loop thread, lent or idle.
pub(crate) const MAX_PIPES: usize = 16;
/// The size asked of each pipe (the kernel may give less; the real size is read back).
const PIPE_SIZE: i32 = 1 << 20;

/// A pipe and its capacity in bytes.
pub(crate) struct Pipe {
    pub r: SharedFd,
    pub w: SharedFd,
    pub cap: u32,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let (r, w) = crate::pipe::raw_pipe()?;
        // SAFETY: fcntl on a pipe fd we own. A refusal (the user's pipe budget) only leaves
        // the size the kernel gave, which F_GETPIPE_SZ reads back.
        let cap = unsafe {
            libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
            libc::fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        let cap = if cap > 0 { cap as u32 } else { 4096 };
        Ok(Pipe { r, w, cap })
    }
}

/// What a waiting caller is handed when its turn comes.
enum Grant {
    /// An idle pipe.
    Pipe(Pipe),
    /// Room to create one (a pipe was closed).
    Create,
}

/// One caller in the queue.
struct Waiter {
    waker: Waker,
    grant: Option<Grant>,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Pipe>,
    /// Pipes that exist: idle, lent, or granted to a waiter.
    live: usize,
    waiters: Slab<Waiter>,
    /// Waiting callers in arrival order (keys into `waiters`).
    queue: VecDeque<usize>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::default();
}

impl Pool {
    /// Hands `grant` to the first waiter, or keeps it: an idle pipe, or one fewer pipe alive.
    fn give(&mut self, grant: Grant) {
        if let Some(key) = self.queue.pop_front() {
            let waiter = &mut self.waiters[key];
            waiter.grant = Some(grant);
            waiter.waker.wake_by_ref();
            return;
        }
        match grant {
            Grant::Pipe(pipe) => self.idle.push(pipe),
            Grant::Create => self.live -= 1,
        }
    }
}

/// A pipe lent to one `send_file` chunk. Dropped, it goes back to the pool if it was marked
/// empty, else it is closed (with whatever it held).
pub(crate) struct Lease {
    pipe: Option<Pipe>,
    empty: bool,
}

impl Lease {
    pub fn pipe(&self) -> &Pipe {
        self.pipe
            .as_ref()
            .expect("a lease holds its pipe until dropped")
    }

    /// The pipe was drained: it may serve another chunk.
    pub fn set_empty(&mut self) {
        self.empty = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(pipe) = self.pipe.take() else {
            return;
        };
        let grant = if self.empty {
            Grant::Pipe(pipe)
        } else {
            drop(pipe);
            Grant::Create
        };
        // A lease may outlive the thread's pool only during thread exit: nothing to return to.
        let _ = POOL.try_with(|p| p.borrow_mut().give(grant));
    }
}

/// Borrows a pipe: an idle one, a new one while fewer than [`MAX_PIPES`] exist, or, when all
/// are lent, the next one given back (callers are served in order).
pub(crate) async fn lease() -> io::Result<Lease> {
    let grant = POOL.with(|p| {
        let mut p = p.borrow_mut();
        if !p.queue.is_empty() {
            return None;
        }
        if let Some(pipe) = p.idle.pop() {
            return Some(Grant::Pipe(pipe));
        }
        if p.live < MAX_PIPES {
            p.live += 1;
            return Some(Grant::Create);
        }
        None
    });
    let grant = match grant {
        Some(g) => g,
        None => Queued { key: None }.await,
    };
    let pipe = match grant {
        Grant::Pipe(pipe) => pipe,
        Grant::Create => Pipe::new().inspect_err(|_| {
            POOL.with(|p| p.borrow_mut().give(Grant::Create));
        })?,
    };
    Ok(Lease {
        pipe: Some(pipe),
        empty: false,
    })
}

/// A caller's place in the queue until it is granted a pipe. Dropped early, it leaves the
/// queue, and passes on a grant it was handed but did not take.
struct Queued {
    key: Option<usize>,
}

impl std::future::Future for Queued {
    type Output = Grant;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Grant> {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            match self.key {
                None => {
                    let key = p.waiters.insert(Waiter {
                        waker: cx.waker().clone(),
                        grant: None,
                    });
                    p.queue.push_back(key);
                    self.key = Some(key);
                    Poll::Pending
                }
                Some(key) => match p.waiters[key].grant.take() {
                    Some(grant) => {
                        p.waiters.remove(key);
                        self.key = None;
                        Poll::Ready(grant)
                    }
                    None => {
                        p.waiters[key].waker.clone_from(cx.waker());
                        Poll::Pending
                    }
                },
            }
        })
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let Some(key) = self.key else {
            return;
        };
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            let waiter = p.waiters.remove(key);
            p.queue.retain(|&k| k != key);
            if let Some(grant) = waiter.grant {
                p.give(grant);
            }
        });
    }
}

impl Drop for Pool {
    /// At thread exit the driver may be gone already: close idle pipes directly.
    fn drop(&mut self) {
        for pipe in self.idle.drain(..) {
            for fd in [pipe.r, pipe.w] {
                if let Ok(raw) = fd.try_unwrap() {
                    // SAFETY: the fd is ours alone (no operation holds it any more).
                    unsafe { libc::close(raw) };
                }
            }
        }
    }
}
