//! `io::Progress`: monotonic and ending at the byte count, read from the loop and from
//! another thread; the callback at about its interval; `cancel` from another thread ending a
//! copy promptly with the bytes done; waiting for the end from another thread; dropping a
//! copy.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

#[path = "util/copy.rs"]
mod copy_util;
mod util;

use copy_util::{source, BLOCK};
use ringport::cancel::is_cancelled;
use ringport::fs::File;
use ringport::io::{copy_with_progress, Progress, State, Strategy};
use ringport::pipe::Sender;
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// Writes `chunks` blocks of `size` bytes into the pipe, one every `gap`; stops at an error
/// (the reader went away).
async fn feed(tx: Sender, chunks: usize, size: usize, gap: Duration) {
    for i in 0..chunks {
        if tx.write_all(vec![i as u8; size]).await.0.is_err() {
            return;
        }
        ringport::time::sleep(gap).await;
    }
}

/// Writes a few blocks, then keeps the pipe open without writing: the copy stalls.
async fn feed_then_stall(tx: Sender) {
    let tx = {
        let tx = tx;
        for i in 0..4u8 {
            let _ = tx.write_all(vec![i; 16 << 10]).await;
        }
        tx
    };
    ringport::time::sleep(Duration::from_secs(3600)).await;
    drop(tx);
}

fn is_sorted(v: &[u64]) -> bool {
    v.windows(2).all(|w| w[0] <= w[1])
}

#[test]
fn progress_is_monotonic_and_ends_at_the_byte_count() {
    let dir = tempfile::tempdir().unwrap();
    let len = 24 << 20;
    let src = source(dir.path(), "src", len, 1);
    for strategy in [Strategy::Auto, Strategy::Splice, Strategy::Buffered] {
        let seen = RefCell::new(Vec::new());
        let (n, p, from_thread) = util::run(async {
            let s = File::open(&src).await.unwrap();
            let d = File::create(dir.path().join("dst")).await.unwrap();
            let copy = copy_with_progress(&s, &d)
                .strategy(strategy)
                .block_size(BLOCK)
                .on_progress(Duration::from_millis(1), |p| {
                    seen.borrow_mut().push(p.transferred())
                });
            let p = copy.progress();
            let watcher = {
                let p = p.clone();
                std::thread::spawn(move || {
                    let mut v = Vec::new();
                    while p.wait_timeout(Duration::from_micros(200)).is_none() {
                        v.push(p.transferred());
                    }
                    v.push(p.transferred());
                    v
                })
            };
            let n = copy.await.unwrap();
            (n, p, watcher.join().unwrap())
        });
        let seen = seen.into_inner();
        assert_eq!(n, len as u64);
        assert!(is_sorted(&seen), "{strategy:?}: {seen:?}");
        assert!(is_sorted(&from_thread), "{strategy:?}: {from_thread:?}");
        assert_eq!(
            seen.last(),
            Some(&n),
            "{strategy:?}: the callback sees the end"
        );
        assert_eq!(from_thread.last(), Some(&n), "{strategy:?}");
        let snap = p.snapshot();
        assert_eq!(snap.transferred, n);
        assert_eq!(snap.total, Some(n));
        assert_eq!(snap.state, State::Done);
        assert_eq!(snap.eta, Some(Duration::ZERO));
        assert_eq!(p.fraction(), Some(1.0));
        assert!(snap.rate > 0.0 && snap.elapsed > Duration::ZERO, "{snap:?}");
    }
}

#[test]
fn the_callback_fires_at_about_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let calls = RefCell::new(Vec::new());
    let start = Instant::now();
    let n = util::run(async {
        let (tx, rx) = ringport::pipe::pipe().unwrap();
        let feeder = ringport::spawn(feed(tx, 12, 32 << 10, Duration::from_millis(50)));
        let out = File::create(dir.path().join("dst")).await.unwrap();
        let copy = copy_with_progress(rx, &out)
            .total(12 * (32 << 10))
            .on_progress(Duration::from_millis(100), |p| {
                calls
                    .borrow_mut()
                    .push((Instant::now(), p.transferred(), p.eta()))
            });
        let n = copy.await.unwrap();
        feeder.await.unwrap();
        n
    });
    assert_eq!(n, 12 * (32 << 10));
    let calls = calls.into_inner();
    // About 600 ms at 100 ms: some 6 ticks, then the final call.
    assert!((4..=9).contains(&calls.len()), "{} calls", calls.len());
    // The ticks keep a fixed rate: tick k is due `(k + 1) * every` after the copy began and
    // never fires early (a late tick does not push the later ones back, so one gap may be
    // shorter than the interval after a late one).
    let every = Duration::from_millis(100);
    let ticks = &calls[..calls.len() - 1];
    for (k, c) in ticks.iter().enumerate() {
        let due = every * (k as u32 + 1);
        assert!(
            c.0 - start >= due,
            "tick {k} at {:?}, due {due:?}",
            c.0 - start
        );
    }
    for w in ticks.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap <= Duration::from_millis(300), "{gap:?}");
    }
    assert!(calls
        .iter()
        .any(|c| c.2.is_some_and(|e| e > Duration::ZERO)));
    assert_eq!(calls.last().unwrap().1, n);
}

