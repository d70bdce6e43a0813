//! What a copy reads from and writes to: [`CopySource`] and [`CopySink`], implemented for
//! ringport's files, sockets, pipes and standard streams, and for `&mut T` of any
//! [`AsyncRead`]/[`AsyncWrite`] type.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::fs::File;
use crate::io::{AsyncRead, AsyncWrite, FdStream};
use crate::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};
use crate::pipe::{Receiver, Sender};
use crate::stdio::{Stderr, Stdin, Stdout, Tty};
use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};

/// What the copy may know about an endpoint beyond its trait methods: the fd behind it, so
/// that it can read a file positionally and use the kernel's own copies (`copy_file_range`,
/// `splice`). Only ringport's own types can say more than "opaque".
#[derive(Debug, Clone)]
pub struct Endpoint(pub(crate) Kind);

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// Only the trait's `read`/`write`.
    Opaque,
    /// A ringport `File`: read and written positionally from offset 0 when it is a regular
    /// file (or block device), through its fd position otherwise.
    File { fd: SharedFd, direct: bool },
    /// A stream fd (socket, pipe, terminal, stdio) that the trait methods read or write at
    /// its own position; known so that `splice` can move its bytes.
    Fd(RawFd),
}

/// A source of bytes for [`copy_with_progress`](crate::io::copy_with_progress).
///
/// ringport's own types (by value or by shared reference) let the copy use the fd behind
/// them; any other [`AsyncRead`] type takes part through `&mut reader`.
pub trait CopySource {
    /// Reads the next bytes into the buffer; `Ok(0)` at the end. (A `File` is read
    /// positionally from offset 0 by the copy; this reads at the fd's own position.)
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    #[doc(hidden)]
    fn endpoint(&self) -> Endpoint {
        Endpoint(Kind::Opaque)
    }
}

/// A destination for [`copy_with_progress`](crate::io::copy_with_progress).
///
/// As for [`CopySource`]: ringport's own types by value or shared reference, any other
/// [`AsyncWrite`] type through `&mut writer`. The copy never shuts the sink down: drop it or
/// call `shutdown_write` afterwards to end a stream.
pub trait CopySink {
    /// Writes some of the buffer's bytes. (A `File` is written positionally from offset 0
    /// by the copy; this writes at the fd's own position.)
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    #[doc(hidden)]
    fn endpoint(&self) -> Endpoint {
        Endpoint(Kind::Opaque)
    }
}

impl<T: AsyncRead + ?Sized> CopySource for &mut T {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).read(buf)
    }
}

impl<T: AsyncWrite + ?Sized> CopySink for &mut T {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).write(buf)
    }
}

fn file_endpoint(file: &File) -> Endpoint {
    Endpoint(Kind::File {
        fd: file.shared_fd().clone(),
        direct: file.is_direct(),
    })
}

async fn read_at_position<B: IoBufMut>(fd: SharedFd, buf: B) -> BufResult<usize, B> {
    FdStream::other(fd).read(buf).await
}

async fn write_at_position<B: IoBuf>(fd: SharedFd, buf: B) -> BufResult<usize, B> {
    FdStream::other(fd).write(buf).await
}

/// `File` and `&File` as sources and sinks.
macro_rules! file_endpoints {
    ($($ty:ty),*) => {$(
        impl CopySource for $ty {
            fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                read_at_position(self.shared_fd().clone(), buf)
            }

            fn endpoint(&self) -> Endpoint {
                file_endpoint(self)
            }
        }

        impl CopySink for $ty {
            fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                write_at_position(self.shared_fd().clone(), buf)
            }

            fn endpoint(&self) -> Endpoint {
                file_endpoint(self)
            }
        }
    )*};
}

file_endpoints!(File, &File);

/// Stream types whose inherent `read`/`write` take `&self`, with the fd behind them.
macro_rules! stream_endpoints {
    ($trait:ident, $method:ident, $bound:ident: $($ty:ident => |$s:ident| $fd:expr),* $(,)?) => {$(
        impl $trait for $ty {
            fn $method<B: $bound>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                $ty::$method(self, buf)
            }

            fn endpoint(&self) -> Endpoint {
                let $s = self;
                Endpoint(Kind::Fd($fd))
            }
        }
    )*};
}

/// `&T` for stream types whose inherent `read`/`write` take `&self`.
macro_rules! by_reference {
    ($trait:ident, $method:ident, $bound:ident: $($ty:ident),*) => {$(
        impl $trait for &$ty {
            fn $method<B: $bound>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                $ty::$method(*self, buf)
            }

            fn endpoint(&self) -> Endpoint {
                <$ty as $trait>::endpoint(self)
            }
        }
    )*};
}

stream_endpoints!(CopySource, read, IoBufMut:
    TcpStream => |s| s.as_raw_fd(),
    UnixStream => |s| s.as_raw_fd(),
    Receiver => |s| s.as_raw_fd(),
    Tty => |s| s.as_raw_fd(),
    Stdin => |_s| 0,
);

stream_endpoints!(CopySink, write, IoBuf:
    TcpStream => |s| s.as_raw_fd(),
    UnixStream => |s| s.as_raw_fd(),
    Sender => |s| s.as_raw_fd(),
    Tty => |s| s.as_raw_fd(),
    Stdout => |_s| 1,
    Stderr => |_s| 2,
);

by_reference!(CopySource, read, IoBufMut: TcpStream, UnixStream, Tty);
by_reference!(CopySink, write, IoBuf: TcpStream, UnixStream, Tty);

impl CopySource for OwnedReadHalf {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        AsyncRead::read(self, buf)
    }
}

impl CopySink for OwnedWriteHalf {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        AsyncWrite::write(self, buf)
    }
}
