//! Timers with libuv's semantics: start order for equal deadlines, never early, no burst for
//! a late interval, a re-armed 0 ms timer waits a turn, and huge durations do not overflow.

mod util;

use ringport::time::{interval, sleep, sleep_until, timeout, Instant};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

#[test]
fn equal_deadlines_fire_in_start_order() {
    util::run(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let deadline = Instant::now() + Duration::from_millis(20);
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let order = order.clone();
                ringport::spawn(async move {
                    sleep_until(deadline).await;
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        let expected: Vec<i32> = (0..200).collect();
        assert_eq!(*order.borrow(), expected);
    });
}

#[test]
fn a_timer_never_fires_early() {
    util::run(async {
        let mut rng = util::Rng::new(7);
        let handles: Vec<_> = (0..300)
            .map(|_| {
                let d = Duration::from_micros(rng.below(30_000));
                ringport::spawn(async move {
                    let start = Instant::now();
                    sleep(d).await;
                    start.elapsed() >= d
                })
            })
            .collect();
        for h in handles {
            assert!(h.await.unwrap(), "a timer fired before its deadline");
        }
    });
}

#[test]
fn a_late_interval_fires_once_then_keeps_its_period() {
    util::run(async {
        let period = Duration::from_millis(10);
        let mut ticks = interval(period);
        ticks.tick().await; // the first tick is immediate
                            // Block the loop for more than five periods: five ticks are missed.
        std::thread::sleep(Duration::from_millis(55));
        let late = Instant::now();
        ticks.tick().await;
        assert!(
            late.elapsed() < period,
            "the late tick is delivered at once"
        );
        let after = Instant::now();
        ticks.tick().await;
        assert!(
            after.elapsed() >= period - Duration::from_millis(1),
            "no burst: the next tick waited {:?}",
            after.elapsed()
        );
    });
}

#[test]
fn a_zero_timer_rearmed_in_its_own_task_waits_for_the_next_turn() {
    // If a re-armed 0 ms timer ran again in the same turn, this task would spin without ever
    // letting the loop reap the no-op's completion.
    util::run(async {
        let spins = Rc::new(Cell::new(0u32));
        let done = Rc::new(Cell::new(false));
        let (s, d) = (spins.clone(), done.clone());
        let spinner = ringport::spawn(async move {
            while !d.get() {
                sleep(Duration::ZERO).await;
                s.set(s.get() + 1);
            }
        });
        ringport::driver::nop().await.unwrap();
        let spins_at_completion = spins.get();
        done.set(true);
        spinner.await.unwrap();
        assert!(
            spins_at_completion <= 2,
            "the zero timer ran {spins_at_completion} times before one loop turn completed"
        );
    });
}

#[test]
fn huge_durations_do_not_overflow() {
    util::run(async {
        let res = timeout(Duration::MAX, ringport::driver::nop()).await;
        assert!(res.unwrap().is_ok());
        let res = timeout(Duration::from_millis(5), sleep(Duration::MAX)).await;
        assert!(res.is_err(), "sleeping Duration::MAX is cut by the timeout");
        let mut ticks = interval(Duration::MAX);
        ticks.tick().await;
        let res = timeout(Duration::from_millis(5), ticks.tick()).await;
        assert!(res.is_err());
    });
}

#[test]
fn timeout_passes_through_a_ready_result_and_cuts_a_slow_one() {
    util::run(async {
        assert_eq!(
            timeout(Duration::from_secs(1), async { 5 }).await.unwrap(),
            5
        );
        let start = Instant::now();
        let err = timeout(Duration::from_millis(10), sleep(Duration::from_secs(10)))
            .await
            .unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(err.to_string(), "deadline has elapsed");
    });
}

#[test]
fn dropping_and_resetting_sleeps() {
    util::run(async {
        // Many cancelled timers must not delay or misfire the live ones.
        for _ in 0..5000 {
            drop(timeout(
                Duration::from_secs(60),
                sleep(Duration::from_secs(60)),
            ));
            let mut s = Box::pin(sleep(Duration::from_secs(60)));
            let _ = timeout(Duration::ZERO, s.as_mut()).await;
        }
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        s.as_mut().reset(Instant::now() + Duration::from_millis(5));
        let start = Instant::now();
        s.await;
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}
