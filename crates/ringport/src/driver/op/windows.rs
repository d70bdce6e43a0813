//! The Windows operations: portable structs owning their handle and buffers, as the Unix ones
//! beside this file, with Windows' shapes (`WSABUF`s, UTF-16 paths, a pre-created socket for
//! `AcceptEx`). `driver/iocp/op.rs` turns each into its overlapped call or its pool call.

use super::{on_file, on_stream, OpCode};
use crate::buf::{BufRing, IoBuf, IoBufMut};
use crate::driver::faults::FaultClass;
use crate::driver::fd::{RawFd, SharedFd};
use socket2::{SockAddr, SockAddrStorage};
use windows_sys::Win32::Networking::WinSock::WSABUF;

/// The offset that means "no offset": streams (sockets, pipes) have none.
pub(crate) const STREAM: u64 = u64::MAX;

/// `ReadFile` (files at `offset`, pipes at their stream position) into an owned buffer.
#[derive(Debug)]
pub(crate) struct Read<B> {
    pub fd: SharedFd,
    pub buf: B,
    pub offset: u64,
}

// SAFETY: the buffer is an `IoBufMut`, whose memory is stable when moved; the fd is an Rc.
unsafe impl<B: IoBufMut> OpCode for Read<B> {
    fn fault_class(&self) -> FaultClass {
        on_file(&self.fd, self.offset, FaultClass::PosRead)
    }
}

impl<B: IoBufMut> Read<B> {
    /// Marks the bytes the kernel wrote as initialised and gives the buffer back.
    pub fn into_buf(mut self, n: u32) -> B {
        // SAFETY: the kernel reported writing `n` bytes from the start of the buffer.
        unsafe { self.buf.set_init(n as usize) };
        self.buf
    }
}

/// `WriteFile` of the buffer's initialised bytes.
#[derive(Debug)]
pub(crate) struct Write<B> {
    pub fd: SharedFd,
    pub buf: B,
    pub offset: u64,
}

// SAFETY: the buffer is an `IoBuf`, stable when moved.
unsafe impl<B: IoBuf> OpCode for Write<B> {
    fn fault_class(&self) -> FaultClass {
        on_file(&self.fd, self.offset, FaultClass::PosWrite)
    }
}

/// `WSARecv` into one buffer.
#[derive(Debug)]
pub(crate) struct Recv<B> {
    pub fd: SharedFd,
    pub buf: B,
    /// At most this many bytes ([`NO_LIMIT`](super::NO_LIMIT) but under the fault layer).
    pub limit: u32,
}

// SAFETY: the buffer is an `IoBufMut`, stable when moved.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    fn fault_class(&self) -> FaultClass {
        on_stream(&self.fd, FaultClass::StreamRecv)
    }

    fn fault_cut(&mut self, max: u32) {
        self.limit = max;
    }
}

impl<B: IoBufMut> Recv<B> {
    pub fn into_buf(mut self, n: u32) -> B {
        // SAFETY: the kernel reported writing `n` bytes from the start of the buffer.
        unsafe { self.buf.set_init(n as usize) };
        self.buf
    }
}

/// `WSASend` of one buffer.
#[derive(Debug)]
pub(crate) struct Send<B> {
    pub fd: SharedFd,
    pub buf: B,
    /// At most this many bytes ([`NO_LIMIT`](super::NO_LIMIT) but under the fault layer).
    pub limit: u32,
}

// SAFETY: the buffer is an `IoBuf`, stable when moved.
unsafe impl<B: IoBuf> OpCode for Send<B> {
    fn fault_class(&self) -> FaultClass {
        on_stream(&self.fd, FaultClass::StreamSend)
    }

    fn fault_cut(&mut self, max: u32) {
        self.limit = max;
    }
}

/// `WSARecv` into several buffers, in order.
pub(crate) struct RecvVectored<B> {
    pub fd: SharedFd,
    pub bufs: Vec<B>,
    pub wsabufs: Vec<WSABUF>,
}

// SAFETY: the WSABUF array and every buffer live on the heap and are owned by the op.
unsafe impl<B: IoBufMut> OpCode for RecvVectored<B> {
    fn fault_class(&self) -> FaultClass {
        on_stream(&self.fd, FaultClass::StreamRecv)
    }
}

impl<B: IoBufMut> RecvVectored<B> {
    pub fn new(fd: SharedFd, mut bufs: Vec<B>) -> Self {
        let wsabufs = bufs
            .iter_mut()
            .map(|b| WSABUF {
                len: b.bytes_total().min(u32::MAX as usize) as u32,
                buf: b.stable_mut_ptr(),
            })
            .collect();
        RecvVectored { fd, bufs, wsabufs }
    }

    /// Spreads the `n` bytes received over the buffers' initialised lengths.
    pub fn into_bufs(mut self, n: u32) -> Vec<B> {
        let mut left = n as usize;
        for b in &mut self.bufs {
            let take = left.min(b.bytes_total());
            // SAFETY: the kernel filled the buffers in order, `n` bytes in all.
            unsafe { b.set_init(take) };
            left -= take;
        }
        self.bufs
    }
}

