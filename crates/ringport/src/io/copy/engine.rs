//! The copy engine on Linux and the other Unixes: probes both ends, then `copy_file_range`,
//! `splice` or the buffered lanes.

use super::probe::{self, Side, What};
use super::{extents, lanes, range, splice, CopySink, CopySource, Options, Strategy, ALIGN};
use crate::cancel::CancelToken;
use crate::io::Progress;
use std::cell::Cell;
use std::io;

/// Why a kernel copy stopped: it cannot be done this way at all (nothing moved), or an error.
pub(super) enum Fail {
    Unsupported(io::Error),
    Io(io::Error),
}

/// Probes both ends, picks the way, and copies.
pub(super) async fn engine<R: CopySource, W: CopySink>(
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
