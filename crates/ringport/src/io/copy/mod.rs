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

mod endpoint;
mod extents;
mod lanes;
mod ops;
mod probe;
mod range;
mod splice;

pub use endpoint::{CopySink, CopySource};

use crate::cancel::CancelToken;
use crate::io::Progress;
use crate::time::{sleep, Sleep};
use probe::{Side, What};
use std::cell::Cell;
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

/// Why a kernel copy stopped: it cannot be done this way at all (nothing moved), or an error.
enum Fail {
    Unsupported(io::Error),
    Io(io::Error),
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
            Err(_) if self.progress.is_cancel_requested() => Err(ops::cancelled()),
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
            self.progress.finish(&Err(ops::cancelled()));
        }
    }
}

/// Probes both ends, picks the way, and copies.
async fn engine<R: CopySource, W: CopySink>(
    reader: R,
    writer: W,
    opts: Options,
    progress: Progress,
    token: CancelToken,
) -> io::Result<u64> {
    let src = probe::probe(reader.endpoint()).await?;
    let dst = probe::probe(writer.endpoint()).await?;
    progress.set_total(opts.total.or(src.size));
    let (range, splice) = choose(&src, &dst, opts.strategy)?;
    let align = (src.direct || dst.direct).then_some(ALIGN as u64);
    let plan = extents::plan(&src, &dst, align).await?;
    let forced = opts.strategy != Strategy::Auto;
    if range {
        match range::copy(&src, &dst, &plan, &progress).await {
            Err(Fail::Unsupported(e)) if forced => return Err(refused("copy_file_range", e)),
            Err(Fail::Unsupported(_)) => {}
            Err(Fail::Io(e)) => return Err(e),
            Ok(n) => return Ok(n),
        }
    }
    if splice {
        match splice::copy(&src, &dst, &plan, &progress).await {
            Err(Fail::Unsupported(e)) if forced => return Err(refused("splice", e)),
            Err(Fail::Unsupported(_)) => {}
            Err(Fail::Io(e)) => return Err(e),
            Ok(n) => return Ok(n),
        }
    }
    buffered(reader, writer, &src, &dst, plan, opts, &progress, &token).await
}

/// The error of a forced kernel copy that the kernel refused before the first byte: it says
/// which way failed, so that it is not read as a problem of the files themselves.
fn refused(how: &str, e: io::Error) -> io::Error {
    let why = e.to_string();
    let why = why.rfind(" (os error ").map_or(why.as_str(), |i| &why[..i]);
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "{how} cannot copy from this source to this destination ({why}); the buffered copy can"
        ),
    )
}

/// Which kernel copies to try, in order: `(copy_file_range, splice)`; buffered after both.
fn choose(src: &Side, dst: &Side, strategy: Strategy) -> io::Result<(bool, bool)> {
    let files = src.what == What::Regular && dst.what == What::Regular;
    let direct = src.direct || dst.direct;
    let splice_ok = src.spliceable()
        && dst.spliceable()
        && [src.what, dst.what]
            .iter()
            .any(|w| matches!(w, What::Regular | What::Pipe));
    // Auto splices only a file into a pipe (one splice a chunk, the pages handed over).
    // Measured on loopback and pipes, the other pairs are faster buffered: a splice into a
    // socket goes through a second pipe, and one out of a socket or pipe moves only what has
    // arrived, each step a readiness wait and a kernel worker's turn; buffered keeps `depth`
    // blocks in flight instead.
    let splice_first = splice_ok && src.what == What::Regular && dst.what == What::Pipe;
    let refuse = |what: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} cannot copy between these two ends"),
        ))
    };
    match strategy {
        Strategy::Auto => Ok((files && !direct, splice_first)),
        Strategy::CopyFileRange if files && !direct => Ok((true, false)),
        Strategy::CopyFileRange => refuse("copy_file_range"),
        Strategy::Splice if splice_ok => Ok((false, true)),
        Strategy::Splice => refuse("splice"),
        Strategy::Buffered => Ok((false, false)),
    }
}

/// The buffered copy (see `lanes`).
#[allow(clippy::too_many_arguments)] // one call site; the parts are what the engine holds
async fn buffered<R: CopySource, W: CopySink>(
    reader: R,
    writer: W,
    src: &Side,
    dst: &Side,
    plan: extents::Plan,
    opts: Options,
    progress: &Progress,
    token: &CancelToken,
) -> io::Result<u64> {
    let input = match src.positional {
        true => lanes::Input::At {
            fd: src.fd().clone(),
            plan,
        },
        false => lanes::Input::Stream(Cell::new(Some(reader))),
    };
    let output = match dst.positional {
        true => lanes::Output::At {
            fd: dst.fd().clone(),
            direct: dst.direct,
            regular: dst.what == What::Regular,
        },
        false => lanes::Output::Stream(Cell::new(Some(writer))),
    };
    let shape = shape(opts, src.positional.then_some(src.size).flatten())?;
    lanes::run(input, output, shape, progress, token).await
}

/// The buffers a buffered copy needs: no bigger and no more of them than a file of `size`
/// bytes needs, and never more memory than the machine has (an allocation that fails is an
/// error, not an abort).
fn shape(opts: Options, size: Option<u64>) -> io::Result<lanes::Shape> {
    let mut block = opts.block.next_multiple_of(ALIGN);
    let mut depth = opts.depth.max(1);
    if let Some(size) = size {
        let need = usize::try_from(size.max(1)).unwrap_or(usize::MAX);
        block = block.min(need.next_multiple_of(ALIGN));
        depth = depth.min(need.div_ceil(block).max(1));
    }
    let total = block.saturating_mul(depth);
    if let Some(ram) = physical_memory().filter(|&ram| total as u64 > ram) {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "{depth} buffers of {block} bytes ({total} bytes) are more than this machine's \
                 memory ({ram} bytes): use a smaller block size or depth"
            ),
        ));
    }
    Ok(lanes::Shape {
        block,
        depth,
        align: ALIGN,
    })
}

/// The machine's memory in bytes, when the system says.
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf only reads system constants.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages > 0 && size > 0).then(|| pages as u64 * size as u64)
}
