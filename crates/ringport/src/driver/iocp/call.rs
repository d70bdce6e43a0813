//! The overlapped calls: an op's [`Io`] prepared at submit, started by the driver at the next
//! park ([`start`]), and finished when its packet arrives or it completed at once
//! ([`finish`]: the accept and connect contexts, the ring receive's real read).

use super::error::{self, Reading};
use super::ext;
use super::Ov;
use crate::buf::BufRing;
use crate::driver::fd::RawFd;
use crate::driver::op::windows::{AddrOut, STREAM};
use crate::driver::slots::FLAG_MORE;
use windows_sys::Win32::Foundation::{GetLastError, ERROR_IO_PENDING, HANDLE};
use windows_sys::Win32::Networking::WinSock::{
    ioctlsocket, recv, setsockopt, shutdown, WSAGetLastError, WSARecv, WSARecvFrom, WSASend,
    WSASendTo, WSASocketW, FIONREAD, INVALID_SOCKET, SOCKADDR, SOCKADDR_STORAGE, SOL_SOCKET,
    SO_UPDATE_ACCEPT_CONTEXT, SO_UPDATE_CONNECT_CONTEXT, WSABUF, WSA_FLAG_NO_HANDLE_INHERIT,
    WSA_FLAG_OVERLAPPED,
};
use windows_sys::Win32::Storage::FileSystem::{ReadFile, WriteFile};

/// `IORING_CQE_F_BUFFER`: the completion carries a ring buffer's id in its high 16 bits.
const FLAG_BUFFER: u32 = 1;
const WSAENOBUFS: i32 = 10055;

/// The room `AcceptEx` needs for each address: the largest sockaddr plus 16 bytes.
pub(crate) const ACCEPT_ADDR_LEN: u32 = std::mem::size_of::<SOCKADDR_STORAGE>() as u32 + 16;

/// One buffer (copied into the slot's own WSABUF when started), or the op's WSABUF array.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bufs {
    One(*mut u8, u32),
    Many(*const WSABUF, u32),
}

/// An overlapped call with its raw arguments, pointing into memory the op owns.
#[derive(Debug, Clone)]
pub(crate) enum Io {
    ReadFile {
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        offset: u64,
    },
    WriteFile {
        fd: RawFd,
        buf: *const u8,
        len: u32,
        offset: u64,
    },
    Recv {
        fd: RawFd,
        bufs: Bufs,
    },
    Send {
        fd: RawFd,
        bufs: Bufs,
    },
    RecvFrom {
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        out: *mut AddrOut,
    },
    SendTo {
        fd: RawFd,
        buf: *const u8,
        len: u32,
        addr: *const SOCKADDR,
        addr_len: i32,
    },
    /// `AcceptEx` into a new socket of `family`; `out` (may be null) gets the peer address.
    Accept {
        fd: RawFd,
        family: u16,
        out: *mut AddrOut,
    },
    Connect {
        fd: RawFd,
        addr: *const SOCKADDR,
        addr_len: i32,
    },
    Shutdown {
        fd: RawFd,
        how: i32,
    },
    /// A zero-byte `WSARecv`, then a read into a buffer of `ring`.
    RecvRing {
        fd: RawFd,
        ring: BufRing,
    },
    TransmitFile {
        sock: RawFd,
        file: RawFd,
        offset: u64,
        len: u32,
    },
    /// `ConnectNamedPipe`: waits for a client on a server instance.
    ConnectPipe {
        fd: RawFd,
    },
}

impl Io {
    /// The handle the call runs on (attached to the port, and the one `CancelIoEx` names).
    pub fn fd(&self) -> RawFd {
        match self {
            Io::ReadFile { fd, .. }
            | Io::WriteFile { fd, .. }
            | Io::Recv { fd, .. }
            | Io::Send { fd, .. }
            | Io::RecvFrom { fd, .. }
            | Io::SendTo { fd, .. }
            | Io::Accept { fd, .. }
            | Io::Connect { fd, .. }
            | Io::Shutdown { fd, .. }
            | Io::RecvRing { fd, .. }
            | Io::ConnectPipe { fd } => *fd,
            Io::TransmitFile { sock, .. } => *sock,
        }
    }

    pub fn reading(&self) -> Reading {
        match self {
            Io::ReadFile { .. } => Reading::Read,
            Io::RecvFrom { .. } => Reading::Datagram,
            _ => Reading::Other,
        }
    }
}

