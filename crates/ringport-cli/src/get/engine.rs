//! The download from start to end: the first request, naming, the journal (new or resumed),
//! one stream or many lanes, and the finish (flush, checksum, rename, flush the directory).

use super::journal::{Header, Journal};
use super::lane::{self, Source};
use super::plan::Plan;
use super::ui::{Display, Events, Mode, Value};
use super::util::{
    backoff, race, retry_after, Count, Either, Limiter, Locked, Notify, RETRY_AFTER_CAP,
};
use super::{name, Connections, Failure, GetError, HttpClient, Opts, Outcome, Stream};
use ringport::buf::{BufResult, IoBuf};
use ringport::fs::{File, OpenOptions};
use ringport::io::{Progress, ProgressRecorder};
use ringport::signal::Signal;
use ringport::JoinHandle;
use ringport_http::client::{redirect::Policy, HttpsConnector, Kind, Response, Scheme};
use ringport_http::http::header;
use ringport_http::http::StatusCode;
use ringport_http::parse::ContentRange;
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// The most connections `-n auto` grows to.
pub const AUTO_MAX: usize = 16;
/// How often the controller looks at the lanes.
const TICK: Duration = Duration::from_millis(100);

/// Ctrl-C or SIGTERM, seen by a task of its own so that no delivery is lost, and told to
/// every waiter.
#[derive(Debug, Clone)]
pub struct Stop {
    inner: Rc<StopInner>,
}

#[derive(Debug, Default)]
struct StopInner {
    fired: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
    watcher: RefCell<Option<JoinHandle<()>>>,
}

impl Stop {
    pub fn new(mut sigint: Signal, mut sigterm: Signal) -> Stop {
        let stop = Stop {
            inner: Rc::new(StopInner::default()),
        };
        let s = stop.clone();
        let watcher = ringport::spawn(async move {
            let _ = race(sigint.recv(), sigterm.recv()).await;
            s.inner.fired.set(true);
            let waiters = std::mem::take(&mut *s.inner.waiters.borrow_mut());
            waiters.into_iter().for_each(Waker::wake);
        });
        *stop.inner.watcher.borrow_mut() = Some(watcher);
        stop
    }

    pub fn fired(&self) -> bool {
        self.inner.fired.get()
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.fired() {
                return Poll::Ready(());
            }
            self.inner.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// A finished download.
#[derive(Debug)]
pub struct Done {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: Option<String>,
    pub elapsed: Duration,
    /// Bytes found on disk from an earlier run.
    pub resumed: u64,
    /// Bytes received in this run.
    pub fetched: u64,
    pub connections: usize,
}

impl Done {
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "saved {} ({} bytes in {:.2} s, {:.1} MiB/s",
            self.path.display(),
            self.bytes,
            secs,
            self.fetched as f64 / secs / (1 << 20) as f64
        );
        if self.connections > 1 {
            let _ = write!(s, ", {} connections", self.connections);
        }
        if self.resumed > 0 {
            let _ = write!(s, ", {} bytes resumed", self.resumed);
        }
        s.push(')');
        s
    }
}

/// Runs the download, restarting it once per change when `--restart-on-change` asks.
pub async fn download(opts: &Opts, mode: Mode, stop: &mut Stop) -> Result<Outcome, GetError> {
    let mut restarts = 0;
    loop {
        let (progress, rec) = Progress::recorder();
        let (display, events) = Display::start(mode, progress);
        let res = attempt(opts, &events, rec, stop, restarts > 0).await;
        match &res {
            Ok(Outcome::Done(d)) => events.emit(
                "done",
                &[
                    ("path", d.path.display().to_string().into()),
                    ("bytes", d.bytes.into()),
                    ("sha256", d.sha256.clone().into()),
                    ("elapsed", Value::Num(d.elapsed.as_secs_f64())),
                    ("resumed", d.resumed.into()),
                    ("fetched", d.fetched.into()),
                    ("connections", d.connections.into()),
                ],
            ),
            Ok(Outcome::Interrupted(m)) => {
                events.emit("interrupted", &[("message", m.as_str().into())])
            }
            Err(e) => events.emit(
                "error",
                &[
                    ("code", (e.kind as u64).into()),
                    ("message", e.message.as_str().into()),
                ],
            ),
        }
        display.finish();
        match res {
            Err(e) if e.kind == Failure::Changed && opts.restart_on_change && restarts < 3 => {
                restarts += 1;
                if matches!(mode, Mode::Plain | Mode::Bar) {
                    eprintln!("ringport: {e}; starting over");
                }
            }
            other => return other,
        }
    }
}

/// What the first response said.
struct First {
    res: Response<Stream>,
    /// Ranges work: a 206 with a total, no content coding.
    ranges: bool,
    total: Option<u64>,
}

