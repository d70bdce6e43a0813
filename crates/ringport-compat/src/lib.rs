//! Poll-style adapters for ringport streams: futures-io, tokio::io and hyper 1.x.
//!
//! ringport's own traits hand the kernel a buffer and get it back with the result. The
//! ecosystem's traits (`futures_io::AsyncRead`, `tokio::io::AsyncRead`, `hyper::rt::Read`)
//! lend a slice for one `poll` call instead. Three adapters bridge the gap:
//!
//! - [`Compat`]: completion mode, for any stream with owned reads and writes
//!   ([`OwnedRead`] + [`OwnedWrite`]: every
//!   ringport socket stream). The in-flight read and write live **in the adapter**, as the
//!   stream's own `'static` op futures with buffers the adapter owns, so a
//!   `poll_read` that returned `Pending` and is never polled again (a dropped future, a lost
//!   `select!` arm) loses nothing: the next read returns the bytes. Each byte is copied once
//!   each way: out of the read buffer with `put_slice` (hyper's and tokio's cursors are never
//!   zero-filled), into the write buffer.
//! - [`PollIo`]: readiness mode, for sockets. The kernel reads and writes the caller's slice
//!   directly (`recv`/`send` with `MSG_DONTWAIT`; a `POLL_ADD` wait when they would block):
//!   no copy, one system call per read and per write.
//! - `TlsCompat` (feature `tls`): the same faces over a `ringport_tls::TlsStream`, which is
//!   poll-style at its core: the receive and send in flight live in the TLS stream, and
//!   plaintext is copied once, from rustls's buffer into the caller's. hyper over TLS is
//!   `TlsCompat::new(acceptor.accept(tcp).await?)`.
//!
//! # Writes in completion mode: accepted, copied, reported later
//!
//! [`Compat`]'s `poll_write` copies the bytes into its buffer and returns `Ready(n)` at once;
//! a write operation sends them, started at once when none is in flight (else when the one in
//! flight ends) and submitted with the loop's other operations. It returns `Pending` only
//! when the buffer is full, and then takes no bytes. So:
//!
//! - **A write error appears on the next `poll_write`, `poll_flush` or `poll_shutdown`**,
//!   not on the call whose bytes failed. Bytes still buffered when a write fails are dropped
//!   (the connection is broken).
//! - **`poll_flush` waits until the kernel has taken every buffered byte**; `poll_shutdown`
//!   flushes, then shuts the writing side down. Flush or shut down before dropping the
//!   adapter: dropping it with bytes buffered and no write in flight loses them.
//!
//! This is what `BufWriter` does, and what h2 needs: a `Pending` write must not take bytes
//! from a slice the caller may change before the next call.
//!
//! [`Compat::direct_writes`]`(true)` makes a write with nothing queued ahead of it try the
//! socket first (`send` with `MSG_DONTWAIT` on the caller's slice): those bytes are not
//! copied and their error comes back from that very call; what the socket does not take is
//! queued as above. It trades a system call per write (outside the loop's batched
//! submission) for the copy and, under hyper, a second wake of the connection's task per
//! response. The `compat` case of `ringport-bench` measured both (BENCHMARKS.md).
//!
//! # End of stream while a flush waits
//!
//! When the peer's end of stream arrives in the same loop turn as the completion of the write
//! that a `Pending` `poll_flush` (or `poll_shutdown`) is waiting for, the next read returns
//! `Pending` once, waking its task at once, and reports the end on the call after. The caller's
//! flush then completes first. hyper's http1 dispatcher polls its read before its flush: a
//! client that closes as soon as it has the whole response would otherwise look like one gone
//! mid-message, and the connection would end with `IncompleteMessage` instead of `Ok` (on the
//! poll backend, about half of such connections did). A reader that never flushes loses one
//! wake-up, nothing else. `TlsCompat` does the same with the TLS stream's flush.
//!
//! # Choosing
//!
//! `hyper::HyperIo` (feature `hyper`) names the default for hyper, chosen by the `compat` case of
//! `ringport-bench` (see BENCHMARKS.md). [`PollIo`] needs a socket; [`Compat`] works over
//! any stream with owned operations, including one of your own that implements
//! [`OwnedRead`] and [`OwnedWrite`] with
//! nameable futures.
//!
//! ```no_run
//! # #[cfg(feature = "futures-io")]
//! # fn demo() -> std::io::Result<()> {
//! use futures_util::{AsyncReadExt, AsyncWriteExt};
//! use ringport_compat::CompatExt;
//!
//! ringport::run(async {
//!     let stream = ringport::net::TcpStream::connect("127.0.0.1:7").await?;
//!     let mut io = stream.compat();
//!     io.write_all(b"ping").await?;
//!     io.flush().await?; // the write is done (or its error reported) here
//!     let mut buf = [0u8; 4];
//!     io.read_exact(&mut buf).await?;
//!     Ok(())
//! })
//! # }
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

