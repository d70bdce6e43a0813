//! futures-io's `AsyncRead`, `AsyncBufRead` and `AsyncWrite` for every adapter.

#[cfg(feature = "tls")]
use crate::TlsCompat;
use crate::{Compat, PollIo};
use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use ringport::io::{OwnedRead, OwnedWrite, SocketReadiness};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `AsyncRead` for an adapter `$ty<S>` over its inherent `poll_read_uninit`.
macro_rules! impl_read {
    ($ty:ident, S: $($bound:tt)+) => {
        impl<S: $($bound)+> AsyncRead for $ty<S> {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                // SAFETY: `MaybeUninit<u8>` has `u8`'s layout, and the adapter writes only
                // initialised bytes into it, so the slice stays initialised.
                let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
                self.get_mut().poll_read_uninit(cx, uninit)
            }
        }
    };
}

impl_read!(Compat, S: OwnedRead + OwnedWrite);
impl_buf_read!(AsyncBufRead, Compat, S: OwnedRead + OwnedWrite);
impl_write!(AsyncWrite, poll_close, Compat, S: OwnedRead + OwnedWrite);

impl_read!(PollIo, S: SocketReadiness);
impl_write!(AsyncWrite, poll_close, PollIo, S: SocketReadiness);

#[cfg(feature = "tls")]
impl_read!(TlsCompat, S: OwnedRead + OwnedWrite);
#[cfg(feature = "tls")]
impl_buf_read!(AsyncBufRead, TlsCompat, S: OwnedRead + OwnedWrite);
#[cfg(feature = "tls")]
impl_write!(AsyncWrite, poll_close, TlsCompat, S: OwnedRead + OwnedWrite);
