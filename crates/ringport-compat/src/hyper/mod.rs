//! hyper 1.x on ringport: `rt::Read`/`rt::Write` for both adapters, an executor for
//! `!Send` tasks on the loop, and a timer on ringport's timers.
//!
//! ```no_run
//! use hyper::server::conn::http1;
//! use ringport_compat::hyper::{HyperIo, RingportTimer};
//!
//! # fn demo() -> std::io::Result<()> {
//! ringport::run(async {
//!     let listener = ringport::net::TcpListener::bind("127.0.0.1:8080")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         ringport::spawn(async move {
//!             let service = hyper::service::service_fn(|_req| async {
//!                 Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("hi")))
//!             });
//!             let _ = http1::Builder::new()
//!                 .timer(RingportTimer)
//!                 .serve_connection(HyperIo::new(stream), service)
//!                 .await;
//!         });
//!     }
//! })
//! # }
//! ```

mod timer;

pub use timer::{RingportSleep, RingportTimer};

use crate::{Compat, CompatIo, PollIo};
use hyper::rt::{Executor, Read, ReadBufCursor, Write};
use ringport::io::SocketReadiness;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The adapter to give hyper a ringport socket by default: [`Compat`] with queued writes.
///
/// Chosen by the `compat` case of `ringport-bench` (BENCHMARKS.md): hyper's hello on one core
/// cost 0.99× tokio's server CPU per request this way, against 1.01× with
/// [`Compat::direct_writes`] and 1.00× with [`PollIo`]. [`PollIo`] is the zero-copy choice
/// when the body sizes make the copy matter more than a system call per read and write.
pub type HyperIo<S> = Compat<S>;

/// Runs hyper's background tasks (http2 streams, client connections) with
/// [`ringport::spawn`] on the current loop: no `Send` bound, the tasks stay on this thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingportExecutor;

impl<F> Executor<F> for RingportExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        // Dropping the handle detaches the task.
        drop(ringport::spawn(fut));
    }
}

impl<S: CompatIo> Read for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // `put_slice` copies into the unfilled part: nothing is zero-filled first.
        let res = self.get_mut().poll_read_with(cx, |avail| {
            let n = avail.len().min(buf.remaining());
            buf.put_slice(&avail[..n]);
            n
        });
        ready!(res)?;
        Poll::Ready(Ok(()))
    }
}

impl<S: CompatIo> Write for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_vectored(cx, bufs)
    }

    /// Yes: hyper then hands over its head and body buffers as they are, and they are copied
    /// once, into the adapter's buffer (instead of hyper flattening them first).
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown(cx)
    }
}

impl<S: SocketReadiness> Read for PollIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the kernel writes only initialised bytes into the unfilled part, and we
        // advance by exactly the `n` it reported.
        let n = ready!(self.get_mut().poll_read_uninit(cx, unsafe { buf.as_mut() }))?;
        // SAFETY: `try_recv` initialised the first `n` bytes of the unfilled part.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<S: SocketReadiness> Write for PollIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown(cx)
    }
}
