//! `ServeDir`: static files from one directory, the way people expect a static server to
//! behave: confinement to the root in the kernel, hidden dotfiles, `index.html` or a
//! listing, single ranges, revalidation (304) and preconditions (412), precompressed
//! siblings, an open-file cache, and file bodies sent with no copy through user space.

mod cache;
mod cond;
mod encoding;
mod listing;
mod mime;
mod pages;
mod path;
#[cfg(unix)]
#[path = "sys_unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "sys_windows.rs"]
mod sys;

pub use cache::CacheStats;

use crate::Body;
use bytes::Bytes;
use cache::{Cache, Entry, Kind, Siblings, BODY_MAX};
use cond::{Part, Validators};
use encoding::{accepted_encodings, ENCODINGS};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use listing::{DirentKind, Row};
use pages::{error_page, h_insert, preflight, redirect_to_dir, set};
use path::Rel;
use ringport::fs::{File, OpenOptions};
use std::cell::Cell;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How often running out of fds is reported (the hook is called at most this often).
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What [`ServeDir::on_warning`] installs.
type WarningHook = Rc<dyn Fn(&str)>;

/// Serves the files under a directory.
///
/// - Only `GET` and `HEAD` (else 405); with [`cors`](Self::cors), `OPTIONS` preflights too.
/// - The URL path is percent-decoded, then split into segments: a `..` segment is refused
///   (403) however it is spelled; a hidden name (a segment starting with `.`, such as `.git`
///   or `.env`, except `.well-known`) is 404 unless [`hidden`](Self::hidden) is on.
/// - The file is opened beneath the root by the kernel, in one call (`openat2` with
///   `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`): relative symbolic links that stay inside are
///   followed, links that leave the root, and absolute links, are refused (403); with
///   [`follow_symlinks(false)`](Self::follow_symlinks) every link is. FIFOs, sockets and
///   devices are 403, never read.
/// - A directory without a trailing slash is redirected (301) to the name with one; with
///   one, it is answered with its `index.html` (unless [`index(false)`](Self::index)) or a
///   listing. A file with a trailing slash (`/file.txt/`) is 404.
/// - `ETag` and `Last-Modified`; `If-None-Match` / `If-Modified-Since` give 304, `If-Match` /
///   `If-Unmodified-Since` 412; one `bytes` range gives 206 (416 when outside), with
///   `If-Range`.
/// - With [`precompressed`](Self::precompressed) (on by default), `x.br`, `x.zst` or `x.gz`
///   is sent for `x` when the client's `Accept-Encoding` takes it, with `Content-Encoding`
///   and `Vary: Accept-Encoding`; range requests get the identity form.
/// - Running out of fds (`EMFILE`) is 503 with `Retry-After: 1` (and a warning).
/// - Opened files are kept in a per-loop cache (see [`cache_capacity`](Self::cache_capacity)):
///   a change on disk is seen within 1 s.
///
/// ```no_run
/// use ringport_http::{files::ServeDir, Server};
/// use std::rc::Rc;
///
/// let dir = Rc::new(ServeDir::new(".")?.cors(true));
/// ringport::run(async move {
///     Server::bind("127.0.0.1:8080")?
///         .serve(move |req| {
///             let dir = dir.clone();
///             async move { dir.handle(&req).await }
///         })
///         .await
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct ServeDir {
    root: PathBuf,
    /// The root, open: files are opened beneath it by the kernel (`RESOLVE_BENEATH`), so a
    /// symlink swapped in meanwhile still cannot lead out of it.
    root_dir: Rc<File>,
    opts: Options,
    cache: Rc<Cache>,
    warn: Option<WarningHook>,
    /// When the last warning went out.
    warned: Rc<Cell<Option<Instant>>>,
}

#[derive(Debug, Clone)]
struct Options {
    hidden: bool,
    index: bool,
    spa: bool,
    cors: bool,
    follow_symlinks: bool,
    precompressed: bool,
    cache_control: Option<HeaderValue>,
}

impl fmt::Debug for ServeDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeDir")
            .field("root", &self.root)
            .field("opts", &self.opts)
            .field("cache", &self.cache.stats())
            .finish_non_exhaustive()
    }
}

