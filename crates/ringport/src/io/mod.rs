//! Completion-style I/O traits: buffers move in and come back with the result.
//!
//! The traits take `&mut self`; ringport's streams also implement them for `&T`, and have
//! the helpers as inherent methods on `&self`:
//!
//! ```no_run
//! use ringport::io::AsyncReadExt;
//! use ringport::net::TcpStream;
//! # async fn demo() -> std::io::Result<()> {
//! let stream = TcpStream::connect("127.0.0.1:8080").await?;
//! stream.write_all(b"ping\n".to_vec()).await.0?; // inherent, on &self
//! let mut shared: &TcpStream = &stream; // what generic code over the traits takes
//! let (res, buf) = AsyncReadExt::read_exact(&mut shared, vec![0u8; 5]).await.into_parts();
//! res?;
//! # Ok(()) }
//! ```

mod copy;
#[cfg(unix)]
mod fd_stream;
#[cfg(windows)]
#[path = "fd_stream_windows.rs"]
mod fd_stream;
#[cfg(unix)]
mod owned;
#[cfg(windows)]
#[path = "owned_windows.rs"]
mod owned;
mod owned_traits;
mod progress;

pub use copy::{copy_with_progress, Copy, CopySink, CopySource, Strategy};
pub use copy::{DEFAULT_BLOCK_SIZE, DEFAULT_DEPTH};
pub(crate) use fd_stream::FdStream;
pub use fd_stream::RecvMultishot;
#[cfg(unix)]
pub(crate) use owned::impl_socket_readiness;
#[cfg(unix)]
pub use owned::{
    Interest, OwnedRead, OwnedWrite, ReadOp, ReadyOp, ShutdownOp, SocketReadiness, WriteOp,
};
#[cfg(windows)]
pub use owned::{OwnedRead, OwnedWrite, ReadOp, ShutdownOp, WriteOp};
pub(crate) use owned_traits::{impl_owned_read, impl_owned_write};
pub use progress::{Progress, ProgressRecorder, Snapshot, State};

use crate::buf::{BufResult, IoBuf, IoBufMut, Slice};
use std::future::Future;
use std::io;

/// Why a stream cannot give its fd away: an operation in flight still holds it.
pub(crate) fn fd_in_flight() -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        "the stream still has an operation in flight",
    )
}

/// A source of bytes read into owned buffers.
pub trait AsyncRead {
    /// Reads up to the buffer's capacity; `Ok(0)` at end of stream.
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;
}

/// A sink of bytes written from owned buffers.
pub trait AsyncWrite {
    /// Writes some of the buffer's initialised bytes.
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// Hands any bytes the writer still holds (an encryption layer's records, an adapter's
    /// buffer) to the stream below. Plain streams hold none: the default does nothing.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        std::future::ready(Ok(()))
    }

    /// Ends the writing side (a socket's `shutdown(Write)`, a pipe's close), after flushing.
    ///
    /// Named `shutdown_write` rather than `shutdown` so that it does not clash with the
    /// sockets' own `shutdown(how)` (`TcpStream::shutdown(Shutdown::Write)` does the same).
    fn shutdown_write(&mut self) -> impl Future<Output = io::Result<()>>;
}

/// Positional reads (files).
pub trait AsyncReadAt {
    /// Reads up to the buffer's capacity at `pos`.
    fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> impl Future<Output = BufResult<usize, B>>;
}

/// Positional writes (files).
pub trait AsyncWriteAt {
    /// Writes some of the buffer's initialised bytes at `pos`.
    fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> impl Future<Output = BufResult<usize, B>>;
}

/// Reads that loop until done.
pub trait AsyncReadExt: AsyncRead {
    /// Fills the buffer's whole capacity; end of stream first is `UnexpectedEof`, with the
    /// bytes read so far kept.
    fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        read_exact(self, buf)
    }

    /// Reads to end of stream, appending to `buf`; returns how many bytes were appended.
    fn read_to_end(&mut self, buf: Vec<u8>) -> impl Future<Output = BufResult<usize, Vec<u8>>> {
        read_to_end(self, buf)
    }
}

impl<T: AsyncRead + ?Sized> AsyncReadExt for T {}

