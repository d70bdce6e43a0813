//! Invariant 2: dropping 10,000 in-flight operations at random points leaks no fd and no
//! memory, and the runtime drains the kernel before freeing anything.
//!
//! One test in this binary: it measures the process's live heap bytes.

mod util;

use ringport::fs::File;
use std::rc::Rc;
use std::time::Duration;
use util::alloc;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Starts `n` reads, on a cached file and on a pipe nobody writes to, and drops them at
/// random points: before the first poll, right after submission, or after a random delay
/// (some complete first). Leaves 100 pipe reads in flight for the runtime's drop.
fn churn(n: usize, seed: u64, file_path: &std::path::Path) {
    let (pipe_r, pipe_w) = util::pipe();
    let rt = util::runtime();
    rt.block_on(async {
        let file = Rc::new(File::open(file_path).await.unwrap());
        let pipe = Rc::new(File::from_std(std::fs::File::from(pipe_r)));
        let mut rng = util::Rng::new(seed);
        let mut handles = Vec::new();
        for i in 0..n {
            let on_pipe = rng.below(3) == 0;
            let src = if on_pipe { pipe.clone() } else { file.clone() };
            // u64::MAX: the fd's own position, which is what a pipe needs.
            let pos = if on_pipe {
                u64::MAX
            } else {
                rng.below(60) * 4096
            };
            let delay = Duration::from_micros(rng.below(200));
            let mode = rng.below(4);
            let read = async move { src.read_at(vec![0u8; 4096], pos).await.0.map(drop) };
            let task = ringport::spawn(async move {
                match mode {
                    0 => drop(read),
                    1 => {
                        let mut read = std::pin::pin!(read);
                        let _ = futures_poll_once(read.as_mut()).await;
                    }
                    _ => {
                        let _ = ringport::time::timeout(delay, read).await;
                    }
                }
            });
            handles.push(task);
            if i % 500 == 499 {
                for h in handles.drain(..) {
                    h.await.unwrap();
                }
            }
        }
        for h in handles {
            h.await.unwrap();
        }
        // Some reads stay in flight while the runtime is dropped.
        for _ in 0..100 {
            let pipe = pipe.clone();
            drop(ringport::spawn(async move {
                let _ = pipe.read_at(vec![0u8; 4096], u64::MAX).await;
            }));
        }
        ringport::yield_now().await;
        ringport::driver::nop().await.unwrap();
    });
    drop(rt);
    drop(pipe_w);
}

/// Polls a future once, then drops it (in flight, for an op).
async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut f).poll(cx).ready())).await
}

use std::task::Poll;
trait ReadyExt<T> {
    fn ready(self) -> Option<T>;
}
impl<T> ReadyExt<T> for Poll<T> {
    fn ready(self) -> Option<T> {
        match self {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }
}

#[test]
fn dropping_10k_in_flight_reads_at_random_points_leaks_no_fd_and_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, vec![7u8; 64 * 4096]).unwrap();

    // Warm up lazily initialised statics (thread-locals, std buffers) with a small run.
    churn(200, 1, &path);
    let fds = util::open_fds();
    let live = alloc::live_bytes();

    churn(10_000, 42, &path);

    assert_eq!(util::open_fds(), fds, "fds leaked");
    let grown = alloc::live_bytes() - live;
    // One leaked buffer per dropped read would be over 4 MiB; a leaked op state over 80 KiB.
    assert!(
        grown < 16 * 1024,
        "{grown} heap bytes still live after the runtime dropped"
    );
}
