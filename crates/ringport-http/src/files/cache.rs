//! The open-file cache of one `ServeDir` on one loop thread: what opening a path beneath the
//! root found (an open fd, its metadata, the response headers made from it), so that a hot
//! file costs no open, no stat and no close per request.
//!
//! **Staleness bound: 1 s.** An entry is used for at most [`FRESH`] after the open that made
//! it; the next request after that opens the path again (confined, as always) and replaces
//! the entry. So a file edited, replaced, created or deleted on disk is served fresh (or 404)
//! within 1 s, as lighttpd's stat cache and nginx's `open_file_cache_valid 1s` promise.
//! Within that second the entry's length and validators are as they were, and a file of up
//! to 64 KiB is sent from the bytes read on its first request (16 MiB of them per cache at
//! most). Failed opens are not cached. The cache is bounded
//! ([`ServeDir::cache_capacity`](super::ServeDir::cache_capacity), 1,024 entries by default,
//! at most an eighth of the fd limit): when full, the least recently used eighth is dropped;
//! stale entries are dropped every 10 s, so a deleted file's fd (and its disk space) is let go
//! within about 11 s.

use super::mime;
use bytes::Bytes;
use http::HeaderValue;
use ringport::fs::{File, Metadata};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long an entry is used without opening the path again.
pub(crate) const FRESH: Duration = Duration::from_secs(1);
/// Files up to this size keep their bytes in their entry, while the cache holds less than
/// [`BODY_BUDGET`] of them: a hit then copies nothing in user space and makes no file
/// operation (only the send's copy into the socket is left).
pub(crate) const BODY_MAX: u64 = 64 * 1024;
/// The most file bytes one cache keeps.
pub(crate) const BODY_BUDGET: usize = 16 << 20;
/// How often stale entries (and their fds) are dropped, so that a deleted file's space is
/// not held by the cache for long.
const SWEEP: Duration = Duration::from_secs(10);

/// What a path beneath the root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
}

/// The precompressed siblings of a file, in `ENCODINGS` order (`.br`, `.zst`, `.gz`).
pub(crate) type Siblings = Rc<[Option<Rc<Entry>>; 3]>;

/// One opened path and what the responses about it need.
#[derive(Debug)]
pub(crate) struct Entry {
    pub kind: Kind,
    pub file: Rc<File>,
    pub len: u64,
    /// `ETag`: a strong tag from the length and the modification time in nanoseconds.
    pub etag: HeaderValue,
    /// The modification time in whole seconds (what an HTTP date carries), and as a header.
    pub modified: Option<SystemTime>,
    pub last_modified: Option<HeaderValue>,
    /// The content type its name says (files only).
    pub content_type: HeaderValue,
    /// When it was opened.
    opened: Instant,
    /// The precompressed siblings (`x.br`, `x.zst`, `x.gz`), looked for on first need.
    pub siblings: RefCell<Option<Siblings>>,
    /// A small file's bytes (up to [`BODY_MAX`]), read on first need: a hit then sends them
    /// with no file operation at all.
    body: RefCell<Option<Bytes>>,
    /// The cache's count of kept bytes, given back when the entry goes.
    budget: Rc<Cell<usize>>,
}

impl Entry {
    pub fn new(
        file: File,
        meta: &Metadata,
        name: &[u8],
        now: Instant,
        budget: Rc<Cell<usize>>,
    ) -> Entry {
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        let len = meta.len();
        let since_epoch = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let nanos = since_epoch.map_or(0, |d| d.as_nanos());
        let etag = HeaderValue::try_from(format!("\"{len:x}-{nanos:x}\""))
            .unwrap_or(HeaderValue::from_static("\"0\""));
        let modified = since_epoch.map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs()));
        let last_modified =
            modified.and_then(|m| HeaderValue::try_from(httpdate::fmt_http_date(m)).ok());
        Entry {
            kind,
            file: Rc::new(file),
            len,
            etag,
            modified,
            last_modified,
            content_type: HeaderValue::from_static(mime::content_type(name)),
            opened: now,
            siblings: RefCell::new(None),
            body: RefCell::new(None),
            budget,
        }
    }

    /// The bytes kept, if any.
    pub fn body(&self) -> Option<Bytes> {
        self.body.borrow().clone()
    }

    /// Keeps `bytes` if the cache's budget allows; whether it did.
    pub fn keep_body(&self, bytes: &Bytes) -> bool {
        let held = self.budget.get();
        if held + bytes.len() > BODY_BUDGET || self.body.borrow().is_some() {
            return false;
        }
        self.budget.set(held + bytes.len());
        *self.body.borrow_mut() = Some(bytes.clone());
        true
    }

    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.opened) < FRESH
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(b) = self.body.get_mut().take() {
            self.budget.set(self.budget.get().saturating_sub(b.len()));
        }
    }
}