/// How a started call went.
pub(crate) enum Started {
    /// A packet will come.
    Pending,
    /// No packet will come: this is the result (bytes or `-code`), not yet finished.
    Now(i32),
}

/// The last Winsock error, or `GetLastError` for file calls.
fn last_wsa() -> u32 {
    // SAFETY: reads the calling thread's last Winsock error.
    unsafe { WSAGetLastError() as u32 }
}

fn last_win32() -> u32 {
    // SAFETY: reads the calling thread's last error.
    unsafe { GetLastError() }
}

/// Classifies a call's return. When the call failed, whether a packet still comes is decided
/// from the OVERLAPPED's status, not the return value: only a warning status (the I/O
/// completed, short, and was queued) means one will.
fn classify(ok: bool, code: u32, ov: &Ov, skip: bool, reading: Reading) -> Started {
    if ok {
        if skip {
            // FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: no packet; the bytes are in the OVERLAPPED.
            return Started::Now(error::from_status(0, ov.raw.InternalHigh as u32, reading));
        }
        return Started::Pending;
    }
    if code == ERROR_IO_PENDING || error::queued_despite_failure(ov.raw.Internal) {
        return Started::Pending;
    }
    Started::Now(error::from_code(code, reading))
}

/// Starts `io` with the slot `ov` (reset, its OVERLAPPED at a stable address). `skip`: the
/// handle completes synchronous successes without a packet.
pub(crate) fn start(io: &Io, ov: &mut Ov, skip: bool) -> Started {
    ov.reset();
    let reading = io.reading();
    let raw = &mut ov.raw as *mut _;
    // SAFETY: every pointer argument points into memory the op owns (heap buffers, boxed
    // addresses, its WSABUF array) or into the slot, all alive until the packet is reaped;
    // the handles stay open because the op holds them.
    unsafe {
        match io {
            Io::ReadFile {
                fd,
                buf,
                len,
                offset,
            } => {
                set_offset(ov, *fd, *offset, false);
                let ok = ReadFile(fd.raw as HANDLE, *buf, *len, std::ptr::null_mut(), raw) != 0;
                classify(ok, last_win32(), ov, skip, reading)
            }
            Io::WriteFile {
                fd,
                buf,
                len,
                offset,
            } => {
                set_offset(ov, *fd, *offset, true);
                let ok = WriteFile(fd.raw as HANDLE, *buf, *len, std::ptr::null_mut(), raw) != 0;
                classify(ok, last_win32(), ov, skip, reading)
            }
            Io::Recv { fd, bufs } => {
                let (p, n) = ov.bufs(*bufs);
                ov.flags = 0;
                let rc = WSARecv(fd.raw, p, n, std::ptr::null_mut(), &mut ov.flags, raw, None);
                classify(rc == 0, last_wsa(), ov, skip, reading)
            }
            Io::Send { fd, bufs } => {
                let (p, n) = ov.bufs(*bufs);
                let rc = WSASend(fd.raw, p, n, std::ptr::null_mut(), 0, raw, None);
                classify(rc == 0, last_wsa(), ov, skip, reading)
            }
            Io::RecvFrom { fd, buf, len, out } => {
                let (p, n) = ov.bufs(Bufs::One(*buf, *len));
                ov.flags = 0;
                let from = (&mut (**out).storage as *mut socket2::SockAddrStorage).cast();
                (**out).len = std::mem::size_of::<socket2::SockAddrStorage>() as i32;
                let rc = WSARecvFrom(
                    fd.raw,
                    p,
                    n,
                    std::ptr::null_mut(),
                    &mut ov.flags,
                    from,
                    &mut (**out).len,
                    raw,
                    None,
                );
                classify(rc == 0, last_wsa(), ov, skip, reading)
            }
            Io::SendTo {
                fd,
                buf,
                len,
                addr,
                addr_len,
            } => {
                let (p, n) = ov.bufs(Bufs::One(*buf as *mut u8, *len));
                let rc = WSASendTo(
                    fd.raw,
                    p,
                    n,
                    std::ptr::null_mut(),
                    0,
                    *addr,
                    *addr_len,
                    raw,
                    None,
                );
                classify(rc == 0, last_wsa(), ov, skip, reading)
            }
            Io::Accept { fd, family, .. } => start_accept(*fd, *family, ov, skip),
            Io::Connect { fd, addr, addr_len } => {
                let connect = match ext::connect_ex(fd.raw) {
                    Ok(Some(f)) => f,
                    Ok(None) => return Started::Now(-10045), // WSAEOPNOTSUPP
                    Err(code) => return Started::Now(-(code as i32)),
                };
                let ok = connect(
                    fd.raw,
                    *addr,
                    *addr_len,
                    std::ptr::null(),
                    0,
                    std::ptr::null_mut(),
                    raw,
                ) != 0;
                classify(ok, last_wsa(), ov, skip, reading)
            }
            Io::Shutdown { fd, how } => {
                // shutdown never blocks: done now, reported through the loop.
                if shutdown(fd.raw, *how) != 0 {
                    return Started::Now(error::from_code(last_wsa(), reading));
                }
                Started::Now(0)
            }
            Io::RecvRing { fd, .. } => {
                // A zero-byte receive: it completes when data (or the end) arrives, holding
                // no buffer meanwhile.
                ov.wsabuf = WSABUF {
                    len: 0,
                    buf: std::ptr::null_mut(),
                };
                ov.flags = 0;
                let rc = WSARecv(
                    fd.raw,
                    &ov.wsabuf,
                    1,
                    std::ptr::null_mut(),
                    &mut ov.flags,
                    raw,
                    None,
                );
                classify(rc == 0, last_wsa(), ov, skip, reading)
            }
            Io::ConnectPipe { fd } => {
                use windows_sys::Win32::System::Pipes::ConnectNamedPipe;
                let ok = ConnectNamedPipe(fd.raw as HANDLE, raw) != 0;
                classify(ok, last_win32(), ov, skip, reading)
            }
            Io::TransmitFile {
                sock,
                file,
                offset,
                len,
            } => {
                let transmit = match ext::transmit_file(sock.raw) {
                    Ok(Some(f)) => f,
                    Ok(None) => return Started::Now(-10045),
                    Err(code) => return Started::Now(-(code as i32)),
                };
                ov.raw.Anonymous.Anonymous.Offset = *offset as u32;
                ov.raw.Anonymous.Anonymous.OffsetHigh = (*offset >> 32) as u32;
                let ok = transmit(
                    sock.raw,
                    file.raw as HANDLE,
                    *len,
                    0,
                    raw,
                    std::ptr::null(),
                    0,
                ) != 0;
                classify(ok, last_wsa(), ov, skip, reading)
            }
        }
    }
}

