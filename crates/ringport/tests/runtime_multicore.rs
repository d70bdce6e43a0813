//! Multi-loop runtimes: one loop per thread, tasks placed across loops, cross-loop wake-ups,
//! aborts and shutdown. Every test runs on the backend `RINGPORT_BACKEND` names.

mod util;

use ringport::Handle;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// The fd-counting test runs alone; the others share.
static FDS: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared_fds() -> std::sync::RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

fn runtime(threads: usize) -> ringport::Runtime {
    util::builder().threads(threads).build().expect("runtime")
}

/// Fails the whole test binary when `progress` stops moving for `limit`: a lost wake-up
/// would otherwise hang the test instead of failing it.
fn watchdog(name: &'static str, progress: Arc<AtomicUsize>, limit: Duration) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let mut last = progress.load(Ordering::Relaxed);
        let mut since = Instant::now();
        while !d.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            let now = progress.load(Ordering::Relaxed);
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() > limit {
                eprintln!("{name}: stalled at {now} for {limit:?}: a wake-up was lost");
                std::process::exit(101);
            }
        }
    });
    done
}

#[test]
fn every_loop_has_its_own_thread_and_core_index() {
    let _fds = shared_fds();
    let rt = runtime(3);
    assert_eq!(rt.cores(), 3);
    let main = std::thread::current().id();
    let seen = rt.block_on_all(|| async {
        // Some I/O, so each loop's own driver is used.
        ringport::time::sleep(Duration::from_millis(1)).await;
        (
            ringport::current_core(),
            ringport::cores(),
            std::thread::current().id(),
        )
    });
    let cores: Vec<usize> = seen.iter().map(|s| s.0).collect();
    assert_eq!(cores, vec![0, 1, 2]);
    assert!(seen.iter().all(|s| s.1 == 3));
    let threads: HashSet<ThreadId> = seen.iter().map(|s| s.2).collect();
    assert_eq!(threads.len(), 3, "one thread per loop");
    assert_eq!(seen[0].2, main, "loop 0 is the building thread");
}

#[test]
fn zero_threads_means_one_loop_per_cpu() {
    let _fds = shared_fds();
    let rt = runtime(0);
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(rt.cores(), cpus);
}

#[test]
fn single_loop_run_is_unchanged() {
    let _fds = shared_fds();
    let (core, cores) = ringport::run(async { (ringport::current_core(), ringport::cores()) });
    assert_eq!((core, cores), (0, 1));
}

/// A placed task (a `!Send` future) is polled only on its loop, across timers, I/O, yields
/// and a blocking-pool job whose result comes back to it.
#[test]
fn a_placed_task_is_polled_only_on_its_loop() {
    let _fds = shared_fds();
    let rt = runtime(2);
    let polls = rt.block_on(async {
        ringport::spawn_on(1, || async {
            let here = Rc::new(std::thread::current().id());
            let mut seen = vec![*here];
            for i in 0..20 {
                match i % 4 {
                    0 => ringport::time::sleep(Duration::from_micros(200)).await,
                    1 => ringport::yield_now().await,
                    2 => {
                        let id = ringport::spawn_blocking(|| std::thread::current().id())
                            .await
                            .unwrap();
                        assert_ne!(id, *here, "blocking work ran on the loop");
                    }
                    _ => {
                        ringport::driver::nop().await.unwrap();
                    }
                }
                seen.push(std::thread::current().id());
                assert_eq!(ringport::current_core(), 1);
            }
            seen
        })
        .await
        .unwrap()
    });
    let first = polls[0];
    assert_ne!(first, std::thread::current().id());
    assert!(
        polls.iter().all(|t| *t == first),
        "the task moved: {polls:?}"
    );
}