async fn attempt(
    opts: &Opts,
    events: &Events,
    rec: ProgressRecorder,
    stop: &Stop,
    fresh: bool,
) -> Result<Outcome, GetError> {
    let started = Instant::now();
    let client = lane_client(
        opts.connector.clone(),
        (opts.connect_timeout, opts.read_timeout),
        opts.max_redirects,
    );
    let first = match race(first_response(&client, opts, events), stop.wait()).await {
        Either::Left(r) => r?,
        Either::Right(()) => {
            return Ok(Outcome::Interrupted(
                "interrupted before the download began".into(),
            ))
        }
    };
    let asked_https =
        ringport_http::client::Url::parse(&opts.urls[0]).is_ok_and(|u| u.scheme() == Scheme::Https);
    if asked_https && first.res.url().scheme() == Scheme::Http {
        // Loud, even with --quiet, like --insecure: the download is no longer protected.
        eprintln!(
            "ringport: WARNING: {} redirected from https:// to {}: this download is NOT \
             encrypted or authenticated",
            opts.urls[0],
            first.res.url()
        );
        events.emit("downgrade", &[("url", first.res.url().to_string().into())]);
    }
    let output = output_path(opts, &first.res)?;
    let part = with_suffix(&output, ".part");
    let journal_path = with_suffix(&output, ".part.journal");
    events.emit(
        "response",
        &[
            ("url", first.res.url().to_string().into()),
            ("status", (first.res.status().as_u16() as u64).into()),
            ("length", first.total.into()),
            ("ranges", if first.ranges { "yes" } else { "no" }.into()),
            ("etag", first.res.etag().map(str::to_string).into()),
            ("output", output.display().to_string().into()),
        ],
    );
    if first.total == Some(0) {
        return finish_empty(&output, &part, &journal_path, started).await;
    }
    if !first.ranges {
        let _ = ringport::fs::remove_file(&journal_path).await;
        return single(opts, events, rec, stop, first, output, part, started).await;
    }
    let total = first.total.unwrap_or(0);
    let paths = (output, part, journal_path);
    segmented(
        opts, &client, events, rec, stop, first, paths, total, started, fresh,
    )
    .await
}

/// `Range: bytes=0-` to the first URL, retried like any range; 416 with `*/0` is an empty file.
async fn first_response(
    client: &HttpClient,
    opts: &Opts,
    events: &Events,
) -> Result<First, GetError> {
    let url = &opts.urls[0];
    let mut tries = 0;
    loop {
        tries += 1;
        let req = client
            .get(url)
            .headers(opts.headers.clone())
            .header(header::ACCEPT_ENCODING, "identity")
            .range_from(0);
        let wait = match req.send().await {
            Ok(res) => match res.status() {
                StatusCode::PARTIAL_CONTENT => {
                    let cr = res.content_range();
                    let coded = res
                        .headers()
                        .get(header::CONTENT_ENCODING)
                        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
                    match cr {
                        Some(ContentRange::Bytes { first: 0, total: Some(t), .. }) => {
                            return Ok(First { res, ranges: !coded, total: Some(t) });
                        }
                        _ => {
                            return Err(GetError::new(
                                Failure::Protocol,
                                format!("{url}: a 206 answer to bytes=0- without a usable Content-Range ({:?})", res.headers().get(header::CONTENT_RANGE)),
                            ))
                        }
                    }
                }
                StatusCode::OK => {
                    let total = res.content_length();
                    return Ok(First {
                        res,
                        ranges: false,
                        total,
                    });
                }
                StatusCode::RANGE_NOT_SATISFIABLE => match res.content_range() {
                    Some(ContentRange::Unsatisfied { total: 0 }) => {
                        return Ok(First {
                            res,
                            ranges: false,
                            total: Some(0),
                        })
                    }
                    _ => {
                        return Err(GetError::new(
                            Failure::Protocol,
                            format!("{url}: 416 for bytes=0- from a file that is not empty"),
                        ))
                    }
                },
                s if retryable_status(s) => {
                    let after = res
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry_after);
                    if tries > opts.retries {
                        return Err(status_error(url, s));
                    }
                    let reason = format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""));
                    if let Some(after) = after {
                        events.note(&retry_after_note(&reason, after));
                    }
                    let wait = after
                        .unwrap_or_else(|| backoff(tries, 0))
                        .max(backoff(tries, 1) / 4);
                    (reason, wait)
                }
                StatusCode::BAD_REQUEST if res.url().scheme() == Scheme::Http => {
                    return Err(bad_request(url, res).await)
                }
                s if s.is_redirection() && res.headers().contains_key(header::LOCATION) => {
                    // Only `--max-redirects 0` hands a redirect back (the client follows the
                    // rest): a limit gone over, like one more redirect than any other limit.
                    let to = res.headers()[header::LOCATION].to_str().unwrap_or("?");
                    return Err(GetError::new(
                        Failure::Redirect,
                        format!(
                            "{url}: the server redirects ({} {}) to {to}, and --max-redirects 0 \
                             follows none",
                            s.as_u16(),
                            s.canonical_reason().unwrap_or("")
                        ),
                    ));
                }
                s => return Err(status_error(url, s)),
            },
            Err(e) => {
                let err = client_error(&e);
                // A broken answer is tried again like a network failure (a proxy or a
                // restart may mend it), and keeps its own exit code if it lasts.
                let again = matches!(err.kind, Failure::Network | Failure::Protocol);
                if !again || tries > opts.retries {
                    return Err(err);
                }
                (e.to_string(), backoff(tries, 0))
            }
        };
        events.emit(
            "retry",
            &[
                ("lane", 0u64.into()),
                ("reason", wait.0.as_str().into()),
                ("wait", Value::Num(wait.1.as_secs_f64())),
                ("attempt", (tries as u64).into()),
            ],
        );
        ringport::time::sleep(wait.1).await;
    }
}

