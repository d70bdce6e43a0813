//! `File` on Windows: overlapped `ReadFile`/`WriteFile` at offsets through the completion
//! port; flush, length, allocation, metadata and close on the driver's pool.

use super::{Metadata, OpenOptions};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::{Kind, RawFd, SharedFd};
use crate::driver::op::windows::{
    Close, FileCall, FileCallKind, FileStat, Read, StatTarget, Write,
};
use crate::driver::Op;
use std::fmt;
use std::io;
use std::path::Path;

/// The alignment ringport checks before an unbuffered (`direct`) transfer: the smallest sector
/// size. The volume may need more; its refusal gets the same message.
const DIRECT_ALIGN: usize = 512;
const ERROR_INVALID_PARAMETER: i32 = 87;

/// An open file. Every call is one operation handed to the kernel with its buffer; the buffer
/// comes back with the result. Reads and writes are positional (the offset is in the
/// OVERLAPPED).
pub struct File {
    fd: SharedFd,
    direct: bool,
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("fd", &self.fd)
            .field("direct", &self.direct)
            .finish()
    }
}

impl File {
    pub(crate) fn from_handle(handle: usize, direct: bool) -> File {
        File {
            fd: SharedFd::new(RawFd::new(handle, Kind::File)),
            direct,
        }
    }