impl ServeDir {
    /// Serves `root`, which must be a directory. Its canonical path is taken here with a
    /// blocking call: create the `ServeDir` before serving.
    pub fn new(root: impl AsRef<Path>) -> io::Result<ServeDir> {
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        let root_dir = Rc::new(sys::open_root(&root)?);
        Ok(ServeDir {
            root,
            root_dir,
            opts: Options {
                hidden: false,
                index: true,
                spa: false,
                cors: false,
                follow_symlinks: true,
                precompressed: true,
                cache_control: None,
            },
            cache: Rc::new(Cache::new(sys::default_capacity())),
            warn: None,
            warned: Rc::default(),
        })
    }

    /// Serves hidden names (`.git`, `.env`, any segment starting with `.`) and lists them.
    /// Off by default: they are 404 and left out of listings.
    pub fn hidden(mut self, on: bool) -> ServeDir {
        self.opts.hidden = on;
        self
    }

    /// Answers a directory with its `index.html` when it has one (on by default); off, a
    /// directory is always listed.
    pub fn index(mut self, on: bool) -> ServeDir {
        self.opts.index = on;
        self
    }

    /// A single-page application: a path that names nothing is answered with the root's
    /// `index.html` (200), so client-side routes load the app. Off by default.
    pub fn spa(mut self, on: bool) -> ServeDir {
        self.opts.spa = on;
        self
    }

    /// Allows any origin to read the files (`Access-Control-Allow-Origin: *`, the headers a
    /// download needs exposed) and answers `OPTIONS` preflights. Off by default.
    pub fn cors(mut self, on: bool) -> ServeDir {
        self.opts.cors = on;
        self
    }

    /// Follows relative symbolic links that stay inside the root (on by default; an absolute
    /// link is refused with 403 wherever it points, as `RESOLVE_BENEATH` does); off, every
    /// link is refused with 403 (`RESOLVE_NO_SYMLINKS`).
    pub fn follow_symlinks(mut self, on: bool) -> ServeDir {
        self.opts.follow_symlinks = on;
        self
    }

    /// Sends `x.br`, `x.zst` or `x.gz` for `x` when the client accepts that encoding (on by
    /// default).
    pub fn precompressed(mut self, on: bool) -> ServeDir {
        self.opts.precompressed = on;
        self
    }

    /// The `Cache-Control` header of file responses (200, 206, 304); none by default.
    pub fn cache_control(mut self, value: HeaderValue) -> ServeDir {
        self.opts.cache_control = Some(value);
        self
    }

    /// How many opened paths the cache keeps (each an open fd); 0 turns it off. Default:
    /// 1,024, or an eighth of the fd limit when that is less.
    pub fn cache_capacity(self, entries: usize) -> ServeDir {
        self.cache.set_capacity(entries);
        self
    }

    /// Calls `hook` with a one-line message when something needs the operator's attention
    /// (out of fds), at most once every 10 s. It runs on the loop thread.
    pub fn on_warning(mut self, hook: impl Fn(&str) + 'static) -> ServeDir {
        self.warn = Some(Rc::new(hook));
        self
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How often the open-file cache answered.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Answers `req` from the directory; failures are short text pages with their status.
    pub async fn handle<B>(&self, req: &Request<B>) -> Response<Body> {
        let mut res = match self.respond(req).await {
            Ok(res) => res,
            Err(status) => error_page(status),
        };
        if self.opts.cors {
            let h = res.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(
                    "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, \
                     Content-Encoding",
                ),
            );
        }
        res
    }

