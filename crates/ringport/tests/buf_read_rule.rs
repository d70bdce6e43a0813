//! The rule after a read (`IoBufMut`): a read of `n` bytes into a buffer at position `p`
//! leaves it initialised to exactly `p + n`, so a reused `Vec` never carries stale bytes: the
//! naive echo server echoes what it read, on both backends, for TCP, UDP, files, slices,
//! `AlignedBuf` and (with the `bytes` feature) `BytesMut`.

mod util;

use ringport::buf::{AlignedBuf, BufResult, IoBuf};
use ringport::fs::File;
use ringport::net::{TcpListener, TcpStream, UdpSocket};

#[test]
fn a_naive_echo_server_echoes_what_it_read() {
    util::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringport::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            // One buffer, reused, never cleared: what the README's echo server does.
            let mut buf = Vec::with_capacity(64);
            loop {
                let BufResult(res, back) = stream.read(buf).await;
                if res.unwrap() == 0 {
                    return;
                }
                let BufResult(res, back) = stream.write_all(back).await;
                res.unwrap();
                buf = back;
            }
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let mut echoed = Vec::new();
        for msg in [&b"first long message"[..], b"x", b"yz"] {
            client.write_all(msg.to_vec()).await.0.unwrap();
            let BufResult(res, back) = client.read_exact(Vec::with_capacity(msg.len())).await;
            res.unwrap();
            assert_eq!(back, msg, "the echo of {:?}", String::from_utf8_lossy(msg));
            echoed.extend_from_slice(&back);
        }
        client.shutdown_write().await.unwrap();
        // Nothing more comes back: no stale byte was echoed after the short messages.
        let BufResult(res, rest) = client.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(rest, b"", "after {:?}", String::from_utf8_lossy(&echoed));
        server.await.unwrap();
    });
}

#[test]
fn a_reused_buffer_holds_exactly_the_bytes_of_each_read() {
    util::run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abcdefgh").unwrap();
        let file = File::open(&path).await.unwrap();

        // A Vec holding 26 bytes, read 3 into: length 3.
        let BufResult(res, buf) = file
            .read_at(b"abcdefghijklmnopqrstuvwxyz".to_vec(), 5)
            .await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(buf, b"fgh");

        // Read at the end of the file: 0 bytes, empty.
        let BufResult(res, buf) = file.read_at(buf, 8).await;
        assert_eq!((res.unwrap(), buf.len()), (0, 0));
        assert!(
            buf.capacity() >= 26,
            "the capacity is kept for the next read"
        );

        // Into a slice: the buffer ends where the slice's read ended.
        let BufResult(res, slice) = file.read_at(b"0123456789".to_vec().slice(2..6), 0).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(slice.into_inner(), b"01abcd");

        // A slice that starts past the initialised part: the gap reads as zeros.
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"AB");
        let BufResult(res, slice) = file.read_at(v.slice(4..7), 0).await;
        assert_eq!(res.unwrap(), 3);
        assert_eq!(slice.into_inner(), b"AB\0\0abc");

        // read_exact that meets the end keeps exactly the bytes read.
        let BufResult(res, buf) = file.read_exact_at(vec![9u8; 20], 4).await;
        assert!(res.is_err());
        assert_eq!(buf, b"efgh");

        // AlignedBuf follows the same rule.
        let mut aligned = AlignedBuf::new(4096);
        aligned.extend_from_slice(&[7u8; 100]);
        let BufResult(res, aligned) = file.read_at(aligned, 6).await;
        assert_eq!(res.unwrap(), 2);
        assert_eq!(&aligned[..], b"gh");

        // A failed read leaves the buffer as it was.
        File::create(dir.path().join("w")).await.unwrap();
        let BufResult(res, buf) = writer_only(&dir.path().join("w"), b"keep".to_vec()).await;
        assert!(res.is_err());
        assert_eq!(buf, b"keep");
    });
}

/// A read from a file opened only for writing: an error (EBADF, or access denied).
async fn writer_only(path: &std::path::Path, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
    let w = ringport::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .await
        .unwrap();
    w.read_at(buf, 0).await
}

#[test]
fn udp_receives_into_a_reused_buffer_hold_one_datagram_each() {
    util::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let mut buf = Vec::with_capacity(64);
        for msg in [&b"a long first datagram"[..], b"s"] {
            a.send_to(msg, to).await.0.unwrap();
            let BufResult(res, back) = b.recv_from(buf).await;
            assert_eq!(res.unwrap().0, msg.len());
            assert_eq!(back, msg);
            buf = back;
        }
    });
}

#[cfg(feature = "bytes")]
#[test]
fn bytes_mut_follows_the_rule() {
    util::run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"xy").unwrap();
        let file = File::open(&path).await.unwrap();
        let mut b = bytes::BytesMut::with_capacity(32);
        b.extend_from_slice(b"stale stale stale");
        let BufResult(res, b) = file.read_at(b, 0).await;
        assert_eq!(res.unwrap(), 2);
        assert_eq!(&b[..], b"xy");
    });
}
