//! A lane: one connection's worth of work. It takes a waiting range or steals one, asks for
//! it with `Range` and `If-Range`, checks the answer against the first response, and writes
//! the bytes at their offsets, checksumming each block on the way; on failure it retries
//! with backoff (`Retry-After` honoured), from the start of the block it was in.

use super::engine::{client_error, retry_after_note, retryable_status, status_error, Shared};
use super::plan::LaneId;
use super::ui::Value;
use super::util::{backoff, retry_after};
use super::{Failure, GetError, HttpClient, Stream};
use ringport::buf::{BufResult, IoBuf};
use ringport::fs::File;
use ringport_http::client::Response;
use ringport_http::http::header;
use ringport_http::http::StatusCode;
use ringport_http::parse::ContentRange;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes asked of the socket per read.
pub const READ_BUF: usize = 256 * 1024;
/// A lane gathers small reads into one piece for as long as this takes at its rate.
const BATCH_SECS: f64 = 0.005;
/// A tail is hedged when its owner needs more than this many seconds for it.
const HEDGE_AFTER: f64 = 0.5;

/// A URL serving the file, with the validators it answered with.
#[derive(Debug, Clone)]
pub struct Source {
    pub url: String,
    /// The `If-Range` value: a strong ETag, else Last-Modified; `None` until known, or when
    /// the server gives neither.
    pub if_range: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// A mirror whose answers contradicted the file is not used again.
    pub disabled: bool,
    /// Its validators are known (the primary's from the first response).
    pub known: bool,
}

impl Source {
    pub fn primary(url: &str, res: &Response<Stream>) -> Source {
        let etag = res.etag().map(str::to_string);
        Source {
            url: url.to_string(),
            if_range: validator(etag.as_deref(), res.last_modified()),
            etag,
            last_modified: res.last_modified().map(str::to_string),
            disabled: false,
            known: true,
        }
    }

    pub fn mirror(url: &str) -> Source {
        Source {
            url: url.to_string(),
            if_range: None,
            etag: None,
            last_modified: None,
            disabled: false,
            known: false,
        }
    }
}

/// What goes in `If-Range`: a strong ETag (RFC 9110 13.1.5 forbids weak ones), else the date.
fn validator(etag: Option<&str>, last_modified: Option<&str>) -> Option<String> {
    match etag {
        Some(e) if !e.starts_with("W/") => Some(e.to_string()),
        _ => last_modified.map(str::to_string),
    }
}

/// How one attempt at a range ended badly.
struct Failed {
    /// `None`: give up on the download.
    retry_after: Option<Duration>,
    fatal: Option<GetError>,
    reason: String,
    /// The server pushed back (503, 429, a reset): fewer connections.
    shrink: bool,
    /// The exit-code class if the retries run out.
    kind: Failure,
}

impl Failed {
    fn retry(reason: impl Into<String>) -> Failed {
        Failed {
            retry_after: None,
            fatal: None,
            reason: reason.into(),
            shrink: false,
            kind: Failure::Network,
        }
    }

    /// The server's answer broke the rules: retried, and a protocol error in the end.
    fn protocol(reason: impl Into<String>) -> Failed {
        Failed {
            kind: Failure::Protocol,
            ..Failed::retry(reason)
        }
    }

    fn fatal(e: GetError) -> Failed {
        Failed {
            retry_after: None,
            reason: e.message.clone(),
            kind: e.kind,
            fatal: Some(e),
            shrink: false,
        }
    }
}

/// What a lane uses that belongs to the loop it runs on.
#[derive(Clone)]
pub struct Local {
    /// Requests go through this loop's client: its connections are this loop's sockets.
    pub client: HttpClient,
    /// The part file, opened on this loop.
    pub file: Rc<File>,
}

/// A running lane, counted in `live` and in its loop's count from before it starts until its
/// future is dropped: at its end, or when it is aborted (on its loop, perhaps a moment after
/// the abort), so the controller can wait until no lane can write any more.
pub struct Running {
    shared: Arc<Shared>,
    core: usize,
}

impl Running {
    /// Takes over the counts the spawner added for a lane on loop `core`.
    pub fn new(shared: Arc<Shared>, core: usize) -> Running {
        Running { shared, core }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.per_loop[self.core].sub(1);
        let live = self.shared.live.sub(1);
        self.shared.events.live.store(live, Ordering::Release);
        self.shared.wake.notify();
    }
}