/// `WSASend` of several buffers, in order.
pub(crate) struct SendVectored<B> {
    pub fd: SharedFd,
    pub bufs: Vec<B>,
    pub wsabufs: Vec<WSABUF>,
}

// SAFETY: the WSABUF array and every buffer live on the heap and are owned by the op.
unsafe impl<B: IoBuf> OpCode for SendVectored<B> {
    fn fault_class(&self) -> FaultClass {
        on_stream(&self.fd, FaultClass::StreamSend)
    }
}

impl<B: IoBuf> SendVectored<B> {
    pub fn new(fd: SharedFd, bufs: Vec<B>) -> Self {
        let wsabufs = bufs
            .iter()
            .map(|b| WSABUF {
                len: b.bytes_init().min(u32::MAX as usize) as u32,
                buf: b.stable_ptr() as *mut u8,
            })
            .collect();
        SendVectored { fd, bufs, wsabufs }
    }
}

/// Where the kernel writes an address, and its length.
#[derive(Debug)]
pub(crate) struct AddrOut {
    pub storage: SockAddrStorage,
    pub len: i32,
}

impl AddrOut {
    pub fn new() -> Box<AddrOut> {
        Box::new(AddrOut {
            storage: SockAddrStorage::zeroed(),
            len: std::mem::size_of::<SockAddrStorage>() as i32,
        })
    }

    /// The address the kernel wrote.
    pub fn into_addr(self) -> SockAddr {
        let AddrOut { storage, len } = self;
        // SAFETY: the kernel (or GetAcceptExSockaddrs) initialised `len` bytes of the storage
        // with an address of the family it records there.
        unsafe { SockAddr::new(storage, len) }
    }
}

/// `WSARecvFrom`: one datagram and its sender.
#[derive(Debug)]
pub(crate) struct RecvFrom<B> {
    pub fd: SharedFd,
    pub buf: B,
    pub addr: Box<AddrOut>,
}

// SAFETY: the address output lives in a Box; the buffer is a stable `IoBufMut`.
unsafe impl<B: IoBufMut> OpCode for RecvFrom<B> {}

impl<B: IoBufMut> RecvFrom<B> {
    pub fn into_parts(mut self, n: u32) -> (B, SockAddr) {
        // SAFETY: the kernel wrote `n` bytes at the start of the buffer.
        unsafe { self.buf.set_init(n as usize) };
        (self.buf, self.addr.into_addr())
    }
}

/// `WSASendTo`: one datagram to `addr`.
#[derive(Debug)]
pub(crate) struct SendTo<B> {
    pub fd: SharedFd,
    pub buf: B,
    pub addr: Box<SockAddr>,
}

// SAFETY: the address lives in a Box; the buffer is a stable `IoBuf`.
unsafe impl<B: IoBuf> OpCode for SendTo<B> {}

/// `AcceptEx` into a socket the driver creates (of the listener's `family`); the completion's
/// result is the new socket.
#[derive(Debug)]
pub(crate) struct Accept {
    pub fd: SharedFd,
    pub family: u16,
    pub addr: Box<AddrOut>,
}

// SAFETY: the address output lives in a Box; the AcceptEx buffer is the driver's.
unsafe impl OpCode for Accept {
    fn fault_class(&self) -> FaultClass {
        FaultClass::Accept
    }

    fn orphan_completion(&mut self, res: i32, _flags: u32) {
        close_accepted(res);
    }
}

/// A socket accepted after nobody waits for it any more is closed, never leaked.
fn close_accepted(res: i32) {
    if res > 0 {
        RawFd::new(res as usize, crate::driver::fd::Kind::Stream).close_now();
    }
}

/// `ConnectEx` on a socket bound beforehand.
#[derive(Debug)]
pub(crate) struct Connect {
    pub fd: SharedFd,
    pub addr: Box<SockAddr>,
}

// SAFETY: the address lives in a Box.
unsafe impl OpCode for Connect {}