/// A 400 to plain HTTP: nginx's (and others') answer to plain HTTP on a TLS port says so in
/// its body ("The plain HTTP request was sent to HTTPS port"); then the fix is `https://`.
async fn bad_request(url: &str, mut res: Response<Stream>) -> GetError {
    let BufResult(r, body) = res.read(Vec::with_capacity(2048)).await;
    let text = String::from_utf8_lossy(&body[..*r.as_ref().unwrap_or(&0)]).to_ascii_lowercase();
    if text.contains("https port") {
        return GetError::new(
            Failure::Tls,
            format!("{url}: the server answered 400, saying this is its HTTPS port: use https://"),
        );
    }
    status_error(url, StatusCode::BAD_REQUEST)
}

/// 408, 429 and 5xx are worth another try.
pub fn retryable_status(s: StatusCode) -> bool {
    s == StatusCode::REQUEST_TIMEOUT || s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
}

pub fn status_error(url: &str, s: StatusCode) -> GetError {
    GetError::new(
        Failure::Status,
        format!(
            "{url}: the server answered {} {}",
            s.as_u16(),
            s.canonical_reason().unwrap_or("")
        ),
    )
}

/// The note for a wait a server asked for (`Retry-After`), so a long one is not taken for a
/// hang.
pub fn retry_after_note(reason: &str, after: Duration) -> String {
    let capped = if after >= RETRY_AFTER_CAP {
        " (the most get waits per try)"
    } else {
        ""
    };
    format!(
        "the server answered {reason} and asked to retry in {} s (Retry-After); waiting{capped}",
        after.as_secs()
    )
}

/// The exit-code class of a client error.
pub fn client_error(e: &ringport_http::client::Error) -> GetError {
    let kind = match e.kind() {
        Kind::Redirect => Failure::Redirect,
        Kind::Url => Failure::Args,
        Kind::Unsupported => Failure::Other,
        Kind::Tls => Failure::Tls,
        Kind::Status(_) => Failure::Status,
        Kind::Protocol => Failure::Protocol,
        _ => Failure::Network,
    };
    GetError::new(kind, e.to_string())
}

/// `-o`, or the name from `Content-Disposition` (`-O`) or the URL.
fn output_path<S>(opts: &Opts, res: &Response<S>) -> Result<PathBuf, GetError>
where
    S: ringport::io::AsyncRead + ringport::io::AsyncWrite,
{
    let cd = res
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .filter(|_| opts.remote_name)
        .and_then(name::from_content_disposition);
    let chosen = cd.is_some();
    let from_server = || {
        cd.clone()
            .or_else(|| name::from_url_path(res.url().path()))
            .or_else(|| {
                ringport_http::client::Url::parse(&opts.urls[0])
                    .ok()
                    .and_then(|u| name::from_url_path(u.path()))
            })
            .unwrap_or_else(|| "index.html".to_string())
    };
    let path = match &opts.output {
        // `-o FILE` was checked with the arguments.
        Some(p) if !p.is_dir() => return Ok(p.clone()),
        Some(p) => p.join(from_server()),
        None => PathBuf::from(from_server()),
    };
    not_special(&path)
        .map_err(|why| GetError::new(Failure::Disk, format!("{}: {why}", path.display())))?;
    // A name the server picked does not replace a file that is there (curl -J refuses too):
    // the server could otherwise pick any name in the directory.
    if chosen && std::fs::symlink_metadata(&path).is_ok() {
        let msg = format!(
            "{}: the server named the file (Content-Disposition, -O) and it exists already; \
             remove it or choose a name with -o",
            path.display()
        );
        return Err(GetError::new(Failure::Disk, msg));
    }
    Ok(path)
}

/// Refuses an output path that names a device, a FIFO or a socket: the download is saved
/// into `OUT.part` and renamed over `OUT`, which would put a plain file in the node's place
/// (`-o /dev/null` would replace the device for every program on the machine).
pub fn not_special(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => Err("not a regular file (a device, FIFO or \
             socket): get saves the download beside it and renames it into place, which would \
             replace it; give a file path"
            .into()),
        _ => Ok(()),
    }
}