#[test]
fn cancel_from_another_thread_returns_promptly_with_the_bytes_done() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("dst");
    for (strategy, stall) in [
        (Strategy::Splice, false),
        (Strategy::Buffered, false),
        (Strategy::Splice, true),
        (Strategy::Buffered, true),
    ] {
        let (res, ended, p, asked) = util::run(async {
            let (tx, rx) = ringport::pipe::pipe().unwrap();
            let _feeder = match stall {
                false => ringport::spawn(feed(tx, 1000, 16 << 10, Duration::from_millis(10))),
                true => ringport::spawn(feed_then_stall(tx)),
            };
            let out = File::create(&dst).await.unwrap();
            let copy = copy_with_progress(rx, &out).strategy(strategy);
            let p = copy.progress();
            let canceller = {
                let p = p.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    p.cancel();
                    Instant::now()
                })
            };
            let res = copy.await;
            let ended = Instant::now();
            (res, ended, p, canceller.join().unwrap())
        });
        let what = format!("{strategy:?}, stalled {stall}");
        let err = res.unwrap_err();
        assert!(is_cancelled(&err), "{what}: {err}");
        assert_eq!(p.state(), State::Cancelled, "{what}");
        assert!(p.error().is_none());
        let on_disk = std::fs::metadata(&dst).unwrap().len();
        assert!(p.transferred() > 0, "{what}");
        assert_eq!(
            p.transferred(),
            on_disk,
            "{what}: the bytes done are the bytes written"
        );
        // The copy ended a moment after the cancel: the read in flight was cancelled.
        let lag = ended.saturating_duration_since(asked);
        assert!(lag < Duration::from_millis(200), "{what}: {lag:?}");
    }
}

#[test]
fn cancel_stops_a_kernel_copy_between_calls() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "src", 200 << 20, 2);
    let dst = dir.path().join("dst");
    let mut stopped = 0;
    for strategy in [Strategy::Auto, Strategy::Splice, Strategy::Buffered] {
        let (res, p, asked, ended) = util::run(async {
            let s = File::open(&src).await.unwrap();
            let d = File::create(&dst).await.unwrap();
            let copy = copy_with_progress(&s, &d).strategy(strategy);
            let p = copy.progress();
            let canceller = {
                let p = p.clone();
                std::thread::spawn(move || {
                    while p.transferred() == 0 && !p.is_finished() {
                        std::thread::yield_now();
                    }
                    p.cancel();
                    Instant::now()
                })
            };
            let res = copy.await;
            let ended = Instant::now();
            (res, p, canceller.join().unwrap(), ended)
        });
        if res.is_ok() {
            continue; // finished before the cancel landed: nothing to check
        }
        assert!(is_cancelled(&res.unwrap_err()), "{strategy:?}");
        assert_eq!(p.state(), State::Cancelled);
        stopped += 1;
        assert!(p.transferred() < 200 << 20, "{strategy:?}");
        let lag = ended.saturating_duration_since(asked);
        assert!(lag < Duration::from_millis(500), "{strategy:?}: {lag:?}");
        if strategy != Strategy::Buffered {
            // Sequential ways: the file holds exactly the bytes done.
            let on_disk = std::fs::metadata(&dst).unwrap().len();
            assert_eq!(p.transferred(), on_disk, "{strategy:?}");
        }
    }
    assert!(stopped >= 2, "most copies were stopped part-way: {stopped}");
}

#[test]
fn another_thread_waits_for_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "src", 8 << 20, 3);
    let (n, waited) = util::run(async {
        let s = File::open(&src).await.unwrap();
        let d = File::create(dir.path().join("dst")).await.unwrap();
        let copy = copy_with_progress(&s, &d).strategy(Strategy::Buffered);
        let p: Progress = copy.progress();
        let waiter = std::thread::spawn(move || (p.wait(), p.transferred()));
        let n = copy.await.unwrap();
        (n, waiter.join().unwrap())
    });
    assert_eq!(waited, (State::Done, n));
}

#[test]
fn dropping_a_copy_cancels_it_and_wakes_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let p = util::run(async {
        let (tx, rx) = ringport::pipe::pipe().unwrap();
        let _feeder = ringport::spawn(feed(tx, 1000, 4096, Duration::from_millis(5)));
        let out = File::create(dir.path().join("dst")).await.unwrap();
        let copy = copy_with_progress(rx, &out);
        let p = copy.progress();
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || p.wait())
        };
        let res = ringport::time::timeout(Duration::from_millis(100), copy).await;
        assert!(res.is_err(), "the copy is still running at the timeout");
        assert_eq!(waiter.join().unwrap(), State::Cancelled);
        p
    });
    assert_eq!(p.state(), State::Cancelled);
    assert!(p.elapsed() >= Duration::from_millis(90));
}