/// `shutdown(how)`: it never blocks, so it runs when the driver issues it and is reported
/// through the loop.
#[derive(Debug)]
pub(crate) struct Shutdown {
    pub fd: SharedFd,
    pub how: i32,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for Shutdown {}

/// A receive into a buffer picked from `ring` when data arrives: a zero-byte `WSARecv` holds
/// no buffer while the connection is idle.
#[derive(Debug)]
pub(crate) struct RecvBuf {
    pub fd: SharedFd,
    pub ring: BufRing,
}

// SAFETY: the zero-byte receive hands the kernel no memory; the ring's buffers stay alive
// while this op holds a clone of the ring.
unsafe impl OpCode for RecvBuf {
    fn orphan_completion(&mut self, _res: i32, flags: u32) {
        if let Some(bid) = crate::driver::buffer_id(flags) {
            self.ring.give_back(bid);
        }
    }
}

/// `TransmitFile`: `len` bytes of `file` from `offset` to a connected socket.
#[derive(Debug)]
pub(crate) struct TransmitFile {
    pub sock: SharedFd,
    pub file: SharedFd,
    pub offset: u64,
    pub len: u32,
}

// SAFETY: no memory of the op's own is handed to the kernel.
unsafe impl OpCode for TransmitFile {}

/// `ConnectNamedPipe`: a named pipe server instance waits for its client.
#[derive(Debug)]
pub(crate) struct ConnectPipe {
    pub fd: SharedFd,
}

// SAFETY: no memory of the op's own is handed to the kernel.
unsafe impl OpCode for ConnectPipe {}

/// Waits until a kernel object (a process) is signalled: a thread-pool wait
/// (`RegisterWaitForSingleObject`) whose callback posts the op's slot to the port.
#[derive(Debug)]
pub(crate) struct WaitObject {
    pub fd: SharedFd,
}

// SAFETY: no memory of the op's own is handed to the kernel; the handle is an Rc.
unsafe impl OpCode for WaitObject {}

/// `CreateFileW` with a NUL-terminated UTF-16 path, on the pool; the result is the handle.
#[derive(Debug)]
pub(crate) struct Open {
    pub path: Vec<u16>,
    pub access: u32,
    pub share: u32,
    pub disposition: u32,
    pub flags: u32,
}

// SAFETY: the path lives on the heap, owned by the op.
unsafe impl OpCode for Open {
    fn fault_class(&self) -> FaultClass {
        FaultClass::Open
    }

    fn orphan_completion(&mut self, res: i32, _flags: u32) {
        if res > 0 {
            RawFd::new(res as usize, crate::driver::fd::Kind::File).close_now();
        }
    }
}

/// `CreateFileW` of a path relative to an open directory, on the pool; with `beneath`, the
/// opened handle's final path must lie inside the directory's (see `iocp/beneath.rs`).
#[derive(Debug)]
pub(crate) struct OpenBeneath {
    pub dir: SharedFd,
    /// The relative path, components joined with `\`, checked lexically; not NUL-terminated.
    pub path: Vec<u16>,
    pub access: u32,
    pub share: u32,
    pub disposition: u32,
    pub flags: u32,
    pub beneath: bool,
    pub no_symlinks: bool,
}

// SAFETY: the path lives on the heap, owned by the op; the directory stays open (the op holds
// its SharedFd) until the job's packet is reaped.
unsafe impl OpCode for OpenBeneath {
    fn fault_class(&self) -> FaultClass {
        FaultClass::Open
    }

    fn orphan_completion(&mut self, res: i32, _flags: u32) {
        if res > 0 {
            RawFd::new(res as usize, crate::driver::fd::Kind::File).close_now();
        }
    }
}

/// `closesocket` or `CloseHandle`, on the pool (a lingering close blocks).
#[derive(Debug)]
pub(crate) struct Close {
    pub fd: RawFd,
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for Close {}

/// A call on a file handle with no overlapped form, run on the pool.
#[derive(Debug)]
pub(crate) struct FileCall {
    pub fd: SharedFd,
    pub call: FileCallKind,
}

/// Which call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FileCallKind {
    /// `FlushFileBuffers`.
    Flush,
    /// `SetFileInformationByHandle(FileEndOfFileInfo)`.
    SetLen(u64),
    /// `SetFileInformationByHandle(FileAllocationInfo)`: reserve without moving the end.
    Allocate(u64),
}

// SAFETY: no memory is handed to the kernel.
unsafe impl OpCode for FileCall {}

/// What `Stat` reports, from `GetFileInformationByHandle`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FileStat {
    pub attributes: u32,
    pub size: u64,
    /// FILETIMEs: 100 ns since 1601.
    pub created: u64,
    pub accessed: u64,
    pub modified: u64,
    pub nlink: u32,
    pub volume: u32,
    pub index: u64,
}

/// What `Stat` looks at.
#[derive(Debug)]
pub(crate) enum StatTarget {
    Fd(SharedFd),
    /// A NUL-terminated UTF-16 path; `follow`: the link's target rather than the link.
    Path {
        path: Vec<u16>,
        follow: bool,
    },
}

/// File metadata, on the pool.
#[derive(Debug)]
pub(crate) struct Stat {
    pub target: StatTarget,
    pub out: Box<FileStat>,
}

// SAFETY: the output and the path live on the heap, owned by the op.
unsafe impl OpCode for Stat {}

/// A path call on the pool.
#[derive(Debug)]
pub(crate) enum PathCall {
    /// `MoveFileExW(from, to, REPLACE_EXISTING)`.
    Rename { from: Vec<u16>, to: Vec<u16> },
    /// `DeleteFileW`, or `RemoveDirectoryW` when `dir`.
    Remove { path: Vec<u16>, dir: bool },
    /// `CreateDirectoryW`.
    Mkdir { path: Vec<u16> },
    /// `WaitNamedPipeW`: until an instance of the pipe `name` is free, at most `ms`.
    WaitPipe { name: Vec<u16>, ms: u32 },
}

// SAFETY: the paths live on the heap, owned by the op.
unsafe impl OpCode for PathCall {}
