//! The connection's bytes: a read buffer that keeps pipelined requests, timed reads and
//! writes, and the response payloads (bytes, chunks, zero-copy file regions).

use crate::chunked::{chunk_head, CHUNK_END, LAST_CHUNK};
use crate::response::Payload;
use bytes::Bytes;
use ringport::buf::{BufResult, IoBuf};
use ringport::fs::File;
use ringport::io::AsyncWriteExt;
use ringport::net::TcpStream;
use ringport::time::timeout;
use std::io;
use std::time::Duration;

/// The least free space offered to one read.
const READ_CHUNK: usize = 8 * 1024;
/// Bodies up to this size go out in the same write as their head (or chunk framing).
const COALESCE: usize = 16 * 1024;
/// A file body goes out in pieces of this size, each under the write timeout.
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

/// Received bytes not parsed yet: the rest of a head, a body, pipelined requests.
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

    /// Marks `n` bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads once more from `stream`, appending; `Ok(0)` at end of stream. If this future is
    /// dropped, the buffered bytes are lost: callers then close the connection.
    pub async fn fill(&mut self, stream: &TcpStream) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK {
            self.buf.reserve(self.buf.len().max(READ_CHUNK));
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let BufResult(res, slice) = stream.read(buf.slice(len..)).await;
        self.buf = slice.into_inner();
        res
    }
}

/// Writes go out under a timeout; a client that stops reading is dropped.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    pub stream: &'a mut TcpStream,
    pub timeout: Duration,
}

impl Writer<'_> {
    /// Writes all of `buf`.
    pub async fn all(&mut self, buf: impl IoBuf) -> Result<(), Gone> {
        match timeout(self.timeout, self.stream.write_all(buf)).await {
            Ok(BufResult(Ok(()), _)) => Ok(()),
            _ => Err(Gone),
        }
    }

    /// Writes a response's head and payload; returns the body bytes sent.
    pub async fn response(&mut self, mut head: Vec<u8>, payload: Payload) -> Result<u64, Gone> {
        match payload {
            Payload::None => self.all(head).await.map(|()| 0),
            Payload::Bytes(b) if b.len() <= COALESCE => {
                head.extend_from_slice(&b);
                self.all(head).await.map(|()| b.len() as u64)
            }
            Payload::Bytes(b) => {
                self.all(head).await?;
                let len = b.len() as u64;
                self.all(b).await.map(|()| len)
            }
            Payload::File { file, offset, len } => {
                self.all(head).await?;
                self.file(&file, offset, len).await
            }
            Payload::Chunked(mut s) => {
                self.all(head).await?;
                let mut sent = 0;
                while let Some(chunk) = next_chunk(&mut s).await? {
                    sent += chunk.len() as u64;
                    self.chunk(chunk).await?;
                }
                self.all(LAST_CHUNK).await.map(|()| sent)
            }
            Payload::UntilClose(mut s) => {
                self.all(head).await?;
                let mut sent = 0;
                while let Some(chunk) = next_chunk(&mut s).await? {
                    sent += chunk.len() as u64;
                    self.all(chunk).await?;
                }
                Ok(sent)
            }
        }
    }

    /// One chunk of a chunked body, framing and data in one write when small.
    async fn chunk(&mut self, data: Bytes) -> Result<(), Gone> {
        let mut framed = chunk_head(data.len());
        if data.len() <= COALESCE {
            framed.extend_from_slice(&data);
            framed.extend_from_slice(CHUNK_END);
            return self.all(framed).await;
        }
        self.all(framed).await?;
        self.all(data).await?;
        self.all(CHUNK_END).await
    }

    /// A file region with `send_file` (splice: no copy through user space), piece by piece so
    /// each piece is under the write timeout. A file shorter than promised is `Gone`.
    async fn file(&mut self, file: &File, offset: u64, len: u64) -> Result<u64, Gone> {
        let mut sent = 0;
        while sent < len {
            let piece = (len - sent).min(FILE_PIECE);
            let moved = timeout(
                self.timeout,
                self.stream.send_file(file, offset + sent, piece),
            )
            .await
            .map_err(|_| Gone)??;
            sent += moved;
            if moved < piece {
                return Err(Gone);
            }
        }
        Ok(sent)
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
pub(crate) async fn linger_close(stream: &TcpStream, buf: &mut ReadBuf) {
    if stream.shutdown(std::net::Shutdown::Write).await.is_err() {
        return;
    }
    let drain = async {
        let mut total = 0;
        while total < 1024 * 1024 {
            buf.consume(usize::MAX);
            match buf.fill(stream).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = timeout(Duration::from_secs(1), drain).await;
}