    async fn respond<B>(&self, req: &Request<B>) -> Result<Response<Body>, StatusCode> {
        let method = req.method();
        if method == Method::OPTIONS && self.opts.cors {
            return Ok(preflight(req.headers()));
        }
        if method != Method::GET && method != Method::HEAD {
            let mut res = error_page(StatusCode::METHOD_NOT_ALLOWED);
            let allow = if self.opts.cors {
                "GET, HEAD, OPTIONS"
            } else {
                "GET, HEAD"
            };
            set(&mut res, header::ALLOW, allow);
            return Ok(res);
        }
        let rel = path::relative(req.uri().path(), self.opts.hidden)?;
        let now = Instant::now();
        let entry = match self.lookup(&rel.path, now).await {
            Err(StatusCode::NOT_FOUND) if self.opts.spa => {
                return self.spa_fallback(req, now).await;
            }
            other => other?,
        };
        match entry.kind {
            Kind::File if rel.slash => Err(StatusCode::NOT_FOUND),
            Kind::File => Ok(self.file(req, &rel.path, entry).await),
            Kind::Dir if !rel.slash && !rel.path.is_empty() => Ok(redirect_to_dir(req)),
            Kind::Dir => self.directory(req, &rel, entry, now).await,
        }
    }

    /// `--spa`: the root's `index.html` for a path that names nothing.
    async fn spa_fallback<B>(
        &self,
        req: &Request<B>,
        now: Instant,
    ) -> Result<Response<Body>, StatusCode> {
        match self.lookup(b"index.html", now).await {
            Ok(index) if index.kind == Kind::File => Ok(self.file(req, b"index.html", index).await),
            _ => Err(StatusCode::NOT_FOUND),
        }
    }

    /// A directory (its URL ends with `/`): its `index.html`, or a listing.
    async fn directory<B>(
        &self,
        req: &Request<B>,
        rel: &Rel,
        dir: Rc<Entry>,
        now: Instant,
    ) -> Result<Response<Body>, StatusCode> {
        if self.opts.index {
            let mut index = rel.path.clone();
            if !index.is_empty() {
                index.push(b'/');
            }
            index.extend_from_slice(b"index.html");
            match self.lookup(&index, now).await {
                Ok(entry) if entry.kind == Kind::File => {
                    return Ok(self.file(req, &index, entry).await);
                }
                Err(StatusCode::SERVICE_UNAVAILABLE) => {
                    return Err(StatusCode::SERVICE_UNAVAILABLE)
                }
                _ => {}
            }
        }
        let rows = self.rows(rel, &dir).await?;
        let shown = path::percent_decode(req.uri().path()).unwrap_or_default();
        let html = listing::page(rows, &String::from_utf8_lossy(&shown), rel.path.is_empty());
        let mut res = Response::new(Body::from(html));
        set(&mut res, header::CONTENT_TYPE, "text/html; charset=utf-8");
        Ok(res)
    }

    /// The listing's rows: every entry of the directory the server would serve, with what
    /// opening it (beneath the root, as a request would) says about it.
    async fn rows(&self, rel: &Rel, dir: &Entry) -> Result<Vec<Row>, StatusCode> {
        let dir_path = match sys::rel_path(&rel.path) {
            Some(p) => self.root.join(p),
            None => return Err(StatusCode::NOT_FOUND),
        };
        let names = sys::names(&dir.file, dir_path, self.opts.hidden)
            .await
            .map_err(|e| path::io_status(&e))?;
        let mut rows = Vec::with_capacity(names.len());
        for (name, kind) in names {
            if kind == DirentKind::Special {
                continue;
            }
            let mut child = rel.path.clone();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(&name);
            if kind == DirentKind::Unknown {
                // A link (or an unknown type): list it only if what it points at may be
                // served; never open a FIFO or a device for reading to find out.
                let target = match self.open_raw(&child, true).await {
                    Ok(f) => f.cached_metadata().is_ok_and(|m| m.is_file() || m.is_dir()),
                    Err(_) => false,
                };
                if !target {
                    continue;
                }
            }
            // Readable, opened as a request would open it.
            let Ok(file) = self.open_raw(&child, false).await else {
                continue;
            };
            let Ok(m) = file.cached_metadata() else {
                continue;
            };
            if !m.is_file() && !m.is_dir() {
                continue;
            }
            rows.push(Row {
                name,
                is_dir: m.is_dir(),
                len: m.len(),
                modified: m.modified().ok(),
            });
        }
        Ok(rows)
    }

    /// A fresh entry for `rel`: from the cache, or opened now (and cached).
    async fn lookup(&self, rel: &[u8], now: Instant) -> Result<Rc<Entry>, StatusCode> {
        if let Some(entry) = self.cache.get(rel, now) {
            return Ok(entry);
        }
        let entry = Rc::new(self.open(rel, now).await?);
        self.cache.put(rel, entry.clone());
        Ok(entry)
    }

