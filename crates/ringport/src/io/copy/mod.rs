//! `copy_with_progress`: everything from a source to a sink, as one future on the loop, with
//! a [`Progress`] that any thread can read and cancel.
//!
//! How the bytes move depends on the two ends, probed when the copy starts ([`Strategy`]):
//! between regular files `copy_file_range` (on the blocking pool: io_uring has no opcode for
//! it); from a regular file into a pipe, `splice` on the ring; otherwise (sockets, pipes
//! into files, any `AsyncRead`/`AsyncWrite`, `O_DIRECT` files) `depth` reads in flight into
//! reused aligned buffers while earlier blocks are written. `Strategy::Splice` splices any
//! pair of files, pipes and sockets (through a pipe of its own when neither end is one).
//! Each way falls back to the next when the kernel refuses it before the first byte.
//!
//! On Windows there is only the buffered way (`engine_windows.rs`: two blocks in flight, no
//! holes kept); `Strategy::CopyFileRange` and `Strategy::Splice` are refused there in words.

#[cfg(unix)]
mod endpoint;
#[cfg(windows)]
#[path = "endpoint_windows.rs"]
mod endpoint;
#[cfg(unix)]
mod engine;
#[cfg(windows)]
#[path = "engine_windows.rs"]
mod engine;
#[cfg(unix)]
mod extents;
#[cfg(unix)]
mod lanes;
#[cfg(unix)]
mod ops;
#[cfg(unix)]
mod probe;
#[cfg(unix)]
mod range;
#[cfg(unix)]
mod splice;

pub use endpoint::{CopySink, CopySource};

use crate::cancel::CancelToken;
use crate::io::Progress;
use crate::time::{sleep, Sleep};
use engine::engine;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The block size of a buffered copy unless set.
pub const DEFAULT_BLOCK_SIZE: usize = 256 << 10;
/// How many blocks a buffered copy has in flight unless set.
pub const DEFAULT_DEPTH: usize = 4;
/// The alignment of a buffered copy's blocks: what `O_DIRECT` needs on every device.
const ALIGN: usize = 4096;

/// The error of a copy stopped by a cancel (what `cancel::is_cancelled` recognises).
fn cancelled() -> io::Error {
    io::Error::from_raw_os_error(crate::driver::CANCELLED_CODE)
}

/// How a copy moves its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// The fastest the two ends allow (as measured), falling back when the kernel refuses:
    /// `copy_file_range` between regular files, `splice` from a regular file into a pipe,
    /// else buffered.
    #[default]
    Auto,
    /// `copy_file_range` only (both ends regular files, neither `O_DIRECT`).
    CopyFileRange,
    /// `splice` only (files, pipes and sockets, no `O_DIRECT`).
    Splice,
    /// Reads and writes through the copy's own buffers; works for every pair.
    Buffered,
}

#[derive(Debug, Clone, Copy)]
struct Options {
    block: usize,
    depth: usize,
    strategy: Strategy,
    total: Option<u64>,
}

type Engine<'a> = Pin<Box<dyn Future<Output = io::Result<u64>> + 'a>>;
type Start<'a> = Box<dyn FnOnce(Options, Progress, CancelToken) -> Engine<'a> + 'a>;

/// Copies everything `reader` gives to `writer`; the future resolves to the bytes copied.
///
/// Files are copied whole, from offset 0, and written from offset 0 (the destination is not
/// truncated: create it with `File::create`). Streams are read to their end. The copy starts
/// when first polled; [`Copy::progress`] hands out its [`Progress`] before or after.
///
/// ```no_run
/// use ringport::fs::File;
/// ringport::run(async {
///     let src = File::open("in.bin").await?;
///     let dst = File::create("out.bin").await?;
///     let copy = ringport::io::copy_with_progress(src, dst);
///     let progress = copy.progress();
///     let n = copy.await?;
///     assert_eq!(progress.transferred(), n);
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub fn copy_with_progress<'a, R, W>(reader: R, writer: W) -> Copy<'a>
where
    R: CopySource + 'a,
    W: CopySink + 'a,
{
    let start: Start<'a> = Box::new(move |opts, progress, token| {
        Box::pin(token.run(engine(reader, writer, opts, progress, token.clone())))
    });
    Copy {
        progress: Progress::new(),
        opts: Options {
            block: DEFAULT_BLOCK_SIZE,
            depth: DEFAULT_DEPTH,
            strategy: Strategy::Auto,
            total: None,
        },
        token: CancelToken::new(),
        start: Some(start),
        running: None,
        callback: None,
        done: false,
    }
}

