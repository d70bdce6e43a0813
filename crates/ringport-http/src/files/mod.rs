//! `ServeDir`: static files from one directory, with listings, content types, single ranges,
//! `ETag`/`Last-Modified` revalidation, and file bodies sent zero-copy.

mod cond;
mod listing;
mod mime;
mod path;

use crate::Body;
use cond::{Part, Validators};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use ringport::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Serves the files under a directory.
///
/// Only `GET` and `HEAD` (else 405). The URL path is percent-decoded, then split into
/// segments: a `..` segment is refused (403) however it is spelled, and the file's canonical
/// path (symlinks followed, on the blocking pool) must lie inside the root, so a symlink
/// that leaves it is refused too (403). A directory is answered with its `index.html` or a
/// listing; one without a trailing slash is redirected (301) to the name with one.
///
/// ```no_run
/// use ringport_http::{files::ServeDir, Server};
/// use std::rc::Rc;
///
/// let dir = Rc::new(ServeDir::new(".")?);
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
#[derive(Debug, Clone)]
pub struct ServeDir {
    root: PathBuf,
    /// The root, open: files are opened beneath it by the kernel (`RESOLVE_BENEATH`), so a
    /// symlink swapped in after the path check still cannot lead out of it.
    root_dir: Rc<File>,
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
        let root_dir = Rc::new(File::from_std(std::fs::File::open(&root)?));
        Ok(ServeDir { root, root_dir })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answers `req` from the directory; failures are short text pages with their status.
    pub async fn handle<B>(&self, req: &Request<B>) -> Response<Body> {
        match self.respond(req).await {
            Ok(res) => res,
            Err(status) => error_page(status),
        }
    }

    async fn respond<B>(&self, req: &Request<B>) -> Result<Response<Body>, StatusCode> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut res = error_page(StatusCode::METHOD_NOT_ALLOWED);
            set(&mut res, header::ALLOW, "GET, HEAD");
            return Ok(res);
        }
        let url_path = req.uri().path();
        let rel = path::relative(url_path)?;
        let at_root = rel.as_os_str().is_empty();
        let target = path::resolve(&self.root, self.root.join(rel)).await?;
        let meta = ringport::fs::metadata(&target)
            .await
            .map_err(|e| path::io_status(&e))?;
        if meta.is_file() {
            return self.file(req, target).await;
        }
        if !meta.is_dir() {
            return Err(StatusCode::FORBIDDEN); // a FIFO or a device: never opened
        }
        if !url_path.ends_with('/') {
            return Ok(redirect_to_dir(req));
        }
        let index = path::resolve(&self.root, target.join("index.html")).await;
        if let Ok(index) = index {
            if ringport::fs::metadata(&index)
                .await
                .is_ok_and(|m| m.is_file())
            {
                return self.file(req, index).await;
            }
        }
        let shown = path::percent_decode(url_path).unwrap_or_default();
        let html = listing::page(target, &String::from_utf8_lossy(&shown), at_root)
            .await
            .map_err(|e| path::io_status(&e))?;
        let mut res = Response::new(Body::from(html));
        set(&mut res, header::CONTENT_TYPE, "text/html; charset=utf-8");
        Ok(res)
    }

    /// A file: 304 when the client's copy is current, else all of it (200), the range asked
    /// for (206), or 416 for a range outside it.
    async fn file<B>(&self, req: &Request<B>, path: PathBuf) -> Result<Response<Body>, StatusCode> {
        let rel = path
            .strip_prefix(&self.root)
            .map_err(|_| StatusCode::FORBIDDEN)?;
        let file = OpenOptions::new()
            .read(true)
            .resolve_beneath(true)
            .open_at(&self.root_dir, rel)
            .await
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EXDEV) => StatusCode::FORBIDDEN, // it would have left the root
                _ => path::io_status(&e),
            })?;
        let meta = file.metadata().await.map_err(|e| path::io_status(&e))?;
        let v = Validators::new(&meta);
        let mut res = Response::new(Body::empty());
        set(&mut res, header::ETAG, &v.etag);
        if let Some(modified) = v.modified {
            set(
                &mut res,
                header::LAST_MODIFIED,
                &httpdate::fmt_http_date(modified),
            );
        }
        if v.not_modified(req.headers()) {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            return Ok(res);
        }
        set(&mut res, header::ACCEPT_RANGES, "bytes");
        set(&mut res, header::CONTENT_TYPE, mime::content_type(&path));
        match v.part(req.headers()) {
            Part::Whole => *res.body_mut() = Body::file(file, 0, v.len),
            Part::Range { start, end } => {
                *res.status_mut() = StatusCode::PARTIAL_CONTENT;
                let range = format!("bytes {start}-{end}/{}", v.len);
                set(&mut res, header::CONTENT_RANGE, &range);
                *res.body_mut() = Body::file(file, start, end - start + 1);
            }
            Part::Unsatisfiable => {
                let mut res = error_page(StatusCode::RANGE_NOT_SATISFIABLE);
                set(
                    &mut res,
                    header::CONTENT_RANGE,
                    &format!("bytes */{}", v.len),
                );
                return Ok(res);
            }
        }
        Ok(res)
    }
}

/// 301 to the same path with a trailing slash (and the same query). Leading slashes are
/// collapsed to one: `//host/dir` would otherwise send the client to another host.
fn redirect_to_dir<B>(req: &Request<B>) -> Response<Body> {
    let uri = req.uri();
    let path = uri.path().trim_start_matches('/');
    let location = match uri.query() {
        Some(q) => format!("/{path}/?{q}"),
        None => format!("/{path}/"),
    };
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::MOVED_PERMANENTLY;
    set(&mut res, header::LOCATION, &location);
    res
}

fn error_page(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Body::from(format!("{status}\n")));
    *res.status_mut() = status;
    set(&mut res, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    res
}

/// Sets a header whose value is built from trusted parts (skipped if it were invalid).
fn set(res: &mut Response<Body>, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, value);
    }
}
