//! The owned-operation traits ([`OwnedRead`], [`OwnedWrite`]), shared by every platform;
//! the operations themselves are in `owned.rs` (Unix) and `owned_windows.rs`, their futures in
//! `owned_futures.rs`; and the macros that implement the traits for a stream type.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use std::future::Future;
use std::io;

/// A stream whose reads can run as owned operations: the future holds the fd and the buffer,
/// not a borrow of the stream, so a layer above can keep it in flight across its own callers'
/// futures, and a caller's future dropped meanwhile loses no received byte.
pub trait OwnedRead {
    /// The future of one read: `'static` and `Unpin`, so it can be stored and polled later.
    type ReadFuture<B: IoBufMut>: Future<Output = BufResult<usize, B>> + Unpin + 'static;

    /// Starts a read of up to the buffer's capacity (submitted when first polled); `Ok(0)` at
    /// end of stream. Dropping the future in flight cancels it, as for any op.
    fn read_owned<B: IoBufMut>(&self, buf: B) -> Self::ReadFuture<B>;
}

/// A stream whose writes and write-side shutdown can run as owned operations.
pub trait OwnedWrite {
    /// The future of one write: `'static` and `Unpin`.
    type WriteFuture<B: IoBuf>: Future<Output = BufResult<usize, B>> + Unpin + 'static;
    /// The future of a write-side shutdown: `'static` and `Unpin`.
    type ShutdownFuture: Future<Output = io::Result<()>> + Unpin + 'static;

    /// Starts a write of some of the buffer's initialised bytes.
    fn write_owned<B: IoBuf>(&self, buf: B) -> Self::WriteFuture<B>;

    /// Starts shutting the writing side down (a socket's `shutdown(SHUT_WR)`; nothing for a
    /// pipe, which ends when its writer is dropped). It does not record the shutdown in the
    /// stream, so `TcpStream::shutdown(Write)` afterwards is not refused as a repeat.
    fn shutdown_write_owned(&self) -> Self::ShutdownFuture;
}

/// Implements [`OwnedRead`] for types whose `inner` field is an `FdStream`.
macro_rules! impl_owned_read {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::io::OwnedRead for $ty {
            type ReadFuture<B: $crate::buf::IoBufMut> = $crate::io::ReadOp<B>;

            fn read_owned<B: $crate::buf::IoBufMut>(&self, buf: B) -> $crate::io::ReadOp<B> {
                self.inner.read_op(buf)
            }
        }
    )*};
}
pub(crate) use impl_owned_read;

/// Implements [`OwnedWrite`] for types whose `inner` field is an `FdStream`; `half_close`
/// says whether the shutdown is a socket's write-side shutdown (`SHUT_WR`, `SD_SEND`).
macro_rules! impl_owned_write {
    ($($ty:ty => half_close: $half:expr),* $(,)?) => {$(
        impl $crate::io::OwnedWrite for $ty {
            type WriteFuture<B: $crate::buf::IoBuf> = $crate::io::WriteOp<B>;
            type ShutdownFuture = $crate::io::ShutdownOp;

            fn write_owned<B: $crate::buf::IoBuf>(&self, buf: B) -> $crate::io::WriteOp<B> {
                self.inner.write_op(buf)
            }

            fn shutdown_write_owned(&self) -> $crate::io::ShutdownOp {
                self.inner.shutdown_write_op($half)
            }
        }
    )*};
}
pub(crate) use impl_owned_write;
