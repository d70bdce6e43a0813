//! What `ringport get` shows: a progress bar (bytes, rate, ETA, live connections) on a
//! terminal, NDJSON events on stdout with `--json`, nothing with `--quiet`. A thread of its
//! own draws and prints, so the loop never writes to a terminal or a pipe: the loop sends
//! event lines and notes through channels and the figures are lock-free atomics. Without a
//! terminal (and without `--json` or `--quiet`) there is no bar, and notes go to stderr.

use indicatif::{BinaryBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringport::io::Progress;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--quiet`: nothing but errors.
    None,
    /// No terminal: no bar, but notes for a person still go to stderr.
    Plain,
    Bar,
    Json,
}

/// The loop's side: events, notes for a person, and the live-connection count.
#[derive(Debug, Clone)]
pub struct Events {
    tx: Option<Sender<String>>,
    notes: Notes,
    /// When the last note was shown: a burst (every connection told to wait) shows one.
    last_note: Arc<std::sync::Mutex<Option<Instant>>>,
    pub live: Arc<AtomicUsize>,
}

/// Where notes go.
#[derive(Debug, Clone)]
enum Notes {
    Off,
    /// Straight to stderr (no bar is drawn).
    Stderr,
    /// To the drawing thread, which prints them above the bar.
    Bar(Sender<String>),
}

/// Notes closer together than this show only the first.
const NOTE_GAP: Duration = Duration::from_secs(5);

impl Events {
    /// Sends one event (a JSON object's fields, without braces) when `--json` is on.
    pub fn emit(&self, event: &str, fields: &[(&str, Value)]) {
        let Some(tx) = &self.tx else {
            return;
        };
        let _ = tx.send(object(event, fields));
    }

    /// Tells a person something worth knowing while the download runs (a long wait the server
    /// asked for): one line on stderr, above the bar when there is one; nothing with `--json`
    /// or `--quiet`, and one line for a burst.
    pub fn note(&self, text: &str) {
        if matches!(self.notes, Notes::Off) {
            return;
        }
        {
            let mut last = self.last_note.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < NOTE_GAP) {
                return;
            }
            *last = Some(now);
        }
        match &self.notes {
            Notes::Off => {}
            Notes::Stderr => eprintln!("ringport: {text}"),
            Notes::Bar(tx) => {
                let _ = tx.send(format!("ringport: {text}"));
            }
        }
    }
}

/// A field's value in an event.
#[derive(Debug, Clone)]
pub enum Value {
    Num(f64),
    Int(u64),
    Str(String),
    Null,
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(v as u64)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

fn object(event: &str, fields: &[(&str, Value)]) -> String {
    let mut s = format!("{{\"event\":{}", quote(event));
    for (k, v) in fields {
        let _ = write!(s, ",{}:", quote(k));
        match v {
            Value::Num(x) if x.is_finite() => {
                let _ = write!(s, "{x:.3}");
            }
            Value::Int(x) => {
                let _ = write!(s, "{x}");
            }
            Value::Str(t) => s.push_str(&quote(t)),
            Value::Num(_) | Value::Null => s.push_str("null"),
        }
    }
    s.push('}');
    s
}

/// A JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The drawing thread.
#[derive(Debug)]
pub struct Display {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Display {
    /// Starts showing `progress` in `mode`; returns the loop's `Events` with it.
    pub fn start(mode: Mode, progress: Progress) -> (Display, Events) {
        let live = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = channel::<String>();
        let (note_tx, note_rx) = channel::<String>();
        let notes = match mode {
            Mode::None | Mode::Json => Notes::Off,
            Mode::Plain => Notes::Stderr,
            Mode::Bar => Notes::Bar(note_tx),
        };
        let events = Events {
            tx: (mode == Mode::Json).then_some(tx),
            notes,
            last_note: Arc::default(),
            live: live.clone(),
        };
        let thread = matches!(mode, Mode::Bar | Mode::Json).then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || draw(mode, &progress, live, (&rx, &note_rx), &stop))
        });
        (Display { thread, stop }, events)
    }

    /// Draws the last frame, prints what is queued, and waits for the thread.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn draw(
    mode: Mode,
    p: &Progress,
    live: Arc<AtomicUsize>,
    (rx, note_rx): (&Receiver<String>, &Receiver<String>),
    stop: &AtomicBool,
) {
    let bar = (mode == Mode::Bar).then(|| new_bar(p, live.clone()));
    let mut next_rate = Instant::now() + Duration::from_secs(1);
    let mut last = (Instant::now(), p.transferred());
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let mut out = std::io::stdout().lock();
        while let Ok(line) = rx.try_recv() {
            let _ = writeln!(out, "{line}");
        }
        if mode == Mode::Json && Instant::now() >= next_rate && !stopping {
            next_rate += Duration::from_secs(1);
            let now = (Instant::now(), p.transferred());
            let dt = now.0.duration_since(last.0).as_secs_f64().max(1e-9);
            let rate = now.1.saturating_sub(last.1) as f64 / dt;
            last = now;
            let fields = [
                ("bytes", Value::Int(now.1)),
                ("total", p.total().into()),
                ("rate", Value::Num(rate)),
                (
                    "eta",
                    Value::from(p.eta().map(|d| format!("{:.1}", d.as_secs_f64()))),
                ),
                (
                    "connections",
                    Value::Int(live.load(Ordering::Acquire) as u64),
                ),
            ];
            let _ = writeln!(out, "{}", object("progress", &fields));
        }
        let _ = out.flush();
        drop(out);
        if let Some(bar) = &bar {
            while let Ok(note) = note_rx.try_recv() {
                bar.println(note);
            }
            if let Some(t) = p.total() {
                bar.set_length(t);
            }
            bar.set_position(p.transferred());
        }
        if stopping {
            if let Some(bar) = bar {
                bar.abandon();
            }
            return;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

fn new_bar(p: &Progress, live: Arc<AtomicUsize>) -> ProgressBar {
    let template = "{bytes:>11} / {total_bytes:<11} [{wide_bar}] {rate:>12} {conns:>4}  ETA {left}";
    let (rp, lp) = (p.clone(), p.clone());
    type State = indicatif::ProgressState;
    let style = ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ")
        .with_key("rate", move |_: &State, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", BinaryBytes(rp.rate() as u64));
        })
        .with_key("left", move |_: &State, w: &mut dyn std::fmt::Write| {
            let _ = match lp.eta() {
                Some(d) => write!(w, "{}", HumanDuration(d)),
                None => write!(w, "-"),
            };
        })
        .with_key("conns", move |_: &State, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}×", live.load(Ordering::Acquire));
        });
    let bar = ProgressBar::with_draw_target(p.total(), ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(style);
    bar
}