use ringport::io::{OwnedRead, OwnedWrite, SocketReadiness};
use std::mem::MaybeUninit;

// The faces' shared impls: macros (textually scoped, so the face modules below see them).

/// A face's write trait (`$tr`: futures-io's or tokio's `AsyncWrite`, hyper's `rt::Write`) for
/// the adapter `$ty<S>`, over its inherent `poll_write`, `poll_write_vectored`, `poll_flush`
/// and `poll_shutdown` (`$close` is the trait's name for the last).
#[allow(unused_macros)] // used by the faces only, each behind its feature
macro_rules! impl_write {
    ($tr:path, $close:ident, $ty:ident $(, vectored: $vectored:literal)?, S: $($bound:tt)+) => {
        impl<S: $($bound)+> $tr for $ty<S> {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.get_mut().poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                self.get_mut().poll_write_vectored(cx, bufs)
            }

            $(fn is_write_vectored(&self) -> bool {
                $vectored
            })?

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                self.get_mut().poll_flush(cx)
            }

            fn $close(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                self.get_mut().poll_shutdown(cx)
            }
        }
    };
}

/// A face's buffered-read trait (futures-io's or tokio's `AsyncBufRead`) for the adapter
/// `$ty<S>`, over its inherent `poll_fill_buf` and `consume`.
#[allow(unused_macros)] // used by the faces only, each behind its feature
macro_rules! impl_buf_read {
    ($tr:path, $ty:ident, S: $($bound:tt)+) => {
        impl<S: $($bound)+> $tr for $ty<S> {
            fn poll_fill_buf(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<&[u8]>> {
                self.get_mut().poll_fill_buf(cx)
            }

            fn consume(self: ::std::pin::Pin<&mut Self>, amt: usize) {
                self.get_mut().consume(amt);
            }
        }
    };
}

mod completion;
mod readiness;

#[cfg(feature = "futures-io")]
mod futures;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tokio-io")]
mod tokio;

pub use completion::{Compat, DEFAULT_READ_CAPACITY, DEFAULT_WRITE_LIMIT};
pub use readiness::PollIo;
#[cfg(feature = "tls")]
pub use tls::TlsCompat;

/// `.compat()` and `.poll_io()` on ringport streams.
pub trait CompatExt: Sized {
    /// The completion-mode adapter with the default buffer sizes.
    fn compat(self) -> Compat<Self>
    where
        Self: OwnedRead + OwnedWrite,
    {
        Compat::new(self)
    }

    /// The readiness-mode adapter (sockets only).
    fn poll_io(self) -> PollIo<Self>
    where
        Self: SocketReadiness,
    {
        PollIo::new(self)
    }
}

impl<S> CompatExt for S {}

/// Copies as much of `src` as fits into the start of `dst`; returns how many bytes.
fn copy_to_uninit(src: &[u8], dst: &mut [MaybeUninit<u8>]) -> usize {
    let n = src.len().min(dst.len());
    // SAFETY: `src` holds `n` readable bytes and `dst` room for `n`; `src` is borrowed shared
    // and `dst` exclusively, so they cannot overlap.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), n) };
    n
}