    /// Another `File` on the same handle (the copy engine's view of an endpoint).
    pub(crate) fn from_shared(fd: SharedFd, direct: bool) -> File {
        File { fd, direct }
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

    /// Takes over a std file (or pipe). A handle opened with `FILE_FLAG_OVERLAPPED` goes
    /// through the port; one without (std opens files that way) runs its reads and writes on
    /// the pool.
    pub fn from_std(file: std::fs::File) -> File {
        use std::os::windows::io::IntoRawHandle;
        File {
            fd: SharedFd::new(RawFd::adopt(file.into_raw_handle() as usize)),
            direct: false,
        }
    }

    /// Reads up to the buffer's capacity at `pos`; `Ok(0)` at or past the end.
    pub async fn read_at<B: IoBufMut>(&self, mut buf: B, pos: u64) -> BufResult<usize, B> {
        let (ptr, len) = (buf.stable_mut_ptr() as *const u8, buf.bytes_total());
        if let Err(e) = self.check_aligned(ptr, len, pos) {
            return BufResult(Err(e), buf);
        }
        let op = Read {
            fd: self.fd.clone(),
            buf,
            offset: pos,
        };
        let (done, op) = Op::new(op).await;
        match done.result {
            Ok(n) => BufResult(Ok(n as usize), op.into_buf(n)),
            Err(e) => BufResult(Err(self.explain(e, ptr, pos)), op.buf),
        }
    }

    /// Reads exactly the buffer's capacity at `pos`; `UnexpectedEof` if the file ends first.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        crate::io::fill(buf, async |part, done| {
            self.read_at(part, pos + done as u64).await
        })
        .await
    }

    /// Writes some of the buffer's initialised bytes at `pos`.
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        let (ptr, len) = (buf.stable_ptr(), buf.bytes_init());
        if let Err(e) = self.check_aligned(ptr, len, pos) {
            return BufResult(Err(e), buf);
        }
        let op = Write {
            fd: self.fd.clone(),
            buf,
            offset: pos,
        };
        let (done, op) = Op::new(op).await;
        let res = done.result.map(|n| n as usize);
        BufResult(res.map_err(|e| self.explain(e, ptr, pos)), op.buf)
    }

    /// Writes all of the buffer's initialised bytes at `pos`.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        crate::io::drain(buf, async |part, done| {
            self.write_at(part, pos + done as u64).await
        })
        .await
    }

    /// Reads into several buffers at `pos`, in order (one read per buffer: Windows'
    /// `ReadFileScatter` wants page-sized, page-aligned buffers on unbuffered files only).
    pub async fn read_vectored_at<B: IoBufMut>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> BufResult<usize, Vec<B>> {
        let mut out = Vec::with_capacity(bufs.len());
        let mut total = 0usize;
        let mut bufs = bufs.into_iter();
        let mut error = None;
        for buf in bufs.by_ref() {
            let want = buf.bytes_total();
            let BufResult(res, buf) = self.read_at(buf, pos + total as u64).await;
            out.push(buf);
            match res {
                Ok(n) => {
                    total += n;
                    if n < want {
                        break;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        out.extend(bufs);
        match error {
            Some(e) if total == 0 => BufResult(Err(e), out),
            _ => BufResult(Ok(total), out),
        }
    }

    /// Writes several buffers at `pos`, in order (one write per buffer).
    pub async fn write_vectored_at<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        pos: u64,
    ) -> BufResult<usize, Vec<B>> {
        let mut out = Vec::with_capacity(bufs.len());
        let mut total = 0usize;
        let mut bufs = bufs.into_iter();
        let mut error = None;
        for buf in bufs.by_ref() {
            let want = buf.bytes_init();
            let BufResult(res, buf) = self.write_at(buf, pos + total as u64).await;
            out.push(buf);
            match res {
                Ok(n) => {
                    total += n;
                    if n < want {
                        break;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        out.extend(bufs);
        match error {
            Some(e) if total == 0 => BufResult(Err(e), out),
            _ => BufResult(Ok(total), out),
        }
    }

    async fn file_call(&self, call: FileCallKind) -> io::Result<()> {
        let op = FileCall {
            fd: self.fd.clone(),
            call,
        };
        Op::new(op).await.0.result.map(drop)
    }

    /// Flushes data and metadata to the device (`FlushFileBuffers`).
    pub async fn sync_all(&self) -> io::Result<()> {
        self.file_call(FileCallKind::Flush).await
    }

    /// Flushes data to the device. Windows has no data-only flush before 1709's
    /// `NtFlushBuffersFileEx`: this is `FlushFileBuffers` too.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.file_call(FileCallKind::Flush).await
    }

    /// Truncates or extends the file to `len` bytes.
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        self.file_call(FileCallKind::SetLen(len)).await
    }

    /// Reserves space for `offset + len` bytes without changing the length
    /// (`FileAllocationInfo`); not implemented by Wine 8.
    pub async fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset + len overflows"))?;
        self.file_call(FileCallKind::Allocate(end)).await
    }

    /// The file's metadata.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        super::stat(StatTarget::Fd(self.fd.clone())).await
    }

    /// The file's metadata without a trip to the pool: `GetFileInformationByHandle` on the
    /// open handle, answered from what the file system keeps for it (the counterpart of
    /// the Unix `cached_metadata`).
    pub fn cached_metadata(&self) -> io::Result<Metadata> {
        use windows_sys::Win32::Storage::FileSystem::{
            GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION,
        };
        // SAFETY: a plain struct, written by the call below.
        let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: the handle is open while `self` is; `info` is writable.
        if unsafe { GetFileInformationByHandle(self.fd.raw().raw as _, &mut info) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let time = |t: windows_sys::Win32::Foundation::FILETIME| {
            (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)
        };
        Ok(Metadata::new(FileStat {
            attributes: info.dwFileAttributes,
            size: (u64::from(info.nFileSizeHigh) << 32) | u64::from(info.nFileSizeLow),
            created: time(info.ftCreationTime),
            accessed: time(info.ftLastAccessTime),
            modified: time(info.ftLastWriteTime),
            nlink: info.nNumberOfLinks,
            volume: info.dwVolumeSerialNumber,
            index: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        }))
    }

    /// Whether the file was opened unbuffered (`direct`).
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Closes the file on the pool and reports the result. Dropping a `File` closes it too,
    /// without waiting.
    pub async fn close(self) -> io::Result<()> {
        match self.fd.try_unwrap() {
            Ok(fd) => Op::new(Close { fd }).await.0.result.map(drop),
            // A cancelled op still holds the handle: it closes when that op completes.
            Err(_) => Ok(()),
        }
    }

    /// An unbuffered transfer must be sector-aligned: refused here, with a message that says
    /// so, rather than trusting every volume (and Wine) to check.
    fn check_aligned(&self, ptr: *const u8, len: usize, pos: u64) -> io::Result<()> {
        let aligned = ptr as usize % DIRECT_ALIGN == 0
            && len % DIRECT_ALIGN == 0
            && pos % DIRECT_ALIGN as u64 == 0;
        if !self.direct || aligned {
            return Ok(());
        }
        Err(alignment_error(ptr, len, pos, None))
    }

    /// Turns the kernel's bare ERROR_INVALID_PARAMETER on an unbuffered file into an error that
    /// says alignment.
    fn explain(&self, e: io::Error, ptr: *const u8, pos: u64) -> io::Error {
        if !self.direct || e.raw_os_error() != Some(ERROR_INVALID_PARAMETER) {
            return e;
        }
        alignment_error(ptr, 0, pos, Some(e))
    }
}

fn alignment_error(ptr: *const u8, len: usize, pos: u64, os: Option<io::Error>) -> io::Error {
    let os = os.map(|e| format!(": {e}")).unwrap_or_default();
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "unbuffered (direct) I/O needs the buffer address ({ptr:p}), length ({len}) and \
             file offset ({pos}) aligned to the volume's sector size (at least \
             {DIRECT_ALIGN}; use AlignedBuf){os}"
        ),
    )
}
