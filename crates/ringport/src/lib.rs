//! ringport: true asynchronous I/O for Rust.
//!
//! The completion-port model: a program hands the kernel an operation together with the
//! memory it needs, and is told when it is done. On Linux that is io_uring.
//!
//! ```
//! use ringport::{buf::BufResult, fs::File};
//!
//! ringport::run(async {
//!     let dir = std::env::temp_dir();
//!     let path = dir.join(format!("ringport-doc-{}", std::process::id()));
//!     let file = File::create(&path).await?;
//!     let BufResult(res, _) = file.write_all_at(b"hello, ring".as_slice(), 0).await;
//!     res?;
//!     let BufResult(res, buf) = file.read_at(vec![0u8; 64], 0).await;
//!     assert_eq!(&buf[..res?], b"hello, ring");
//!     file.close().await?;
//!     ringport::fs::remove_file(&path).await
//! })
//! .unwrap();
//! ```
//!
//! Layers only call downward: `fs`/`net`/`io` → `runtime` → `driver` → `buf`. See
//! ARCHITECTURE.md.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod buf;
pub mod driver;
pub mod fs;
pub mod io;
pub mod net;
pub mod pipe;
pub mod process;
pub mod runtime;
pub mod signal;
pub mod stdio;
pub mod time;

pub use driver::cancel;
pub use driver::{Backend, BackendInfo};
pub use runtime::{run, spawn, spawn_blocking, yield_now, Builder, JoinError, JoinHandle, Runtime};

/// `#[ringport::main]`: runs an `async fn main` on a runtime (see the crate's front page).
pub use ringport_macros::main;
/// `#[ringport::test]`: a test that is an `async fn`, on a runtime of its own.
pub use ringport_macros::test;

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