/// Runs lane `id` until there is no work, the budget shrinks below it, or the download fails.
pub async fn run(
    running: Running,
    local: Local,
    id: LaneId,
    mut first: Option<(Response<Stream>, u64)>,
) {
    let shared = running.shared();
    let mut fails = 0u32;
    let mut buf = Vec::with_capacity(READ_BUF);
    loop {
        if shared.fatal.lock().is_some() {
            break;
        }
        if first.is_none() && shared.live.get() > shared.allowed.get() {
            break;
        }
        let (seg, res) = match first.take() {
            Some((res, seg)) => (seg, Some(res)),
            None => match claim(shared, id) {
                Some(seg) => (seg, None),
                None => break,
            },
        };
        let mut written = shared.plan.lock().seg(seg).map_or(0, |s| s.start);
        let before = written;
        let began = Instant::now();
        let result = fetch(shared, &local, id, seg, res, &mut written, &mut buf).await;
        // The lane's rate over this whole request too (short ones never fill a window).
        let secs = began.elapsed().as_secs_f64();
        if written > before && secs > 0.0 {
            let inst = (written - before) as f64 / secs;
            let old = shared.rate_of(id).unwrap_or(inst);
            shared.set_rate(id, old * 0.5 + inst * 0.5);
        }
        match result {
            Ok(()) => {
                shared.plan.lock().finish(seg);
                fails = 0;
            }
            Err(f) => {
                shared.plan.lock().release(seg, written);
                if let Some(e) = f.fatal {
                    shared.fail(e);
                    break;
                }
                if written > before {
                    fails = 0;
                }
                fails += 1;
                let strikes = shared.strikes.add(1) as u32;
                if f.shrink {
                    shared.shrink();
                }
                let limit = shared.opts.retries * shared.allowed.get().max(1) as u32;
                if fails > shared.opts.retries || strikes > limit {
                    // `fails` counts this lane's tries at its range; `strikes` every failed
                    // request of the download.
                    let e = GetError::new(
                        f.kind,
                        format!(
                            "giving up after {fails} tries at one range ({strikes} failed \
                             requests in all): {}",
                            f.reason
                        ),
                    );
                    if shared.live.get() <= 1 || strikes > limit {
                        shared.fail(e);
                    } else {
                        // The others carry on with the range; if they all stop, this is why.
                        *shared.gave_up.lock() = Some(e);
                        shared.wake.notify();
                    }
                    break;
                }
                if let Some(after) = f.retry_after {
                    shared.events.note(&retry_after_note(&f.reason, after));
                }
                let wait = f
                    .retry_after
                    .unwrap_or_else(|| backoff(fails, id as u64))
                    .max(backoff(fails, id as u64 + 7) / 4);
                shared.events.emit(
                    "retry",
                    &[
                        ("lane", id.into()),
                        ("reason", f.reason.as_str().into()),
                        ("wait", Value::Num(wait.as_secs_f64())),
                        ("attempt", (fails as u64).into()),
                        ("from", written.into()),
                    ],
                );
                ringport::time::sleep(wait).await;
            }
        }
    }
    // `running` goes here: the lane is no longer counted.
}

/// A waiting range, or the tail of the one expected to finish last.
fn claim(shared: &Shared, id: LaneId) -> Option<u64> {
    let mut plan = shared.plan.lock();
    if let Some(seg) = plan.claim_waiting(id) {
        return Some(seg);
    }
    let own = shared.rate_of(id);
    let others: Vec<f64> = shared
        .rates
        .lock()
        .iter()
        .copied()
        .filter(|r| *r > 0.0)
        .collect();
    let mean = (!others.is_empty()).then(|| others.iter().sum::<f64>() / others.len() as f64);
    let thief = own.or(mean);
    let (seg, steal, kind) = match plan.steal(id, |l| shared.rate_of(l), thief, shared.min_steal) {
        Some((seg, steal)) => (seg, steal, "steal"),
        None => {
            let (seg, steal) = plan.hedge(id, |l| shared.rate_of(l), thief, HEDGE_AFTER)?;
            (seg, steal, "hedge")
        }
    };
    shared.events.emit(
        kind,
        &[
            ("lane", id.into()),
            ("from", steal.from.into()),
            ("at", steal.at.into()),
            ("end", steal.end.into()),
        ],
    );
    Some(seg)
}

/// Which source lane `id` asks: the lanes spread over the usable ones.
fn pick_source(shared: &Shared, id: LaneId) -> Option<usize> {
    let sources = shared.sources.lock();
    let usable: Vec<usize> = (0..sources.len())
        .filter(|&i| !sources[i].disabled)
        .collect();
    usable.get(id % usable.len().max(1)).copied()
}

