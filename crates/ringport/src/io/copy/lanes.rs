//! The buffered copy: `depth` lanes in one future, each with its own aligned buffer, so that
//! several reads are in flight while earlier blocks are written.
//!
//! A lane claims the next block number, reads it, writes it, and claims again. A file source
//! is read positionally, so every lane reads at once, block by block through the data regions
//! of its [`Plan`] (the holes of a sparse file are skipped, and the destination's length set
//! at the end); a stream is read by one lane at a time,
//! in block order (the read turn). A file sink is written positionally in any order; a stream
//! sink in block order (the write turn). The lanes are polled by a small join that re-polls
//! them when a turn moves, so waiting for a turn needs no waker. Buffers are allocated once,
//! when the copy starts, and reused for every block.

use super::extents::Plan;
use super::ops;
use super::{CopySink, CopySource};
use crate::buf::{AlignedBuf, BufResult, IoBuf};
use crate::cancel::{is_cancelled, CancelToken};
use crate::driver::fd::SharedFd;
use crate::io::Progress;
use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Where the lanes read.
pub(super) enum Input<R> {
    /// A file, positionally, through its plan.
    At { fd: SharedFd, plan: Plan },
    /// A stream, through its trait (held by the lane whose read turn it is).
    Stream(Cell<Option<R>>),
}

/// Where the lanes write.
pub(super) enum Output<W> {
    /// A file, positionally at the source's offsets; `direct` files get whole aligned
    /// blocks only; a `regular` file's length can be set.
    At {
        fd: SharedFd,
        direct: bool,
        regular: bool,
    },
    /// A stream, through its trait.
    Stream(Cell<Option<W>>),
}

/// Block size (a multiple of `align`), how many lanes, and the buffers' alignment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub block: usize,
    pub depth: usize,
    pub align: usize,
}

struct Lanes<'p, R, W> {
    input: Input<R>,
    output: Output<W>,
    shape: Shape,
    /// A stream read fills the whole block before it is written (for a `direct` sink).
    fill: bool,
    /// Whether an operation may wait on a peer forever (a stream end): then a failure
    /// cancels the rest rather than waiting for it.
    streams: bool,
    progress: &'p Progress,
    token: &'p CancelToken,
    next: Cell<u64>,
    /// Where a file source is read next: the plan's region (its length for the tail) and
    /// the offset.
    cursor: Cell<(usize, u64)>,
    /// Where a file source was seen to end (the lowest offset a read came up short at).
    end: Cell<Option<u64>>,
    read_turn: Cell<u64>,
    write_turn: Cell<u64>,
    /// Bytes read so far from a stream source: where its next block goes.
    read_pos: Cell<u64>,
    eof: Cell<bool>,
    written: Cell<u64>,
    /// Whether a padded (direct) block was written past the data: the length is fixed after.
    padded: Cell<bool>,
    /// The lowest failed block and the error to report.
    failed: Cell<Option<u64>>,
    error: RefCell<Option<io::Error>>,
    /// A turn moved or a lane failed during this poll: poll every lane again.
    dirty: Cell<bool>,
}

/// Copies everything from `input` to `output`; returns the bytes written.
pub(super) async fn run<R: CopySource, W: CopySink>(
    input: Input<R>,
    output: Output<W>,
    shape: Shape,
    progress: &Progress,
    token: &CancelToken,
) -> io::Result<u64> {
    let fill = matches!(output, Output::At { direct: true, .. });
    let streams = matches!(input, Input::Stream(_)) || matches!(output, Output::Stream(_));
    let l = Lanes {
        input,
        output,
        shape,
        fill,
        streams,
        progress,
        token,
        next: Cell::new(0),
        cursor: Cell::new((0, 0)),
        end: Cell::new(None),
        read_turn: Cell::new(0),
        write_turn: Cell::new(0),
        read_pos: Cell::new(0),
        eof: Cell::new(false),
        written: Cell::new(0),
        padded: Cell::new(false),
        failed: Cell::new(None),
        error: RefCell::new(None),
        dirty: Cell::new(false),
    };
    let mut bufs = Vec::with_capacity(shape.depth.max(1));
    for _ in 0..shape.depth.max(1) {
        let buf = AlignedBuf::try_with_alignment(shape.block, shape.align).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "cannot allocate {} buffers of {} bytes for the copy",
                    shape.depth, shape.block
                ),
            )
        })?;
        bufs.push(buf);
    }
    let lanes: Vec<_> = bufs.into_iter().map(|buf| Some(l.lane(buf))).collect();
    let mut lanes = Box::into_pin(lanes.into_boxed_slice());
    poll_fn(|cx| poll_all(lanes.as_mut(), &l.dirty, cx)).await;
    drop(lanes);
    if let Some(e) = l.error.take() {
        return Err(e);
    }
    let copied = match &l.input {
        Input::At { .. } => l.end.get().unwrap_or(l.written.get()),
        Input::Stream(_) => l.written.get(),
    };
    if let Output::At { fd, regular, .. } = &l.output {
        let plan = match &l.input {
            Input::At { plan, .. } => Some(plan),
            Input::Stream(_) => None,
        };
        let sparse = plan.is_some_and(|p| p.sparse);
        if l.padded.get() || (sparse && *regular) {
            let len = plan.map_or(copied, |p| p.final_len(copied));
            ops::set_len(fd, len).await?;
        }
    }
    Ok(copied)
}

