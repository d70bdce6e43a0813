//! The copy engine on Windows: buffered only (Windows has no `copy_file_range` or `splice`
//! a completion port can drive). Files are read and written positionally from offset 0,
//! streams at their position; two blocks are in flight, the next read overlapping the
//! previous block's write. `Strategy::CopyFileRange` and `Strategy::Splice` are refused with
//! a one-line error. Not done yet: more than two blocks in flight (`depth` beyond 2) and
//! keeping holes (sparse files are copied as zeros).

use super::endpoint::Kind;
use super::{CopySink, CopySource, Options, Strategy, ALIGN};
use crate::buf::{AlignedBuf, BufResult, IoBuf};
use crate::cancel::CancelToken;
use crate::fs::File;
use crate::io::Progress;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;

/// Where the bytes come from or go: a file at offsets, or a stream.
enum End<S> {
    File(File),
    Stream(S),
}

impl<R: CopySource> End<R> {
    fn source(r: R) -> Self {
        match r.endpoint().0 {
            Kind::File { fd, direct } => End::File(File::from_shared(fd, direct)),
            Kind::Opaque => End::Stream(r),
        }
    }

    /// One read into `buf` at `pos` (files) or the stream's position.
    async fn read(&mut self, buf: AlignedBuf, pos: u64) -> BufResult<usize, AlignedBuf> {
        match self {
            End::File(f) => f.read_at(buf, pos).await,
            End::Stream(r) => r.read(buf).await,
        }
    }
}

/// Writes all of `buf` (of which `len` bytes count) at `pos` or the stream's position.
async fn write_all<W: CopySink>(
    end: &mut End<W>,
    mut buf: AlignedBuf,
    pos: u64,
) -> (io::Result<()>, AlignedBuf) {
    let len = buf.bytes_init();
    let mut done = 0;
    while done < len {
        let part = buf.slice(done..len);
        let BufResult(res, part) = match end {
            End::File(f) => f.write_at(part, pos + done as u64).await,
            End::Stream(w) => w.write(part).await,
        };
        buf = part.into_inner();
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Polls two futures until both are done.
async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (ra, rb) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

fn no_windows_form(how: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{how} has no Windows form; the buffered copy works here"),
    )
}

/// Copies, buffered, two blocks in flight.
pub(super) async fn engine<R: CopySource, W: CopySink>(
    reader: R,
    writer: W,
    opts: Options,
    progress: Progress,
    _token: CancelToken,
) -> io::Result<u64> {
    match opts.strategy {
        Strategy::CopyFileRange => return Err(no_windows_form("copy_file_range")),
        Strategy::Splice => return Err(no_windows_form("splice")),
        _ => {}
    }
    let mut src = End::source(reader);
    let mut dst = match writer.endpoint().0 {
        Kind::File { fd, direct } => End::File(File::from_shared(fd, direct)),
        Kind::Opaque => End::Stream(writer),
    };
    let size = match &src {
        End::File(f) => Some(f.metadata().await?.len()),
        End::Stream(_) => None,
    };
    progress.set_total(opts.total.or(size));
    let dst_direct = matches!(&dst, End::File(f) if f.is_direct());
    let src_direct = matches!(&src, End::File(f) if f.is_direct());
    let mut block = opts.block.max(1).next_multiple_of(ALIGN);
    if let Some(size) = size {
        let need = usize::try_from(size.max(1)).unwrap_or(usize::MAX);
        block = block.min(need.next_multiple_of(ALIGN));
    }
    let alloc = || {
        AlignedBuf::try_with_alignment(block, ALIGN).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("cannot allocate a copy buffer of {block} bytes"),
            )
        })
    };
    let (mut read_pos, mut written) = (0u64, 0u64);
    let mut spare = alloc()?;
    // The first block, then: write block i while block i + 1 is read into the other buffer.
    let BufResult(res, mut filled) = src.read(alloc()?, 0).await;
    let mut n = res?;
    while n > 0 {
        read_pos += n as u64;
        if dst_direct {
            // An unbuffered write is whole sectors: the tail is padded, the length set after.
            pad_to(&mut filled, n.next_multiple_of(ALIGN));
        }
        spare.truncate(0);
        // An unbuffered file's short read was its end (a read past it would be unaligned).
        let at_end = src_direct && n % ALIGN != 0;
        let writing = write_all(&mut dst, filled, written);
        let reading = async {
            match at_end {
                true => BufResult(Ok(0), spare),
                false => src.read(spare, read_pos).await,
            }
        };
        let ((wres, wbuf), BufResult(rres, rbuf)) = both(writing, reading).await;
        wres?;
        written += n as u64;
        progress.add(n as u64);
        spare = wbuf;
        filled = rbuf;
        n = rres?;
    }
    if let (true, End::File(f)) = (dst_direct, &dst) {
        f.set_len(written).await?;
    }
    Ok(written)
}

/// Zero-fills `buf` up to `len` bytes (within its capacity).
fn pad_to(buf: &mut AlignedBuf, len: usize) {
    let add = len.saturating_sub(buf.bytes_init());
    buf.extend_from_slice(&vec![0; add]);
}
