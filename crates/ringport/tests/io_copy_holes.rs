//! `io::copy_with_progress` between regular files keeps a sparse source's holes, on every
//! strategy, with `O_DIRECT`, on both backends: the copy has the source's bytes (a hole reads
//! back as zeros), about the source's allocation rather than its length, and the length is
//! right when the file ends in a hole. A destination that already holds bytes has none of them
//! left where the source has a hole.

#![cfg(unix)]

mod util;

use ringport::fs::{File, OpenOptions};
use ringport::io::{copy_with_progress, State, Strategy};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::Path;

const MIB: u64 = 1 << 20;

/// A 64 MiB file, all hole except a few data runs; when `ends_in_data`, its last bytes too.
fn sparse(path: &Path, ends_in_data: bool) -> Vec<(u64, Vec<u8>)> {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(64 * MIB).unwrap();
    let mut runs = vec![
        (0, vec![1u8; 10]),
        (5 * MIB + 123, vec![2u8; 70_000]),
        (33 * MIB, (0..=255u8).cycle().take(300_000).collect()),
    ];
    if ends_in_data {
        runs.push((64 * MIB - 5, b"tail!".to_vec()));
    }
    for (at, data) in &runs {
        f.write_all_at(data, *at).unwrap();
    }
    f.sync_all().unwrap();
    runs
}

/// Every byte of `path` equals the source: the runs where they were, zeros elsewhere.
fn check_contents(path: &Path, runs: &[(u64, Vec<u8>)]) {
    let got = std::fs::read(path).unwrap();
    assert_eq!(got.len() as u64, 64 * MIB, "length");
    let mut want = vec![0u8; got.len()];
    for (at, data) in runs {
        want[*at as usize..*at as usize + data.len()].copy_from_slice(data);
    }
    let first_bad = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first_bad, None, "first differing byte");
}

/// Bytes of disk a file uses.
fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

async fn copy(src: &Path, dst: &Path, strategy: Strategy, direct: bool, truncate: bool) -> u64 {
    let s = OpenOptions::new()
        .read(true)
        .direct(direct)
        .open(src)
        .await
        .unwrap();
    let d = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(truncate)
        .direct(direct)
        .open(dst)
        .await
        .unwrap();
    let copy = copy_with_progress(&s, &d)
        .strategy(strategy)
        .block_size(256 << 10);
    let p = copy.progress();
    let n = copy.await.unwrap();
    // Holes count as copied: the progress ends at the file's length.
    assert_eq!(
        (p.transferred(), p.total(), p.state()),
        (n, Some(n), State::Done)
    );
    n
}

#[test]
fn holes_are_kept_by_every_strategy() {
    let dir = tempfile::tempdir().unwrap();
    for ends_in_data in [false, true] {
        let src = dir.path().join("sparse");
        let runs = sparse(&src, ends_in_data);
        let src_alloc = allocated(&src);
        assert!(
            src_alloc < 2 * MIB,
            "the file system keeps holes: {src_alloc}"
        );
        for (strategy, direct) in [
            (Strategy::Auto, false),
            (Strategy::CopyFileRange, false),
            (Strategy::Splice, false),
            (Strategy::Buffered, false),
            (Strategy::Auto, true),
            (Strategy::Buffered, true),
        ] {
            let dst = dir.path().join("copy");
            let n = util::run(copy(&src, &dst, strategy, direct, true));
            let what = format!("{strategy:?} direct={direct} ends_in_data={ends_in_data}");
            assert_eq!(n, 64 * MIB, "{what}");
            check_contents(&dst, &runs);
            let dst_alloc = allocated(&dst);
            // The source's allocation, give or take the file system's and O_DIRECT's blocks.
            assert!(
                dst_alloc <= src_alloc + MIB,
                "{what}: {dst_alloc} bytes allocated for a source of {src_alloc}"
            );
            std::fs::remove_file(&dst).unwrap();
        }
    }
}

#[test]
fn a_destination_with_old_bytes_reads_zeros_in_the_holes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sparse");
    let runs = sparse(&src, false);
    for strategy in [
        Strategy::CopyFileRange,
        Strategy::Splice,
        Strategy::Buffered,
    ] {
        for old_len in [MIB, 64 * MIB] {
            // Not truncated: the copy overwrites, and must leave none of the 0xEE bytes.
            let dst = dir.path().join("old");
            std::fs::write(&dst, vec![0xEEu8; old_len as usize]).unwrap();
            let n = util::run(copy(&src, &dst, strategy, false, false));
            assert_eq!(n, 64 * MIB, "{strategy:?} over {old_len}");
            check_contents(&dst, &runs);
            std::fs::remove_file(&dst).unwrap();
        }
    }
}

#[test]
fn a_file_that_is_all_hole_copies_as_all_hole() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hole");
    std::fs::File::create(&src)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let dst = dir.path().join("copy");
    let started = std::time::Instant::now();
    let n = util::run(async {
        let s = File::open(&src).await.unwrap();
        let d = File::create(&dst).await.unwrap();
        copy_with_progress(&s, &d).await.unwrap()
    });
    assert_eq!(n, 1 << 30);
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), 1 << 30);
    assert_eq!(allocated(&dst), 0, "no block written");
    // Not a timing target: a copy that wrote 1 GiB of zeros would take seconds here.
    assert!(started.elapsed().as_secs() < 30);
}