/// Polls every live lane, again while any of them moved a turn; ready when all have ended.
fn poll_all<F: Future<Output = ()>>(
    mut lanes: Pin<&mut [Option<F>]>,
    dirty: &Cell<bool>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    loop {
        dirty.set(false);
        let mut live = false;
        // SAFETY: the slots are polled and dropped in place, never moved out of the slice.
        let slots = unsafe { lanes.as_mut().get_unchecked_mut() };
        for slot in slots.iter_mut() {
            let Some(lane) = slot else { continue };
            // SAFETY: the lane lives in the pinned slice until it is dropped in place below.
            if unsafe { Pin::new_unchecked(lane) }.poll(cx).is_ready() {
                *slot = None;
            } else {
                live = true;
            }
        }
        if !live {
            return Poll::Ready(());
        }
        if !dirty.get() {
            return Poll::Pending;
        }
    }
}

impl<R: CopySource, W: CopySink> Lanes<'_, R, W> {
    async fn lane(&self, mut buf: AlignedBuf) {
        while let Some((seq, at, len)) = self.claim() {
            let (b, res) = self.read_block(seq, buf, at, len).await;
            buf = b;
            let (n, at) = match res {
                Ok(x) => x,
                Err(e) => return self.fail(seq, e),
            };
            let (b, res) = self.write_block(seq, buf, n, at).await;
            buf = b;
            if let Err(e) = res {
                return self.fail(seq, e);
            }
        }
    }

    /// The next block: its number, and for a file source its offset and length. `None`
    /// once the end was seen or something failed.
    fn claim(&self) -> Option<(u64, u64, usize)> {
        if self.eof.get() || self.failed.get().is_some() {
            return None;
        }
        let seq = self.next.get();
        self.next.set(seq + 1);
        let block = self.shape.block;
        let Input::At { plan, .. } = &self.input else {
            return Some((seq, 0, block));
        };
        let (mut i, mut pos) = self.cursor.get();
        let mut skipped = 0;
        let (at, len) = loop {
            if let Some(r) = plan.regions.get(i) {
                if pos < r.start {
                    skipped += r.start - pos; // a hole
                    pos = r.start;
                }
                if pos < r.end {
                    let len = (r.end - pos).min(block as u64);
                    break (pos, len as usize);
                }
                i += 1;
                continue;
            }
            if pos < plan.tail {
                skipped += plan.tail - pos;
                pos = plan.tail;
            }
            break (pos, block);
        };
        self.cursor.set((i, at + len as u64));
        if skipped > 0 {
            // A hole reaches the destination when its length is set, at the end.
            self.progress.add(skipped);
        }
        Some((seq, at, len))
    }

    fn fail(&self, seq: u64, e: io::Error) {
        let first = self.failed.get().is_none_or(|f| seq < f);
        if first {
            self.failed.set(Some(seq));
        }
        let mut error = self.error.borrow_mut();
        let replace = match &*error {
            None => true,
            Some(old) => is_cancelled(old) && !is_cancelled(&e),
        };
        if replace {
            *error = Some(e);
        }
        drop(error);
        if self.streams {
            self.token.cancel();
        }
        self.dirty.set(true);
    }

    /// Waits until `turn` reaches `seq`; `false` when an earlier block failed (it never will).
    async fn turn(&self, turn: &Cell<u64>, seq: u64) -> bool {
        poll_fn(|_| {
            if turn.get() == seq {
                Poll::Ready(true)
            } else if self.failed.get().is_some_and(|f| f < seq) {
                Poll::Ready(false)
            } else {
                // Re-polled by `poll_all` when a turn moves or a lane fails.
                Poll::Pending
            }
        })
        .await
    }

    fn pass(&self, turn: &Cell<u64>) {
        turn.set(turn.get() + 1);
        self.dirty.set(true);
    }

    /// Reads block `seq` (a file source's `len` bytes at `at`): `(bytes, destination
    /// offset)`.
    async fn read_block(
        &self,
        seq: u64,
        buf: AlignedBuf,
        at: u64,
        len: usize,
    ) -> (AlignedBuf, io::Result<(usize, u64)>) {
        match &self.input {
            Input::At { fd, .. } => {
                let (buf, res) = read_full(fd, buf, len, at).await;
                if let Some(&n) = res.as_ref().ok().filter(|&&n| n < len) {
                    // The file ends here (the tail's end, or it shrank since the plan).
                    let end = at + n as u64;
                    self.end
                        .set(Some(self.end.get().map_or(end, |e| e.min(end))));
                    self.eof.set(true);
                }
                (buf, res.map(|n| (n, at)))
            }
            Input::Stream(cell) => {
                if !self.turn(&self.read_turn, seq).await {
                    return (buf, Err(ops::cancelled()));
                }
                let (buf, res) = if self.eof.get() {
                    (buf, Ok(0))
                } else {
                    self.read_stream(cell, buf).await
                };
                let at = self.read_pos.get();
                if let Ok(n) = res {
                    self.read_pos.set(at + n as u64);
                    if n == 0 {
                        self.eof.set(true);
                    }
                    self.pass(&self.read_turn);
                }
                (buf, res.map(|n| (n, at)))
            }
        }
    }

    /// One read of a stream (or, in `fill` mode, reads until the block is full or the end).
    async fn read_stream(
        &self,
        cell: &Cell<Option<R>>,
        mut buf: AlignedBuf,
    ) -> (AlignedBuf, io::Result<usize>) {
        let mut reader = cell.take().expect("the read turn holds the reader");
        buf.truncate(0);
        let block = self.shape.block;
        let mut n = 0;
        let res = loop {
            let BufResult(res, slice) = reader.read(buf.slice(n..block)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => break Ok(n),
                Ok(k) => {
                    n += k;
                    if !self.fill || n == block {
                        break Ok(n);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        cell.set(Some(reader));
        (buf, res)
    }

    /// Writes the block's `n` bytes at `at` (or in turn, for a stream).
    async fn write_block(
        &self,
        seq: u64,
        buf: AlignedBuf,
        n: usize,
        at: u64,
    ) -> (AlignedBuf, io::Result<()>) {
        match &self.output {
            Output::At { fd, direct, .. } => {
                if n == 0 {
                    return (buf, Ok(()));
                }
                self.write_file(fd, buf, n, at, *direct).await
            }
            Output::Stream(cell) => {
                if !self.turn(&self.write_turn, seq).await {
                    return (buf, Err(ops::cancelled()));
                }
                let (buf, res) = self.write_stream(cell, buf, n).await;
                if res.is_ok() {
                    self.pass(&self.write_turn);
                }
                (buf, res)
            }
        }
    }

    async fn write_file(
        &self,
        fd: &SharedFd,
        mut buf: AlignedBuf,
        n: usize,
        pos: u64,
        direct: bool,
    ) -> (AlignedBuf, io::Result<()>) {
        // O_DIRECT writes whole aligned blocks: pad the last one, and cut the file after.
        let len = if direct && n % self.shape.align != 0 {
            buf.resize_zeroed();
            self.padded.set(true);
            n.next_multiple_of(self.shape.align)
        } else {
            n
        };
        let mut done = 0;
        while done < len {
            let BufResult(res, slice) =
                ops::write_at(fd, buf.slice(done..len), pos + done as u64).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return (buf, Err(write_zero(done, len))),
                Ok(k) => {
                    self.count(done.min(n), (done + k).min(n));
                    done += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (buf, Err(e)),
            }
        }
        (buf, Ok(()))
    }

    async fn write_stream(
        &self,
        cell: &Cell<Option<W>>,
        mut buf: AlignedBuf,
        n: usize,
    ) -> (AlignedBuf, io::Result<()>) {
        let mut writer = cell.take().expect("the write turn holds the writer");
        let mut done = 0;
        let res = loop {
            if done == n {
                break Ok(());
            }
            let BufResult(res, slice) = writer.write(buf.slice(done..n)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => break Err(write_zero(done, n)),
                Ok(k) => {
                    self.count(done, done + k);
                    done += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        cell.set(Some(writer));
        (buf, res)
    }

    /// Counts the bytes from `from` to `to` of a block as written.
    fn count(&self, from: usize, to: usize) {
        let k = (to - from) as u64;
        self.written.set(self.written.get() + k);
        self.progress.add(k);
    }
}

/// Reads from `pos` until `len` bytes are in `buf` or the file ends; returns the bytes read.
async fn read_full(
    fd: &SharedFd,
    mut buf: AlignedBuf,
    len: usize,
    pos: u64,
) -> (AlignedBuf, io::Result<usize>) {
    buf.truncate(0);
    let mut n = 0;
    while n < len {
        let BufResult(res, slice) = ops::read_at(fd, buf.slice(n..len), pos + n as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (buf, Err(e)),
        }
    }
    (buf, Ok(n))
}

fn write_zero(done: usize, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::WriteZero,
        format!("the destination took 0 bytes after {done} of {len}"),
    )
}
