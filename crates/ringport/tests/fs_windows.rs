//! Files on Windows (IOCP; run under Wine in CI): overlapped positional reads and writes,
//! the pool's calls (open, metadata, flush, length, path calls), and unbuffered I/O's
//! alignment error (seed 003).
#![cfg(windows)]

mod util;

use ringport::buf::{AlignedBuf, BufResult};
use ringport::fs::{self, File, OpenOptions};

#[test]
fn positional_writes_and_reads_round_trip_through_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    util::run(async {
        let file = File::create(&path).await.unwrap();
        let BufResult(res, _) = file.write_all_at(b"hello, port".to_vec(), 4096).await;
        res.unwrap();
        let BufResult(res, buf) = file.read_at(vec![0u8; 64], 4096).await;
        assert_eq!(&buf[..res.unwrap()], b"hello, port");
        // The hole before reads as zeros; past the end is 0 bytes (ERROR_HANDLE_EOF).
        let BufResult(res, buf) = file.read_at(vec![1u8; 16], 100).await;
        assert_eq!(res.unwrap(), 16);
        assert!(buf.iter().all(|&b| b == 0));
        let BufResult(res, _) = file.read_at(vec![0u8; 16], 1 << 20).await;
        assert_eq!(res.unwrap(), 0);
        let BufResult(res, _) = file.read_exact_at(vec![0u8; 64], 4096).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        file.sync_all().await.unwrap();
        file.sync_data().await.unwrap();
        let meta = file.metadata().await.unwrap();
        assert_eq!(meta.len(), 4096 + 11);
        assert!(meta.is_file() && !meta.is_dir());
        assert!(meta.modified().is_ok());
        file.set_len(10).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 10);
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 10);
}

#[test]
fn vectored_positional_io_fills_buffers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    util::run(async {
        let file = File::create(&path).await.unwrap();
        let bufs = vec![b"abc".to_vec(), b"defg".to_vec()];
        let BufResult(res, _) = file.write_vectored_at(bufs, 0).await;
        assert_eq!(res.unwrap(), 7);
        let BufResult(res, bufs) = file
            .read_vectored_at(vec![Vec::with_capacity(2), Vec::with_capacity(10)], 1)
            .await;
        assert_eq!(res.unwrap(), 6);
        assert_eq!(bufs[0], b"bc");
        assert_eq!(bufs[1], b"defg");
    });
}

#[test]
fn path_calls_run_on_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, sub) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("sub"),
    );
    util::run(async {
        fs::write(&a, b"contents".to_vec()).await.unwrap();
        assert_eq!(fs::read(&a).await.unwrap(), b"contents");
        fs::rename(&a, &b).await.unwrap();
        assert!(fs::metadata(&a).await.is_err());
        assert_eq!(fs::metadata(&b).await.unwrap().len(), 8);
        fs::create_dir(&sub).await.unwrap();
        assert!(fs::metadata(&sub).await.unwrap().is_dir());
        assert_eq!(
            fs::create_dir(&sub).await.unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists
        );
        fs::remove_dir(&sub).await.unwrap();
        fs::remove_file(&b).await.unwrap();
        let err = File::open(&b).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(
            err.to_string().contains("b"),
            "the error names the path: {err}"
        );
        let err = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.path().join("new"))
            .await;
        assert!(err.is_ok());
        let err = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.path().join("new"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    });
}

#[test]
fn unaligned_unbuffered_io_is_refused_with_an_alignment_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("direct");
    util::run(async {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .direct(true)
            .dsync(true)
            .open(&path)
            .await
            .unwrap();
        assert!(file.is_direct());
        let block = AlignedBuf::zeroed(4096);
        let BufResult(res, block) = file.write_at(block, 0).await;
        assert_eq!(res.unwrap(), 4096);
        let BufResult(res, _) = file.read_at(AlignedBuf::new(4096), 0).await;
        assert_eq!(res.unwrap(), 4096);
        // An unaligned offset, then an unaligned length: refused, saying why.
        let BufResult(res, block) = file.write_at(block, 100).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("aligned"), "{err}");
        let BufResult(res, _) = file.read_at(vec![0u8; 100], 0).await;
        assert!(res.unwrap_err().to_string().contains("aligned"));
        drop(block);
    });
}

#[test]
fn allocate_reserves_space_without_changing_the_length() {
    skip_under_wine!(
        "SetFileInformationByHandle(FileAllocationInfo) is not implemented by Wine 8 (error 120)"
    );
    let dir = tempfile::tempdir().unwrap();
    util::run(async {
        let file = File::create(dir.path().join("alloc")).await.unwrap();
        file.allocate(0, 1 << 20).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 0);
    });
}

#[test]
fn a_std_file_runs_on_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("std");
    std::fs::write(&path, b"from std").unwrap();
    util::run(async {
        let file = File::from_std(std::fs::File::open(&path).unwrap());
        let BufResult(res, buf) = file.read_at(vec![0u8; 32], 0).await;
        assert_eq!(&buf[..res.unwrap()], b"from std");
    });
}
