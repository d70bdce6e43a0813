//! ringport: true asynchronous I/O for Rust.
//!
//! The completion-port model: a program hands the kernel an operation together with the
//! memory it needs, and is told when it is done. On Linux that is io_uring; where io_uring is
//! missing or forbidden (a kernel older than 5.11, Docker's seccomp profile, a memlock limit),
//! the same API runs on epoll plus a pool of threads for file calls, and
//! [`Runtime::backend_info`] says which one runs and why. Every example below is a test that
//! runs.
//!
//! # Run, spawn, join
//!
//! [`run`] starts a runtime on the current thread and runs a future to its end;
//! [`#[ringport::main]`](macro@main) does the same for `async fn main`, and
//! [`#[ringport::test]`](macro@test) for tests. [`spawn`] starts a task on the same thread
//! (it need not be `Send`); its [`JoinHandle`] is awaited for the output, or
//! [aborted](JoinHandle::abort). [`spawn_blocking`] runs blocking code on a separate pool.
//!
//! ```
//! use std::time::Duration;
//!
//! #[ringport::main]
//! async fn main() {
//!     let answer = ringport::spawn(async {
//!         ringport::time::sleep(Duration::from_millis(1)).await;
//!         42
//!     });
//!     let sum = ringport::spawn_blocking(|| (1..=10).sum::<u32>());
//!     assert_eq!(answer.await.unwrap(), 42);
//!     assert_eq!(sum.await.unwrap(), 55);
//! }
//! ```
//!
//! # A TCP echo server
//!
//! Reads and writes take the buffer by value and hand it back with the result
//! ([`BufResult`](buf::BufResult)): the kernel owns the memory while the operation is in flight.
//! A reused buffer needs no `clear()`: after a read it holds exactly the bytes read
//! ([`IoBufMut`](buf::IoBufMut)).
//!
//! ```
//! use ringport::buf::BufResult;
//! use ringport::net::{TcpListener, TcpStream};
//!
//! ringport::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     ringport::spawn(async move {
//!         while let Ok((stream, _)) = listener.accept().await {
//!             ringport::spawn(async move {
//!                 let mut buf = Vec::with_capacity(4096);
//!                 loop {
//!                     let BufResult(res, back) = stream.read(buf).await;
//!                     if !matches!(res, Ok(n) if n > 0) {
//!                         return;
//!                     }
//!                     let BufResult(res, back) = stream.write_all(back).await;
//!                     if res.is_err() {
//!                         return;
//!                     }
//!                     buf = back;
//!                 }
//!             });
//!         }
//!     });
//!
//!     let client = TcpStream::connect(addr).await?;
//!     client.write_all(b"hello".as_slice()).await.0?;
//!     let BufResult(res, echoed) = client.read_exact(vec![0u8; 5]).await;
//!     res?;
//!     assert_eq!(echoed, b"hello");
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```
//!
//! # Files
//!
//! [`fs::File`] reads and writes at offsets (`read_at`, `write_at` and their `_exact`/`_all`
//! forms); the fd has no position of its own. Every call is one operation on the ring.
//!
//! ```
//! use ringport::buf::BufResult;
//! use ringport::fs::File;
//!
//! ringport::run(async {
//!     let dir = tempfile::tempdir()?;
//!     let path = dir.path().join("greeting");
//!     let file = File::create(&path).await?;
//!     let BufResult(res, _) = file.write_all_at(b"hello, ring".as_slice(), 0).await;
//!     res?;
//!     let BufResult(res, _) = file.write_at(b"R".as_slice(), 7).await;
//!     assert_eq!(res?, 1);
//!     file.sync_all().await?;
//!     let BufResult(res, buf) = file.read_at(Vec::with_capacity(64), 0).await;
//!     assert_eq!(&buf[..res?], b"hello, Ring");
//!     file.close().await
//! })
//! .unwrap();
//! ```
//!
//! # Copying, with progress
//!
//! [`io::copy_with_progress`] copies any pair of ends the fastest way they allow
//! (`copy_file_range` between files, keeping holes; `splice` into a pipe; else reads and writes
//! in flight), with a [`Progress`](io::Progress) any thread can read or cancel.
//!
//! ```
//! use ringport::fs::File;
//! use ringport::io::{copy_with_progress, State};
//!
//! ringport::run(async {
//!     let dir = tempfile::tempdir()?;
//!     std::fs::write(dir.path().join("in"), vec![7u8; 1 << 20])?;
//!     let src = File::open(dir.path().join("in")).await?;
//!     let dst = File::create(dir.path().join("out")).await?;
//!     let copy = copy_with_progress(&src, &dst);
//!     let progress = copy.progress(); // Send + Sync: hand it to a UI thread
//!     let n = copy.await?;
//!     assert_eq!((n, progress.transferred(), progress.state()), (1 << 20, 1 << 20, State::Done));
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```
//!
//! # Cancellation
//!
//! Dropping a future at any await point is safe: its operations are cancelled, and their
//! memory stays with the driver until the kernel lets go of it. A timeout is such a drop. To
//! get the buffers back with each operation's outcome, cancel through a
//! [`CancelToken`](cancel::CancelToken) (or [`cancel::with_timeout`]) instead: each operation
//! then ends with its result (when the kernel finished first) or the one cancelled error
//! [`cancel::is_cancelled`] recognises.
//!
//! ```
//! use ringport::buf::BufResult;
//! use ringport::cancel::{is_cancelled, with_timeout};
//! use ringport::net::UdpSocket;
//! use std::time::Duration;
//!
//! ringport::run(async {
//!     let socket = UdpSocket::bind("127.0.0.1:0")?;
//!     // Nothing arrives: the receive is dropped after 10 ms (and cancelled in the kernel).
//!     let res = ringport::time::timeout(Duration::from_millis(10), socket.recv(vec![0u8; 64])).await;
//!     assert!(res.is_err());
//!     // The same with a token: the operation ends as cancelled, and the buffer comes back.
//!     let BufResult(res, buf) = with_timeout(Duration::from_millis(10), socket.recv(vec![0u8; 64])).await;
//!     assert!(is_cancelled(&res.unwrap_err()));
//!     assert_eq!(buf.capacity(), 64);
//!     std::io::Result::Ok(())
//! })
//! .unwrap();
//! ```
//!
//! # Coming from tokio
//!
//! - **Owned buffers.** `stream.read(buf)` takes a buffer (`Vec<u8>`, `Box<[u8]>`,
//!   [`AlignedBuf`](buf::AlignedBuf), `Bytes`/`BytesMut` with the `bytes` feature, or a
//!   [`Slice`](buf::Slice) of one) and returns [`BufResult`](buf::BufResult)`(io::Result<T>,
//!   buffer)`; a read fills up to the buffer's capacity, not its length. Stack arrays and
//!   `&mut [u8]` cannot be used: the kernel may write into the memory after the future is
//!   dropped. Write `let BufResult(res, buf) = ...` or `.into_parts()`; `.0?` when the
//!   buffer is not needed back.
//! - **`&self` I/O.** Sockets, pipes and standard streams read and write through `&self`, and
//!   have inherent `read_exact`, `read_to_end` and `write_all`: share one with `Rc` between a
//!   reading and a writing task, no split needed. `&TcpStream` is [`AsyncRead`](io::AsyncRead)
//!   and [`AsyncWrite`](io::AsyncWrite), as std's `&TcpStream` is `Read` and `Write`.
//! - **Completion traits, not poll traits.** [`io::AsyncRead`] and [`io::AsyncWrite`] are
//!   `async fn`s on owned buffers (`&mut self`, for stateful streams); there is no
//!   `poll_read`. The half-close is [`AsyncWrite::shutdown_write`](io::AsyncWrite::shutdown_write);
//!   sockets also have `shutdown(how)` with a direction.
//! - **Tasks are `!Send` and stay on their thread.** [`spawn`] accepts futures that hold `Rc`
//!   and `RefCell`; there is no work stealing. [`JoinHandle`] is `Send` (when the output is)
//!   and [`abort`](JoinHandle::abort) takes `&self`, as in tokio.
//! - **Files are positional and asynchronous** on io_uring (no thread per call), on the pool
//!   otherwise: `file.read_at(buf, offset)` rather than `seek` + `read`.
//! - **Macros and names**: `#[ringport::main]`, `#[ringport::test]`,
//!   `ringport::time::{sleep, timeout, interval}`, `ringport::signal::ctrl_c`,
//!   `ringport::process::Command` are where tokio users look for them.
//!
//! Layers only call downward: `fs`/`net`/`io` → `runtime` → `driver` → `buf`. See
//! ARCHITECTURE.md.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod buf;
pub mod driver;
#[cfg(unix)]
pub mod fs;
#[cfg(windows)]
#[path = "fs/windows/mod.rs"]
pub mod fs;
pub mod io;
#[cfg(all(unix, not(target_os = "linux")))]
mod libc_compat;
#[cfg(unix)]
pub mod net;
#[cfg(windows)]
#[path = "net/windows/mod.rs"]
pub mod net;
#[cfg(unix)]
pub mod pipe;
#[cfg(windows)]
#[path = "pipe/windows.rs"]
pub mod pipe;
#[cfg(unix)]
pub mod process;
#[cfg(windows)]
#[path = "process/windows.rs"]
pub mod process;
pub mod runtime;
#[cfg(unix)]
pub mod signal;
#[cfg(windows)]
#[path = "signal/windows.rs"]
pub mod signal;
#[cfg(unix)]
pub mod stdio;
#[cfg(windows)]
#[path = "stdio/windows.rs"]
pub mod stdio;
pub mod time;

pub use driver::cancel;
pub use driver::{Backend, BackendInfo};
pub use runtime::{
    cores, current_core, run, spawn, spawn_balanced, spawn_blocking, spawn_on, yield_now, Builder,
    Handle, JoinError, JoinHandle, Runtime,
};

/// `#[ringport::main]`: runs an `async fn main` on a runtime (see the crate's front page).
pub use ringport_macros::main;
/// `#[ringport::test]`: a test that is an `async fn`, on a runtime of its own.
pub use ringport_macros::test;

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// What the macros expand to; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;

    /// Builds a runtime on `backend` and runs `future` on it.
    ///
    /// # Panics
    ///
    /// When the runtime cannot be started, saying why.
    pub fn block_on<F: Future>(backend: crate::Backend, future: F) -> F::Output {
        match crate::Runtime::builder().backend(backend).build() {
            Ok(rt) => rt.block_on(future),
            Err(e) => panic!("ringport: cannot start a runtime ({backend}): {e}"),
        }
    }
}
