//! `io::copy_with_progress` on Windows (the buffered engine): files at offsets, streams, the
//! progress figures, a cancel mid-copy, and the kernel copies Windows lacks refused in words.
#![cfg(windows)]

use ringport::fs::File;
use ringport::io::{copy_with_progress, State, Strategy};

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect()
}

#[test]
fn a_file_is_copied_whole_with_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern((1 << 20) + 4321);
    std::fs::write(dir.path().join("a"), &data).unwrap();
    ringport::run(async {
        let src = File::open(dir.path().join("a")).await.unwrap();
        let dst = File::create(dir.path().join("b")).await.unwrap();
        let copy = copy_with_progress(&src, &dst).block_size(64 << 10);
        let p = copy.progress();
        let n = copy.await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(p.transferred(), n);
        assert_eq!(p.total(), Some(n));
        assert_eq!(p.state(), State::Done);
    });
    assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), data);
}

#[test]
fn a_pipe_is_copied_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(300_000);
    let expect = data.clone();
    ringport::run(async move {
        let (tx, rx) = ringport::pipe::pipe().unwrap();
        let writer = ringport::spawn(async move {
            tx.write_all(data).await.0.unwrap();
            drop(tx);
        });
        let dst = File::create(dir.path().join("out")).await.unwrap();
        let n = copy_with_progress(rx, &dst).await.unwrap();
        writer.await.unwrap();
        assert_eq!(n, expect.len() as u64);
        dst.close().await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), expect);
    });
}

#[test]
fn a_cancel_stops_the_copy_with_the_cancelled_error() {
    ringport::run(async {
        let (_tx, rx) = ringport::pipe::pipe().unwrap(); // never written: the read waits
        let dir = tempfile::tempdir().unwrap();
        let dst = File::create(dir.path().join("out")).await.unwrap();
        let copy = copy_with_progress(rx, &dst);
        let p = copy.progress();
        let canceller = ringport::spawn(async move {
            ringport::time::sleep(std::time::Duration::from_millis(50)).await;
            p.cancel();
        });
        let err = copy.await.unwrap_err();
        canceller.await.unwrap();
        assert!(ringport::cancel::is_cancelled(&err), "{err}");
    });
}

#[test]
fn kernel_copies_are_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), b"abc").unwrap();
    ringport::run(async {
        for (strategy, name) in [
            (Strategy::CopyFileRange, "copy_file_range"),
            (Strategy::Splice, "splice"),
        ] {
            let src = File::open(dir.path().join("a")).await.unwrap();
            let dst = File::create(dir.path().join("b")).await.unwrap();
            let err = copy_with_progress(&src, &dst)
                .strategy(strategy)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
            assert!(err.to_string().starts_with(name), "{err}");
        }
    });
}