/// Writes that loop until done.
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes all the buffer's initialised bytes.
    fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        write_all(self, buf)
    }
}

impl<T: AsyncWrite + ?Sized> AsyncWriteExt for T {}

async fn read_exact<R: AsyncRead + ?Sized, B: IoBufMut>(r: &mut R, buf: B) -> BufResult<(), B> {
    fill(buf, async |part, _| r.read(part).await).await
}

/// Fills the buffer's whole capacity with `read(unfilled part, bytes done so far)`, however
/// many calls it takes. End of input first is `UnexpectedEof`, with the bytes read so far kept
/// in the buffer; `Interrupted` is retried.
pub(crate) async fn fill<B: IoBufMut>(
    mut buf: B,
    mut read: impl AsyncFnMut(Slice<B>, usize) -> BufResult<usize, Slice<B>>,
) -> BufResult<(), B> {
    let total = buf.bytes_total();
    let mut done = 0;
    while done < total {
        let BufResult(res, part) = read(buf.slice(done..), done).await;
        buf = part.into_inner();
        match res {
            Ok(0) => {
                let msg = format!("end of input after {done} of {total} bytes");
                return BufResult(Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg)), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return BufResult(Err(e), buf),
        }
    }
    BufResult(Ok(()), buf)
}

/// Writes all the buffer's initialised bytes with `write(unwritten part, bytes done so far)`,
/// however many calls it takes. A write of 0 bytes is `WriteZero`; `Interrupted` is retried.
pub(crate) async fn drain<B: IoBuf>(
    mut buf: B,
    mut write: impl AsyncFnMut(Slice<B>, usize) -> BufResult<usize, Slice<B>>,
) -> BufResult<(), B> {
    let total = buf.bytes_init();
    let mut done = 0;
    while done < total {
        let BufResult(res, part) = write(buf.slice(done..total), done).await;
        buf = part.into_inner();
        match res {
            Ok(0) => {
                let msg = format!("wrote 0 bytes after {done} of {total}");
                return BufResult(Err(io::Error::new(io::ErrorKind::WriteZero, msg)), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return BufResult(Err(e), buf),
        }
    }
    BufResult(Ok(()), buf)
}

async fn read_to_end<R: AsyncRead + ?Sized>(
    r: &mut R,
    mut buf: Vec<u8>,
) -> BufResult<usize, Vec<u8>> {
    let start = buf.len();
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.capacity().max(8192));
        }
        let len = buf.len();
        let BufResult(res, slice) = r.read(buf.slice(len..)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return BufResult(Ok(buf.len() - start), buf),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return BufResult(Err(e), buf),
        }
    }
}

async fn write_all<W: AsyncWrite + ?Sized, B: IoBuf>(w: &mut W, buf: B) -> BufResult<(), B> {
    drain(buf, async |part, _| w.write(part).await).await
}

impl AsyncReadAt for crate::fs::File {
    fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> impl Future<Output = BufResult<usize, B>> {
        crate::fs::File::read_at(self, buf, pos)
    }
}

impl AsyncWriteAt for crate::fs::File {
    fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> impl Future<Output = BufResult<usize, B>> {
        crate::fs::File::write_at(self, buf, pos)
    }
}

