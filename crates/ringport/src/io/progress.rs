//! `Progress`: a lock-free view of a running copy, readable (and cancellable) from any thread.
//!
//! The copy itself (a future on the loop, or its `copy_file_range` job on the blocking pool)
//! is the only writer of the counters; readers anywhere load atomics. Waiting for the end from
//! another thread parks on the state word with a futex, so the loop never takes a lock to
//! report the end.

#[cfg(unix)]
mod futex;
#[cfg(windows)]
#[path = "progress/futex_windows.rs"]
mod futex;
mod waker;

use futex::{futex_wait, futex_wake_all};

pub(crate) use waker::AtomicWaker;

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

/// `total` when the size is not known.
const UNKNOWN: u64 = u64::MAX;
/// The writer folds a new sample into the smoothed rate at most this often.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// The smoothed rate's time constant: older samples weigh `exp(-age / TAU)`.
const TAU: f64 = 1.0;

/// Where a copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not finished yet (or not started: the copy starts when first polled).
    Running,
    /// Every byte was copied.
    Done,
    /// It stopped on an error; see [`Progress::error`].
    Failed,
    /// It was cancelled (by [`Progress::cancel`], or by dropping the copy).
    Cancelled,
}

impl State {
    fn from_word(w: u32) -> State {
        match w {
            1 => State::Done,
            2 => State::Failed,
            3 => State::Cancelled,
            _ => State::Running,
        }
    }

    fn word(self) -> u32 {
        match self {
            State::Running => 0,
            State::Done => 1,
            State::Failed => 2,
            State::Cancelled => 3,
        }
    }
}

/// A running copy's progress: bytes transferred, total when known, elapsed time, a smoothed
/// rate and an ETA, the outcome, and `cancel`. Clone it freely and read it from any thread;
/// every read is an atomic load.
///
/// ```no_run
/// use ringport::fs::File;
/// use std::time::Duration;
/// ringport::run(async {
///     let src = File::open("big.iso").await?;
///     let dst = File::create("copy.iso").await?;
///     let copy = ringport::io::copy_with_progress(src, dst)
///         .on_progress(Duration::from_millis(500), |p| {
///             eprintln!("{} of {:?} bytes, {:.0} B/s", p.transferred(), p.total(), p.rate())
///         });
///     let progress = copy.progress();
///     std::thread::spawn(move || {
///         let state = progress.wait(); // blocks this thread, not the loop
///         eprintln!("finished: {state:?}");
///     });
///     copy.await
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Progress {
    shared: Arc<Shared>,
}

struct Shared {
    transferred: AtomicU64,
    total: AtomicU64,
    origin: Instant,
    /// Nanoseconds from `origin` to the start, plus one (0: not started).
    started: AtomicU64,
    /// Nanoseconds from `origin` to the end, plus one (0: not ended).
    ended: AtomicU64,
    /// The smoothed rate (f64 bits) as of the last sample.
    rate: AtomicU64,
    /// When (ns from `origin`) and at how many bytes the last sample was taken.
    sample_at: AtomicU64,
    sample_bytes: AtomicU64,
    /// A [`State`] word; also the futex waiters sleep on.
    state: AtomicU32,
    cancel: AtomicBool,
    error: OnceLock<io::Error>,
    waker: AtomicWaker,
}

impl Progress {
    /// A progress at zero, running, total unknown.
    pub(crate) fn new() -> Progress {
        Progress {
            shared: Arc::new(Shared {
                transferred: AtomicU64::new(0),
                total: AtomicU64::new(UNKNOWN),
                origin: Instant::now(),
                started: AtomicU64::new(0),
                ended: AtomicU64::new(0),
                rate: AtomicU64::new(0f64.to_bits()),
                sample_at: AtomicU64::new(0),
                sample_bytes: AtomicU64::new(0),
                state: AtomicU32::new(State::Running.word()),
                cancel: AtomicBool::new(false),
                error: OnceLock::new(),
                waker: AtomicWaker::default(),
            }),
        }
    }

    /// Bytes written to the destination so far.
    pub fn transferred(&self) -> u64 {
        self.shared.transferred.load(Ordering::Acquire)
    }

    /// The bytes to copy, when known (a file's size, or what the caller said); at the end of a
    /// successful copy, always the bytes copied.
    pub fn total(&self) -> Option<u64> {
        match self.shared.total.load(Ordering::Acquire) {
            UNKNOWN => None,
            n => Some(n),
        }
    }

    /// `transferred / total`, between 0 and 1, when the total is known.
    pub fn fraction(&self) -> Option<f64> {
        let total = self.total()?;
        if total == 0 {
            return Some(1.0);
        }
        Some((self.transferred() as f64 / total as f64).min(1.0))
    }

