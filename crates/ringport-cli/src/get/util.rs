//! Small pieces of `ringport get`: a one-waiter notification and a lock for what loops share, the `--limit-rate` token bucket,
//! retry delays (exponential with jitter, `Retry-After`), and racing two futures.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

/// Wakes one waiting task, from any loop or thread; a notification sent while nobody waits
/// is kept for the next wait.
#[derive(Debug, Default)]
pub struct Notify {
    /// Notified, and the waiter to wake.
    state: Locked<(bool, Option<Waker>)>,
}

impl Notify {
    pub fn notify(&self) {
        let waker = {
            let mut st = self.state.lock();
            st.0 = true;
            st.1.take()
        };
        // Woken outside the lock: a waker of another loop pushes to that loop's inbox.
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut st = self.state.lock();
            if std::mem::take(&mut st.0) {
                return Poll::Ready(());
            }
            match &mut st.1 {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }
}

/// State the lanes of several loops share, behind a mutex that is held only between two
/// awaits (never across one). A panic while it is held cannot leave the plan half-changed in
/// a way later code relies on, so a poisoned lock is used as it is.
#[derive(Debug, Default)]
pub struct Locked<T>(Mutex<T>);

impl<T> Locked<T> {
    pub fn new(value: T) -> Locked<T> {
        Locked(Mutex::new(value))
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A number the lanes of several loops change: every change is one atomic step.
#[derive(Debug, Default)]
pub struct Count(AtomicUsize);

impl Count {
    pub fn new(n: usize) -> Count {
        Count(AtomicUsize::new(n))
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    pub fn set(&self, n: usize) {
        self.0.store(n, Ordering::Release);
    }

    /// Adds `n` and gives the new value.
    pub fn add(&self, n: usize) -> usize {
        self.0.fetch_add(n, Ordering::AcqRel) + n
    }

    /// Subtracts `n` and gives the new value.
    pub fn sub(&self, n: usize) -> usize {
        self.0.fetch_sub(n, Ordering::AcqRel) - n
    }

    /// Sets `f(old)` and gives it.
    pub fn update(&self, f: impl Fn(usize) -> usize) -> usize {
        let old = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(f(v)))
            .unwrap_or_else(|v| v);
        f(old)
    }
}

/// Which of two raced futures finished first.
pub enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `a` then `b` until one is ready; the other is dropped.
pub async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// A token bucket shared by every lane: reads take tokens, and wait when in debt.
#[derive(Debug)]
pub struct Limiter {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Limiter {
    pub fn new(bytes_per_sec: u64) -> Limiter {
        Limiter {
            rate: bytes_per_sec.max(1) as f64,
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    /// The largest read worth asking for at this rate (a twentieth of a second's worth).
    pub fn chunk(&self) -> usize {
        ((self.rate / 20.0) as usize).clamp(1024, 256 * 1024)
    }

    /// Takes `n` tokens; how long to wait before reading them.
    pub fn take(&mut self, n: usize) -> Duration {
        let now = Instant::now();
        let burst = self.rate / 10.0;
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(burst);
        self.last = now;
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// The wait before retry number `attempt` (1, 2, ...): 250 ms doubling up to 30 s, with
/// jitter (a random half to all of it), so lanes that failed together do not return together.
pub fn backoff(attempt: u32, seed: u64) -> Duration {
    let base = 0.25 * 2f64.powi(attempt.saturating_sub(1).min(10) as i32);
    let base = base.min(30.0);
    let jitter = 0.5 + 0.5 * unit_random(seed);
    Duration::from_secs_f64(base * jitter)
}

/// A number in [0, 1) from the clock and `seed` (splitmix64); enough for jitter.
fn unit_random(seed: u64) -> f64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = t ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The longest wait a `Retry-After` gets per try.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);

/// A `Retry-After` value: seconds, or an HTTP date; capped at [`RETRY_AFTER_CAP`].
pub fn retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let when = httpdate::parse_http_date(v).ok()?;
            when.duration_since(SystemTime::now()).unwrap_or_default()
        }
    };
    Some(d.min(RETRY_AFTER_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 1..20 {
            let d = backoff(attempt, attempt as u64).as_secs_f64();
            let base = (0.25 * 2f64.powi(attempt as i32 - 1)).min(30.0);
            assert!(d >= base * 0.5 && d <= base, "{attempt}: {d}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("99999"), Some(Duration::from_secs(300)));
        let soon = SystemTime::now() + Duration::from_secs(20);
        let d = retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(d > Duration::from_secs(15) && d <= Duration::from_secs(20));
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn a_notify_from_other_threads_wakes_the_waiting_loop_every_time() {
        // Lanes on other loops notify the controller on loop 0: each of many notifications
        // sent while it sleeps (or before it waits) must end one wait; none may be lost.
        let notify = std::sync::Arc::new(Notify::default());
        let count = std::sync::Arc::new(Count::new(0));
        const ROUNDS: usize = 2_000;
        let (n, c, seen) = (notify.clone(), count.clone(), count.clone());
        let rt = ringport::Runtime::new().unwrap();
        rt.block_on(async move {
            let producer = std::thread::spawn(move || {
                for i in 1..=ROUNDS {
                    // Wait until the consumer saw the last round, then notify again.
                    while c.get() + 1 < i {
                        std::hint::spin_loop();
                    }
                    n.notify();
                }
            });
            for _ in 0..ROUNDS {
                let woke = race(
                    notify.wait(),
                    ringport::time::sleep(Duration::from_secs(10)),
                )
                .await;
                assert!(matches!(woke, Either::Left(())), "a notification was lost");
                seen.add(1);
            }
            producer.join().unwrap();
        });
        assert_eq!(count.get(), ROUNDS);
    }

    #[test]
    fn counts_change_atomically_from_many_threads() {
        let count = std::sync::Arc::new(Count::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = count.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.add(2);
                        c.sub(1);
                        c.update(|v| v + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count.get(), 4 * 10_000 * 2);
    }

    #[test]
    fn the_limiter_keeps_the_average() {
        let mut l = Limiter::new(1000);
        // Ten reads of 500 bytes at once: the last may start only when 5000 bytes' worth of
        // time has passed (a fresh bucket holds no burst).
        let last = (0..10).map(|_| l.take(500)).last().unwrap().as_secs_f64();
        assert!((4.9..=5.0).contains(&last), "{last}");
    }
}
