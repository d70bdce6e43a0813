//! The connection's bytes: a read buffer that keeps pipelined requests (and holds no memory
//! while the connection is idle), timed writes that count what went out, and the response
//! payloads (bytes, chunks, file regions: small ones read in behind the head and sent in the
//! same write, large ones sent by the transport's `send_file`).

use crate::bufpool;
use crate::chunked::{chunk_head, CHUNK_END, LAST_CHUNK};
use crate::response::Payload;
use crate::transport::{write_counted, Transport};
use bytes::Bytes;
use ringport::buf::{BufResult, BufRing, IoBuf};
use ringport::fs::File;
use ringport::time::timeout;
use std::io;
use std::time::Duration;

/// The least free room offered to a read that continues a request.
const READ_ROOM: usize = 1024;
/// Bodies up to this size are copied in behind their head (or chunk framing) and go out in the
/// same write; larger ones are written together with the head from where they are
/// (`Transport::write_pair`: one `writev` on TCP), which saves copying them in user space.
const COALESCE: usize = 4 * 1024;
/// Chunks up to this size go out in one write with their framing.
const CHUNK_COALESCE: usize = 16 * 1024;
/// File bodies up to this size are read in behind the head and sent with it in one write (one
/// TCP segment); larger ones go out with the transport's `send_file` (TCP: splice through a
/// pooled pipe, no copy through user space, two hand-offs to io_uring's workers per chunk).
/// Measured on this machine (see BENCHMARKS.md, http-file): at 32 KiB both cost the same
/// (about 15 µs of server CPU per request), at 64 KiB the two copies of read + send cost
/// 21 µs against splice's 17 µs.
pub(crate) const SMALL_FILE: u64 = 32 * 1024;
/// A large file body goes out in pieces of this size, each under the write timeout.
const FILE_PIECE: u64 = 4 * 1024 * 1024;

/// The connection's failed: the peer left, a write timed out, or a body could not be sent
/// whole. The only thing left to do is to close.
#[derive(Debug)]
pub(crate) struct Gone;

impl From<io::Error> for Gone {
    fn from(_: io::Error) -> Self {
        Gone
    }
}

/// Received bytes not parsed yet: the rest of a head, a body, pipelined requests. Once all
/// are used the buffer goes back to the pool: an idle connection holds none.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
}

impl ReadBuf {
    /// The bytes not consumed yet.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks `n` bytes as used (at most what is buffered: `usize::MAX` is all of it).
    pub fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buf.len());
        if self.start == self.buf.len() {
            bufpool::give(std::mem::take(&mut self.buf));
            self.start = 0;
        }
    }

    /// Reads once more from `stream`, appending; `Ok(0)` at end of stream. With nothing
    /// buffered the wait holds no buffer (`Transport::read_idle`). If this future is dropped,
    /// the buffered bytes are lost: callers then close the connection.
    pub async fn fill<T: Transport>(
        &mut self,
        stream: &mut T,
        ring: &BufRing,
    ) -> io::Result<usize> {
        if self.buf.is_empty() {
            return stream.read_idle(ring, &mut self.buf, READ_ROOM).await;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_ROOM {
            self.buf.reserve(self.buf.len().max(READ_ROOM));
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let BufResult(res, slice) = stream.read(buf.slice(len..)).await;
        self.buf = slice.into_inner();
        res
    }
}

/// Writes go out under a timeout; a client that stops reading is dropped. `sent` counts the
/// body bytes the transport took, for the access log, also when a response is cut short.
#[derive(Debug)]
pub(crate) struct Writer<'a, T> {
    pub stream: &'a mut T,
    pub timeout: Duration,
    pub sent: u64,
}