/// Fetches segment `seg` into the part file, from its start (a block boundary) to its end
/// (which a steal may lower meanwhile). `written` follows what is on disk.
async fn fetch(
    shared: &Shared,
    local: &Local,
    id: LaneId,
    seg: u64,
    first: Option<Response<Stream>>,
    written: &mut u64,
    buf: &mut Vec<u8>,
) -> Result<(), Failed> {
    let start = *written;
    let block = shared.plan.lock().block();
    if reached_done(shared, seg, start, block) {
        return Ok(());
    }
    let mut res = match first {
        Some(res) => res,
        None => request(shared, &local.client, id, seg, start).await?,
    };
    let mut pos = start;
    let mut crc = 0u32;
    let mut window = (Instant::now(), 0u64);
    loop {
        let end = shared.plan.lock().end_of(seg);
        if pos >= end || reached_done(shared, seg, pos, block) {
            return Ok(());
        }
        let mut want = ((end - pos) as usize).min(READ_BUF);
        if let Some(l) = &shared.limiter {
            let wait = {
                let mut l = l.lock();
                want = want.min(l.chunk());
                l.take(want)
            };
            if !wait.is_zero() {
                ringport::time::sleep(wait).await;
            }
        }
        let mut b = std::mem::take(buf);
        b.clear();
        let BufResult(r, slice) = res.read(b.slice(..want)).await;
        let mut b = slice.into_inner();
        let mut n = match r {
            Ok(0) => {
                *buf = b;
                let msg = format!("the response ended at byte {pos}, before {end}");
                return Err(Failed::retry(msg));
            }
            Ok(n) => n,
            Err(e) => {
                *buf = b;
                return Err(read_failed(e));
            }
        };
        // Small reads (a TLS stream returns about one record, 16 KiB, per read) are gathered
        // into pieces of up to `want` before they are checksummed and written, for as long as
        // gathering takes under BATCH_SECS at this lane's rate: a fast lane makes as few file
        // writes over TLS as over plain TCP, and a slow one is not held back. A failure on the
        // way is reported after the bytes before it are written.
        let min = shared
            .rate_of(id)
            .map_or(0, |r| (r * BATCH_SECS) as usize)
            .min(want);
        let mut failed = None;
        while n < min && pos + (n as u64) < shared.plan.lock().end_of(seg) {
            let BufResult(r, slice) = res.read(b.slice(n..want)).await;
            b = slice.into_inner();
            match r {
                Ok(0) => break,
                Ok(m) => n += m,
                Err(e) => {
                    failed = Some(read_failed(e));
                    break;
                }
            }
        }
        // A steal may have lowered the end while the read was out: keep only our bytes.
        let end = shared.plan.lock().end_of(seg);
        let n = n.min((end.saturating_sub(pos)) as usize);
        if n == 0 {
            *buf = b;
            return Ok(());
        }
        b.truncate(n);
        shared.plan.lock().set_claimed(seg, pos + n as u64);
        // Checksums of the blocks this piece finishes (blocks start where segments do).
        let mut finished = Vec::new();
        let mut at = 0usize;
        while at < n {
            let abs = pos + at as u64;
            let block_end = ((abs / block) + 1) * block;
            let block_end = block_end.min(shared.total);
            let take = ((block_end - abs) as usize).min(n - at);
            crc = crc32c::crc32c_append(crc, &b[at..at + take]);
            at += take;
            if abs + take as u64 == block_end {
                finished.push((abs / block, crc));
                crc = 0;
            }
        }
        let BufResult(w, b) = local.file.write_all_at(b, pos).await;
        *buf = b;
        if let Err(e) = w {
            let what = format!("writing {}", shared.part.display());
            return Err(Failed::fatal(GetError::disk(&what, &e)));
        }
        pos += n as u64;
        *written = pos;
        shared.fetched.fetch_add(n as u64, Ordering::Relaxed);
        if !finished.is_empty() {
            // Committed once: a block a hedge finished first is not recorded again.
            let mut plan = shared.plan.lock();
            finished.retain(|&(i, _)| plan.mark_done(i as usize));
            let bytes: u64 = finished
                .iter()
                .map(|&(i, _)| {
                    let (a, b) = plan.block_range(i as usize);
                    b - a
                })
                .sum();
            drop(plan);
            shared.rec.add(bytes);
            shared.finished.lock().extend(finished);
            shared.strikes.set(0);
            shared.commit.notify();
        }
        // The lane's rate, over windows of a fifth of a second.
        window.1 += n as u64;
        let dt = window.0.elapsed().as_secs_f64();
        if dt >= 0.2 {
            let inst = window.1 as f64 / dt;
            let old = shared.rate_of(id).unwrap_or(inst);
            shared.set_rate(id, old * 0.5 + inst * 0.5);
            window = (Instant::now(), 0);
        }
        if let Some(f) = failed {
            return Err(f);
        }
    }
}

