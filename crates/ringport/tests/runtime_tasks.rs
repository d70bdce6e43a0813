//! The executor: spawn and join, abort, panics as `JoinError`, yield, wake-ups from other
//! threads, the blocking pool, and the backend report.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn spawned_tasks_run_and_join_with_their_output() {
    util::run(async {
        let local = Rc::new(Cell::new(0)); // !Send state is fine: tasks stay on this thread
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let local = local.clone();
                ringport::spawn(async move {
                    ringport::yield_now().await;
                    local.set(local.get() + 1);
                    i * 2
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        assert_eq!(sum, (0..100).map(|i| i * 2).sum::<i32>());
        assert_eq!(local.get(), 100);
    });
}

#[test]
fn a_panicking_task_is_a_join_error_and_the_loop_goes_on() {
    util::run(async {
        let h = ringport::spawn(async {
            ringport::driver::nop().await.unwrap();
            panic!("boom");
        });
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("boom"));
        // The loop still works.
        ringport::driver::nop().await.unwrap();
        assert_eq!(ringport::spawn(async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn abort_drops_the_task_at_its_await_point() {
    util::run(async {
        struct SetOnDrop(Rc<Cell<bool>>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = Rc::new(Cell::new(false));
        let flag = SetOnDrop(dropped.clone());
        let h = ringport::spawn(async move {
            let _flag = flag;
            ringport::time::sleep(Duration::from_secs(3600)).await;
        });
        ringport::yield_now().await;
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled());
        ringport::yield_now().await;
        assert!(dropped.get(), "the aborted task's future was dropped");

        let done = ringport::spawn(async { 3 });
        ringport::time::sleep(Duration::from_millis(1)).await;
        done.abort(); // already finished: abort changes nothing
        assert_eq!(done.await.unwrap(), 3);
    });
}

#[test]
fn a_detached_task_keeps_running() {
    util::run(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        drop(ringport::spawn(async move {
            ringport::time::sleep(Duration::from_millis(2)).await;
            r.set(true);
        }));
        // Its handle is gone, and it still runs to its end (no bound on when: under the fault
        // layer and a loaded machine its timer may be seen after ours).
        let start = std::time::Instant::now();
        while !ran.get() && start.elapsed() < Duration::from_secs(10) {
            ringport::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(ran.get(), "the detached task never ran to its end");
    });
}

#[test]
fn wake_ups_from_other_threads_reach_the_loop() {
    util::run(async {
        for _ in 0..50 {
            let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
            let woken = Arc::new(AtomicUsize::new(0));
            let w = woken.clone();
            let t = std::thread::spawn(move || {
                let waker = rx.recv().unwrap();
                std::thread::sleep(Duration::from_millis(1));
                w.store(1, Ordering::SeqCst);
                waker.wake();
            });
            let mut sent = false;
            std::future::poll_fn(|cx| {
                if woken.load(Ordering::SeqCst) == 1 {
                    return std::task::Poll::Ready(());
                }
                if !sent {
                    tx.send(cx.waker().clone()).unwrap();
                    sent = true;
                }
                std::task::Poll::Pending
            })
            .await;
            t.join().unwrap();
        }
    });
}

#[test]
fn blocking_work_runs_off_the_loop_and_in_parallel() {
    util::run(async {
        let loop_thread = std::thread::current().id();
        let start = Instant::now();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                ringport::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(100));
                    std::thread::current().id()
                })
            })
            .collect();
        // The loop is not blocked meanwhile: a timer fires on time.
        let t = Instant::now();
        ringport::time::sleep(Duration::from_millis(10)).await;
        assert!(
            t.elapsed() < Duration::from_millis(90),
            "the loop was blocked"
        );
        for h in handles {
            assert_ne!(h.await.unwrap(), loop_thread);
        }
        assert!(
            start.elapsed() < Duration::from_millis(700),
            "the jobs ran one at a time"
        );
        let err = ringport::spawn_blocking(|| panic!("in the pool"))
            .await
            .unwrap_err();
        assert!(err.is_panic());
    });
}

#[test]
fn the_blocking_pool_is_bounded_and_idle_threads_exit() {
    let rt = util::builder()
        .max_blocking_threads(2)
        .blocking_keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (running, peak) = (running.clone(), peak.clone());
                ringport::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "at most two pool threads ran at once"
    );
    let gone = util::wait_until(Duration::from_secs(3), || pool_threads() == 0);
    assert!(gone, "idle pool threads did not exit");
}

fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim() == "ringport-blocki")
        .count()
}

#[test]
fn a_cancelled_blocking_job_that_never_started_does_not_run() {
    let rt = util::builder().max_blocking_threads(1).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let first = ringport::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50)));
        let r = ran.clone();
        let queued = ringport::spawn_blocking(move || r.fetch_add(1, Ordering::SeqCst));
        queued.abort();
        assert!(queued.await.unwrap_err().is_cancelled());
        first.await.unwrap();
        ringport::time::sleep(Duration::from_millis(20)).await;
    });
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the withdrawn job ran anyway"
    );
}

#[test]
fn a_busy_task_does_not_starve_completions() {
    // A task that always yields must not keep the loop from reaping I/O (the per-turn budget).
    util::run(async {
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        let spinner = ringport::spawn(async move {
            while !s.get() {
                ringport::yield_now().await;
            }
        });
        let start = Instant::now();
        for _ in 0..100 {
            ringport::driver::nop().await.unwrap();
        }
        stop.set(true);
        spinner.await.unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn nested_runtimes_on_one_thread_are_refused() {
    let res = std::panic::catch_unwind(|| {
        util::run(async {
            util::run(async {});
        })
    });
    assert!(res.is_err());
}

#[test]
fn the_backend_is_visible() {
    let rt = util::runtime();
    let info = rt.backend_info();
    assert_eq!(info.backend, rt.backend());
    match std::env::var("RINGPORT_BACKEND").as_deref() {
        Ok("poll") => assert_eq!(rt.backend(), ringport::Backend::Poll),
        Ok("uring") => assert_eq!(rt.backend(), ringport::Backend::Uring),
        _ => {}
    }
    if rt.backend() == ringport::Backend::Uring {
        assert!(info.opcodes.iter().any(|(n, ok)| *n == "READ" && *ok));
        assert!(info.entries.0 >= 256);
    } else if rt.backend() == ringport::Backend::Poll {
        assert!(
            info.reason.is_some(),
            "a fallback or a forced choice says why"
        );
    }
}

#[test]
fn a_bad_backend_name_is_a_clear_error() {
    // Read through the parser directly: the environment is shared by every test in the binary.
    let err = ringport::Backend::from_env_value("bogus").unwrap_err();
    assert!(err.to_string().contains("uring"), "{err}");
    assert_eq!(
        ringport::Backend::from_env_value("uring").unwrap(),
        Some(ringport::Backend::Uring)
    );
    assert_eq!(ringport::Backend::from_env_value("").unwrap(), None);
}

#[test]
fn blocking_jobs_counts_spawn_blocking() {
    let rt = util::runtime();
    assert_eq!(rt.blocking_jobs(), 0);
    rt.block_on(async {
        for i in 0..3u32 {
            assert_eq!(
                ringport::spawn_blocking(move || i * 2).await.unwrap(),
                i * 2
            );
        }
        // Ring work is not pool work.
        ringport::time::sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(rt.blocking_jobs(), 3);
}
