//! The access log and the server's messages: lines queued by the loop and written to stderr
//! by a thread of their own, so that a slow or stuck reader of stderr never blocks the loop
//! and never holds up shutdown (the queue is capped; at exit the writer gets a moment to
//! finish, then the process ends without it).

use ringport_http::Exchange;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Past this much unwritten log, new lines are dropped rather than held in memory.
const MAX_PENDING: usize = 1024 * 1024;

/// How access-log lines look (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `PEER "REQUEST" STATUS BYTES DURATION`.
    Default,
    /// The Common Log Format: `HOST - - [DATE] "REQUEST" STATUS BYTES`.
    Common,
    /// The Combined Log Format: Common, then `"REFERER" "USER-AGENT"` (nginx's and Apache's).
    Combined,
}

/// A queue of log text and the writer thread. Clones share the queue.
#[derive(Debug, Clone)]
pub struct AccessLog {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer (more text, or closed) and whoever waits for the writer to finish.
    cv: Condvar,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<u8>,
    closed: bool,
    /// The writer has written everything and stopped.
    finished: bool,
}

impl AccessLog {
    /// Starts the writer thread.
    pub fn start() -> std::io::Result<AccessLog> {
        let shared = Arc::new(Shared::default());
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("ringport-log".into())
            .spawn(move || writer.run())?;
        Ok(AccessLog { shared })
    }

    /// Queues `text` (whole lines, newline included).
    pub fn push(&self, text: &str) {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.pending.len() + text.len() <= MAX_PENDING {
            state.pending.extend_from_slice(text.as_bytes());
        }
        drop(state);
        self.shared.cv.notify_all();
    }

    /// Lets the writer finish, and waits up to `limit` for it to write what is queued.
    pub fn close(&self, limit: Duration) {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.closed = true;
        self.shared.cv.notify_all();
        let (_state, _) = self
            .shared
            .cv
            .wait_timeout_while(state, limit, |s| !s.finished)
            .unwrap_or_else(|e| e.into_inner());
    }
}

impl Shared {
    /// The writer: batches whatever is queued into one write to stderr.
    fn run(&self) {
        let mut stderr = std::io::stderr().lock();
        loop {
            let batch = {
                let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let mut state = self
                    .cv
                    .wait_while(state, |s| s.pending.is_empty() && !s.closed)
                    .unwrap_or_else(|e| e.into_inner());
                if state.pending.is_empty() {
                    state.finished = true;
                    self.cv.notify_all();
                    return;
                }
                std::mem::take(&mut state.pending)
            };
            if stderr
                .write_all(&batch)
                .and_then(|()| stderr.flush())
                .is_err()
            {
                // stderr is gone: nothing more can be written; let shutdown go on.
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.finished = true;
                self.cv.notify_all();
                return;
            }
        }
    }
}

/// One access-log line (newline included) for `x`.
pub fn line(x: &Exchange, format: Format) -> String {
    let request = match (&x.method, &x.uri, x.version) {
        (Some(m), Some(u), Some(v)) => format!("{m} {u} {v:?}"),
        _ => "-".to_string(),
    };
    let request = escape(request.as_bytes());
    match format {
        Format::Default => {
            let ms = x.elapsed.as_secs_f64() * 1000.0;
            format!(
                "{} \"{request}\" {} {} {ms:.1}ms\n",
                x.peer,
                x.status.as_u16(),
                x.body_bytes
            )
        }
        Format::Common | Format::Combined => {
            let mut out = format!(
                "{} - - [{}] \"{request}\" {} {}",
                x.peer.ip(),
                clf_date(x.received),
                x.status.as_u16(),
                x.body_bytes
            );
            if format == Format::Combined {
                let field = |v: &Option<ringport_http::http::HeaderValue>| {
                    v.as_ref().map_or("-".to_string(), |v| escape(v.as_bytes()))
                };
                out.push_str(&format!(
                    " \"{}\" \"{}\"",
                    field(&x.referer),
                    field(&x.user_agent)
                ));
            }
            out.push('\n');
            out
        }
    }
}

/// Bytes as log text: `"` and `\` escaped, control and non-ASCII bytes as `\xHH` (so a
/// request cannot forge log lines).
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02X}")),
        }
    }
    out
}

/// `10/Oct/2026:13:55:36 +0000` (UTC).
fn clf_date(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{d:02}/{}/{y:04}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_dates_and_escapes() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_308_960);
        assert_eq!(clf_date(t), "22/Nov/2026:00:56:00 +0000");
        assert_eq!(clf_date(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(escape(b"a\"b\\c\n\xff"), "a\\\"b\\\\c\\x0A\\xFF");
    }
}
