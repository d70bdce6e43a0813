//! `Nop`: an operation that does nothing, for measuring the round trip through the backend.

use super::{Op, OpCode};
use std::io;

/// The no-op.
#[derive(Debug)]
pub(crate) struct Nop;

// SAFETY: a no-op hands the kernel no memory.
unsafe impl OpCode for Nop {}

/// Sends one no-op through the backend and waits for its completion.
///
/// It measures the cost of a round trip through the runtime, and it is the simplest operation
/// the kernel completes at once (still reported through the loop, never inline).
///
/// ```
/// ringport::run(async {
///     ringport::driver::nop().await.unwrap();
/// });
/// ```
pub async fn nop() -> io::Result<()> {
    let (done, _) = Op::new(Nop).await;
    done.result.map(drop)
}
