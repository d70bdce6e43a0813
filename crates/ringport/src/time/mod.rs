//! Time: `sleep`, `timeout` and `interval` on the runtime's timer queue.
//!
//! A timer never fires before its deadline, timers with equal deadlines fire in the order they
//! were started, and a timer always completes through the loop (a zero sleep yields once).

use crate::runtime::timer::{self, Nanos};
use crate::runtime::with_current_context;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use std::time::Instant;

/// A deadline `d` from `start`, or about thirty years out when that overflows.
fn deadline_after(start: Instant, d: Duration) -> Instant {
    start.checked_add(d).unwrap_or_else(far_future)
}

fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(86_400 * 365 * 30))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// Waits until `duration` has passed. `Duration::MAX` waits forever without overflowing.
///
/// ```
/// use std::time::{Duration, Instant};
/// ringport::run(async {
///     let start = Instant::now();
///     ringport::time::sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    // Nanoseconds of the monotonic clock, not `Instant` arithmetic: a timeout is started for
    // every request a server reads, and this is most of what starting one costs.
    let nanos = duration.as_nanos().min(u128::from(u64::MAX)) as u64;
    Sleep::at(timer::now().saturating_add(nanos))
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::at(timer::from_instant(deadline))
}

/// The future of [`sleep`].
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Nanos,
    key: Option<usize>,
    fired: bool,
}

impl Sleep {
    fn at(deadline: Nanos) -> Sleep {
        Sleep {
            deadline,
            key: None,
            fired: false,
        }
    }

    /// When it fires.
    pub fn deadline(&self) -> Instant {
        timer::to_instant(self.deadline)
    }

    /// Whether it has fired.
    pub fn is_elapsed(&self) -> bool {
        self.fired
    }

    /// Moves the deadline, re-arming a sleep that already fired.
    pub fn reset(&mut self, deadline: Instant) {
        self.deregister();
        self.deadline = timer::from_instant(deadline);
        self.fired = false;
    }

    fn deregister(&mut self) {
        if let Some(key) = self.key.take() {
            with_current_context(|ctx| ctx.timers.borrow_mut().remove(key));
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired {
            return Poll::Ready(());
        }
        let this = &mut *self;
        let polled = with_current_context(|ctx| {
            let mut timers = ctx.timers.borrow_mut();
            match this.key {
                None => {
                    this.key = Some(timers.insert(this.deadline, cx.waker()));
                    Poll::Pending
                }
                Some(key) => {
                    if timers.poll(key, cx.waker()) {
                        timers.remove(key);
                        this.key = None;
                        this.fired = true;
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }
            }
        });
        polled.expect("this must be called from inside a ringport runtime (ringport::run)")
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .field("fired", &self.fired)
            .finish()
    }
}

/// The error of a [`timeout`] that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `duration`. When time runs out the future is dropped, which
/// cancels whatever I/O it had in flight: a timeout is a cancel.
///
/// ```
/// use std::time::Duration;
/// ringport::run(async {
///     let slow = ringport::time::sleep(Duration::from_secs(60));
///     let res = ringport::time::timeout(Duration::from_millis(1), slow).await;
///     assert!(res.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// The future of [`timeout`].
#[must_use = "a Timeout does nothing unless awaited"]
#[derive(Debug)]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned (never moved out); `sleep` is Unpin and is
        // only reached through a plain `&mut`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(out) = future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ticks every `period`, the first tick at once. A tick that comes late is delivered once and
/// the schedule restarts from then: no burst of missed ticks.
///
/// # Panics
///
/// When `period` is zero.
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        sleep: sleep_until(Instant::now()),
        period,
    }
}

/// The stream of [`interval`] ticks.
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick; returns when it was due.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                let due = self.sleep.deadline();
                let now = Instant::now();
                let mut next = deadline_after(due, self.period);
                if next <= now {
                    next = deadline_after(now, self.period);
                }
                self.sleep.reset(next);
                Poll::Ready(due)
            }
        }
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
