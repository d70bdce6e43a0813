//! Invariant 5 for `io::copy_with_progress`: the loop thread allocates per copy (buffers,
//! the copy's state), never per block: a copy 16 times longer allocates no more.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

#[path = "util/copy.rs"]
mod copy_util;
mod util;

use copy_util::{source, BLOCK};
use ringport::fs::File;
use ringport::io::{copy_with_progress, Strategy};
use std::path::Path;
use std::time::Duration;
use util::alloc;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// The loop thread's allocations during one copy of `src`.
async fn allocs_of_copy(src: &Path, dst: &Path, strategy: Strategy) -> u64 {
    let s = File::open(src).await.unwrap();
    let d = File::create(dst).await.unwrap();
    let before = alloc::thread_allocs();
    let copy = copy_with_progress(&s, &d)
        .strategy(strategy)
        .block_size(BLOCK)
        .on_progress(Duration::from_millis(1), |p| {
            std::hint::black_box(p.transferred());
        });
    copy.await.unwrap();
    alloc::thread_allocs() - before
}

#[test]
fn a_longer_copy_allocates_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let short = source(dir.path(), "short", 4 << 20, 1);
    let long = source(dir.path(), "long", 64 << 20, 2);
    let dst = dir.path().join("dst");
    for strategy in [Strategy::Buffered, Strategy::Splice] {
        let (a, b) = util::run(async {
            // Warm up: the driver's slots and the timer queue reach their size.
            allocs_of_copy(&short, &dst, strategy).await;
            let a = allocs_of_copy(&short, &dst, strategy).await;
            let b = allocs_of_copy(&long, &dst, strategy).await;
            (a, b)
        });
        // 64 MiB is 1,024 blocks of 64 KiB (or 64 splices of 1 MiB) more than 4 MiB.
        assert!(
            b <= a + 8,
            "{strategy:?}: {a} allocations for 4 MiB, {b} for 64 MiB"
        );
    }
}
