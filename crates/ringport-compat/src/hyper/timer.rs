//! `RingportTimer`: hyper's timeouts (header reads, keep-alive, http2 pings) on ringport's
//! timer queue.

use hyper::rt::{Sleep, Timer};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// hyper's [`Timer`] on the current ringport loop. Sleeps must be polled on the thread
/// (the loop) that made them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingportTimer;

impl Timer for RingportTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(RingportSleep::new(ringport::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(RingportSleep::new(ringport::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<RingportSleep>() {
            // Re-arms the same timer: no new allocation.
            Some(mut ours) => ours.inner.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A [`ringport::time::Sleep`] as hyper's `Sleep`, with its home thread.
///
/// hyper asks for `Send + Sync`. ringport's `Sleep` is both (it holds no `Rc`), but its timer
/// lives in the queue of the loop that armed it: polling it on another thread panics (as a
/// `SendWrapper` would), and dropping it there leaves the entry to fire harmlessly at home
/// instead of touching another loop's queue.
#[derive(Debug)]
pub struct RingportSleep {
    inner: ringport::time::Sleep,
    home: ThreadId,
}

impl RingportSleep {
    /// Wraps a sleep made on this thread.
    pub fn new(inner: ringport::time::Sleep) -> Self {
        RingportSleep {
            inner,
            home: thread::current().id(),
        }
    }
}

impl Future for RingportSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        assert_eq!(
            thread::current().id(),
            self.home,
            "a ringport sleep was polled off the loop thread that made it"
        );
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl Drop for RingportSleep {
    fn drop(&mut self) {
        if thread::current().id() != self.home {
            // Not ours to deregister from here: see the type's docs.
            let inner = std::mem::replace(&mut self.inner, far_sleep());
            std::mem::forget(inner);
        }
    }
}

/// A sleep never armed (it touches no timer queue when dropped).
fn far_sleep() -> ringport::time::Sleep {
    ringport::time::sleep_until(Instant::now())
}

impl Sleep for RingportSleep {}