impl<T: Transport> Writer<'_, T> {
    /// Writes all of `buf`, the bytes after its first `skip` counting as body (in `sent`,
    /// also when the write fails or times out part way); returns the buffer unless a timeout
    /// took it down with the write.
    async fn put<B: IoBuf>(&mut self, buf: B, skip: usize) -> (Result<(), Gone>, Option<B>) {
        let mut done = 0;
        let res = timeout(self.timeout, write_counted(self.stream, buf, &mut done)).await;
        self.sent += done.saturating_sub(skip) as u64;
        match res {
            Ok((Ok(()), buf)) => (Ok(()), Some(buf)),
            Ok((Err(_), buf)) => (Err(Gone), Some(buf)),
            Err(_) => (Err(Gone), None),
        }
    }

    /// Writes all of `buf`, counting none of it as body.
    pub async fn all(&mut self, buf: impl IoBuf) -> Result<(), Gone> {
        self.put(buf, usize::MAX).await.0
    }

    /// Writes a pooled buffer whose bytes after the first `skip` are body, then pools it again.
    async fn body_after(&mut self, buf: Vec<u8>, skip: usize) -> Result<(), Gone> {
        let (res, buf) = self.put(buf, skip).await;
        if let Some(buf) = buf {
            bufpool::give(buf);
        }
        res
    }

    /// Writes a response's head (a pooled buffer) and payload.
    pub async fn response(&mut self, mut head: Vec<u8>, payload: Payload) -> Result<(), Gone> {
        match payload {
            Payload::None => self.body_after(head, usize::MAX).await,
            Payload::Bytes(b) if b.len() <= COALESCE => {
                let skip = head.len();
                head.extend_from_slice(&b);
                self.body_after(head, skip).await
            }
            Payload::Bytes(b) => self.pair(head, b).await,
            Payload::File { file, offset, len } if len <= SMALL_FILE => {
                self.small_file(head, &file, offset, len).await
            }
            Payload::File { file, offset, len } => {
                self.body_after(head, usize::MAX).await?;
                self.file(&file, offset, len).await
            }
            Payload::Chunked(mut s) => {
                self.body_after(head, usize::MAX).await?;
                while let Some(chunk) = next_chunk(&mut s).await? {
                    self.chunk(chunk).await?;
                }
                self.all(LAST_CHUNK).await
            }
            Payload::UntilClose(mut s) => {
                self.body_after(head, usize::MAX).await?;
                while let Some(chunk) = next_chunk(&mut s).await? {
                    self.put(chunk, 0).await.0?;
                }
                Ok(())
            }
        }
    }

    /// A head and a body too large to copy in behind it: both in one write from where they
    /// are (one `writev` on TCP), then whatever a short write left, counting body bytes.
    async fn pair(&mut self, head: Vec<u8>, body: Bytes) -> Result<(), Gone> {
        let head_len = head.len();
        let mut parts = vec![Bytes::from(head), body];
        let mut done = 0usize;
        while !parts.is_empty() {
            let write = self.stream.write_pair(parts);
            let BufResult(res, back) = match timeout(self.timeout, write).await {
                Ok(r) => r,
                Err(_) => return Err(Gone),
            };
            parts = back;
            let n = match res {
                Ok(0) | Err(_) => return Err(Gone),
                Ok(n) => n,
            };
            self.sent +=
                ((done + n).saturating_sub(head_len) - done.saturating_sub(head_len)) as u64;
            done += n;
            let mut left = n;
            while left > 0 {
                let first = &mut parts[0];
                let k = left.min(first.len());
                bytes::Buf::advance(first, k);
                left -= k;
                if first.is_empty() {
                    parts.remove(0);
                }
            }
            parts.retain(|p| !p.is_empty());
        }
        Ok(())
    }

    /// A file body of up to [`SMALL_FILE`] bytes: read in behind the head (a read from the
    /// page cache, done by the kernel at once), then head and body in one write. A file
    /// shorter than promised sends what it has and is `Gone` (the connection closes, so the
    /// client sees a short body rather than a misframed one).
    async fn small_file(
        &mut self,
        head: Vec<u8>,
        file: &File,
        offset: u64,
        len: u64,
    ) -> Result<(), Gone> {
        let skip = head.len();
        let len = len as usize;
        let mut buf = head;
        if buf.capacity() - skip < len {
            let mut bigger = bufpool::take(skip + len);
            bigger.extend_from_slice(&buf);
            bufpool::give(std::mem::replace(&mut buf, bigger));
        }
        let mut have = 0;
        let mut short = false;
        while have < len {
            let end = skip + len;
            let at = buf.len();
            let read = file.read_at(buf.slice(at..end), offset + have as u64);
            let BufResult(res, part) = match timeout(self.timeout, read).await {
                Ok(r) => r,
                Err(_) => return Err(Gone),
            };
            buf = part.into_inner();
            match res {
                Ok(0) | Err(_) => {
                    short = true;
                    break;
                }
                Ok(n) => have += n,
            }
        }
        self.body_after(buf, skip).await?;
        if short {
            return Err(Gone);
        }
        Ok(())
    }

    /// One chunk of a chunked body, framing and data in one write when small.
    async fn chunk(&mut self, data: Bytes) -> Result<(), Gone> {
        let mut framed = chunk_head(data.len());
        if data.len() <= CHUNK_COALESCE {
            let skip = framed.len();
            framed.extend_from_slice(&data);
            let before = self.sent;
            // The chunk's end is framing, not body: count at most the data.
            framed.extend_from_slice(CHUNK_END);
            let res = self.put(framed, skip).await.0;
            self.sent = self.sent.min(before + data.len() as u64);
            return res;
        }
        self.all(framed).await?;
        self.put(data, 0).await.0?;
        self.all(CHUNK_END).await
    }

    /// A file region with the transport's `send_file`, piece by piece so each piece is under
    /// the write timeout. A file shorter than promised is `Gone`.
    async fn file(&mut self, file: &File, offset: u64, len: u64) -> Result<(), Gone> {
        let mut done = 0;
        while done < len {
            let piece = (len - done).min(FILE_PIECE);
            let send = self.stream.send_file(file, offset + done, piece);
            let moved = match timeout(self.timeout, send).await {
                Ok(Ok(n)) => n,
                _ => return Err(Gone),
            };
            done += moved;
            self.sent += moved;
            if moved < piece {
                return Err(Gone);
            }
        }
        Ok(())
    }
}

