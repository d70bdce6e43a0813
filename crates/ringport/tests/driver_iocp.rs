//! The IOCP backend's own invariants (Windows; run under Wine in CI): synchronous successes
//! under `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS` still complete through the loop, a cancel
//! racing a completion delivers each op once with its bytes or the cancelled error, 10,000
//! socket receives dropped in flight leak no handle and no memory, and wake-ups from other
//! threads end a wait.
#![cfg(windows)]

mod util;

use ringport::buf::BufResult;
use ringport::cancel::{is_cancelled, CancelToken};
use ringport::net::{TcpListener, TcpStream};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};
use util::alloc;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

struct Counter {
    real: Waker,
    wakes: AtomicUsize,
    inline_wakes: AtomicUsize,
    in_poll: AtomicBool,
}

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if self.in_poll.load(Ordering::SeqCst) {
            self.inline_wakes.fetch_add(1, Ordering::SeqCst);
        }
        self.real.wake_by_ref();
    }
}

/// Polls `fut` with a counting waker: (output, polls, first poll pending, wakes, inline wakes).
async fn observe<F: Future>(fut: F) -> (F::Output, usize, bool, usize, usize) {
    let mut fut = std::pin::pin!(fut);
    let mut counter: Option<Arc<Counter>> = None;
    let (mut polls, mut first_pending) = (0, false);
    let out = std::future::poll_fn(|cx: &mut Context<'_>| {
        let c = counter.get_or_insert_with(|| {
            Arc::new(Counter {
                real: cx.waker().clone(),
                wakes: AtomicUsize::new(0),
                inline_wakes: AtomicUsize::new(0),
                in_poll: AtomicBool::new(false),
            })
        });
        let waker = Waker::from(c.clone());
        c.in_poll.store(true, Ordering::SeqCst);
        let res = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
        c.in_poll.store(false, Ordering::SeqCst);
        polls += 1;
        if polls == 1 {
            first_pending = res.is_pending();
        }
        res
    })
    .await;
    let c = counter.unwrap();
    let wakes = c.wakes.load(Ordering::SeqCst);
    (
        out,
        polls,
        first_pending,
        wakes,
        c.inline_wakes.load(Ordering::SeqCst),
    )
}

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = ringport::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (connect.await.unwrap(), server)
}

#[test]
fn the_backend_is_iocp_and_says_so() {
    let rt = util::runtime();
    assert_eq!(rt.backend(), ringport::Backend::Iocp);
    let info = rt.backend_info();
    assert!(info
        .setup_flags
        .contains(&"SKIP_COMPLETION_PORT_ON_SUCCESS"));
    assert_eq!(info.features.contains(&"WINE"), util::wine());
    let err = ringport::Runtime::builder()
        .backend(ringport::Backend::Uring)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("does not exist on Windows"),
        "{err}"
    );
}

#[test]
fn synchronous_successes_under_skip_mode_complete_through_the_loop_once() {
    util::run(async {
        let (a, b) = pair().await;
        for i in 0..50u8 {
            // A small send on an idle connection completes at once (WSASend returns 0), and
            // with skip mode no packet comes: it must still be delivered by the loop.
            let (BufResult(res, _), polls, first_pending, wakes, inline) =
                observe(a.write(vec![i; 100])).await;
            assert_eq!(res.unwrap(), 100);
            assert!(first_pending, "send {i} completed inside its first poll");
            assert_eq!((polls, wakes, inline), (2, 1, 0), "send {i}");
            // Data already waiting: the receive completes at once too.
            ringport::time::sleep(Duration::from_millis(1)).await;
            let (BufResult(res, buf), polls, first_pending, wakes, inline) =
                observe(b.read(vec![0u8; 100])).await;
            assert_eq!(res.unwrap(), 100);
            assert!(buf.iter().all(|&x| x == i));
            assert!(first_pending);
            assert_eq!((polls, wakes, inline), (2, 1, 0), "receive {i}");
        }
    });
}