    /// Time since the copy started (zero before its first poll); frozen at the end.
    pub fn elapsed(&self) -> Duration {
        let s = &self.shared;
        let started = s.started.load(Ordering::Acquire);
        if started == 0 {
            return Duration::ZERO;
        }
        let end = match s.ended.load(Ordering::Acquire) {
            0 => self.now_ns(),
            e => e - 1,
        };
        Duration::from_nanos(end.saturating_sub(started - 1))
    }

    /// The rate in bytes per second: smoothed over about the last second while running
    /// (so a stall shows as a falling rate), the average over the whole copy once finished.
    pub fn rate(&self) -> f64 {
        let s = &self.shared;
        if self.is_finished() || s.sample_at.load(Ordering::Acquire) == 0 {
            return self.average_rate();
        }
        let now = self.now_ns();
        let at = s.sample_at.load(Ordering::Acquire);
        let bytes = s.sample_bytes.load(Ordering::Acquire);
        let rate = f64::from_bits(s.rate.load(Ordering::Acquire));
        // Fold in what happened since the last sample, as if a sample were taken now.
        let dt = now.saturating_sub(at) as f64 / 1e9;
        if dt <= 0.0 {
            return rate;
        }
        let recent = self.transferred().saturating_sub(bytes) as f64 / dt;
        rate + (recent - rate) * (1.0 - (-dt / TAU).exp())
    }

    /// Bytes per second over the whole copy so far.
    pub fn average_rate(&self) -> f64 {
        let secs = self.elapsed().as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        self.transferred() as f64 / secs
    }

    /// Time left at the current rate, when the total is known and the rate is not zero.
    pub fn eta(&self) -> Option<Duration> {
        if self.is_finished() {
            return Some(Duration::ZERO);
        }
        let left = self.total()?.saturating_sub(self.transferred());
        let rate = self.rate();
        if left == 0 {
            return Some(Duration::ZERO);
        }
        if rate.is_nan() || rate <= 0.0 {
            return None;
        }
        Duration::try_from_secs_f64(left as f64 / rate).ok()
    }

    /// Where the copy stands.
    pub fn state(&self) -> State {
        State::from_word(self.shared.state.load(Ordering::Acquire))
    }

    /// Whether the copy has ended, one way or another.
    pub fn is_finished(&self) -> bool {
        self.state() != State::Running
    }

    /// The error the copy stopped on, once it has.
    pub fn error(&self) -> Option<&io::Error> {
        self.shared.error.get()
    }

    /// Asks the copy to stop, from any thread. Operations in flight are cancelled and hand
    /// their buffers back; the copy's future then ends with the cancelled error
    /// ([`is_cancelled`](crate::cancel::is_cancelled)), and `transferred` is what reached
    /// the destination. Cancelling a finished copy does nothing.
    pub fn cancel(&self) {
        if !self.shared.cancel.swap(true, Ordering::AcqRel) {
            self.shared.waker.wake();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancel_requested(&self) -> bool {
        self.shared.cancel.load(Ordering::Acquire)
    }

    /// Blocks this thread until the copy ends, and says how. Never call it on the thread that
    /// runs the copy (it would wait for itself): it is for other threads.
    pub fn wait(&self) -> State {
        loop {
            if let Some(state) = self.wait_timeout(Duration::from_secs(3600)) {
                return state;
            }
        }
    }

    /// Blocks this thread until the copy ends or `timeout` passes; `None` on the timeout.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<State> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let word = self.shared.state.load(Ordering::Acquire);
            if word != State::Running.word() {
                return Some(State::from_word(word));
            }
            let left = match deadline {
                Some(d) => d.checked_duration_since(Instant::now())?,
                None => Duration::from_secs(3600),
            };
            futex_wait(&self.shared.state, word, left);
        }
    }

    /// A snapshot of every figure at about the same moment.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            transferred: self.transferred(),
            total: self.total(),
            elapsed: self.elapsed(),
            rate: self.rate(),
            eta: self.eta(),
            state: self.state(),
        }
    }

    fn now_ns(&self) -> u64 {
        self.shared.origin.elapsed().as_nanos() as u64
    }
}