/// The future of [`copy_with_progress`]: resolves to the bytes copied, or the error that
/// stopped it (the cancelled error after [`Progress::cancel`]; the bytes that reached the
/// destination are then in [`Progress::transferred`]).
///
/// Dropping it stops the copy: operations in flight are cancelled and the progress reads
/// [`State::Cancelled`](crate::io::State::Cancelled).
#[must_use = "a copy does nothing unless awaited"]
pub struct Copy<'a> {
    progress: Progress,
    opts: Options,
    token: CancelToken,
    start: Option<Start<'a>>,
    running: Option<Engine<'a>>,
    callback: Option<Callback<'a>>,
    done: bool,
}

struct Callback<'a> {
    every: Duration,
    f: Box<dyn FnMut(&Progress) + 'a>,
    sleep: Option<Sleep>,
}

impl fmt::Debug for Copy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Copy")
            .field("progress", &self.progress)
            .field("block", &self.opts.block)
            .field("depth", &self.opts.depth)
            .field("strategy", &self.opts.strategy)
            .finish()
    }
}

impl<'a> Copy<'a> {
    /// The copy's progress, to read or cancel from anywhere.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// The block size of a buffered copy (default 256 KiB); rounded up to 4 KiB.
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.opts.block = bytes.clamp(1, 1 << 30).next_multiple_of(ALIGN);
        self
    }

    /// How many blocks a buffered copy keeps in flight (default 4; 1 to 1024).
    pub fn depth(mut self, blocks: usize) -> Self {
        self.opts.depth = blocks.clamp(1, 1024);
        self
    }

    /// How the bytes move (default [`Strategy::Auto`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.opts.strategy = strategy;
        self
    }

    /// The bytes to expect, for a progress total where the copy cannot tell (a stream).
    pub fn total(mut self, bytes: u64) -> Self {
        self.opts.total = Some(bytes);
        self
    }

    /// Calls `f` on the loop every `every` while the copy runs, and once at the end.
    pub fn on_progress(mut self, every: Duration, f: impl FnMut(&Progress) + 'a) -> Self {
        self.callback = Some(Callback {
            every: every.max(Duration::from_millis(1)),
            f: Box::new(f),
            sleep: None,
        });
        self
    }

    /// Calls the callback when its time has come, and arms its timer again.
    fn tick(&mut self, cx: &mut Context<'_>) {
        let Some(cb) = &mut self.callback else { return };
        loop {
            let sleep = cb.sleep.get_or_insert_with(|| sleep(cb.every));
            if Pin::new(&mut *sleep).poll(cx).is_pending() {
                return;
            }
            (cb.f)(&self.progress);
            let now = Instant::now();
            let next = sleep.deadline() + cb.every;
            sleep.reset(if next > now { next } else { now + cb.every });
        }
    }

    fn end(&mut self, res: io::Result<u64>) -> io::Result<u64> {
        self.running = None;
        self.done = true;
        let res = match res {
            Err(_) if self.progress.is_cancel_requested() => Err(cancelled()),
            other => other,
        };
        self.progress.finish(&res);
        if let Some(cb) = &mut self.callback {
            (cb.f)(&self.progress);
        }
        res
    }
}

impl Future for Copy<'_> {
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        assert!(!this.done, "Copy polled after it completed");
        if let Some(start) = this.start.take() {
            this.progress.start();
            let engine = start(this.opts, this.progress.clone(), this.token.clone());
            this.running = Some(engine);
        }
        this.progress.register(cx.waker());
        if this.progress.is_cancel_requested() && !this.token.is_cancelled() {
            this.token.cancel();
        }
        let engine = this.running.as_mut().expect("started above");
        if let Poll::Ready(res) = engine.as_mut().poll(cx) {
            return Poll::Ready(this.end(res));
        }
        this.tick(cx);
        Poll::Pending
    }
}

impl Drop for Copy<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.running = None;
            self.progress.finish(&Err(cancelled()));
        }
    }
}
