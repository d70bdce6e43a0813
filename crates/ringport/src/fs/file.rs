//! `File`: positional reads and writes, sync, length, metadata and close, all on the ring.

use super::{Metadata, OpenOptions};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::op::{close, fallocate, fsync, read, statx, write};
use crate::driver::Op;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::path::Path;

/// An open file. Every call is one operation handed to the kernel with its buffer; the buffer
/// comes back with the result. Reads and writes are positional: the fd's offset never moves.
///
/// ```no_run
/// use ringport::{buf::BufResult, fs::File};
/// ringport::run(async {
///     let file = File::create("/tmp/hello.txt").await?;
///     let BufResult(res, _) = file.write_all_at(b"hello".as_slice(), 0).await;
///     res?;
///     file.sync_all().await?;
///     let BufResult(res, buf) = file.read_at(Vec::with_capacity(5), 0).await;
///     assert_eq!(&buf[..res?], b"hello");
///     file.close().await
/// })
/// .unwrap();
/// ```
pub struct File {
    fd: SharedFd,
    direct: bool,
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("fd", &self.fd.as_raw_fd())
            .field("direct", &self.direct)
            .finish()
    }
}

impl File {
    pub(crate) fn from_fd(fd: RawFd, direct: bool) -> File {
        File {
            fd: SharedFd::new(fd),
            direct,
        }
    }

    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }

    /// Opens a file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Creates (or truncates) a file for writing and reading.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Takes over a `std::fs::File`.
    pub fn from_std(file: std::fs::File) -> File {
        // SAFETY: the fd comes out of a File that gives up ownership.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        // macOS has no O_DIRECT (the mask is 0 there: never direct).
        #[allow(clippy::bad_bit_mask)]
        let direct = flags >= 0 && flags & libc::O_DIRECT != 0;
        File::from_fd(file.into_raw_fd(), direct)
    }

    /// Reads up to the buffer's capacity at `pos`. `Ok(0)` at end of file.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        let op = read::Read {
            fd: self.fd.clone(),
            buf,
            offset: pos,
        };
        let (done, op) = Op::new(op).await;
        match done.result {
            Ok(n) => BufResult(Ok(n as usize), op.into_buf(n)),
            Err(e) => BufResult(Err(self.explain(e, op.buf.stable_ptr(), pos)), op.buf),
        }
    }

    /// Reads exactly the buffer's capacity at `pos`, however many reads it takes; end of file
    /// first is `UnexpectedEof`, with the bytes read so far kept in the buffer.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        crate::io::fill(buf, async |part, done| {
            self.read_at(part, pos + done as u64).await
        })
        .await
    }

    /// Writes the buffer's initialised bytes at `pos`; may write fewer.
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        let op = write::Write {
            fd: self.fd.clone(),
            buf,
            offset: pos,
        };
        let (done, op) = Op::new(op).await;
        let res = done.result.map(|n| n as usize);
        let res = res.map_err(|e| self.explain(e, op.buf.stable_ptr(), pos));
        BufResult(res, op.buf)
    }

    /// Writes all the buffer's initialised bytes at `pos`, however many writes it takes.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        crate::io::drain(buf, async |part, done| {
            self.write_at(part, pos + done as u64).await
        })
        .await
    }

    /// Reads into several buffers at `pos`, filling them in order (one `READV`).
    pub async fn read_vectored_at<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> BufResult<usize, Vec<B>> {
        let op = read::Readv::new(self.fd.clone(), bufs, pos);
        let (done, op) = Op::new(op).await;
        match done.result {
            Ok(n) => BufResult(Ok(n as usize), op.into_bufs(n)),
            Err(e) => BufResult(Err(e), op.bufs),
        }
    }

    /// Writes several buffers at `pos`, in order (one `WRITEV`); may write fewer bytes.
    pub async fn write_vectored_at<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> BufResult<usize, Vec<B>> {
        let op = write::Writev::new(self.fd.clone(), bufs, pos);
        let (done, op) = Op::new(op).await;
        BufResult(done.result.map(|n| n as usize), op.bufs)
    }

    /// Flushes data and metadata to the device.
    pub async fn sync_all(&self) -> io::Result<()> {
        self.fsync(false).await
    }

    /// Flushes data (and the metadata needed to read it back) to the device.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.fsync(true).await
    }

    async fn fsync(&self, datasync: bool) -> io::Result<()> {
        let op = fsync::Fsync {
            fd: self.fd.clone(),
            datasync,
        };
        Op::new(op).await.0.result.map(drop)
    }

    /// Sets the length, cutting or extending with zeros (`FTRUNCATE`, Linux 6.9; on older
    /// kernels the driver runs it on its syscall pool).
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        let op = fallocate::Ftruncate {
            fd: self.fd.clone(),
            len,
        };
        Op::new(op).await.0.result.map(drop)
    }

    /// Reserves `len` bytes of disk at `offset`, growing the file when needed (`FALLOCATE`).
    pub async fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let op = fallocate::Fallocate {
            fd: self.fd.clone(),
            offset,
            len,
            mode: 0,
        };
        Op::new(op).await.0.result.map(drop)
    }

    /// The file's metadata (`STATX` on the fd).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let target = statx::StatxTarget::Fd(self.fd.clone());
        super::statx(target, 0, libc::STATX_BASIC_STATS | libc::STATX_BTIME).await
    }

    /// Sets the permission bits, exactly (`fchmod`, on the blocking pool: there is no ring
    /// operation for it). Acting on the open file, not a path, it cannot be redirected to
    /// another file by a rename or a symbolic link.
    pub async fn set_permissions(&self, perm: std::fs::Permissions) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let fd = std::os::fd::AsFd::as_fd(&self.fd).try_clone_to_owned()?;
        let mode = perm.mode() & 0o7777;
        crate::spawn_blocking(move || {
            // SAFETY: fchmod on an fd this closure owns; the result is checked.
            let rc = unsafe { libc::fchmod(fd.as_raw_fd(), mode as ::libc::mode_t) };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
        .await?
    }

    /// The metadata the kernel keeps in memory for this open file, read at once on the calling
    /// thread: one `statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC)` system call, no operation
    /// on the ring.
    ///
    /// It never waits for a device or a file server: an open file's inode is in memory, local
    /// file systems answer from it, and `AT_STATX_DONT_SYNC` tells network and FUSE file systems
    /// to answer from their attribute cache instead of asking the server (which they
    /// revalidated when the file was opened). So it is safe on a loop thread, where
    /// [`metadata`](Self::metadata) (`STATX`, which io_uring always hands to one of its worker
    /// threads) costs a thread hop. Use it right after opening a file; use `metadata` when
    /// another process may have changed the file on a network file system since.
    pub fn cached_metadata(&self) -> io::Result<Metadata> {
        cached_statx(self.fd.as_raw_fd())
    }

    /// The alignment `O_DIRECT` needs here, as `(memory, offset and length)`: from the device
    /// through `statx` (Linux 6.1+), else 4096, which every device accepts.
    pub async fn direct_io_alignment(&self) -> io::Result<(u32, u32)> {
        let target = statx::StatxTarget::Fd(self.fd.clone());
        let op = statx::Statx::new(target, 0, libc::STATX_DIOALIGN);
        let (done, op) = Op::new(op).await;
        done.result?;
        let st = &op.out;
        if st.stx_mask & libc::STATX_DIOALIGN == 0 || st.stx_dio_mem_align == 0 {
            return Ok((4096, 4096));
        }
        Ok((st.stx_dio_mem_align, st.stx_dio_offset_align))
    }

    /// Whether the file was opened with `O_DIRECT`.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Closes the file through the ring and reports the result. Dropping a `File` closes it too,
    /// without waiting.
    pub async fn close(self) -> io::Result<()> {
        match self.fd.try_unwrap() {
            Ok(fd) => Op::new(close::Close { fd }).await.0.result.map(drop),
            // A cancelled op still holds the fd: it closes when that op completes.
            Err(_) => Ok(()),
        }
    }

    /// Turns the kernel's bare EINVAL on an `O_DIRECT` file into an error that says alignment.
    fn explain(&self, e: io::Error, ptr: *const u8, pos: u64) -> io::Error {
        if !self.direct || e.raw_os_error() != Some(libc::EINVAL) {
            return e;
        }
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "O_DIRECT needs the buffer address ({ptr:p}), length and file offset ({pos}) \
                 aligned to the device's block size (see File::direct_io_alignment and \
                 AlignedBuf): {e}"
            ),
        )
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// `statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC)` on the calling thread.
pub(crate) fn cached_statx(fd: RawFd) -> io::Result<Metadata> {
    // SAFETY: statx is plain data; all-zero is a valid value.
    let mut out: libc::statx = unsafe { std::mem::zeroed() };
    let flags = libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC;
    let mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
    // SAFETY: a valid C string (empty), a live output struct; the fd is only read.
    let rc = unsafe { libc::statx(fd, c"".as_ptr(), flags, mask, &mut out) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Metadata::new(out))
}
