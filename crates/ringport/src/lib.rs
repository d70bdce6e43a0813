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
#[cfg(unix)]
pub mod stdio;
#[cfg(windows)]
#[path = "stdio/windows.rs"]
pub mod stdio;
pub mod time;

pub use driver::cancel;
pub use driver::{Backend, BackendInfo};
pub use runtime::{run, spawn, spawn_blocking, yield_now, Builder, JoinError, JoinHandle, Runtime};