/// A failed body read: retried; a protocol error in the end when the bytes were bad.
fn read_failed(e: std::io::Error) -> Failed {
    let reset = e.kind() == std::io::ErrorKind::ConnectionReset;
    let mut f = if e.kind() == std::io::ErrorKind::InvalidData {
        Failed::protocol(e.to_string())
    } else {
        Failed::retry(e.to_string())
    };
    f.shrink = reset;
    f
}

/// At a block boundary whose block is done (a hedge got there first): the segment ends here.
fn reached_done(shared: &Shared, seg: u64, pos: u64, block: u64) -> bool {
    let mut plan = shared.plan.lock();
    if pos % block == 0 && plan.is_done((pos / block) as usize) {
        plan.cut(seg, pos);
        return true;
    }
    false
}

/// Asks a source for `start..end` of segment `seg` and checks the answer.
async fn request(
    shared: &Shared,
    client: &HttpClient,
    id: LaneId,
    seg: u64,
    start: u64,
) -> Result<Response<Stream>, Failed> {
    let Some(si) = pick_source(shared, id) else {
        return Err(Failed::fatal(GetError::new(
            Failure::Changed,
            "no URL left that serves the same file",
        )));
    };
    let source = shared.sources.lock()[si].clone();
    let end = shared.plan.lock().end_of(seg);
    let mut req = client
        .get(&source.url)
        .headers(shared.opts.headers.clone())
        .header(header::ACCEPT_ENCODING, "identity")
        .range(start..=end - 1);
    if let Some(v) = &source.if_range {
        req = req.if_range(v);
    }
    let res = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let err = client_error(&e);
            if err.kind == Failure::Protocol {
                return Err(Failed::protocol(e.to_string()));
            }
            if err.kind != Failure::Network {
                return Err(Failed::fatal(err));
            }
            let mut f = Failed::retry(e.to_string());
            f.shrink = e
                .io_error()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionReset);
            return Err(f);
        }
    };
    match res.status() {
        StatusCode::PARTIAL_CONTENT => {}
        StatusCode::OK => {
            let why = if source.if_range.is_some() {
                "the file changed on the server (If-Range did not match: 200 instead of 206)"
            } else {
                "the server stopped serving ranges (200 instead of 206)"
            };
            return Err(changed(shared, si, &source.url, why.to_string()));
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            let why = format!(
                "the server says bytes {start}-{} are past the end: the file shrank",
                end - 1
            );
            return Err(changed(shared, si, &source.url, why));
        }
        s if retryable_status(s) => {
            let after = res
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after);
            let push_back =
                s == StatusCode::SERVICE_UNAVAILABLE || s == StatusCode::TOO_MANY_REQUESTS;
            return Err(Failed {
                retry_after: after,
                shrink: push_back,
                kind: Failure::Status,
                ..Failed::retry(format!(
                    "{} {}",
                    s.as_u16(),
                    s.canonical_reason().unwrap_or("")
                ))
            });
        }
        // A mirror that refuses (404, 403, ...) is dropped while others serve the file.
        s => {
            let why = format!(
                "it answered {} {}",
                s.as_u16(),
                s.canonical_reason().unwrap_or("")
            );
            return Err(drop_or(
                shared,
                si,
                &source.url,
                why,
                status_error(&source.url, s),
            ));
        }
    }
    // A 206: the range asked for, of a file of the same length and version.
    let total = shared.total;
    let expect_len = match res.content_range() {
        Some(ContentRange::Bytes {
            first,
            last,
            total: t,
        }) => {
            if t.is_some_and(|t| t != total) {
                let why = format!("its length is now {} (was {total})", t.unwrap_or(0));
                return Err(changed(shared, si, &source.url, why));
            }
            if first != start {
                return Err(Failed::protocol(format!(
                    "the server sent bytes from {first}, asked for {start}"
                )));
            }
            last - first + 1
        }
        _ => return Err(Failed::protocol("a 206 without a usable Content-Range")),
    };
    if let Some(len) = res.content_length() {
        if len != expect_len {
            return Err(Failed::protocol(format!(
                "Content-Length {len} does not match Content-Range ({expect_len} bytes)"
            )));
        }
    }
    if res
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return Err(changed(
            shared,
            si,
            &source.url,
            "the server compressed a range".into(),
        ));
    }
    let etag = res.etag().map(str::to_string);
    if source.known {
        // Many servers ignore If-Range (date validators above all), so every 206 is checked
        // against the first answer's validators too.
        if let Some(why) = validators_differ(&source, etag.as_deref(), res.last_modified()) {
            return Err(changed(shared, si, &source.url, why));
        }
    } else {
        // A mirror's first answer: from now on its own validators guard its ranges.
        let mut sources = shared.sources.lock();
        let s = &mut sources[si];
        s.if_range = validator(etag.as_deref(), res.last_modified());
        s.etag = etag;
        s.last_modified = res.last_modified().map(str::to_string);
        s.known = true;
    }
    Ok(res)
}

