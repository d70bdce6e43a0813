//! The `chunked` transfer coding: an incremental decoder over bytes, and the chunk framing the
//! server writes.

use crate::error::ParseError;

/// The most bytes of chunk extensions on one size line, and of trailer fields in all.
const MAX_META_BYTES: usize = 8 * 1024;

/// Where the decoder is in the grammar of RFC 9112 section 7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size (`digits` read so far).
    Size { digits: u8 },
    /// A chunk extension, skipped up to its CR.
    Ext,
    /// The LF ending a size line.
    SizeLf,
    /// Chunk data, `left` bytes to go.
    Data { left: u64 },
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// The start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field, skipped up to its CR.
    Trailer,
    /// The LF ending a trailer field.
    TrailerLf,
    /// The LF of the final empty line.
    FinalLf,
    /// The last chunk and the trailers are read.
    Done,
}

/// Decodes a chunked body incrementally: feed it bytes as they arrive; it appends the data to
/// `out` and stops at the end of the body, leaving what follows (a pipelined request) unread.
/// Line endings must be CRLF; extensions and trailer fields are skipped.
///
/// ```
/// use ringport_http::parse::ChunkedDecoder;
/// let mut dec = ChunkedDecoder::new(1024);
/// let mut out = Vec::new();
/// let input = b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nGET";
/// let used = dec.decode(input, &mut out).unwrap();
/// assert!(dec.is_done());
/// assert_eq!(out, b"abcde");
/// assert_eq!(&input[used..], b"GET");
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    meta: usize,
    total: u64,
    max_body: u64,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies longer than `max_body` bytes (after decoding).
    pub fn new(max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
            meta: 0,
            total: 0,
            max_body,
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending data to `out`; returns how many bytes of `input` it
    /// used. It uses all of them unless the body ends inside `input`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ParseError> {
        let mut at = 0;
        while at < input.len() && self.state != State::Done {
            if let State::Data { left } = self.state {
                let take = (input.len() - at).min(usize::try_from(left).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[at..at + take]);
                at += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                continue;
            }
            self.state = self.step(input[at])?;
            at += 1;
        }
        Ok(at)
    }

    /// Decodes `buf` in place: the data bytes are moved to its front. Returns how many bytes
    /// of `buf` were used (all of them unless the body ends inside it) and how many data bytes
    /// now start it. For readers that receive straight into the caller's buffer: no second
    /// buffer, the data moves at most a few bytes left per chunk.
    ///
    /// ```
    /// use ringport_http::parse::ChunkedDecoder;
    /// let mut dec = ChunkedDecoder::new(u64::MAX);
    /// let mut buf = *b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nnext";
    /// let (used, data) = dec.decode_in_place(&mut buf).unwrap();
    /// assert!(dec.is_done());
    /// assert_eq!(&buf[..data], b"abcde");
    /// assert_eq!(&buf[used..], b"next");
    /// ```
    pub fn decode_in_place(&mut self, buf: &mut [u8]) -> Result<(usize, usize), ParseError> {
        let mut at = 0;
        let mut out = 0;
        while at < buf.len() && self.state != State::Done {
            if let State::Data { left } = self.state {
                let take = (buf.len() - at).min(usize::try_from(left).unwrap_or(usize::MAX));
                buf.copy_within(at..at + take, out);
                out += take;
                at += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                continue;
            }
            self.state = self.step(buf[at])?;
            at += 1;
        }
        Ok((at, out))
    }

    /// One byte of framing (anything but chunk data).
    fn step(&mut self, b: u8) -> Result<State, ParseError> {
        let bad = |why| Err(ParseError::Malformed(why));
        match (self.state, b) {
            (State::Size { digits }, _) if b.is_ascii_hexdigit() => {
                if digits >= 15 {
                    return bad("chunk size too large");
                }
                let digit = (b as char).to_digit(16).unwrap_or(0);
                self.size = self.size << 4 | u64::from(digit);
                Ok(State::Size { digits: digits + 1 })
            }
            (State::Size { digits: 0 }, _) => bad("chunk size missing"),
            (State::Size { .. }, b';' | b' ' | b'\t') => self.meta(State::Ext),
            (State::Size { .. } | State::Ext, b'\r') => Ok(State::SizeLf),
            (State::Ext, _) if is_field_byte(b) => self.meta(State::Ext),
            (State::SizeLf, b'\n') => self.size_done(),
            (State::DataCr, b'\r') => Ok(State::DataLf),
            (State::DataLf, b'\n') => Ok(State::Size { digits: 0 }),
            (State::TrailerStart, b'\r') => Ok(State::FinalLf),
            (State::TrailerStart | State::Trailer, _) if is_field_byte(b) => {
                self.meta(State::Trailer)
            }
            (State::Trailer, b'\r') => Ok(State::TrailerLf),
            (State::TrailerLf, b'\n') => Ok(State::TrailerStart),
            (State::FinalLf, b'\n') => Ok(State::Done),
            _ => bad("invalid chunked framing"),
        }
    }

    /// Counts a byte of extensions or trailers against their limit.
    fn meta(&mut self, next: State) -> Result<State, ParseError> {
        self.meta += 1;
        if self.meta > MAX_META_BYTES {
            return Err(ParseError::Malformed(
                "chunk extensions or trailers too long",
            ));
        }
        Ok(next)
    }

    /// A size line ended: the last chunk, or data to read within the body limit.
    fn size_done(&mut self) -> Result<State, ParseError> {
        let size = std::mem::take(&mut self.size);
        if size == 0 {
            self.meta = 0;
            return Ok(State::TrailerStart);
        }
        self.total = self.total.saturating_add(size);
        if self.total > self.max_body {
            return Err(ParseError::BodyTooLarge);
        }
        self.meta = 0;
        Ok(State::Data { left: size })
    }
}

/// A byte allowed inside an extension or a trailer field: visible, space, tab or obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// The size line that opens a chunk of `len` bytes.
pub(crate) fn chunk_head(len: usize) -> Vec<u8> {
    format!("{len:x}\r\n").into_bytes()
}

/// The CRLF that closes a chunk's data.
pub(crate) const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk with no trailers.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
