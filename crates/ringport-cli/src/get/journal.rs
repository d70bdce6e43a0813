//! The resume journal beside `FILE.part`: a header (URL, final URL, validators, length, block
//! size) and then one record per finished block, each with its own checksum and the block's.
//!
//! ```text
//! header   "RPGETJ01" | u32 n | n bytes: u64 total, u64 block, 4 × (u16 len, bytes):
//!          url, final url, ETag, Last-Modified | u32 crc32c(the n bytes)
//! record   u64 block index | u32 crc32c(block data) | u32 crc32c(the 12 bytes before)
//! ```
//!
//! Little-endian. Records are appended; a torn or zeroed tail fails its checksum and ends
//! the journal there (it is cut back before anything more is appended). On resume every
//! recorded block is read back and its checksum compared, so what counts as done is what is
//! provably on disk, whatever the kernel or the device did with the last writes.
//!
//! Order, per batch of finished blocks: the data was written → `fdatasync(FILE.part)` →
//! records appended → `fdatasync(journal)`. A record never claims data that was not first
//! written, and (with an honest device) was made durable.

use ringport::buf::BufResult;
use ringport::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

const MAGIC: &[u8; 8] = b"RPGETJ01";
const RECORD: usize = 16;

/// What the journal says about the download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub total: u64,
    pub block: u64,
    pub url: String,
    pub final_url: String,
    pub etag: String,
    pub last_modified: String,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.total.to_le_bytes());
        body.extend_from_slice(&self.block.to_le_bytes());
        for s in [&self.url, &self.final_url, &self.etag, &self.last_modified] {
            let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
            body.extend_from_slice(&(b.len() as u16).to_le_bytes());
            body.extend_from_slice(b);
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        out
    }

    /// The header at the start of `bytes` and its length; `None` when absent or damaged.
    pub fn decode(bytes: &[u8]) -> Option<(Header, usize)> {
        if bytes.get(..8)? != MAGIC {
            return None;
        }
        let n = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
        let body = bytes.get(12..12 + n)?;
        let crc = u32::from_le_bytes(bytes.get(12 + n..16 + n)?.try_into().ok()?);
        if crc32c::crc32c(body) != crc {
            return None;
        }
        let total = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
        let block = u64::from_le_bytes(body.get(8..16)?.try_into().ok()?);
        let mut at = 16;
        let mut strings = Vec::new();
        for _ in 0..4 {
            let len = u16::from_le_bytes(body.get(at..at + 2)?.try_into().ok()?) as usize;
            let s = body.get(at + 2..at + 2 + len)?;
            strings.push(String::from_utf8(s.to_vec()).ok()?);
            at += 2 + len;
        }
        // Exactly what `encode` writes: anything else is damage.
        if block == 0 || at != body.len() {
            return None;
        }
        let [url, final_url, etag, last_modified] = strings.try_into().ok()?;
        let header = Header {
            total,
            block,
            url,
            final_url,
            etag,
            last_modified,
        };
        Some((header, 16 + n))
    }
}

/// One record: block `index` holds data whose CRC32C is `crc`.
pub fn encode_record(index: u64, crc: u32) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[..8].copy_from_slice(&index.to_le_bytes());
    r[8..12].copy_from_slice(&crc.to_le_bytes());
    let check = crc32c::crc32c(&r[..12]);
    r[12..].copy_from_slice(&check.to_le_bytes());
    r
}

/// The records after the header, up to the first damaged one; and how many bytes they take.
pub fn decode_records(bytes: &[u8]) -> (Vec<(u64, u32)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(r) = bytes.get(at..at + RECORD) {
        let check = u32::from_le_bytes(r[12..].try_into().unwrap_or_default());
        if crc32c::crc32c(&r[..12]) != check {
            break;
        }
        let index = u64::from_le_bytes(r[..8].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(r[8..12].try_into().unwrap_or_default());
        out.push((index, crc));
        at += RECORD;
    }
    (out, at)
}

/// An open journal, appended to.
#[derive(Debug)]
pub struct Journal {
    file: File,
    len: u64,
}

impl Journal {
    /// A new journal with `header` (an old one at `path` is replaced), made durable.
    pub async fn create(path: &Path, header: &Header) -> io::Result<Journal> {
        let file = File::create(path).await?;
        let bytes = header.encode();
        let len = bytes.len() as u64;
        let BufResult(res, _) = file.write_all_at(bytes, 0).await;
        res?;
        file.sync_all().await?;
        Ok(Journal { file, len })
    }

    /// Opens the journal at `path`: its header and records, cut back after the last good
    /// record. `Ok(None)` when there is none or its header is damaged.
    pub async fn open(path: &Path) -> io::Result<Option<(Journal, Header, Vec<(u64, u32)>)>> {
        let bytes = match ringport::fs::read(path).await {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some((header, at)) = Header::decode(&bytes) else {
            return Ok(None);
        };
        let (records, used) = decode_records(&bytes[at..]);
        let file = OpenOptions::new().read(true).write(true).open(path).await?;
        let len = (at + used) as u64;
        if len < bytes.len() as u64 {
            file.set_len(len).await?;
        }
        Ok(Some((Journal { file, len }, header, records)))
    }

    /// Appends records for finished blocks, after making `data` durable, then makes the
    /// records durable.
    pub async fn commit(&mut self, data: &File, blocks: &[(u64, u32)]) -> io::Result<()> {
        if blocks.is_empty() {
            return Ok(());
        }
        data.sync_data().await?;
        let mut bytes = Vec::with_capacity(blocks.len() * RECORD);
        for &(i, crc) in blocks {
            bytes.extend_from_slice(&encode_record(i, crc));
        }
        let n = bytes.len() as u64;
        let BufResult(res, _) = self.file.write_all_at(bytes, self.len).await;
        res?;
        self.len += n;
        self.file.sync_data().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            total: 123_456_789,
            block: 1 << 20,
            url: "http://a/b".into(),
            final_url: "http://c/d".into(),
            etag: "\"x\"".into(),
            last_modified: String::new(),
        }
    }

    #[test]
    fn header_and_records_round_trip_and_damage_ends_them() {
        let h = header();
        let mut bytes = h.encode();
        let (back, used) = Header::decode(&bytes).unwrap();
        assert_eq!((back, used), (h.clone(), bytes.len()));
        for (i, crc) in [(0u64, 7u32), (5, 0xdead_beef), (2, 0)] {
            bytes.extend_from_slice(&encode_record(i, crc));
        }
        let (recs, n) = decode_records(&bytes[used..]);
        assert_eq!(recs, vec![(0, 7), (5, 0xdead_beef), (2, 0)]);
        assert_eq!(n, 48);
        // A torn tail (half a record) and a zeroed one end the records.
        let mut torn = bytes.clone();
        torn.extend_from_slice(&encode_record(9, 9)[..10]);
        assert_eq!(decode_records(&torn[used..]).0.len(), 3);
        let mut zeroed = bytes[..used + 16].to_vec();
        zeroed.extend_from_slice(&[0u8; 32]);
        assert_eq!(decode_records(&zeroed[used..]).0.len(), 1);
        // A flipped bit in a record ends the journal at that record.
        let mut flipped = bytes.clone();
        flipped[used + 16 + 3] ^= 1;
        assert_eq!(decode_records(&flipped[used..]).0, vec![(0, 7)]);
        // A damaged header is no journal at all.
        let mut bad = h.encode();
        let last = bad.len() - 6;
        bad[last] ^= 0x40;
        assert!(Header::decode(&bad).is_none());
        assert!(Header::decode(b"RPGETJ0").is_none());
    }
}