/// The storm: many cross-loop spawns from loop 0 and from a foreign thread at once, with a
/// window of outstanding tasks, plus a ping-pong of cross-loop wakers; a watchdog fails the
/// test on any stall.
#[test]
fn storm_of_cross_loop_spawns_and_wakes_loses_nothing() {
    let _fds = shared_fds();
    // 1,000,000 in release builds; fewer in debug builds, which are ~20x slower per spawn.
    let n: usize = if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    let rt = runtime(2);
    let progress = Arc::new(AtomicUsize::new(0));
    let done = watchdog("storm", progress.clone(), Duration::from_secs(10));
    let handle = rt.handle();
    // A foreign thread spawning onto both loops while loop 0 does the same.
    let foreign = {
        let handle = handle.clone();
        let progress = progress.clone();
        std::thread::spawn(move || {
            let mut sum = 0u64;
            let mut window = std::collections::VecDeque::new();
            for i in 0..n / 4 {
                window.push_back(handle.spawn_on(i % 2, move || async move { i as u64 }));
                if window.len() == 64 {
                    sum += block_on_thread(window.pop_front().unwrap()).unwrap();
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            }
            for j in window {
                sum += block_on_thread(j).unwrap();
            }
            sum
        })
    };
    let p = progress.clone();
    let sum = rt.block_on(async {
        let mut sum = 0u64;
        let mut window = std::collections::VecDeque::new();
        for i in 0..n {
            window.push_back(ringport::spawn_on(1, move || async move { i as u64 }));
            if window.len() == 64 {
                sum += window.pop_front().unwrap().await.unwrap();
                p.fetch_add(1, Ordering::Relaxed);
            }
        }
        for j in window {
            sum += j.await.unwrap();
        }
        // Loop 0 runs only inside this block_on: keep it running until the foreign thread's
        // tasks on it are done too (else they wait in its inbox while the test joins).
        while !foreign.is_finished() {
            ringport::time::sleep(Duration::from_millis(1)).await;
        }
        sum
    });
    let n64 = n as u64;
    assert_eq!(sum, n64 * (n64 - 1) / 2);
    let m = (n / 4) as u64;
    assert_eq!(foreign.join().unwrap(), m * (m - 1) / 2);
    done.store(true, Ordering::Relaxed);
}

/// Two tasks on two loops wake each other in turn: each wake crosses loops while the other
/// loop is (usually) asleep, the case the sleep announcement exists for.
#[test]
fn ping_pong_of_cross_loop_wakers() {
    let _fds = shared_fds();
    let rounds: usize = if cfg!(debug_assertions) {
        50_000
    } else {
        200_000
    };
    let rt = runtime(2);
    let progress = Arc::new(AtomicUsize::new(0));
    let done = watchdog("ping-pong", progress.clone(), Duration::from_secs(10));
    let turn = Arc::new(Turn::default());
    let t1 = turn.clone();
    let p1 = progress.clone();
    let pong = rt.handle().spawn_on(1, move || async move {
        for i in 0..rounds {
            t1.wait_for(1 + 2 * i as u64).await;
            t1.set(2 + 2 * i as u64);
            p1.fetch_add(1, Ordering::Relaxed);
        }
    });
    rt.block_on(async move {
        for i in 0..rounds {
            turn.set(1 + 2 * i as u64);
            turn.wait_for(2 + 2 * i as u64).await;
        }
        pong.await.unwrap();
    });
    assert_eq!(progress.load(Ordering::Relaxed), rounds);
    done.store(true, Ordering::Relaxed);
}

/// A counter that tasks wait on, woken from any thread.
#[derive(Default)]
struct Turn {
    state: Mutex<(u64, Vec<Waker>)>,
}

impl Turn {
    fn set(&self, v: u64) {
        let w = {
            let mut s = self.state.lock().unwrap();
            s.0 = v;
            std::mem::take(&mut s.1)
        };
        for w in w {
            w.wake();
        }
    }

    async fn wait_for(&self, v: u64) {
        std::future::poll_fn(|cx| {
            let mut s = self.state.lock().unwrap();
            if s.0 >= v {
                Poll::Ready(())
            } else {
                s.1.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Drives a future on a plain thread (no runtime), parking until woken.
fn block_on_thread<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn a_handle_spawns_from_any_thread() {
    let _fds = shared_fds();
    let rt = runtime(2);
    let handle = rt.handle();
    let from_thread = std::thread::spawn(move || {
        let a = block_on_thread(handle.spawn_on(0, || async { ringport::current_core() }));
        let b = block_on_thread(handle.spawn_on(1, || async { ringport::current_core() }));
        (a.unwrap(), b.unwrap())
    });
    // Loop 0 runs only inside block_on: keep it running until the thread is done.
    let got = rt.block_on(async move {
        while !from_thread.is_finished() {
            ringport::time::sleep(Duration::from_millis(1)).await;
        }
        from_thread.join().unwrap()
    });
    assert_eq!(got, (0, 1));
}

#[test]
fn spawn_on_a_stopped_runtime_is_cancelled_at_once() {
    let _fds = shared_fds();
    let rt = runtime(2);
    let handle = rt.handle();
    drop(rt);
    let start = Instant::now();
    for core in 0..2 {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let join = handle.spawn_on(core, move || async move { r.store(true, Ordering::SeqCst) });
        let err = block_on_thread(join).unwrap_err();
        assert!(err.is_cancelled(), "core {core}: {err}");
        assert!(!ran.load(Ordering::SeqCst));
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Counts drops of the future it is held by.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cross_loop_abort_cancels_exactly_once() {
    let _fds = shared_fds();
    let rt = runtime(2);
    let handle = rt.handle();
    for round in 0..50 {
        let drops = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicBool::new(false));
        let (d, s) = (drops.clone(), started.clone());
        let mut join = handle.spawn_on(1, move || async move {
            let _guard = DropCount(d);
            s.store(true, Ordering::SeqCst);
            ringport::time::sleep(Duration::from_secs(3600)).await;
            unreachable!("the sleep was aborted");
        });
        // Half the time abort before the task ran at all.
        if round % 2 == 0 {
            assert!(util::wait_until(Duration::from_secs(5), || started.load(Ordering::SeqCst)));
        }
        // Abort from a foreign thread; the handle moves there and back.
        let join2 = std::thread::spawn(move || {
            join.abort();
            join
        });
        join = join2.join().unwrap();
        let err = block_on_thread(&mut join).unwrap_err();
        assert!(err.is_cancelled());
        // The future is dropped on loop 1 soon after: once if it ever started, never twice;
        // a task aborted before its first poll never starts.
        let settled =
            || drops.load(Ordering::SeqCst) == usize::from(started.load(Ordering::SeqCst));
        assert!(
            util::wait_until(Duration::from_secs(5), settled),
            "round {round}"
        );
        assert!(util::wait_until(Duration::from_secs(5), || handle.load(1) == 0));
        std::thread::sleep(Duration::from_millis(5));
        assert!(settled(), "round {round}");
        assert!(drops.load(Ordering::SeqCst) <= 1);
        if round % 2 == 0 {
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        }
        assert_eq!(handle.load(1), 0, "the placed count went back down");
    }
    drop(rt);
}

/// Dropping a runtime of 4 loops with tasks parked on timers, sockets and cross-loop joins
/// drops every task's future on its own loop and returns: no hang, no leaked fd.
#[test]
fn shutdown_of_many_loops_drops_every_task_once() {
    let _fds = FDS.write().unwrap_or_else(|e| e.into_inner());
    let fds_before = util::open_fds();
    let rt = runtime(4);
    let drops = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(AtomicUsize::new(0));
    let handle = rt.handle();
    let per_loop = 25;
    for core in 0..4 {
        for i in 0..per_loop {
            let d = drops.clone();
            let s = starts.clone();
            let h = handle.clone();
            drop(handle.spawn_on(core, move || async move {
                let _guard = DropCount(d);
                s.fetch_add(1, Ordering::SeqCst);
                match i % 3 {
                    0 => ringport::time::sleep(Duration::from_secs(3600)).await,
                    1 => {
                        let l = ringport::net::TcpListener::bind("127.0.0.1:0").unwrap();
                        let _ = l.accept().await;
                    }
                    _ => {
                        // Waits on a task of another loop that never ends.
                        let _ = h
                            .spawn_on((core + 1) % 4, || async {
                                ringport::time::sleep(Duration::from_secs(3600)).await
                            })
                            .await;
                    }
                }
            }));
        }
    }
    // Let them all start.
    let started = rt.block_on(async {
        let mut waited = 0;
        while starts.load(Ordering::SeqCst) < 4 * per_loop && waited < 1000 {
            ringport::time::sleep(Duration::from_millis(5)).await;
            waited += 1;
        }
        waited < 1000
    });
    assert!(started);
    let t = Instant::now();
    drop(rt);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert_eq!(drops.load(Ordering::SeqCst), 4 * per_loop);
    assert_eq!(
        handle.load(0) + handle.load(1) + handle.load(2) + handle.load(3),
        0
    );
    let ok = util::wait_until(Duration::from_secs(2), || util::open_fds() <= fds_before);
    if !ok {
        for e in std::fs::read_dir("/proc/self/fd").unwrap() {
            let e = e.unwrap();
            eprintln!("{:?} -> {:?}", e.file_name(), std::fs::read_link(e.path()));
        }
    }
    assert!(ok, "fds: {} before, {} after", fds_before, util::open_fds());
}

/// A waker of a task on a loop that has shut down may still be woken (or dropped) from any
/// thread: nothing happens.
#[test]
fn a_waker_that_outlives_its_loop_is_harmless() {
    let _fds = shared_fds();
    let rt = runtime(2);
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let s = slot.clone();
    drop(rt.handle().spawn_on(1, move || async move {
        std::future::poll_fn(|cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        })
        .await
    }));
    assert!(util::wait_until(Duration::from_secs(5), || slot
        .lock()
        .unwrap()
        .is_some()));
    drop(rt);
    let w = slot.lock().unwrap().take().unwrap();
    w.wake_by_ref();
    std::thread::spawn(move || w.wake()).join().unwrap();
}

#[test]
fn spawn_balanced_spreads_by_live_tasks() {
    let _fds = shared_fds();
    let rt = runtime(3);
    let counts = rt.block_on(async {
        let release = Arc::new(Turn::default());
        let mut joins = Vec::new();
        for _ in 0..30 {
            let r = release.clone();
            joins.push(ringport::spawn_balanced(move || async move {
                let core = ringport::current_core();
                r.wait_for(1).await;
                core
            }));
        }
        // While all 30 are alive, each loop holds 10.
        let h = Handle::current();
        let mut waited = 0;
        while (0..3).map(|c| h.load(c)).collect::<Vec<_>>() != vec![10, 10, 10] && waited < 500 {
            ringport::time::sleep(Duration::from_millis(2)).await;
            waited += 1;
        }
        let loads: Vec<usize> = (0..3).map(|c| h.load(c)).collect();
        release.set(1);
        let mut counts = [0usize; 3];
        for j in joins {
            counts[j.await.unwrap()] += 1;
        }
        (loads, counts)
    });
    assert_eq!(counts.0, vec![10, 10, 10]);
    assert_eq!(counts.1, [10, 10, 10]);
}

#[test]
fn a_panic_in_a_placed_task_is_its_join_error() {
    let _fds = shared_fds();
    let rt = runtime(2);
    let h = rt.handle();
    let err = rt
        .block_on(h.spawn_on(1, || async { panic!("boom on loop 1") }))
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "task panicked: boom on loop 1");
    // The loop still works.
    assert_eq!(rt.block_on(h.spawn_on(1, || async { 7 })).unwrap(), 7);
}
