//! Invariant 5: no allocation per operation in steady state. A counting global allocator
//! counts the loop thread's allocations over thousands of reads and writes.

mod util;

use ringport::buf::{AlignedBuf, BufResult};
use ringport::fs::File;
use util::alloc;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

async fn round(rbuf: Vec<u8>, wbuf: AlignedBuf, file: &File, i: u64) -> (Vec<u8>, AlignedBuf) {
    let pos = (i * 4096) % (1 << 20);
    let BufResult(res, rbuf) = file.read_at(rbuf, pos).await;
    assert_eq!(res.unwrap(), 4096);
    let BufResult(res, wbuf) = file.write_at(wbuf, pos).await;
    assert_eq!(res.unwrap(), 4096);
    (rbuf, wbuf)
}

#[test]
fn reads_and_writes_allocate_nothing_in_steady_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, vec![1u8; 1 << 20]).unwrap();
    util::run(async {
        let file = ringport::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut rbuf = vec![0u8; 4096];
        let mut wbuf = AlignedBuf::zeroed(4096);
        // Warm up: slots, queues and wake lists reach their steady size.
        for i in 0..200 {
            (rbuf, wbuf) = round(rbuf, wbuf, &file, i).await;
        }
        let before = alloc::thread_allocs();
        for i in 0..5000 {
            (rbuf, wbuf) = round(rbuf, wbuf, &file, i).await;
        }
        let per_op = (alloc::thread_allocs() - before) as f64 / 10_000.0;
        assert_eq!(per_op, 0.0, "allocations per operation in steady state");
    });
}

#[test]
fn nops_from_many_tasks_allocate_nothing_in_steady_state() {
    util::run(async {
        let run_batch = || async {
            let mut handles = Vec::with_capacity(16);
            for _ in 0..16 {
                handles.push(ringport::spawn(async {
                    for _ in 0..100 {
                        ringport::driver::nop().await.unwrap();
                    }
                }));
            }
            handles
        };
        for h in run_batch().await {
            h.await.unwrap();
        }
        // Spawning allocates each task (not per operation): count only inside the tasks.
        let handles = run_batch().await;
        let before = alloc::thread_allocs();
        ringport::spawn(async {}).await.unwrap(); // one known task allocation
        for h in handles {
            h.await.unwrap();
        }
        let allocs = alloc::thread_allocs() - before;
        // 1,600 operations ran; the one spawn above costs a small, fixed number.
        assert!(allocs <= 4, "{allocs} allocations for 1,600 operations");
    });
}

#[test]
fn socket_round_trips_under_timeouts_allocate_nothing_in_steady_state() {
    use std::io::{Read, Write};
    use std::time::Duration;
    // A peer thread echoes (its allocations are its own thread's, not counted).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    util::run(async move {
        let stream = ringport::net::TcpStream::connect(addr).await.unwrap();
        let mut out = vec![7u8; 64];
        let mut back = vec![0u8; 64];
        // Each read and write under a timeout, as an HTTP server does them.
        let round = async |out: Vec<u8>, back: Vec<u8>| {
            let limit = Duration::from_secs(10);
            let BufResult(res, out) = ringport::time::timeout(limit, stream.write_all(out))
                .await
                .expect("no timeout");
            res.unwrap();
            let BufResult(res, back) = ringport::time::timeout(limit, stream.read_exact(back))
                .await
                .expect("no timeout");
            res.unwrap();
            (out, back)
        };
        // Warm up: slots, the fixed-file slot, timer and wake lists reach their steady size.
        for _ in 0..200 {
            (out, back) = round(out, back).await;
        }
        let before = alloc::thread_allocs();
        for _ in 0..2000 {
            (out, back) = round(out, back).await;
        }
        let allocs = alloc::thread_allocs() - before;
        assert_eq!(allocs, 0, "allocations over 2,000 guarded round trips");
    });
    peer.join().unwrap();
}
