//! What each end of a copy is (a regular file, a pipe, a socket, something else), found with
//! one `statx` on its fd, which decides how the bytes can move.

use super::endpoint::{Endpoint, Kind};
use super::ops;
use crate::driver::fd::SharedFd;
use crate::driver::op::statx::StatxTarget;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::io;
use std::os::fd::AsRawFd;

/// The kind of file behind an fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum What {
    Regular,
    Block,
    Pipe,
    Socket,
    /// A terminal or another character device.
    Other,
    /// Not a ringport type: only its trait methods are known.
    Opaque,
}

/// One end of a copy, probed.
#[derive(Debug)]
pub(super) struct Side {
    fd: Option<SharedFd>,
    pub what: What,
    /// A ringport `File` on a regular file or block device: read or written at offsets from
    /// 0. Otherwise the fd's own position is used.
    pub positional: bool,
    pub direct: bool,
    /// Bytes from where the copy starts to the end, for a regular file.
    pub size: Option<u64>,
    /// Bytes of storage a regular file has: less than its size when it has holes.
    pub allocated: Option<u64>,
}

impl Side {
    /// The fd, for a side that is not opaque.
    ///
    /// # Panics
    ///
    /// On an opaque side (the callers check `what` first).
    pub fn fd(&self) -> &SharedFd {
        self.fd.as_ref().expect("an fd-backed side")
    }

    /// The offset the kernel's copies start at: 0 for a positional file, else the fd's own.
    pub fn offset(&self) -> Option<u64> {
        self.positional.then_some(0)
    }

    /// Whether `splice` can read or write it.
    pub fn spliceable(&self) -> bool {
        matches!(self.what, What::Regular | What::Pipe | What::Socket) && !self.direct
    }
}

/// Probes an endpoint (one `statx`; a stream's fd is duplicated first, so that operations on
/// it keep the file open on their own).
pub(super) async fn probe(endpoint: Endpoint) -> io::Result<Side> {
    let (fd, direct, file) = match endpoint.0 {
        Kind::Opaque => {
            return Ok(Side {
                fd: None,
                what: What::Opaque,
                positional: false,
                direct: false,
                size: None,
                allocated: None,
            })
        }
        Kind::File { fd, direct } => (fd, direct, true),
        Kind::Fd(raw) => (SharedFd::from_owned(ops::dup(&raw)?), false, false),
    };
    let mask = libc::STATX_TYPE | libc::STATX_SIZE | libc::STATX_BLOCKS;
    let meta = crate::fs::statx(StatxTarget::Fd(fd.clone()), 0, mask).await?;
    let what = match meta.mode() & libc::S_IFMT {
        libc::S_IFREG => What::Regular,
        libc::S_IFBLK => What::Block,
        libc::S_IFIFO => What::Pipe,
        libc::S_IFSOCK => What::Socket,
        _ => What::Other,
    };
    let positional = file && matches!(what, What::Regular | What::Block);
    let size = match what {
        What::Regular if positional => Some(meta.len()),
        What::Regular => Some(meta.len().saturating_sub(position(&fd))),
        _ => None,
    };
    let allocated = (what == What::Regular).then(|| meta.allocated());
    Ok(Side {
        fd: Some(fd),
        what,
        positional,
        direct,
        size,
        allocated,
    })
}

/// The fd's position (`lseek`, which never blocks), or 0 when it has none.
fn position(fd: &SharedFd) -> u64 {
    // SAFETY: lseek with SEEK_CUR and 0 only reads the position of an open fd.
    let pos = unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_CUR) };
    u64::try_from(pos).unwrap_or(0)
}