#[test]
fn cancel_racing_completion_delivers_each_op_once_and_loses_no_byte() {
    util::run(async {
        let (a, b) = pair().await;
        let total = 20_000usize;
        let writer = ringport::spawn(async move {
            let a = a;
            for chunk in (0..total).collect::<Vec<_>>().chunks(97) {
                let bytes: Vec<u8> = chunk.iter().map(|&i| i as u8).collect();
                a.write_all(bytes).await.0.unwrap();
                // Pauses, so that some reads are pending (in the kernel) when cancelled and
                // some find data waiting (done at once) or race the cancel.
                ringport::time::sleep(Duration::from_micros(200)).await;
            }
            a.shutdown_write().await.unwrap();
        });
        let mut got = Vec::new();
        let (mut cancelled, mut rng) = (0, 0x9e37_79b9_7f4a_7c15u64);
        loop {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let token = CancelToken::new();
            let t2 = token.clone();
            let delay = rng % 3;
            let cancel = ringport::spawn(async move {
                for _ in 0..delay {
                    ringport::yield_now().await;
                }
                t2.cancel();
            });
            let BufResult(res, buf) = token.run(b.read(vec![0u8; 64])).await;
            cancel.await.unwrap();
            match res {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if is_cancelled(&e) => cancelled += 1,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        writer.await.unwrap();
        let expected: Vec<u8> = (0..total).map(|i| i as u8).collect();
        assert_eq!(got.len(), expected.len(), "bytes lost or duplicated");
        assert_eq!(got, expected);
        assert!(
            cancelled > 0,
            "no read was ever cancelled: the race was not exercised"
        );
    });
}

/// Starts `n` receives on connections nobody writes to and drops them at random points.
fn churn(n: usize, seed: u64) {
    util::run(async move {
        let mut pairs = Vec::new();
        for _ in 0..8 {
            let (a, b) = pair().await;
            pairs.push((a, Rc::new(b)));
        }
        let mut rng = seed;
        for i in 0..n {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
            let b = pairs[i % pairs.len()].1.clone();
            let mut fut = Box::pin(async move { b.read(vec![0u8; 4096]).await });
            match rng >> 62 {
                0 => {}
                1 => {
                    let _ = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                }
                _ => {
                    let _ = ringport::time::timeout(Duration::from_micros(rng % 300), fut).await;
                    continue;
                }
            }
            drop(fut);
        }
        // Some left in flight for the runtime's drop.
        for (_, b) in &pairs {
            let b = b.clone();
            ringport::spawn(async move {
                let _ = b.read(vec![0u8; 4096]).await;
            });
        }
        ringport::time::sleep(Duration::from_millis(5)).await;
    });
}

use std::task::Poll;

#[test]
fn dropping_10k_in_flight_socket_receives_leaks_no_handle_and_no_memory() {
    churn(300, 1);
    let handles = util::open_fds();
    let live = alloc::live_bytes();
    churn(10_000, 42);
    let grown = alloc::live_bytes() - live;
    assert!(
        grown < 16 * 1024,
        "{grown} heap bytes still live after the runtime dropped"
    );
    skip_under_wine!(
        "GetProcessHandleCount is a stub in Wine 8 (always 0): handles are counted on Windows only"
    );
    // Closes run on the pool after the runtime is gone: give them a moment.
    util::wait_until(Duration::from_secs(5), || util::open_fds() <= handles);
    assert!(
        util::open_fds() <= handles,
        "handles leaked: {} then {}",
        handles,
        util::open_fds()
    );
}

#[test]
fn a_wake_from_another_thread_ends_the_wait() {
    util::run(async {
        let start = Instant::now();
        // The blocking pool's thread finishes and wakes the loop, which is parked with no
        // timer: only the port's wake-up packet can end that wait.
        let v = ringport::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(50));
            7
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
        assert!(start.elapsed() < Duration::from_secs(5));
        for _ in 0..100 {
            assert_eq!(ringport::spawn_blocking(|| 1).await.unwrap(), 1);
        }
    });
}
