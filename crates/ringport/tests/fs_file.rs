//! Files: positional I/O, O_DIRECT + O_DSYNC, exact reads and writes, vectored I/O, sync,
//! length, metadata, close, and the path operations.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

mod util;

use ringport::buf::{AlignedBuf, BufResult, IoBuf};
use ringport::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Seek, SeekFrom};
use std::os::fd::AsRawFd;

fn fd_offset(file: &File) -> u64 {
    // SAFETY: lseek on an fd the File keeps open; SEEK_CUR with 0 only reads the offset.
    let off = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_CUR) };
    assert!(off >= 0);
    off as u64
}

#[test]
fn positional_io_never_moves_the_file_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    util::run(async {
        let file = File::create(&path).await.unwrap();
        assert_eq!(fd_offset(&file), 0);
        let BufResult(res, _) = file.write_all_at(vec![9u8; 10_000], 5_000).await;
        res.unwrap();
        assert_eq!(fd_offset(&file), 0);
        let BufResult(res, buf) = file.read_exact_at(vec![0u8; 100], 7_000).await;
        res.unwrap();
        assert!(buf.iter().all(|&b| b == 9));
        assert_eq!(fd_offset(&file), 0);
        let BufResult(res, _) = file
            .write_vectored_at(vec![vec![1u8; 10], vec![2u8; 10]], 0)
            .await;
        assert_eq!(res.unwrap(), 20);
        assert_eq!(fd_offset(&file), 0);
    });
    let mut std_file = std::fs::File::open(&path).unwrap();
    assert_eq!(std_file.seek(SeekFrom::End(0)).unwrap(), 15_000);
}

#[test]
fn direct_and_dsync_write_then_read_back() {
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
            .expect("O_DIRECT open (the temp dir must be on a disk file system)");
        assert!(file.is_direct());
        let (mem_align, off_align) = file.direct_io_alignment().await.unwrap();
        assert!(mem_align.is_power_of_two() && off_align.is_power_of_two());
        let mut out = AlignedBuf::new(64 * 1024);
        let pattern: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 256) as u8).collect();
        out.extend_from_slice(&pattern);
        let BufResult(res, _) = file.write_all_at(out, 4096).await;
        res.unwrap();
        let BufResult(res, back) = file.read_exact_at(AlignedBuf::new(64 * 1024), 4096).await;
        res.unwrap();
        assert_eq!(&back[..], &pattern[..]);
    });
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk.len(), 4096 + 64 * 1024);
    assert!(on_disk[..4096].iter().all(|&b| b == 0));
}

#[test]
fn an_unaligned_direct_buffer_gets_an_error_that_says_alignment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("direct");
    std::fs::write(&path, vec![1u8; 8192]).unwrap();
    util::run(async {
        let file = OpenOptions::new()
            .read(true)
            .direct(true)
            .open(&path)
            .await
            .unwrap();
        // A Vec of 4097 bytes sliced at 1: misaligned address and length.
        let buf = vec![0u8; 4097].slice(1..);
        let BufResult(res, _) = file.read_at(buf, 0).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("aligned"), "message: {err}");
        // An unaligned offset is the same error.
        let BufResult(res, _) = file.read_at(AlignedBuf::new(4096), 100).await;
        assert!(res.unwrap_err().to_string().contains("aligned"));
    });
}

#[test]
fn exact_reads_report_unexpected_eof_and_keep_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short");
    std::fs::write(&path, b"0123456789").unwrap();
    util::run(async {
        let file = File::open(&path).await.unwrap();
        let BufResult(res, buf) = file.read_exact_at(Vec::with_capacity(20), 4).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..], b"456789", "the bytes read before EOF are kept");
        let BufResult(res, buf) = file.read_at(vec![0u8; 4], 100).await;
        assert_eq!(res.unwrap(), 0, "a read past the end is EOF");
        assert_eq!(
            buf.len(),
            0,
            "a read of 0 bytes leaves none initialised (IoBufMut)"
        );
        assert_eq!(buf.capacity(), 4, "the memory is kept");
    });
}

#[test]
fn a_large_write_all_lands_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 253) as u8).collect();
    let expected = data.clone();
    util::run(async move {
        let file = File::create(&path).await.unwrap();
        let BufResult(res, back) = file.write_all_at(data, 0).await;
        res.unwrap();
        assert_eq!(back.len(), 8 << 20, "the buffer comes back whole");
        file.sync_all().await.unwrap();
        file.close().await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), expected);
    });
}