    /// Opens `rel` beneath the root and takes its metadata: a regular file or a directory.
    async fn open(&self, rel: &[u8], now: Instant) -> Result<Entry, StatusCode> {
        let file = self
            .open_raw(rel, false)
            .await
            .map_err(|e| self.open_failed(&e, rel))?;
        // The inode of a file just opened is in memory: no thread hop for its metadata.
        let meta = file.cached_metadata().map_err(|e| path::io_status(&e))?;
        if meta.is_file() {
            // Opened non-blocking so that a FIFO could not stall the open; reads of a regular
            // file should wait for the disk like any other (on the ring: in the kernel).
            sys::clear_nonblock(&file);
        } else if !meta.is_dir() {
            return Err(StatusCode::FORBIDDEN); // a FIFO, a socket or a device: never read
        }
        Ok(Entry::new(file, &meta, rel, now, self.cache.budget.clone()))
    }

    /// Opens `rel` beneath the root: a `probe` (what a link points at, never opening a FIFO
    /// or device for reading) or a read (non-blocking where a FIFO could block the open).
    async fn open_raw(&self, rel: &[u8], probe: bool) -> io::Result<File> {
        let path = if rel.is_empty() {
            Path::new(".")
        } else {
            sys::rel_path(rel).ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "the name is not valid here")
            })?
        };
        OpenOptions::new()
            .read(true)
            .custom_flags(sys::open_flags(probe))
            .resolve_beneath(true)
            .resolve_no_symlinks(!self.opts.follow_symlinks)
            .open_at(&self.root_dir, path)
            .await
    }

    /// The status for a failed open; out of fds also empties the cache (its fds close once
    /// no response holds them) and warns.
    fn open_failed(&self, e: &io::Error, rel: &[u8]) -> StatusCode {
        let status = path::io_status(e);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            self.cache.clear();
            let name = String::from_utf8_lossy(rel);
            self.warning(&format!(
                "out of file descriptors ({e}) opening /{name}: answering 503 with Retry-After; \
                 raise the limit (ulimit -n)"
            ));
        }
        status
    }

    fn warning(&self, text: &str) {
        let Some(hook) = &self.warn else {
            return;
        };
        let now = Instant::now();
        if self
            .warned
            .get()
            .is_some_and(|t| now.saturating_duration_since(t) < WARN_EVERY)
        {
            return;
        }
        self.warned.set(Some(now));
        hook(text);
    }

    /// A file: 412 when a precondition fails, 304 when the client's copy is current, else all
    /// of it (200), the range asked for (206), or 416 for a range outside it.
    async fn file<B>(&self, req: &Request<B>, name: &[u8], entry: Rc<Entry>) -> Response<Body> {
        let headers = req.headers();
        let ranged = headers.contains_key(header::RANGE);
        let (rep, encoding, vary) = if self.opts.precompressed && !ranged {
            self.pick_encoding(headers, name, &entry).await
        } else {
            (entry.clone(), None, false)
        };
        let v = Validators {
            etag: rep.etag.to_str().unwrap_or(""),
            modified: rep.modified,
            len: rep.len,
        };
        let mut res = Response::new(Body::empty());
        let h = res.headers_mut();
        h.insert(header::ETAG, rep.etag.clone());
        if let Some(m) = &rep.last_modified {
            h.insert(header::LAST_MODIFIED, m.clone());
        }
        if vary {
            h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if let Some(cc) = &self.opts.cache_control {
            h.insert(header::CACHE_CONTROL, cc.clone());
        }
        if v.precondition_failed(headers) {
            let mut failed = error_page(StatusCode::PRECONDITION_FAILED);
            failed.headers_mut().extend(res.headers_mut().drain());
            return failed;
        }
        if v.not_modified(headers) {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            return res;
        }
        h_insert(&mut res, header::CONTENT_TYPE, entry.content_type.clone());
        let head = req.method() == Method::HEAD;
        if let Some(enc) = encoding {
            h_insert(
                &mut res,
                header::CONTENT_ENCODING,
                HeaderValue::from_static(enc),
            );
            *res.body_mut() = body(&rep, 0, rep.len, head).await;
            return res;
        }
        h_insert(
            &mut res,
            header::ACCEPT_RANGES,
            HeaderValue::from_static("bytes"),
        );
        match v.part(headers) {
            Part::Whole => *res.body_mut() = body(&rep, 0, rep.len, head).await,
            Part::Range { start, end } => {
                *res.status_mut() = StatusCode::PARTIAL_CONTENT;
                let range = format!("bytes {start}-{end}/{}", rep.len);
                set(&mut res, header::CONTENT_RANGE, &range);
                *res.body_mut() = body(&rep, start, end - start + 1, head).await;
            }
            Part::Unsatisfiable => {
                let mut res = error_page(StatusCode::RANGE_NOT_SATISFIABLE);
                set(
                    &mut res,
                    header::CONTENT_RANGE,
                    &format!("bytes */{}", rep.len),
                );
                return res;
            }
        }
        res
    }

    /// The representation to send for `entry` (named `name`): a precompressed sibling the
    /// client accepts, best first, or the file itself; with the encoding, and whether the
    /// answer varies by `Accept-Encoding` (some sibling exists).
    async fn pick_encoding(
        &self,
        headers: &HeaderMap,
        name: &[u8],
        entry: &Rc<Entry>,
    ) -> (Rc<Entry>, Option<&'static str>, bool) {
        let accepted = accepted_encodings(headers);
        if accepted.iter().all(|q| *q <= 0.0) {
            return (entry.clone(), None, false);
        }
        let siblings = self.siblings(name, entry).await;
        let vary = siblings.iter().any(Option::is_some);
        let best = (0..ENCODINGS.len())
            .filter(|&i| accepted[i] > 0.0 && siblings[i].is_some())
            .max_by(|&a, &b| accepted[a].total_cmp(&accepted[b]).then(b.cmp(&a)));
        match best {
            Some(i) => (
                siblings[i].clone().unwrap_or_else(|| entry.clone()),
                Some(ENCODINGS[i].1),
                vary,
            ),
            None => (entry.clone(), None, vary),
        }
    }

    /// `x.br`, `x.zst`, `x.gz` for `x`, looked for once per entry (so at most once a second).
    async fn siblings(&self, name: &[u8], entry: &Entry) -> Siblings {
        if let Some(found) = entry.siblings.borrow().as_ref() {
            return found.clone();
        }
        let now = Instant::now();
        let mut found: [Option<Rc<Entry>>; 3] = [None, None, None];
        for (slot, (suffix, _)) in found.iter_mut().zip(ENCODINGS) {
            let mut sibling = name.to_vec();
            sibling.extend_from_slice(suffix.as_bytes());
            if let Ok(e) = self.open(&sibling, now).await {
                if e.kind == Kind::File {
                    *slot = Some(Rc::new(e));
                }
            }
        }
        let found = Rc::new(found);
        *entry.siblings.borrow_mut() = Some(found.clone());
        found
    }
}

/// `len` bytes of the entry's file from `offset`: from the bytes it keeps (read now, on the
/// first request, for a small file), or the file itself (sent by the connection).
async fn body(entry: &Entry, offset: u64, len: u64, head: bool) -> Body {
    if entry.len > BODY_MAX || head {
        return Body::file(entry.file.clone(), offset, len);
    }
    let bytes = match entry.body() {
        Some(bytes) => bytes,
        None => {
            let want = entry.len as usize;
            let read = entry.file.read_exact_at(Vec::with_capacity(want), 0);
            let (res, buf) = read.await.into_parts();
            if res.is_err() {
                // Shorter than its metadata said (truncated meanwhile): send what is there.
                return Body::file(entry.file.clone(), offset, len);
            }
            let bytes = Bytes::from(buf);
            // Over the cache's budget it is not kept: this once from memory, then the file.
            entry.keep_body(&bytes);
            bytes
        }
    };
    let start = offset as usize;
    Body::from(bytes.slice(start..start + len as usize))
}
