//! Holes: what a copy between regular files reads. A sparse source's data regions are found
//! with `SEEK_DATA`/`SEEK_HOLE` (on the blocking pool: on some file systems the walk reads
//! extent trees from disk), only they are copied, and the destination's length is set at the
//! end, so the holes stay holes and still read back as zeros.

use super::ops;
use super::probe::{Side, What};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Bytes `[start, end)` of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Region {
    pub start: u64,
    pub end: u64,
}

/// What a copy from a positional file reads: its data `regions` (in order, below `tail`),
/// then everything from `tail` until a read returns 0 (the end of the file, which may have
/// grown since the plan was made). A dense plan is all tail, from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub regions: Vec<Region>,
    pub tail: u64,
    /// Holes are skipped: the copy sets the destination's length when it ends.
    pub sparse: bool,
    /// The destination's length before the copy (never cut below it).
    pub dst_len: u64,
}

impl Plan {
    /// Everything read, from offset 0 (or the fd's position) to the end.
    pub fn dense() -> Plan {
        Plan {
            regions: Vec::new(),
            tail: 0,
            sparse: false,
            dst_len: 0,
        }
    }

    /// The length the destination must have once `end` bytes of the source were copied.
    pub fn final_len(&self, end: u64) -> u64 {
        end.max(self.dst_len)
    }
}

/// At most this many regions are kept (16 bytes each); past them the rest of the file is read
/// as data, holes included.
const MAX_REGIONS: usize = 1 << 16;

/// Plans the copy from `src` to `dst`. Holes are skipped only between two regular files read
/// and written at offsets, when the source has fewer bytes allocated than its length; the
/// destination's own bytes (below its length before the copy) are all overwritten, so that no
/// old byte survives where the source has a hole. `align` (for `O_DIRECT`) widens each region
/// to whole aligned blocks.
pub(super) async fn plan(src: &Side, dst: &Side, align: Option<u64>) -> io::Result<Plan> {
    let files = src.what == What::Regular && dst.what == What::Regular;
    let (Some(size), Some(allocated)) = (src.size, src.allocated) else {
        return Ok(Plan::dense());
    };
    if !files || !src.positional || !dst.positional || allocated >= size {
        return Ok(Plan::dense());
    }
    let dst_len = dst.size.unwrap_or(0);
    let a = align.unwrap_or(1);
    let tail = size / a * a;
    let fd = ops::dup(src.fd())?;
    let regions = crate::spawn_blocking(move || walk(&fd, dst_len, tail, a))
        .await
        .map_err(io::Error::other)?;
    Ok(Plan {
        regions,
        tail,
        sparse: true,
        dst_len,
    })
}

/// The data regions of `fd` below `tail`, aligned to `a`; everything below `keep` counts as
/// data.
fn walk(fd: &OwnedFd, keep: u64, tail: u64, a: u64) -> Vec<Region> {
    let mut out = Vec::new();
    let keep = keep.next_multiple_of(a).min(tail);
    if keep > 0 {
        push(&mut out, 0, keep);
    }
    let mut pos = keep;
    while pos < tail {
        if out.len() >= MAX_REGIONS {
            push(&mut out, pos, tail);
            break;
        }
        let data = match seek(fd, pos, libc::SEEK_DATA) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => break, // a hole to the end
            Err(_) => {
                push(&mut out, pos, tail); // no hole information: all data
                break;
            }
        };
        if data >= tail {
            break;
        }
        let hole = seek(fd, data, libc::SEEK_HOLE).map_or(tail, |h| h.min(tail));
        let end = hole.next_multiple_of(a).min(tail);
        push(&mut out, data / a * a, end);
        pos = end.max(data + 1);
    }
    out
}

/// Appends a region, merged with the last one when they touch.
fn push(out: &mut Vec<Region>, start: u64, end: u64) {
    if start >= end {
        return;
    }
    match out.last_mut() {
        Some(last) if start <= last.end => last.end = last.end.max(end),
        _ => out.push(Region { start, end }),
    }
}

/// `lseek` to the next data or hole at or after `pos`.
fn seek(fd: &OwnedFd, pos: u64, whence: i32) -> io::Result<u64> {
    let pos = i64::try_from(pos).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    // SAFETY: lseek on an fd this job owns; it only moves the (duplicate's shared) position,
    // which no copy of a positional file uses.
    let rc = unsafe { libc::lseek(fd.as_raw_fd(), pos, whence) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_merge_and_align() {
        let mut v = Vec::new();
        push(&mut v, 0, 10);
        push(&mut v, 10, 20);
        push(&mut v, 30, 40);
        push(&mut v, 35, 50);
        push(&mut v, 60, 60);
        assert_eq!(
            v,
            [Region { start: 0, end: 20 }, Region { start: 30, end: 50 }]
        );
    }

    #[test]
    fn a_walk_finds_the_data_of_a_sparse_file() {
        use std::os::unix::fs::FileExt as _;
        let dir = std::env::temp_dir().join(format!("ringport-extents-{}", std::process::id()));
        let f = std::fs::File::create(&dir).unwrap();
        f.set_len(1 << 20).unwrap();
        f.write_all_at(&[1; 4096], 256 << 10).unwrap();
        f.write_all_at(&[2; 10], (1 << 20) - 10).unwrap();
        let fd = OwnedFd::from(f.try_clone().unwrap());
        let regions = walk(&fd, 0, 1 << 20, 4096);
        std::fs::remove_file(&dir).unwrap();
        // Data found at fs-block granularity (at least where it was written).
        assert!(regions.len() >= 2, "{regions:?}");
        assert!(regions[0].start <= 256 << 10 && regions[0].end >= (256 << 10) + 4096);
        assert_eq!(regions.last().unwrap().end, 1 << 20);
        let data: u64 = regions.iter().map(|r| r.end - r.start).sum();
        assert!(data < 256 << 10, "holes skipped: {regions:?}");
    }
}
