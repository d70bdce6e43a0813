//! What a copy reads from and writes to on Windows: [`CopySource`] and [`CopySink`],
//! implemented for ringport's files, sockets, named pipes, pipes and standard streams, and for
//! `&mut T` of any [`AsyncRead`]/[`AsyncWrite`] type.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::fs::File;
use crate::io::{AsyncRead, AsyncWrite};
use crate::net::{NamedPipeStream, OwnedReadHalf, OwnedWriteHalf, TcpStream};
use crate::pipe::{Receiver, Sender};
use crate::stdio::{Stderr, Stdin, Stdout, Tty};
use std::future::Future;

/// What the copy may know about an endpoint beyond its trait methods: whether it is a
/// ringport `File`, which the copy reads and writes positionally from offset 0.
#[derive(Debug, Clone)]
pub struct Endpoint(pub(crate) Kind);

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// Only the trait's `read`/`write`.
    Opaque,
    /// A ringport `File` (its handle, and whether it is unbuffered).
    File { fd: SharedFd, direct: bool },
}

/// A source of bytes for [`copy_with_progress`](crate::io::copy_with_progress).
///
/// ringport's own types (by value or by shared reference); any other [`AsyncRead`] type
/// takes part through `&mut reader`.
pub trait CopySource {
    /// Reads the next bytes into the buffer; `Ok(0)` at the end. (A `File` is read
    /// positionally from offset 0 by the copy; this reads from offset 0 too.)
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    #[doc(hidden)]
    fn endpoint(&self) -> Endpoint {
        Endpoint(Kind::Opaque)
    }
}

/// A destination for [`copy_with_progress`](crate::io::copy_with_progress).
///
/// As for [`CopySource`]. The copy never shuts the sink down: drop it or call
/// `shutdown_write` afterwards to end a stream.
pub trait CopySink {
    /// Writes some of the buffer's bytes. (A `File` is written positionally from offset 0
    /// by the copy.)
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    #[doc(hidden)]
    fn endpoint(&self) -> Endpoint {
        Endpoint(Kind::Opaque)
    }
}

impl<T: AsyncRead + ?Sized> CopySource for &mut T {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        AsyncRead::read(&mut **self, buf)
    }
}

impl<T: AsyncWrite + ?Sized> CopySink for &mut T {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        AsyncWrite::write(&mut **self, buf)
    }
}

fn file_endpoint(file: &File) -> Endpoint {
    Endpoint(Kind::File {
        fd: file.shared_fd().clone(),
        direct: file.is_direct(),
    })
}

/// `File` and `&File` as sources and sinks. A file has no stream position of its own on
/// Windows (every transfer carries its offset): the trait methods read and write at 0; the
/// copy itself never calls them for a file.
macro_rules! file_endpoints {
    ($($ty:ty),*) => {$(
        impl CopySource for $ty {
            fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                File::read_at(self, buf, 0)
            }

            fn endpoint(&self) -> Endpoint {
                file_endpoint(self)
            }
        }

        impl CopySink for $ty {
            fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                File::write_at(self, buf, 0)
            }

            fn endpoint(&self) -> Endpoint {
                file_endpoint(self)
            }
        }
    )*};
}

file_endpoints!(File, &File);

/// Stream types (and `&T` of them) whose inherent `read`/`write` take `&self`.
macro_rules! stream_endpoints {
    ($trait:ident, $method:ident, $bound:ident: $($ty:ty => $inner:ident),* $(,)?) => {$(
        impl $trait for $ty {
            fn $method<B: $bound>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                $inner::$method(self, buf)
            }
        }
    )*};
}

stream_endpoints!(CopySource, read, IoBufMut:
    TcpStream => TcpStream,
    &TcpStream => TcpStream,
    NamedPipeStream => NamedPipeStream,
    &NamedPipeStream => NamedPipeStream,
    Receiver => Receiver,
    Tty => Tty,
    &Tty => Tty,
    Stdin => Stdin,
    OwnedReadHalf => OwnedReadHalf,
);

stream_endpoints!(CopySink, write, IoBuf:
    TcpStream => TcpStream,
    &TcpStream => TcpStream,
    NamedPipeStream => NamedPipeStream,
    &NamedPipeStream => NamedPipeStream,
    Sender => Sender,
    Tty => Tty,
    &Tty => Tty,
    Stdout => Stdout,
    Stderr => Stderr,
    OwnedWriteHalf => OwnedWriteHalf,
);