/// The writer's side, for the copy engines.
impl Progress {
    pub(crate) fn start(&self) {
        let now = self.now_ns() + 1;
        let _ = self
            .shared
            .started
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn set_total(&self, total: Option<u64>) {
        let word = match total {
            Some(n) => n.min(UNKNOWN - 1),
            None => UNKNOWN,
        };
        self.shared.total.store(word, Ordering::Release);
    }

    /// Counts `n` more bytes written, and folds a rate sample in every `SAMPLE_EVERY`.
    pub(crate) fn add(&self, n: u64) {
        let s = &self.shared;
        let done = s.transferred.fetch_add(n, Ordering::AcqRel) + n;
        let now = self.now_ns();
        let at = s.sample_at.load(Ordering::Relaxed);
        let since = now.saturating_sub(at);
        if since < SAMPLE_EVERY.as_nanos() as u64 {
            return;
        }
        let recent = done.saturating_sub(s.sample_bytes.load(Ordering::Relaxed)) as f64;
        let recent = recent / (since as f64 / 1e9);
        let rate = if at == 0 {
            // The first sample: the average since the start.
            let started = s.started.load(Ordering::Relaxed).saturating_sub(1);
            done as f64 / (now.saturating_sub(started).max(1) as f64 / 1e9)
        } else {
            let old = f64::from_bits(s.rate.load(Ordering::Relaxed));
            old + (recent - old) * (1.0 - (-(since as f64 / 1e9) / TAU).exp())
        };
        s.rate.store(rate.to_bits(), Ordering::Release);
        s.sample_bytes.store(done, Ordering::Release);
        s.sample_at.store(now, Ordering::Release);
    }

    /// Records the end and wakes every thread waiting for it.
    pub(crate) fn finish(&self, res: &io::Result<u64>) {
        let s = &self.shared;
        if self.is_finished() {
            return;
        }
        self.start();
        let _ = s
            .ended
            .compare_exchange(0, self.now_ns() + 1, Ordering::AcqRel, Ordering::Acquire);
        let state = match res {
            Ok(_) => {
                s.total.store(self.transferred(), Ordering::Release);
                State::Done
            }
            Err(e) if crate::cancel::is_cancelled(e) => State::Cancelled,
            Err(e) => {
                let _ = s.error.set(copy_error(e));
                State::Failed
            }
        };
        s.state.store(state.word(), Ordering::Release);
        futex_wake_all(&s.state);
    }

    /// Registers the copy's waker, woken by `cancel` from any thread.
    pub(crate) fn register(&self, waker: &Waker) {
        self.shared.waker.register(waker);
    }
}

/// The writing side of a [`Progress`] that the caller drives, for transfers that are not a
/// [`copy_with_progress`](crate::io::copy_with_progress) (an HTTP body written into a file at
/// an offset, several connections filling one file). Clones share the counters, so several
/// tasks may add to one total; readers see the same lock-free figures as for a copy.
///
/// ```
/// use ringport::io::{Progress, State};
/// let (progress, recorder) = Progress::recorder();
/// recorder.set_total(Some(10));
/// recorder.add(4);
/// recorder.add(6);
/// recorder.finish(&Ok(10));
/// assert_eq!(progress.transferred(), 10);
/// assert_eq!(progress.state(), State::Done);
/// ```
#[derive(Clone, Debug)]
pub struct ProgressRecorder(Progress);

impl Progress {
    /// A progress at zero (running, total unknown) and the recorder that drives it; the clock
    /// starts at the first [`add`](ProgressRecorder::add) or [`start`](ProgressRecorder::start).
    pub fn recorder() -> (Progress, ProgressRecorder) {
        let p = Progress::new();
        (p.clone(), ProgressRecorder(p))
    }
}

impl ProgressRecorder {
    /// The progress this recorder drives.
    pub fn progress(&self) -> Progress {
        self.0.clone()
    }

    /// Starts the clock (done by the first `add` too).
    pub fn start(&self) {
        self.0.start();
    }

    /// Sets the total, when it becomes known (`None`: unknown).
    pub fn set_total(&self, total: Option<u64>) {
        self.0.set_total(total);
    }

    /// Counts `n` more bytes transferred.
    pub fn add(&self, n: u64) {
        self.0.start();
        self.0.add(n);
    }

    /// Records the end: `Ok` is done (the total becomes the bytes transferred), a cancelled
    /// error is cancelled, any other error failed. Later calls do nothing.
    pub fn finish(&self, res: &io::Result<u64>) {
        self.0.finish(res);
    }

    /// Whether a reader asked for the transfer to stop ([`Progress::cancel`]).
    pub fn is_cancel_requested(&self) -> bool {
        self.0.is_cancel_requested()
    }
}

/// An `io::Error` for `Progress::error`: the same OS error, or the same kind and message.
fn copy_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}

/// Every figure of a [`Progress`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Bytes written so far.
    pub transferred: u64,
    /// Bytes to copy, when known.
    pub total: Option<u64>,
    /// Time since the start.
    pub elapsed: Duration,
    /// Smoothed bytes per second.
    pub rate: f64,
    /// Time left, when it can be told.
    pub eta: Option<Duration>,
    /// Running, or how it ended.
    pub state: State,
}