/// Implements the stream traits for a type whose inherent `read`, `write` and
/// `shutdown_write` take `&self`, and for a shared reference to it (as std does for
/// `&TcpStream`), so that the `*Ext` helpers work on a stream shared by two tasks.
///
/// It also gives the type inherent `read_exact`, `read_to_end` and `write_all` on `&self`, so
/// that they work through an `Rc` without importing the traits.
macro_rules! impl_stream_traits {
    ($($ty:ty),* $(,)?) => {$(
        $crate::io::impl_stream_traits!(@one $ty, $ty);
        $crate::io::impl_stream_traits!(@one &$ty, $ty);

        $crate::io::impl_read_helpers!($ty);
        $crate::io::impl_write_helpers!($ty);
    )*};
    // `$base` names the type whose inherent methods are called.
    (@one $ty:ty, $base:ty) => {
        impl $crate::io::AsyncRead for $ty {
            fn read<B: $crate::buf::IoBufMut>(
                &mut self,
                buf: B,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                <$base>::read(self, buf)
            }
        }

        impl $crate::io::AsyncWrite for $ty {
            fn write<B: $crate::buf::IoBuf>(
                &mut self,
                buf: B,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                <$base>::write(self, buf)
            }

            fn shutdown_write(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> {
                <$base>::shutdown_write(self)
            }
        }
    };
}
pub(crate) use impl_stream_traits;

/// Inherent `read_exact` and `read_to_end` on `&self`, for a type whose `&T` is `AsyncRead`.
macro_rules! impl_read_helpers {
    ($ty:ty) => {
        impl $ty {
            /// Fills the buffer's whole capacity ([`AsyncReadExt::read_exact`] through
            /// `&self`); end of stream first is `UnexpectedEof`, the bytes read so far kept.
            ///
            /// [`AsyncReadExt::read_exact`]: $crate::io::AsyncReadExt::read_exact
            pub async fn read_exact<B: $crate::buf::IoBufMut>(
                &self,
                buf: B,
            ) -> $crate::buf::BufResult<(), B> {
                let mut this = self;
                $crate::io::AsyncReadExt::read_exact(&mut this, buf).await
            }

            /// Reads to end of stream, appending to `buf` ([`AsyncReadExt::read_to_end`]
            /// through `&self`); returns how many bytes were appended.
            ///
            /// [`AsyncReadExt::read_to_end`]: $crate::io::AsyncReadExt::read_to_end
            pub async fn read_to_end(
                &self,
                buf: Vec<u8>,
            ) -> $crate::buf::BufResult<usize, Vec<u8>> {
                let mut this = self;
                $crate::io::AsyncReadExt::read_to_end(&mut this, buf).await
            }
        }
    };
}
pub(crate) use impl_read_helpers;

/// Inherent `write_all` on `&self`, for a type whose `&T` is `AsyncWrite`.
macro_rules! impl_write_helpers {
    ($ty:ty) => {
        impl $ty {
            /// Writes all the buffer's initialised bytes ([`AsyncWriteExt::write_all`]
            /// through `&self`).
            ///
            /// [`AsyncWriteExt::write_all`]: $crate::io::AsyncWriteExt::write_all
            pub async fn write_all<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
            ) -> $crate::buf::BufResult<(), B> {
                let mut this = self;
                $crate::io::AsyncWriteExt::write_all(&mut this, buf).await
            }
        }
    };
}
pub(crate) use impl_write_helpers;

/// Implements `AsyncRead` for types whose `inner` field is an `FdStream`, and for shared
/// references to them; with the inherent helpers.
macro_rules! impl_read_trait {
    ($($ty:ty),* $(,)?) => {$(
        $crate::io::impl_read_trait!(@one $ty);
        $crate::io::impl_read_trait!(@one &$ty);
        $crate::io::impl_read_helpers!($ty);
    )*};
    (@one $ty:ty) => {
        impl $crate::io::AsyncRead for $ty {
            fn read<B: $crate::buf::IoBufMut>(
                &mut self,
                buf: B,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                self.inner.read(buf)
            }
        }
    };
}
pub(crate) use impl_read_trait;

/// Implements `AsyncWrite` for types whose `inner` field is an `FdStream`, and for shared
/// references to them, with the inherent `write_all`. `shutdown_write` shuts a socket's writing half down (`half_close:
/// true`); other streams have no half-close and report `Ok` (a pipe ends when its writer is
/// dropped).
macro_rules! impl_write_trait {
    ($($ty:ty => half_close: $half:expr),* $(,)?) => {$(
        $crate::io::impl_write_trait!(@one $ty, $half);
        $crate::io::impl_write_trait!(@one &$ty, $half);
        $crate::io::impl_write_helpers!($ty);
    )*};
    (@one $ty:ty, $half:expr) => {
        impl $crate::io::AsyncWrite for $ty {
            fn write<B: $crate::buf::IoBuf>(
                &mut self,
                buf: B,
            ) -> impl std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                self.inner.write(buf)
            }

            fn shutdown_write(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> {
                let inner = &self.inner;
                async move {
                    if $half {
                        inner.shutdown(std::net::Shutdown::Write).await
                    } else {
                        Ok(())
                    }
                }
            }
        }
    };
}
pub(crate) use impl_write_trait;
