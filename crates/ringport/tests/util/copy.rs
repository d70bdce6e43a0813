//! Helpers for the copy tests: pseudo-random source files and content checksums.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The block size the tests copy with: sizes around it are the interesting ones.
pub const BLOCK: usize = 64 << 10;
/// The large size.
pub const BIG: usize = 100 << 20;
/// Every size each pair is checked at.
pub const SIZES: [usize; 6] = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, BIG];

/// A content checksum: the length and a 64-bit hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sum {
    pub len: u64,
    pub hash: u64,
}

/// A streaming hash over 8-byte words (FNV-style mixing), so 100 MiB hashes quickly even
/// unoptimised. Feed it any chunking: it keeps a partial word between calls.
#[derive(Debug)]
pub struct Hasher {
    len: u64,
    hash: u64,
    partial: Vec<u8>,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher {
            len: 0,
            hash: 0xcbf2_9ce4_8422_2325,
            partial: Vec::with_capacity(8),
        }
    }
}

impl Hasher {
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !self.partial.is_empty() && !data.is_empty() {
            self.partial.push(data[0]);
            data = &data[1..];
            if self.partial.len() == 8 {
                let w = u64::from_le_bytes(self.partial[..].try_into().unwrap());
                self.mix(w);
                self.partial.clear();
            }
        }
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().unwrap()));
        }
        self.partial.extend_from_slice(words.remainder());
    }

    fn mix(&mut self, w: u64) {
        self.hash = (self.hash ^ w)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(29);
    }

    pub fn finish(mut self) -> Sum {
        let tail = std::mem::take(&mut self.partial);
        for b in tail {
            self.mix(u64::from(b) | 0x100);
        }
        Sum {
            len: self.len,
            hash: self.hash,
        }
    }
}

/// The checksum of everything `r` gives.
pub fn checksum_reader(mut r: impl Read) -> Sum {
    let mut h = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return h.finish(),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading for a checksum: {e}"),
        }
    }
}

/// The checksum of a file's content.
pub fn checksum(path: &Path) -> Sum {
    checksum_reader(std::fs::File::open(path).unwrap())
}

/// The checksum of bytes in memory.
pub fn checksum_bytes(data: &[u8]) -> Sum {
    let mut h = Hasher::default();
    h.update(data);
    h.finish()
}

/// Pseudo-random bytes, the same for the same seed, in chunks of up to 1 MiB.
pub fn pattern(len: usize, seed: u64, mut sink: impl FnMut(&[u8])) {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        let words = n.next_multiple_of(8).min(buf.len());
        for word in buf[..words].chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        sink(&buf[..n]);
        left -= n;
    }
}

/// Writes a source file of `len` pseudo-random bytes named `name` in `dir`.
pub fn source(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    pattern(len, seed, |chunk| f.write_all(chunk).unwrap());
    path
}
