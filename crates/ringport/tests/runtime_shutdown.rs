//! Dropping a runtime with work in flight: every task's future is dropped, every operation
//! cancelled and drained, every fd closed, and the drop returns promptly.
//!
//! One test in this binary: it counts the process's open fds.

mod util;

use ringport::fs::File;
use std::time::{Duration, Instant};

#[test]
fn dropping_the_runtime_with_work_in_flight_exits_cleanly() {
    let fds = util::open_fds();
    let (r, w) = util::pipe();
    let start = Instant::now();
    {
        let rt = util::runtime();
        rt.block_on(async {
            let reader = std::rc::Rc::new(File::from_std(std::fs::File::from(r)));
            for _ in 0..50 {
                let reader = reader.clone();
                drop(ringport::spawn(async move {
                    let _ = reader.read_at(vec![0u8; 16], u64::MAX).await;
                }));
                drop(ringport::spawn(ringport::time::sleep(Duration::from_secs(
                    3600,
                ))));
            }
            drop(ringport::spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(50))
            }));
            ringport::time::sleep(Duration::from_millis(5)).await;
        });
    }
    assert!(start.elapsed() < Duration::from_secs(5), "shutdown hung");
    drop(w);
    assert_eq!(
        util::open_fds(),
        fds,
        "the runtime's fds and the pipe are all closed"
    );
}