/// Puts the offset into the OVERLAPPED: a file's position, or for a stream write on a file
/// its end (all ones); pipes ignore it.
fn set_offset(ov: &mut Ov, fd: RawFd, offset: u64, write: bool) {
    let offset = match (offset, fd.kind) {
        (STREAM, crate::driver::fd::Kind::File) if write => u64::MAX,
        (STREAM, _) => 0,
        (o, _) => o,
    };
    ov.raw.Anonymous.Anonymous.Offset = offset as u32;
    ov.raw.Anonymous.Anonymous.OffsetHigh = (offset >> 32) as u32;
}

/// # Safety
///
/// As for [`start`].
unsafe fn start_accept(fd: RawFd, family: u16, ov: &mut Ov, skip: bool) -> Started {
    let accept = match ext::accept_ex(fd.raw) {
        Ok(Some(f)) => f,
        Ok(None) => return Started::Now(-10045),
        Err(code) => return Started::Now(-(code as i32)),
    };
    // SAFETY: creates a new overlapped socket; no pointers.
    let sock = unsafe {
        WSASocketW(
            i32::from(family),
            1, // SOCK_STREAM
            6, // IPPROTO_TCP
            std::ptr::null(),
            0,
            WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT,
        )
    };
    if sock == INVALID_SOCKET {
        return Started::Now(-(last_wsa() as i32));
    }
    ov.accepted = sock;
    let mut bytes = 0u32;
    // SAFETY: the address buffer and the OVERLAPPED live in the slot until the packet.
    let ok = unsafe {
        accept(
            fd.raw,
            sock,
            ov.accept_buf.as_mut_ptr().cast(),
            0, // no first bytes: complete as soon as the connection is there
            ACCEPT_ADDR_LEN,
            ACCEPT_ADDR_LEN,
            &mut bytes,
            &mut ov.raw,
        )
    } != 0;
    classify(ok, last_wsa(), ov, skip, Reading::Other)
}