/// `-o FILE` as the download writes it. A symbolic link is followed (the file it names gets
/// the download and the link stays, as `curl -o` writes through one), and a read-only file
/// is refused: the download is renamed over its path, which the file's mode does not stop,
/// so without this check a file the user protected would be replaced.
pub fn resolve_output(out: &Path) -> Result<PathBuf, String> {
    let mut path = out.to_path_buf();
    // As the kernel's own limit on links followed in one lookup.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)
                    .map_err(|e| format!("cannot read the symbolic link: {e}"))?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(m) if m.is_file() && m.permissions().readonly() => {
                return Err(format!(
                    "{} is read-only: get saves beside it and renames the download over it, \
                     which would replace it; make it writable or remove it",
                    path.display()
                ));
            }
            _ => return Ok(path),
        }
    }
    Err("too many levels of symbolic links".into())
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// An empty file: no journal, nothing to fetch.
async fn finish_empty(
    output: &Path,
    part: &Path,
    journal: &Path,
    started: Instant,
) -> Result<Outcome, GetError> {
    let _ = ringport::fs::remove_file(journal).await;
    let file = File::create(part)
        .await
        .map_err(|e| GetError::disk(&format!("creating {}", part.display()), &e))?;
    file.sync_all()
        .await
        .map_err(|e| GetError::disk(&format!("flushing {}", part.display()), &e))?;
    let _ = file.close().await;
    publish(part, output).await?;
    Ok(Outcome::Done(Done {
        path: output.to_path_buf(),
        bytes: 0,
        sha256: Some(hex(&Sha256::digest(b""))),
        elapsed: started.elapsed(),
        resumed: 0,
        fetched: 0,
        connections: 1,
    }))
}

/// A server without ranges (or a length): one stream into the part file.
#[allow(clippy::too_many_arguments)] // one call site, the steps of one download
async fn single(
    opts: &Opts,
    events: &Events,
    rec: ProgressRecorder,
    stop: &Stop,
    first: First,
    output: PathBuf,
    part: PathBuf,
    started: Instant,
) -> Result<Outcome, GetError> {
    let mut res = first.res;
    rec.set_total(first.total);
    events.emit(
        "plan",
        &[("connections", 1u64.into()), ("segmented", "no".into())],
    );
    events.live.store(1, std::sync::atomic::Ordering::Release);
    let file = create_part(&part, first.total).await?;
    let limiter = opts.limit_rate.map(|r| RefCell::new(Limiter::new(r)));
    let mut hasher = opts.hash.then(Sha256::new);
    let copy = async {
        let mut pos = 0u64;
        let mut buf = Vec::with_capacity(lane::READ_BUF);
        loop {
            let want = limiter
                .as_ref()
                .map_or(lane::READ_BUF, |l| l.borrow().chunk());
            if let Some(l) = &limiter {
                let wait = l.borrow_mut().take(want);
                if !wait.is_zero() {
                    ringport::time::sleep(wait).await;
                }
            }
            buf.clear();
            let BufResult(r, b) = res.read(buf.slice(..want)).await;
            buf = b.into_inner();
            let n = match r {
                Ok(0) => return Ok(pos),
                Ok(n) => n,
                Err(e) => {
                    return Err(GetError::new(
                        if e.kind() == std::io::ErrorKind::InvalidData { Failure::Protocol } else { Failure::Network },
                        format!("{} (the server does not serve ranges, so the download cannot go on from byte {pos})", e),
                    ))
                }
            };
            buf.truncate(n);
            if let Some(h) = hasher.as_mut() {
                h.update(&buf);
            }
            let BufResult(w, b) = file.write_all_at(buf, pos).await;
            buf = b;
            w.map_err(|e| GetError::disk(&format!("writing {}", part.display()), &e))?;
            pos += n as u64;
            rec.add(n as u64);
        }
    };
    let written = match race(copy, stop.wait()).await {
        Either::Left(r) => r,
        Either::Right(()) => {
            let _ = ringport::fs::remove_file(&part).await;
            return Ok(Outcome::Interrupted(
                "interrupted; the server does not serve ranges, so nothing was kept".into(),
            ));
        }
    };
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = ringport::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    if res.excess() > 0 {
        let _ = ringport::fs::remove_file(&part).await;
        return Err(GetError::new(
            Failure::Protocol,
            format!(
                "{}: the server sent more bytes than its Content-Length ({written}): the length cannot be trusted",
                res.url()
            ),
        ));
    }
    file.sync_all()
        .await
        .map_err(|e| GetError::disk(&format!("flushing {}", part.display()), &e))?;
    let _ = file.close().await;
    let sha = hasher.map(|h| hex(&h.finalize()));
    verify_checksum(opts, sha.as_deref(), &part)?;
    publish(&part, &output).await?;
    Ok(Outcome::Done(Done {
        path: output,
        bytes: written,
        sha256: sha,
        elapsed: started.elapsed(),
        resumed: 0,
        fetched: written,
        connections: 1,
    }))
}

