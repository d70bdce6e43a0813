//! Standard input, output and error as async streams, and terminals (`Tty`).

mod tty;

pub use tty::Tty;

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::io::FdStream;

/// The process's standard input as an async stream (fd 0, never closed by ringport).
pub fn stdin() -> Stdin {
    Stdin {
        inner: FdStream::other(SharedFd::borrowed(0)),
    }
}

/// The process's standard output as an async stream (fd 1, never closed by ringport).
/// Writes go straight to the fd: nothing is buffered.
pub fn stdout() -> Stdout {
    Stdout {
        inner: FdStream::other(SharedFd::borrowed(1)),
    }
}

/// The process's standard error as an async stream (fd 2, never closed by ringport).
pub fn stderr() -> Stderr {
    Stderr {
        inner: FdStream::other(SharedFd::borrowed(2)),
    }
}

/// Standard input.
#[derive(Debug)]
pub struct Stdin {
    inner: FdStream,
}

impl Stdin {
    /// Reads up to the buffer's capacity; `Ok(0)` at end of input.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }
}

macro_rules! output {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name {
            inner: FdStream,
        }

        impl $name {
            /// Writes some of the buffer's bytes.
            pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
                self.inner.write(buf).await
            }
        }
    };
}

output!(Stdout, "Standard output.");
output!(Stderr, "Standard error.");

crate::io::impl_read_trait!(Stdin);
// Standard streams stay open: nothing to shut down.
crate::io::impl_write_trait!(Stdout => half_close: false, Stderr => half_close: false);