#[test]
fn vectored_reads_fill_buffers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    std::fs::write(&path, b"abcdefghij").unwrap();
    util::run(async {
        let file = File::open(&path).await.unwrap();
        let bufs = vec![
            Vec::with_capacity(3),
            Vec::with_capacity(4),
            Vec::with_capacity(10),
        ];
        let BufResult(res, bufs) = file.read_vectored_at(bufs, 1).await;
        assert_eq!(res.unwrap(), 9);
        assert_eq!(bufs[0], b"bcd");
        assert_eq!(bufs[1], b"efgh");
        assert_eq!(bufs[2], b"ij");
    });
}

#[test]
fn set_len_allocate_sync_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("len");
    util::run(async {
        let file = File::create(&path).await.unwrap();
        file.set_len(12_345).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 12_345);
        file.set_len(10).await.unwrap();
        let meta = file.metadata().await.unwrap();
        assert_eq!(meta.len(), 10);
        assert!(meta.is_file() && !meta.is_dir());
        assert!(meta.modified().is_ok());
        file.allocate(0, 1 << 20).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 1 << 20);
        file.sync_all().await.unwrap();
        file.sync_data().await.unwrap();
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
}

#[test]
fn path_operations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    util::run(async move {
        fs::create_dir(d.join("sub")).await.unwrap();
        assert!(fs::metadata(d.join("sub")).await.unwrap().is_dir());
        let err = fs::create_dir(d.join("sub")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);

        fs::write(d.join("sub/a"), b"hello".as_slice())
            .await
            .unwrap();
        fs::rename(d.join("sub/a"), d.join("b")).await.unwrap();
        assert_eq!(fs::read(d.join("b")).await.unwrap(), b"hello");
        assert_eq!(
            fs::metadata(d.join("sub/a")).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );

        std::os::unix::fs::symlink(d.join("b"), d.join("link")).unwrap();
        assert!(fs::symlink_metadata(d.join("link"))
            .await
            .unwrap()
            .is_symlink());
        assert!(fs::metadata(d.join("link")).await.unwrap().is_file());

        fs::remove_file(d.join("b")).await.unwrap();
        fs::remove_file(d.join("link")).await.unwrap();
        fs::remove_dir(d.join("sub")).await.unwrap();
        assert_eq!(
            fs::remove_file(d.join("b")).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            File::open(d.join("missing")).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let err = File::open("bad\0path").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn open_options_are_validated_before_any_io() {
    util::run(async {
        let err = OpenOptions::new().open("/tmp").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = OpenOptions::new()
            .read(true)
            .create(true)
            .open("/tmp/x")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn create_new_refuses_an_existing_file_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep");
    std::fs::write(&path, b"precious").unwrap();
    util::run(async {
        let err = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn open_at_with_resolve_beneath_cannot_leave_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/inside"), b"in").unwrap();
    std::fs::write(dir.path().join("outside"), b"out").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside"), root.join("escape")).unwrap();
    std::os::unix::fs::symlink("sub/inside", root.join("ok-link")).unwrap();
    util::run(async move {
        let rootf = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&root)
            .await
            .unwrap();
        let mut beneath = OpenOptions::new();
        beneath.read(true).resolve_beneath(true);
        for ok in ["sub/inside", "ok-link", "sub/../sub/inside"] {
            let f = beneath
                .open_at(&rootf, ok)
                .await
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
            let BufResult(res, buf) = f.read_at(vec![0u8; 8], 0).await;
            assert_eq!(&buf[..res.unwrap()], b"in", "{ok}");
        }
        for bad in ["../outside", "escape", "/etc/hostname", "sub/../../outside"] {
            let err = beneath.open_at(&rootf, bad).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EXDEV), "{bad}: {err}");
        }
        // Without the option, a link out of the directory is followed as usual.
        let plain = OpenOptions::new()
            .read(true)
            .open_at(&rootf, "escape")
            .await
            .unwrap();
        let BufResult(res, buf) = plain.read_at(vec![0u8; 8], 0).await;
        assert_eq!(&buf[..res.unwrap()], b"out");
    });
}
