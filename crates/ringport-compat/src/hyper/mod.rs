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

#[cfg(feature = "tls")]
use crate::TlsCompat;
use crate::{Compat, PollIo};
use hyper::rt::{Executor, Read, ReadBufCursor, Write};
use ringport::io::{OwnedRead, OwnedWrite, SocketReadiness};
use std::future::Future;
use std::io;
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

/// `rt::Read` for an adapter `$ty<S>` over its inherent `poll_read_uninit`.
macro_rules! impl_read {
    ($ty:ident, S: $($bound:tt)+) => {
        impl<S: $($bound)+> Read for $ty<S> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: the adapter writes only initialised bytes into the unfilled part
                // (copied with no zero-fill first, or written by the kernel).
                let n = ready!(self.get_mut().poll_read_uninit(cx, unsafe { buf.as_mut() }))?;
                // SAFETY: `poll_read_uninit` initialised the first `n` bytes of the unfilled
                // part.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
        }
    };
}

// Vectored writes: hyper hands over its head and body buffers as they are, and they are
// copied once, into `Compat`'s buffer (instead of hyper flattening them first), or sent with
// one `sendmsg` by `PollIo`. Not for TLS: `TlsStream` encrypts one slice per call, so hyper's
// flattening makes one record (and one send) of a response instead of two.
impl_read!(Compat, S: OwnedRead + OwnedWrite);
impl_write!(Write, poll_shutdown, Compat, vectored: true, S: OwnedRead + OwnedWrite);

impl_read!(PollIo, S: SocketReadiness);
impl_write!(Write, poll_shutdown, PollIo, vectored: true, S: SocketReadiness);

#[cfg(feature = "tls")]
impl_read!(TlsCompat, S: OwnedRead + OwnedWrite);
#[cfg(feature = "tls")]
impl_write!(Write, poll_shutdown, TlsCompat, vectored: false, S: OwnedRead + OwnedWrite);