/// The finished result of `io`: `(result, flags)`. `res` is the raw result (bytes or
/// `-code`); `multi` asks for a multishot op's `FLAG_MORE` on success.
pub(crate) fn finish(io: &Io, ov: &mut Ov, res: i32, multi: bool) -> (i32, u32) {
    match io {
        Io::Accept { fd, out, .. } => {
            let sock = std::mem::take(&mut ov.accepted);
            if res < 0 {
                close_socket(sock);
                return (res, 0);
            }
            // SAFETY: the socket was accepted into; `out` is null or the op's boxed output.
            let res = unsafe { accepted(*fd, sock, ov, *out) };
            if res < 0 {
                close_socket(sock);
                return (res, 0);
            }
            (res, if multi { FLAG_MORE } else { 0 })
        }
        Io::Connect { fd, .. } if res >= 0 => {
            // Without it, getpeername and shutdown fail with WSAENOTCONN.
            // SAFETY: a plain option on our socket.
            let rc = unsafe {
                setsockopt(
                    fd.raw,
                    SOL_SOCKET,
                    SO_UPDATE_CONNECT_CONTEXT,
                    std::ptr::null(),
                    0,
                )
            };
            if rc != 0 {
                return (-(last_wsa() as i32), 0);
            }
            (0, 0)
        }
        Io::RecvRing { fd, ring } if res >= 0 => {
            let (res, flags) = read_ring(*fd, ring);
            let more = multi && res > 0;
            (res, flags | if more { FLAG_MORE } else { 0 })
        }
        // ERROR_PIPE_CONNECTED: the client came between the instance's creation and the
        // call; connected, and no packet.
        Io::ConnectPipe { .. } if res == -535 => (0, 0),
        _ => (res, 0),
    }
}

/// Completes an accepted socket: its context, and the peer's address into `out`.
///
/// # Safety
///
/// `sock` was just accepted on `listener` into `ov`'s address buffer; `out` is null or valid.
unsafe fn accepted(listener: RawFd, sock: usize, ov: &Ov, out: *mut AddrOut) -> i32 {
    let listen = listener.raw;
    // SAFETY: the option's value is the listening socket, as documented.
    let rc = unsafe {
        setsockopt(
            sock,
            SOL_SOCKET,
            SO_UPDATE_ACCEPT_CONTEXT,
            (&listen as *const usize).cast(),
            std::mem::size_of::<usize>() as i32,
        )
    };
    if rc != 0 {
        return -(last_wsa() as i32);
    }
    if !out.is_null() {
        let Ok(Some(get)) = ext::get_accept_ex_sockaddrs(listen) else {
            return -10045;
        };
        let (mut local, mut remote) = (std::ptr::null_mut(), std::ptr::null_mut());
        let (mut local_len, mut remote_len) = (0i32, 0i32);
        // SAFETY: the buffer is the one AcceptEx filled, with the same lengths.
        unsafe {
            get(
                ov.accept_buf.as_ptr().cast(),
                0,
                ACCEPT_ADDR_LEN,
                ACCEPT_ADDR_LEN,
                &mut local,
                &mut local_len,
                &mut remote,
                &mut remote_len,
            );
            let n = (remote_len.max(0) as usize).min(std::mem::size_of::<SOCKADDR_STORAGE>());
            if !remote.is_null() {
                std::ptr::copy_nonoverlapping(
                    remote.cast::<u8>(),
                    (&mut (*out).storage as *mut socket2::SockAddrStorage).cast::<u8>(),
                    n,
                );
            }
            (*out).len = n as i32;
        }
    }
    // Socket handles have 32 significant bits, so the value fits the result.
    sock as i32
}

fn close_socket(sock: usize) {
    if sock != 0 {
        RawFd::new(sock, crate::driver::fd::Kind::Stream).close_now();
    }
}

/// After the zero-byte receive: reads what arrived into a free ring buffer.
fn read_ring(fd: RawFd, ring: &BufRing) -> (i32, u32) {
    let mut avail = 0u32;
    // SAFETY: a plain query on our socket.
    if unsafe { ioctlsocket(fd.raw, FIONREAD, &mut avail) } != 0 {
        return (-(last_wsa() as i32), 0);
    }
    if avail == 0 {
        // The zero-byte receive completed with nothing to read: the peer ended the stream.
        return (0, 0);
    }
    let Some((bid, buf, len)) = ring.peek_free() else {
        return (-WSAENOBUFS, 0);
    };
    // SAFETY: the ring buffer is valid for `len` bytes; data is waiting, so it does not block.
    let n = unsafe { recv(fd.raw, buf, len.min(i32::MAX as u32) as i32, 0) };
    if n < 0 {
        return (error::from_code(last_wsa(), Reading::Other), 0);
    }
    if n == 0 {
        return (0, 0);
    }
    ring.consume_free();
    (n, FLAG_BUFFER | (u32::from(bid) << 16))
}
