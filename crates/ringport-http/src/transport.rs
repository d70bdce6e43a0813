//! `Transport`: what a connection needs of the byte stream under it, so that plain TCP and an
//! encrypting stream (TLS) serve through the same connection code.
//!
//! Plain TCP keeps its two kernel-side paths: a read that holds no buffer while the connection
//! is idle (a receive into a buffer the kernel picks from a shared ring) and file bodies sent
//! without copying through user space (splice). A user-space TLS stream implements only
//! `AsyncRead + AsyncWrite` and gets the defaults: reads into the connection's own buffer, and
//! file bodies read into a pooled buffer and written (it must encrypt them in user space
//! anyway).

use crate::bufpool;
use bytes::Bytes;
use ringport::buf::{BufResult, BufRing, IoBuf};
use ringport::fs::File;
use ringport::io::{AsyncRead, AsyncWrite};
use ringport::net::TcpStream;
use std::future::Future;
use std::io;

/// The byte stream a connection is served over.
pub trait Transport: AsyncRead + AsyncWrite {
    /// Waits for bytes and appends them to `out`; `Ok(0)` at end of stream. A transport that
    /// can should hold no buffer of its own while it waits (an idle keep-alive connection then
    /// costs no buffer memory): TCP receives into a buffer `ring` lends and copies out. The
    /// default reads into `out`'s spare room (at least `min_room` bytes of it).
    fn read_idle(
        &mut self,
        ring: &BufRing,
        out: &mut Vec<u8>,
        min_room: usize,
    ) -> impl Future<Output = io::Result<usize>> {
        let _ = ring;
        read_appending(self, out, min_room)
    }

    /// Writes some of `parts`, in order, and returns how many bytes (the buffers come back
    /// as they were). TCP writes all of them with one `writev` (a head and its body in one
    /// segment); the default writes from the first non-empty one only.
    fn write_pair(
        &mut self,
        parts: Vec<Bytes>,
    ) -> impl Future<Output = BufResult<usize, Vec<Bytes>>> {
        write_first(self, parts)
    }

    /// Sends `len` bytes of `file` from `offset`; returns the bytes sent: fewer when the file
    /// ends first, or when an error stopped the transfer after some bytes went out (the next
    /// call reports it), as `write` does. The default reads the file into a pooled buffer and
    /// writes it, 64 KiB at a time; TCP splices (no copy through user space).
    fn send_file(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<u64>> {
        copy_file(self, file, offset, len)
    }

    /// Ends the connection before it is dropped: what the protocol says at the end, and the
    /// bytes still on their way. TLS sends `close_notify` and waits until its last records
    /// are handed to the kernel (dropped, a send in flight would be cancelled with them). The
    /// default does nothing: dropping a TCP stream closes it after its queued bytes.
    fn close(&mut self) -> impl Future<Output = io::Result<()>> {
        std::future::ready(Ok(()))
    }
}

impl Transport for TcpStream {
    fn write_pair(
        &mut self,
        parts: Vec<Bytes>,
    ) -> impl Future<Output = BufResult<usize, Vec<Bytes>>> {
        self.write_vectored(parts)
    }

    async fn read_idle(
        &mut self,
        ring: &BufRing,
        out: &mut Vec<u8>,
        min_room: usize,
    ) -> io::Result<usize> {
        match self.recv_buf(ring).await {
            Ok(Some(buf)) => {
                make_room(out, buf.len());
                out.extend_from_slice(&buf);
                Ok(buf.len())
            }
            Ok(None) => Ok(0),
            // The ring ran dry (every buffer lent at once): a plain read instead.
            Err(e) if e.raw_os_error() == Some(RING_DRY) => {
                read_appending(self, out, min_room).await
            }
            Err(e) => Err(e),
        }
    }

    fn send_file(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<u64>> {
        TcpStream::send_file(self, file, offset, len)
    }
}

/// What a buffer-ring receive fails with when every buffer is lent at once: `ENOBUFS`
/// (`WSAENOBUFS` on Windows).
#[cfg(unix)]
const RING_DRY: i32 = libc::ENOBUFS;
#[cfg(windows)]
const RING_DRY: i32 = 10055;

/// The default `write_pair`: one write from the first non-empty part.
async fn write_first<T: AsyncWrite + ?Sized>(
    stream: &mut T,
    mut parts: Vec<Bytes>,
) -> BufResult<usize, Vec<Bytes>> {
    let Some(i) = parts.iter().position(|p| !p.is_empty()) else {
        return BufResult(Ok(0), parts);
    };
    let first = std::mem::take(&mut parts[i]);
    let BufResult(res, back) = stream.write(first).await;
    parts[i] = back;
    BufResult(res, parts)
}

/// Makes room for `n` more bytes in `out`: a pooled buffer when it has none yet.
fn make_room(out: &mut Vec<u8>, n: usize) {
    if out.capacity() == 0 {
        *out = bufpool::take(n);
    } else if out.capacity() - out.len() < n {
        out.reserve(n);
    }
}

/// One read into `out`'s spare room, reserving `min_room` first.
async fn read_appending<T: AsyncRead + ?Sized>(
    stream: &mut T,
    out: &mut Vec<u8>,
    min_room: usize,
) -> io::Result<usize> {
    make_room(out, min_room);
    let buf = std::mem::take(out);
    let len = buf.len();
    let BufResult(res, slice) = stream.read(buf.slice(len..)).await;
    *out = slice.into_inner();
    res
}

/// How much the default `send_file` moves per read and write.
const COPY_PIECE: usize = 64 * 1024;

/// The default `send_file`: read into a pooled buffer, write it all, again.
async fn copy_file<T: AsyncWrite + ?Sized>(
    stream: &mut T,
    file: &File,
    offset: u64,
    len: u64,
) -> io::Result<u64> {
    let mut buf = bufpool::take(COPY_PIECE);
    let mut sent = 0u64;
    while sent < len {
        let want = (len - sent).min(COPY_PIECE as u64) as usize;
        buf.clear();
        let BufResult(res, part) = file.read_at(buf.slice(..want), offset + sent).await;
        buf = part.into_inner();
        match res {
            Ok(0) => break,
            Ok(_) => {}
            // After some bytes went out, report the short count; the error comes next call.
            Err(_) if sent > 0 => break,
            Err(e) => return Err(e),
        }
        let mut done = 0;
        let (res, back) = write_counted(stream, buf, &mut done).await;
        buf = back;
        sent += done as u64;
        if let Err(e) = res {
            bufpool::give(buf);
            return if sent > 0 { Ok(sent) } else { Err(e) };
        }
    }
    bufpool::give(buf);
    Ok(sent)
}

/// Writes all of `buf` and returns it; `done` counts the bytes that went out as they go, so
/// it holds the progress also when this future is dropped part way (a timeout).
pub(crate) async fn write_counted<T: AsyncWrite + ?Sized, B: IoBuf>(
    stream: &mut T,
    mut buf: B,
    done: &mut usize,
) -> (io::Result<()>, B) {
    let total = buf.bytes_init();
    while *done < total {
        let BufResult(res, part) = stream.write(buf.slice(*done..total)).await;
        buf = part.into_inner();
        match res {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "the peer took 0 bytes");
                return (Err(e), buf);
            }
            Ok(n) => *done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