/// A new part file of `len` bytes, allocated up front so that a full disk shows at once.
async fn create_part(part: &Path, len: Option<u64>) -> Result<File, GetError> {
    if let Some(len) = len.filter(|&l| l > i64::MAX as u64) {
        // No file system holds it (file offsets are signed 64-bit): the server's length is
        // wrong, not the disk.
        return Err(GetError::new(
            Failure::Protocol,
            format!(
                "the server gives the file a length of {len} bytes, more than any file can hold"
            ),
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(part)
        .await
        .map_err(|e| GetError::disk(&format!("creating {}", part.display()), &e))?;
    if let Some(len) = len.filter(|&l| l > 0) {
        match file.allocate(0, len).await {
            Ok(()) => {}
            Err(e) if crate::sys::cannot_allocate(&e) => {
                file.set_len(len)
                    .await
                    .map_err(|e| GetError::disk(&format!("sizing {}", part.display()), &e))?;
            }
            Err(e) => {
                let _ = ringport::fs::remove_file(part).await;
                return Err(GetError::disk(
                    &format!("allocating {len} bytes for {}", part.display()),
                    &e,
                ));
            }
        }
    }
    Ok(file)
}

/// The block size for a file of `total` bytes: 1 MiB, less for small files (so that they
/// still split), never below 64 KiB.
fn block_size(total: u64) -> u64 {
    (total / 64).next_power_of_two().clamp(64 << 10, 1 << 20)
}

/// The state every lane shares, on whichever loop it runs: `Send + Sync`. What belongs to a
/// loop (a lane's client and its connections, its handle on the part file) is in
/// [`lane::Local`].
pub struct Shared {
    pub opts: Opts,
    pub events: Events,
    pub rec: ProgressRecorder,
    pub total: u64,
    pub part: PathBuf,
    pub plan: Locked<Plan>,
    pub sources: Locked<Vec<Source>>,
    /// Finished blocks (index, CRC32C) not in the journal yet.
    pub finished: Locked<Vec<(u64, u32)>>,
    pub commit: Notify,
    pub limiter: Option<Locked<Limiter>>,
    pub rates: Locked<Vec<f64>>,
    /// Lanes running (counted until a lane's future is dropped, aborted or not).
    pub live: Count,
    /// Lanes running on each loop, for placing the next one.
    pub per_loop: Vec<Count>,
    pub allowed: Count,
    pub strikes: Count,
    pub fatal: Locked<Option<GetError>>,
    /// The last lane that gave up while others ran: why, should they all end without the
    /// file complete.
    pub gave_up: Locked<Option<GetError>>,
    pub wake: Notify,
    pub fetched: AtomicU64,
    pub min_steal: u64,
    /// When the budget last shrank (503, 429, a reset).
    pub shrunk_at: Locked<Option<Instant>>,
}

impl Shared {
    /// Records a fatal error (the first one wins) and wakes the controller.
    pub fn fail(&self, e: GetError) {
        self.fatal.lock().get_or_insert(e);
        self.wake.notify();
    }

    /// Fewer connections after the server pushed back.
    pub fn shrink(&self) {
        self.allowed.update(|now| (now / 2).max(1));
        *self.shrunk_at.lock() = Some(Instant::now());
    }

    /// A lane's recent rate, when it has one.
    pub fn rate_of(&self, lane: usize) -> Option<f64> {
        self.rates.lock().get(lane).copied().filter(|r| *r > 0.0)
    }

    pub fn set_rate(&self, lane: usize, rate: f64) {
        let mut rates = self.rates.lock();
        if rates.len() <= lane {
            rates.resize(lane + 1, 0.0);
        }
        rates[lane] = rate;
    }

    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }
}

/// Ranges work: a journal, a plan, lanes, and a controller that adds lanes while it helps.
#[allow(clippy::too_many_arguments)] // one call site, the steps of one download
async fn segmented(
    opts: &Opts,
    client: &HttpClient,
    events: &Events,
    rec: ProgressRecorder,
    stop: &Stop,
    first: First,
    (output, part, journal_path): (PathBuf, PathBuf, PathBuf),
    total: u64,
    started: Instant,
    fresh: bool,
) -> Result<Outcome, GetError> {
    let res = first.res;
    let header = Header {
        total,
        block: block_size(total),
        url: opts.urls[0].clone(),
        final_url: res.url().to_string(),
        etag: res.etag().unwrap_or_default().to_string(),
        last_modified: res.last_modified().unwrap_or_default().to_string(),
    };
    let (file, mut journal, done, block) =
        open_or_resume(opts, &header, &part, &journal_path, fresh).await?;
    let plan = Plan::new(total, block, done);
    let resumed = plan.done_bytes();
    rec.set_total(Some(total));
    rec.start();
    if resumed > 0 {
        rec.add(resumed);
    }
    let mut sources = vec![Source::primary(&opts.urls[0], &res)];
    sources.extend(opts.urls[1..].iter().map(|u| Source::mirror(u)));
    let allowed = match opts.connections {
        Connections::Fixed(n) => n,
        Connections::Auto => 1,
    };
    let shared = Arc::new(Shared {
        opts: opts.clone(),
        events: events.clone(),
        rec,
        total,
        part: part.clone(),
        plan: Locked::new(plan),
        sources: Locked::new(sources),
        finished: Locked::new(Vec::new()),
        commit: Notify::default(),
        limiter: opts.limit_rate.map(|r| Locked::new(Limiter::new(r))),
        rates: Locked::new(Vec::new()),
        live: Count::new(0),
        per_loop: (0..ringport::cores()).map(|_| Count::new(0)).collect(),
        allowed: Count::new(allowed),
        strikes: Count::new(0),
        fatal: Locked::new(None),
        gave_up: Locked::new(None),
        wake: Notify::default(),
        fetched: AtomicU64::new(0),
        min_steal: block.max(256 << 10),
        shrunk_at: Locked::new(None),
    });
    let file = Rc::new(file);
    // Lanes on this loop share the first request's client (and its pooled connection).
    let here = lane::Local {
        client: client.clone(),
        file: file.clone(),
    };
    events.emit(
        "plan",
        &[
            ("length", total.into()),
            ("block", block.into()),
            ("resumed", resumed.into()),
            ("segments", shared.plan.lock().segments().len().into()),
            (
                "connections",
                match opts.connections {
                    Connections::Fixed(n) => Value::Int(n as u64),
                    Connections::Auto => "auto".into(),
                },
            ),
        ],
    );
    let mut lanes = LaneSet::new(here);
    // The first response goes on as lane 0 when its range is still needed.
    let first_seg = shared.plan.lock().claim_at(0, 0);
    match first_seg {
        Some(seg) => lanes.spawn(&shared, Some((res, seg))),
        None => drop(res),
    }
    let stopped = Rc::new(Cell::new(false));
    let committer = ringport::spawn(committer(
        shared.clone(),
        file.clone(),
        journal.take(),
        stopped.clone(),
    ));
    let outcome = control(&shared, &mut lanes, stop).await;
    // Every lane stops where it is (those on other loops a moment later: waited for, so that
    // no lane writes after this); finished blocks go into the journal.
    lanes.abort_all();
    while shared.live.get() > 0 {
        shared.wake.wait().await;
    }
    shared.events.live.store(0, Ordering::Release);
    stopped.set(true);
    shared.commit.notify();
    let _ = committer.await;
    let fetched = shared.fetched();
    let connections = lanes.next;
    match outcome {
        Control::Interrupted => {
            let _ = file.sync_data().await;
            let done = shared.plan.lock().done_bytes();
            return Ok(Outcome::Interrupted(format!(
                "interrupted with {done} of {total} bytes on disk; the same command resumes (kept {} and its journal)",
                part.display()
            )));
        }
        Control::Failed(e) => {
            // Bytes of another file go; after any other failure (network, disk, a server
            // that broke the protocol: the journal holds only blocks that arrived whole in
            // answers that passed every check) the part and its journal stay, so the same
            // command resumes.
            if e.kind == Failure::Changed {
                let _ = ringport::fs::remove_file(&part).await;
                let _ = ringport::fs::remove_file(&journal_path).await;
                return Err(e);
            }
            let kept = format!(
                "{} (kept {}: the same command resumes)",
                e.message,
                part.display()
            );
            return Err(GetError::new(e.kind, kept));
        }
        Control::Complete => {}
    }
    file.sync_all()
        .await
        .map_err(|e| GetError::disk(&format!("flushing {}", part.display()), &e))?;
    let sha = if opts.hash {
        Some(hash_file(&part).await?)
    } else {
        None
    };
    if let Err(e) = verify_checksum(opts, sha.as_deref(), &part) {
        let _ = ringport::fs::remove_file(&part).await;
        let _ = ringport::fs::remove_file(&journal_path).await;
        return Err(e);
    }
    publish(&part, &output).await?;
    let _ = ringport::fs::remove_file(&journal_path).await;
    let _ = sync_dir(&output).await;
    Ok(Outcome::Done(Done {
        path: output,
        bytes: total,
        sha256: sha,
        elapsed: started.elapsed(),
        resumed,
        fetched,
        connections,
    }))
}

/// Appends finished blocks to the journal as they come (data flushed first), until told to
/// stop; then writes what is left.
async fn committer(
    shared: Arc<Shared>,
    file: Rc<File>,
    mut journal: Option<Journal>,
    stopped: Rc<Cell<bool>>,
) {
    loop {
        let batch = std::mem::take(&mut *shared.finished.lock());
        if let Some(j) = journal.as_mut() {
            if let Err(e) = j.commit(&file, &batch).await {
                shared.fail(GetError::disk("writing the journal", &e));
                return;
            }
        }
        if stopped.get() && shared.finished.lock().is_empty() {
            return;
        }
        shared.commit.wait().await;
    }
}

/// Opens the part file and journal: resumed when they match the server's file, new
/// otherwise. Gives the blocks proven on disk.
async fn open_or_resume(
    opts: &Opts,
    header: &Header,
    part: &Path,
    journal_path: &Path,
    fresh: bool,
) -> Result<(File, Option<Journal>, Vec<bool>, u64), GetError> {
    let found = if fresh {
        None
    } else {
        Journal::open(journal_path)
            .await
            .map_err(|e| GetError::disk(&format!("reading {}", journal_path.display()), &e))?
    };
    let part_exists = ringport::fs::metadata(part).await.is_ok();
    if let (Some((journal, old, records)), true) = (found, part_exists) {
        if let Some(why) = mismatch(&old, header) {
            if !opts.restart_on_change {
                return Err(GetError::new(
                    Failure::Changed,
                    format!(
                        "{} was started from another version of the file: {why}; remove it and {} to start over, or pass --restart-on-change",
                        part.display(),
                        journal_path.display()
                    ),
                ));
            }
        } else {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(part)
                .await
                .map_err(|e| GetError::disk(&format!("opening {}", part.display()), &e))?;
            let done = verify_blocks(&file, &old, &records).await?;
            return Ok((file, Some(journal), done, old.block));
        }
    }
    let file = create_part(part, Some(header.total)).await?;
    let journal = Journal::create(journal_path, header)
        .await
        .map_err(|e| GetError::disk(&format!("creating {}", journal_path.display()), &e))?;
    let _ = sync_dir(part).await;
    let n = Plan::blocks_for(header.total, header.block);
    Ok((file, Some(journal), vec![false; n], header.block))
}

/// Why a journal's file is not the server's file now, if it is not.
fn mismatch(old: &Header, now: &Header) -> Option<String> {
    if old.total != now.total {
        return Some(format!("its length was {}, now {}", old.total, now.total));
    }
    if !old.etag.is_empty() && !now.etag.is_empty() && old.etag != now.etag {
        return Some(format!("its ETag was {}, now {}", old.etag, now.etag));
    }
    if old.etag.is_empty()
        && !old.last_modified.is_empty()
        && !now.last_modified.is_empty()
        && old.last_modified != now.last_modified
    {
        return Some(format!(
            "it was last modified {}, now {}",
            old.last_modified, now.last_modified
        ));
    }
    if old.etag.is_empty() != now.etag.is_empty() {
        return Some("the server's validators are not the same kind as before".into());
    }
    None
}

/// Reads back every recorded block and keeps those whose checksum matches.
async fn verify_blocks(
    file: &File,
    h: &Header,
    records: &[(u64, u32)],
) -> Result<Vec<bool>, GetError> {
    let n = Plan::blocks_for(h.total, h.block);
    let mut done = vec![false; n];
    let mut buf = Vec::with_capacity(h.block as usize);
    for &(i, crc) in records {
        let Some(slot) = done.get_mut(i as usize) else {
            continue;
        };
        if *slot {
            continue;
        }
        let start = i * h.block;
        let len = (h.total - start).min(h.block) as usize;
        buf.clear();
        let BufResult(r, b) = file.read_exact_at(buf.slice(..len), start).await;
        buf = b.into_inner();
        match r {
            Ok(()) => *slot = crc32c::crc32c(&buf[..len]) == crc,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(GetError::disk("reading back the part file", &e)),
        }
    }
    Ok(done)
}

enum Control {
    Complete,
    Interrupted,
    Failed(GetError),
}

/// Watches the lanes until every block is done, a lane fails for good, or Ctrl-C: spawns
/// lanes up to the budget, and on `-n auto` doubles the budget while that raises the rate.
async fn control(shared: &Arc<Shared>, lanes: &mut LaneSet, stop: &Stop) -> Control {
    let auto = shared.opts.connections == Connections::Auto;
    let cap = match shared.opts.connections {
        Connections::Fixed(n) => n,
        Connections::Auto => AUTO_MAX,
    };
    let mut growth = Growth::new(auto);
    loop {
        if stop.fired() {
            return Control::Interrupted;
        }
        let fatal = shared.fatal.lock().take();
        if let Some(e) = fatal {
            return Control::Failed(e);
        }
        if shared.plan.lock().complete() {
            return Control::Complete;
        }
        growth.tick(shared, cap);
        // After a push-back, one more connection every two quiet seconds.
        let shrunk_at = *shared.shrunk_at.lock();
        if let Some(at) = shrunk_at {
            if at.elapsed() > Duration::from_secs(2) && shared.allowed.get() < cap {
                shared.allowed.add(1);
                *shared.shrunk_at.lock() = Some(Instant::now());
            }
        }
        while shared.live.get() < shared.allowed.get()
            && shared.plan.lock().has_work(shared.min_steal)
        {
            lanes.spawn(shared, None);
        }
        if shared.live.get() == 0 && !shared.plan.lock().has_work(0) {
            // Nothing running and nothing to give out, yet not complete: the lanes gave up
            // one by one (each while another still ran), or, a bug, blocks were lost.
            if let Some(e) = shared.gave_up.lock().take() {
                return Control::Failed(e);
            }
            return Control::Failed(GetError::new(
                Failure::Other,
                "no lane is running and no range is waiting, yet blocks are missing",
            ));
        }
        let tick = ringport::time::sleep(TICK);
        let _ = race(race(shared.wake.wait(), tick), stop.wait()).await;
    }
}

/// `-n auto`: double the budget while the rate rises by a sixth or more.
struct Growth {
    on: bool,
    measured_from: Option<(Instant, u64)>,
    last_rate: f64,
}

impl Growth {
    fn new(on: bool) -> Growth {
        Growth {
            on,
            measured_from: None,
            last_rate: 0.0,
        }
    }

    fn tick(&mut self, shared: &Shared, cap: usize) {
        if !self.on {
            return;
        }
        let fetched = shared.fetched();
        let Some((since, bytes)) = self.measured_from else {
            if fetched > 0 {
                self.measured_from = Some((Instant::now(), fetched));
            }
            return;
        };
        let dt = since.elapsed().as_secs_f64();
        if dt < 0.4 {
            return;
        }
        let rate = (fetched - bytes) as f64 / dt;
        let left = shared.total.saturating_sub(shared.plan.lock().done_bytes()) as f64;
        let worth = rate > 0.0 && left / rate > 1.0;
        if self.last_rate == 0.0 || rate > self.last_rate * 1.16 {
            if worth && shared.allowed.get() < cap && shared.shrunk_at.lock().is_none() {
                let next = (shared.allowed.get() * 2).min(cap);
                shared.allowed.set(next);
                shared.events.emit(
                    "grow",
                    &[("connections", next.into()), ("rate", Value::Num(rate))],
                );
            }
            self.last_rate = rate;
            self.measured_from = Some((Instant::now(), fetched));
        } else {
            // No gain from the last doubling: stay here.
            shared.events.emit(
                "settle",
                &[
                    ("connections", shared.live.get().into()),
                    ("rate", Value::Num(rate)),
                ],
            );
            shared.allowed.set(shared.live.get().max(1));
            self.on = false;
        }
    }
}

/// The lane tasks, spread over the runtime's loops; dropping the set aborts them (their I/O
/// is cancelled, each on its own loop).
pub struct LaneSet {
    handles: Vec<JoinHandle<()>>,
    next: usize,
    /// What lanes on this loop (loop 0) use.
    here: lane::Local,
}

impl LaneSet {
    fn new(here: lane::Local) -> LaneSet {
        LaneSet {
            handles: Vec::new(),
            next: 0,
            here,
        }
    }

    /// Starts lane `next` on the loop with the fewest lanes (ties to the lowest, so one loop
    /// runs everything when there is one): the first response's lane always here, where its
    /// connection is.
    fn spawn(&mut self, shared: &Arc<Shared>, first: Option<(Response<Stream>, u64)>) {
        let id = self.next;
        self.next += 1;
        let core = if first.is_some() {
            0
        } else {
            (0..shared.per_loop.len())
                .min_by_key(|&c| shared.per_loop[c].get())
                .unwrap_or(0)
        };
        // Counted before it starts, uncounted when its future is dropped (lane::Running).
        let live = shared.live.add(1);
        shared.per_loop[core].add(1);
        shared.events.live.store(live, Ordering::Release);
        shared
            .events
            .emit("lane", &[("lane", id.into()), ("loop", core.into())]);
        self.handles.retain(|h| !h.is_finished());
        let running = lane::Running::new(shared.clone(), core);
        let handle = if core == ringport::current_core() {
            let local = self.here.clone();
            ringport::spawn(lane::run(running, local, id, first))
        } else {
            let opts = &shared.opts;
            let (connector, timeouts) = (
                opts.connector.clone(),
                (opts.connect_timeout, opts.read_timeout),
            );
            let redirects = opts.max_redirects;
            let part = shared.part.clone();
            ringport::spawn_on(core, move || async move {
                // This loop's own client (its sockets are this loop's) over the shared
                // connector (one TLS session cache), and its own handle on the part file.
                let client = lane_client(connector, timeouts, redirects);
                let file = match OpenOptions::new().write(true).open(&part).await {
                    Ok(f) => Rc::new(f),
                    Err(e) => {
                        let what = format!("opening {} on loop {core}", part.display());
                        running.shared().fail(GetError::disk(&what, &e));
                        return;
                    }
                };
                lane::run(running, lane::Local { client, file }, id, None).await
            })
        };
        self.handles.push(handle);
    }

    fn abort_all(&mut self) {
        for h in &mut self.handles {
            h.abort();
        }
        self.handles.clear();
    }
}

impl Drop for LaneSet {
    fn drop(&mut self) {
        self.abort_all();
    }
}

/// The client the download makes its requests with: `get`'s timeouts and redirect limit.
fn lane_client(
    connector: HttpsConnector,
    (connect, read): (Duration, Duration),
    redirects: usize,
) -> HttpClient {
    ringport_http::Client::builder()
        .connector(connector)
        .connect_timeout(connect)
        .read_timeout(read)
        .redirect(Policy::limited(redirects))
        .max_connections_per_host(64 + 2)
        .build()
}

fn verify_checksum(opts: &Opts, sha: Option<&str>, part: &Path) -> Result<(), GetError> {
    let (Some(want), Some(got)) = (opts.checksum, sha) else {
        return Ok(());
    };
    let want = hex(&want);
    if want != got {
        return Err(GetError::new(
            Failure::Checksum,
            format!(
                "checksum mismatch for {}: expected sha256:{want}, got sha256:{got}",
                part.display()
            ),
        ));
    }
    Ok(())
}

/// The part file's SHA-256, read back on the blocking pool.
async fn hash_file(part: &Path) -> Result<String, GetError> {
    let path = part.to_path_buf();
    let res = ringport::spawn_blocking(move || -> std::io::Result<String> {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&path)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 4 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(hex(&h.finalize()));
            }
            h.update(&buf[..n]);
        }
    })
    .await;
    match res {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(GetError::disk("reading back the part file", &e)),
        Err(e) => Err(GetError::new(Failure::Other, format!("hashing: {e}"))),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `part` becomes `output` (atomically), and the directory entry is made durable.
async fn publish(part: &Path, output: &Path) -> Result<(), GetError> {
    ringport::fs::rename(part, output).await.map_err(|e| {
        GetError::disk(
            &format!("renaming {} to {}", part.display(), output.display()),
            &e,
        )
    })?;
    sync_dir(output)
        .await
        .map_err(|e| GetError::disk("flushing the directory", &e))
}

/// Flushes the directory that holds `path`.
async fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::sys::sync_dir(&dir).await
}
