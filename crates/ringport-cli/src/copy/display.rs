//! The progress display of `ringport copy`, drawn by a thread of its own from the copy's
//! lock-free `Progress`, so the loop never writes to the terminal: an indicatif bar on a
//! terminal, plain or JSON lines when asked, nothing otherwise.

use indicatif::{BinaryBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringport::io::Progress;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    None,
    /// An indicatif bar on stderr (a terminal).
    Bar,
    /// A plain line on stderr every interval.
    Lines,
    /// A JSON object per line on stderr every interval, and one at the end.
    Json,
}

/// How the whole command ended, for the last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Done,
    /// The error, as the command reports it.
    Failed(String),
    Interrupted,
}

impl End {
    fn code(&self) -> u8 {
        match self {
            End::Done => 1,
            End::Failed(_) => 2,
            End::Interrupted => 3,
        }
    }
}

/// What the display reads: the finished files' bytes plus the running copy's progress.
#[derive(Debug)]
pub struct Tally {
    base: AtomicU64,
    files: AtomicU64,
    total: AtomicU64,
    current: Mutex<Option<Progress>>,
    /// A single file: its own smoothed rate and ETA are shown.
    single: bool,
    started: Instant,
    end: AtomicU8,
    /// The error of a failed command, for the last JSON line.
    error: Mutex<Option<String>>,
}

const UNKNOWN: u64 = u64::MAX;

impl Tally {
    pub fn new(total: Option<u64>, single: bool) -> Arc<Tally> {
        Arc::new(Tally {
            base: AtomicU64::new(0),
            files: AtomicU64::new(0),
            total: AtomicU64::new(total.unwrap_or(UNKNOWN)),
            current: Mutex::new(None),
            single,
            started: Instant::now(),
            end: AtomicU8::new(0),
            error: Mutex::new(None),
        })
    }

    /// A file's copy begins.
    pub fn begin(&self, p: &Progress) {
        *self.current.lock().unwrap() = Some(p.clone());
    }

    /// The current file's copy ended (its bytes count as moved; the file counts as copied
    /// when `ok`).
    pub fn finish_file(&self, ok: bool) {
        if let Some(p) = self.current.lock().unwrap().take() {
            self.base.fetch_add(p.transferred(), Ordering::AcqRel);
            if ok {
                self.files.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    fn current(&self) -> Option<Progress> {
        self.current.lock().unwrap().clone()
    }

    fn position(&self) -> u64 {
        let cur = self.current().map_or(0, |p| p.transferred());
        self.base.load(Ordering::Acquire) + cur
    }

    fn total(&self) -> Option<u64> {
        match self.total.load(Ordering::Acquire) {
            UNKNOWN if self.single => self.current().and_then(|p| p.total()),
            UNKNOWN => None,
            n => Some(n),
        }
    }

    fn rate(&self) -> f64 {
        match self.current() {
            Some(p) if self.single => p.rate(),
            _ => {
                let secs = self.started.elapsed().as_secs_f64();
                if secs > 0.0 {
                    self.position() as f64 / secs
                } else {
                    0.0
                }
            }
        }
    }

    fn eta(&self) -> Option<Duration> {
        let left = self.total()?.saturating_sub(self.position());
        let rate = self.rate();
        (rate > 0.0).then(|| Duration::from_secs_f64(left as f64 / rate))
    }
}

/// The display thread; `finish` draws the end and joins it.
#[derive(Debug)]
pub struct Display {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
}

impl Display {
    /// Starts drawing `tally` (no thread for `Mode::None`).
    pub fn start(mode: Mode, tally: Arc<Tally>, interval: Duration) -> Display {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = (mode != Mode::None).then(|| {
            let (tally, stop) = (tally.clone(), stop.clone());
            std::thread::spawn(move || draw(mode, tally, &stop, interval))
        });
        Display {
            thread,
            stop,
            tally,
        }
    }

    /// Records how it ended, draws the last frame, and waits for the thread.
    pub fn finish(mut self, end: End) {
        self.tally.end.store(end.code(), Ordering::Release);
        if let End::Failed(e) = end {
            *self.tally.error.lock().unwrap() = Some(e);
        }
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn draw(mode: Mode, tally: Arc<Tally>, stop: &AtomicBool, interval: Duration) {
    let bar = (mode == Mode::Bar).then(|| new_bar(&tally));
    let tick = if bar.is_some() {
        Duration::from_millis(100)
    } else {
        interval
    };
    loop {
        let last = stop.load(Ordering::Acquire);
        match &bar {
            Some(bar) => {
                if let Some(total) = tally.total() {
                    bar.set_length(total);
                }
                bar.set_position(tally.position());
            }
            None => line(mode, &tally, last),
        }
        if last {
            if let Some(bar) = bar {
                bar.abandon();
            }
            return;
        }
        std::thread::park_timeout(tick);
    }
}

fn new_bar(tally: &Arc<Tally>) -> ProgressBar {
    let template = match tally.total() {
        Some(_) => "{bytes:>11} / {total_bytes:<11} [{wide_bar}] {rate:>13}  ETA {left}",
        None => "{spinner} {bytes:>11} {rate:>13}",
    };
    let (rate_tally, left_tally) = (tally.clone(), tally.clone());
    let style = ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ")
        .with_key(
            "rate",
            move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", BinaryBytes(rate_tally.rate() as u64));
            },
        )
        .with_key(
            "left",
            move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = match left_tally.eta() {
                    Some(d) => write!(w, "{}", HumanDuration(d)),
                    None => write!(w, "-"),
                };
            },
        );
    let bar = ProgressBar::with_draw_target(tally.total(), ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(style);
    bar
}

/// Prints one progress line (plain or JSON).
fn line(mode: Mode, tally: &Tally, last: bool) {
    let text = match mode {
        Mode::Json => json(tally, last),
        _ => plain(tally, last),
    };
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn plain(tally: &Tally, last: bool) -> String {
    let mut s = format!("ringport: {}", BinaryBytes(tally.position()));
    if let Some(total) = tally.total() {
        let pct = if total == 0 {
            100.0
        } else {
            tally.position() as f64 * 100.0 / total as f64
        };
        let _ = write!(s, " / {} ({pct:.0}%)", BinaryBytes(total));
    }
    let _ = write!(s, ", {}/s", BinaryBytes(tally.rate() as u64));
    match (last, tally.eta()) {
        (true, _) => s.push_str(", ended"),
        (false, Some(eta)) => {
            let _ = write!(s, ", ETA {}", HumanDuration(eta));
        }
        (false, None) => {}
    }
    s
}

fn json(tally: &Tally, last: bool) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "null".into());
    let state = match (last, tally.end.load(Ordering::Acquire)) {
        (false, _) => "running",
        (true, 1) => "done",
        (true, 3) => "interrupted",
        (true, _) => "failed",
    };
    let error = match (last, tally.error.lock().unwrap().as_deref()) {
        (true, Some(e)) => format!(",\"error\":{}", crate::json::string(e)),
        _ => String::new(),
    };
    format!(
        "{{\"bytes\":{},\"total\":{},\"files\":{},\"elapsed\":{:.3},\"rate\":{:.0},\"eta\":{},\
         \"state\":\"{state}\"{error}}}",
        tally.position(),
        opt(tally.total().map(|t| t.to_string())),
        tally.files.load(Ordering::Acquire),
        tally.started.elapsed().as_secs_f64(),
        tally.rate(),
        opt(tally.eta().map(|d| format!("{:.3}", d.as_secs_f64()))),
    )
}