/// The next non-empty chunk (an empty one would end a chunked body early); an error is `Gone`.
async fn next_chunk(s: &mut crate::body::BodyStream) -> Result<Option<Bytes>, Gone> {
    loop {
        match std::future::poll_fn(|cx| s.as_mut().poll_next(cx)).await {
            Some(Ok(chunk)) if chunk.is_empty() => continue,
            Some(Ok(chunk)) => return Ok(Some(chunk)),
            Some(Err(_)) => return Err(Gone),
            None => return Ok(None),
        }
    }
}

/// Closes after an error response the way Apache's lingering close does: shut down writing,
/// then read and discard what the client still sends for a moment, so the kernel does not
/// answer unread data with a reset that would destroy the response before it is read.
pub(crate) async fn linger_close<T: Transport>(stream: &mut T, ring: &BufRing, buf: &mut ReadBuf) {
    if stream.shutdown_write().await.is_err() {
        return;
    }
    let drain = async {
        let mut total = 0;
        while total < 1024 * 1024 {
            buf.consume(usize::MAX);
            match buf.fill(stream, ring).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = timeout(Duration::from_secs(1), drain).await;
}

#[cfg(test)]
mod tests {
    use super::ReadBuf;

    /// `consume(usize::MAX)` after a partial consume (the lingering close's "discard all")
    /// empties the buffer: it overflowed in debug builds and, wrapping in release builds,
    /// moved the start back by one byte.
    #[test]
    fn consuming_everything_after_a_partial_consume_empties_the_buffer() {
        let mut b = ReadBuf {
            buf: b"GET / HTTP/1.1\r\n\r\nrest".to_vec(),
            start: 0,
        };
        b.consume(4);
        assert_eq!(b.data(), b"/ HTTP/1.1\r\n\r\nrest");
        b.consume(usize::MAX);
        assert!(b.data().is_empty());
        b.consume(usize::MAX);
        assert!(b.data().is_empty());
    }
}