/// How often the cache answered, for diagnostics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that opened the path (absent, or older than 1 s).
    pub misses: u64,
    /// Entries held now (each an open fd).
    pub entries: usize,
}

struct Slot {
    entry: Rc<Entry>,
    used: Cell<u64>,
}

/// FNV-1a over the path's bytes: a few ns for a short path, where SipHash takes tens. Its
/// weakness to chosen collisions does not matter here: only paths that exist under the root
/// are ever inserted, so a client cannot fill the table with keys of its choosing.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<Box<[u8]>, Slot, BuildHasherDefault<Fnv>>;

/// The cache: relative path (as bytes) to entry.
pub(crate) struct Cache {
    map: RefCell<Map>,
    capacity: Cell<usize>,
    tick: Cell<u64>,
    hits: Cell<u64>,
    misses: Cell<u64>,
    swept: Cell<Instant>,
    /// File bytes the entries keep (see [`BODY_BUDGET`]).
    pub budget: Rc<Cell<usize>>,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache {
            map: RefCell::new(Map::default()),
            capacity: Cell::new(capacity),
            tick: Cell::new(0),
            hits: Cell::new(0),
            misses: Cell::new(0),
            swept: Cell::new(Instant::now()),
            budget: Rc::default(),
        }
    }

    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.set(capacity);
        self.map.borrow_mut().clear();
    }

    /// A fresh entry for `key`, counting a hit; `None` (a miss) when absent or stale.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Rc<Entry>> {
        if now.saturating_duration_since(self.swept.get()) >= SWEEP {
            self.swept.set(now);
            self.map
                .borrow_mut()
                .retain(|_, slot| slot.entry.fresh(now));
        }
        let map = self.map.borrow();
        let hit = map.get(key).filter(|slot| slot.entry.fresh(now));
        match hit {
            Some(slot) => {
                let tick = self.tick.get() + 1;
                self.tick.set(tick);
                slot.used.set(tick);
                self.hits.set(self.hits.get() + 1);
                Some(slot.entry.clone())
            }
            None => {
                self.misses.set(self.misses.get() + 1);
                None
            }
        }
    }

    /// Keeps `entry` for `key` (replacing a stale one), making room first when full.
    pub fn put(&self, key: &[u8], entry: Rc<Entry>) {
        let capacity = self.capacity.get();
        if capacity == 0 {
            return;
        }
        let mut map = self.map.borrow_mut();
        if map.len() >= capacity && !map.contains_key(key) {
            evict(&mut map, capacity);
        }
        let tick = self.tick.get() + 1;
        self.tick.set(tick);
        let slot = Slot {
            entry,
            used: Cell::new(tick),
        };
        map.insert(key.into(), slot);
    }

    /// Forgets everything (its fds close once no response holds them): out of fds.
    pub fn clear(&self) {
        self.map.borrow_mut().clear();
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            entries: self.map.borrow().len(),
        }
    }
}

/// Drops the least recently used eighth (at least one).
fn evict(map: &mut Map, capacity: usize) {
    let mut ticks: Vec<u64> = map.values().map(|s| s.used.get()).collect();
    let n = (capacity / 8).max(1).min(ticks.len());
    let (_, &mut cut, _) = ticks.select_nth_unstable(n - 1);
    map.retain(|_, slot| slot.used.get() > cut);
}