/// Why a 206's validators say the file is not the one `source` first served: another ETag,
/// an ETag gone (RFC 9110 §15.3.7: a 206 carries the ETag a 200 would) unless the same
/// Last-Modified vouches for it, or another Last-Modified (a 206 need not repeat it, so only
/// one that is there counts).
fn validators_differ(
    source: &Source,
    etag: Option<&str>,
    modified: Option<&str>,
) -> Option<String> {
    let same_date =
        matches!((&source.last_modified, modified), (Some(a), Some(b)) if a.trim() == b.trim());
    match (&source.etag, etag) {
        (Some(was), Some(now)) if was != now => {
            return Some(format!("its ETag changed from {was} to {now}"))
        }
        (Some(was), None) if !same_date => {
            return Some(format!("its answer no longer carries the ETag {was}"))
        }
        _ => {}
    }
    match (&source.last_modified, modified) {
        (Some(was), Some(now)) if was.trim() != now.trim() => {
            Some(format!("it was last modified {was}, and now says {now}"))
        }
        _ => None,
    }
}

/// A source that no longer serves the file: a mirror is dropped (the others go on); the
/// primary, or the last source, stops the download.
fn changed(shared: &Shared, si: usize, url: &str, why: String) -> Failed {
    let fatal = GetError::new(Failure::Changed, format!("{url}: {why}"));
    drop_or(shared, si, url, why, fatal)
}

/// A mirror that cannot serve the file is dropped while another source can; the primary, or
/// the last source, fails the download with `fatal`.
fn drop_or(shared: &Shared, si: usize, url: &str, why: String, fatal: GetError) -> Failed {
    let mut sources = shared.sources.lock();
    if sources[si].disabled {
        // Another lane found it out first.
        return Failed::retry(format!("{url}: {why}"));
    }
    let usable = sources.iter().filter(|s| !s.disabled).count();
    if si > 0 && usable > 1 {
        sources[si].disabled = true;
        shared.events.emit(
            "mirror-dropped",
            &[("url", url.into()), ("reason", why.as_str().into())],
        );
        return Failed::retry(format!("{url}: {why}"));
    }
    Failed::fatal(fatal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(etag: Option<&str>, modified: Option<&str>) -> Source {
        Source {
            etag: etag.map(str::to_string),
            last_modified: modified.map(str::to_string),
            known: true,
            ..Source::mirror("http://example.com/f")
        }
    }

    #[test]
    fn a_range_whose_validators_moved_is_a_changed_file() {
        let lm = "Mon, 01 Jan 2024 00:00:00 GMT";
        let later = "Tue, 02 Jan 2024 00:00:00 GMT";
        let s = known(Some("\"v1\""), Some(lm));
        assert_eq!(validators_differ(&s, Some("\"v1\""), Some(lm)), None);
        assert_eq!(validators_differ(&s, Some("\"v1\""), None), None);
        assert!(validators_differ(&s, Some("\"v2\""), Some(lm)).is_some());
        assert_eq!(
            validators_differ(&s, None, Some(lm)),
            None,
            "an ETag left out, the same date: the same file"
        );
        assert!(validators_differ(&s, None, Some(later)).is_some());
        assert!(validators_differ(&s, Some("\"v1\""), Some(later)).is_some());
        assert!(
            validators_differ(&known(Some("\"v1\""), None), None, None).is_some(),
            "an ETag gone with nothing to vouch for the file"
        );
        // Only a date: a 206 with another date is another file, even if If-Range was ignored.
        let s = known(None, Some(lm));
        assert!(validators_differ(&s, None, Some(later)).is_some());
        assert_eq!(validators_differ(&s, None, None), None);
        assert_eq!(
            validators_differ(&known(None, None), Some("\"x\""), Some(lm)),
            None
        );
    }
}
