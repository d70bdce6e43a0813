//! `PollIo`: poll-style reads and writes straight into the caller's slice, driven by
//! readiness (`MSG_DONTWAIT` calls, a `POLL_ADD` wait when they would block).

use ringport::io::{Interest, OwnedWrite, ReadyOp, SocketReadiness};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The readiness-mode adapter for sockets: no buffer of its own, no copy. A write's result
/// (and error) is known when `poll_write` returns; `poll_flush` has nothing to do.
///
/// Like tokio, it takes a read that filled less than the slice (a write that took less than
/// offered) to mean the socket is drained (full), and waits for readiness before the next
/// call instead of trying a call that would fail. A wait in flight lives in the adapter, so
/// an abandoned `poll_read` loses nothing (no bytes are taken until the call that returns
/// them).
pub struct PollIo<S: SocketReadiness> {
    io: S,
    rd: Side,
    wr: Side,
    shutdown: Option<<S as OwnedWrite>::ShutdownFuture>,
    shut: bool,
}

/// One direction: whether the last call found the socket ready, or the wait in flight.
struct Side {
    ready: bool,
    wait: Option<ReadyOp>,
}

impl Side {
    fn new() -> Side {
        Side {
            ready: true,
            wait: None,
        }
    }

    /// Runs `call` when the socket may be ready, waiting for readiness first when it was
    /// not; `WouldBlock` arms the wait. `full(n)` says whether a result means "maybe more".
    fn poll<S: SocketReadiness>(
        &mut self,
        io: &S,
        interest: Interest,
        cx: &mut Context<'_>,
        mut call: impl FnMut() -> io::Result<usize>,
        full: impl Fn(usize) -> bool,
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Some(wait) = &mut self.wait {
                let res = ready!(Pin::new(wait).poll(cx));
                self.wait = None;
                res?;
                self.ready = true;
            }
            if !self.ready {
                self.wait = Some(io.ready_op(interest));
                continue;
            }
            match call() {
                Ok(n) => {
                    self.ready = full(n);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.ready = false,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

// No field is ever pinned: the waits are `Unpin`, and the socket is only reached through `&`.
impl<S: SocketReadiness> Unpin for PollIo<S> {}

impl<S: SocketReadiness> PollIo<S> {
    /// The adapter over a socket stream.
    pub fn new(io: S) -> Self {
        PollIo {
            io,
            rd: Side::new(),
            wr: Side::new(),
            shutdown: None,
            shut: false,
        }
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The socket back.
    pub fn into_inner(self) -> S {
        self.io
    }

    /// Receives into `buf`; `Ok(0)` at end of stream. The bytes written are initialised.
    pub fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let len = buf.len();
        let io = &self.io;
        self.rd.poll(
            io,
            Interest::Readable,
            cx,
            || io.try_recv(buf),
            |n| n == len,
        )
    }

    /// Sends from `bufs` in order.
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let io = &self.io;
        let call = || match bufs {
            [one] => io.try_send(one),
            _ => io.try_send_vectored(bufs),
        };
        self.wr
            .poll(io, Interest::Writable, cx, call, |n| n == total)
    }

    /// Sends from `buf`.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Nothing is buffered: always ready.
    pub fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts the writing side down (once; later calls return `Ok`).
    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut && self.shutdown.is_none() {
            return Poll::Ready(Ok(()));
        }
        self.shut = true;
        let op = self
            .shutdown
            .get_or_insert_with(|| self.io.shutdown_write_owned());
        let res = ready!(Pin::new(op).poll(cx));
        self.shutdown = None;
        Poll::Ready(res)
    }
}

impl<S: SocketReadiness + fmt::Debug> fmt::Debug for PollIo<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollIo")
            .field("io", &self.io)
            .field("read_waiting", &self.rd.wait.is_some())
            .field("write_waiting", &self.wr.wait.is_some())
            .finish()
    }
}
