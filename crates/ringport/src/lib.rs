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
pub use runtime::{
    cores, current_core, run, spawn, spawn_balanced, spawn_blocking, spawn_on, yield_now, Builder,
    Handle, JoinError, JoinHandle, Runtime,
};
