//! tokio's `AsyncRead`, `AsyncBufRead` and `AsyncWrite` for every adapter.

#[cfg(feature = "tls")]
use crate::TlsCompat;
use crate::{Compat, PollIo};
use ringport::io::{OwnedRead, OwnedWrite, SocketReadiness};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

/// `AsyncRead` for an adapter `$ty<S>` over its inherent `poll_read_uninit`.
macro_rules! impl_read {
    ($ty:ident, S: $($bound:tt)+) => {
        impl<S: $($bound)+> AsyncRead for $ty<S> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: the adapter writes only initialised bytes into the unfilled part
                // (copied, or written by the kernel), so nothing initialised is undone.
                let unfilled = unsafe { buf.unfilled_mut() };
                let n = ready!(self.get_mut().poll_read_uninit(cx, unfilled))?;
                // SAFETY: `poll_read_uninit` initialised the first `n` bytes of the unfilled
                // part.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    };
}

impl_read!(Compat, S: OwnedRead + OwnedWrite);
impl_buf_read!(AsyncBufRead, Compat, S: OwnedRead + OwnedWrite);
impl_write!(AsyncWrite, poll_shutdown, Compat, vectored: true, S: OwnedRead + OwnedWrite);

impl_read!(PollIo, S: SocketReadiness);
impl_write!(AsyncWrite, poll_shutdown, PollIo, vectored: true, S: SocketReadiness);

#[cfg(feature = "tls")]
impl_read!(TlsCompat, S: OwnedRead + OwnedWrite);
#[cfg(feature = "tls")]
impl_buf_read!(AsyncBufRead, TlsCompat, S: OwnedRead + OwnedWrite);
#[cfg(feature = "tls")]
impl_write!(AsyncWrite, poll_shutdown, TlsCompat, vectored: false, S: OwnedRead + OwnedWrite);
