//! Provided-buffer rings: receives that hold no buffer while idle, multishot receive, and
//! cancelled receives that hand their buffers back.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

mod util;

use ringport::buf::BufRing;
use ringport::io::AsyncWriteExt;
use ringport::net::{TcpListener, TcpStream, UnixStream};
use std::time::Duration;

async fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[test]
fn recv_buf_fills_a_ring_buffer_that_returns_when_dropped() {
    util::run(async {
        let ring = BufRing::new(4, 64).unwrap();
        let (a, b) = connected_pair().await;
        a.write_all(b"hello ring".as_slice()).await.0.unwrap();
        let buf = b.recv_buf(&ring).await.unwrap().expect("data, not EOF");
        assert_eq!(&buf[..], b"hello ring");
        assert_eq!(ring.buffers_in_use(), 1);
        drop(buf);
        assert_eq!(ring.buffers_in_use(), 0);
        drop(a);
        assert!(b.recv_buf(&ring).await.unwrap().is_none(), "EOF is None");
    });
}

#[test]
fn idle_receives_hold_no_buffer() {
    util::run(async {
        let ring = BufRing::new(16, 256).unwrap();
        let mut pairs = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..200 {
            let (a, b) = connected_pair().await;
            let ring = ring.clone();
            readers.push(ringport::spawn(async move {
                let buf = b.recv_buf(&ring).await.unwrap().unwrap();
                buf.to_vec()
            }));
            pairs.push(a);
        }
        ringport::time::sleep(Duration::from_millis(20)).await;
        // 200 receives pending on a ring of 16: none has taken a buffer.
        assert_eq!(ring.buffers_in_use(), 0);
        for (i, a) in pairs.iter_mut().enumerate() {
            a.write_all(vec![i as u8; 10]).await.0.unwrap();
        }
        for (i, r) in readers.into_iter().enumerate() {
            assert_eq!(r.await.unwrap(), vec![i as u8; 10]);
        }
        assert_eq!(ring.buffers_in_use(), 0);
    });
}

#[test]
fn multishot_receive_delivers_every_byte_then_eof() {
    util::run(async {
        let ring = BufRing::new(8, 128).unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let writer = ringport::spawn(async move {
            let a = a;
            for i in 0..100u8 {
                a.write_all(vec![i; 50]).await.0.unwrap();
                if i % 10 == 0 {
                    ringport::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let mut rx = b.recv_multishot(&ring);
        let mut got = Vec::new();
        while let Some(buf) = rx.next().await {
            match buf {
                Ok(buf) => got.extend_from_slice(&buf),
                // The ring ran dry while we were busy: the stream re-arms on the next call.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) => panic!("{e}"),
            }
        }
        writer.await.unwrap();
        let expected: Vec<u8> = (0..100u8).flat_map(|i| vec![i; 50]).collect();
        assert_eq!(got, expected);
        assert_eq!(ring.buffers_in_use(), 0);
    });
}

#[test]
fn a_cancelled_multishot_receive_returns_its_buffers() {
    util::run(async {
        let ring = BufRing::new(8, 64).unwrap();
        let (a, b) = connected_pair().await;
        {
            let mut rx = b.recv_multishot(&ring);
            let first = ringport::time::timeout(Duration::from_millis(10), rx.next()).await;
            assert!(first.is_err(), "nothing sent yet");
            // Arrivals complete into the dropped-future state or queue in the op.
            for i in 0..4u8 {
                a.write_all(vec![i; 10]).await.0.unwrap();
                ringport::time::sleep(Duration::from_millis(2)).await;
            }
            // `rx` drops here with completions queued and the receive still armed.
        }
        a.write_all(vec![9u8; 10]).await.0.unwrap(); // may land after the cancel
        ringport::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            ring.buffers_in_use(),
            0,
            "every buffer went back to the ring"
        );
        // The ring is whole: eight buffers can be held at once again.
        let (c, d) = connected_pair().await;
        let mut held = Vec::new();
        for i in 0..8u8 {
            c.write_all(vec![i; 4]).await.0.unwrap();
            held.push(d.recv_buf(&ring).await.unwrap().unwrap());
        }
        assert_eq!(ring.buffers_in_use(), 8);
        drop(held);
        assert_eq!(ring.buffers_in_use(), 0);
    });
}

#[test]
fn an_empty_ring_is_enobufs_and_recovers() {
    util::run(async {
        let ring = BufRing::new(1, 16).unwrap();
        let (a, b) = connected_pair().await;
        a.write_all(b"one".as_slice()).await.0.unwrap();
        let held = b.recv_buf(&ring).await.unwrap().unwrap();
        a.write_all(b"two".as_slice()).await.0.unwrap();
        let err = b.recv_buf(&ring).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOBUFS));
        drop(held);
        let buf = b.recv_buf(&ring).await.unwrap().unwrap();
        assert_eq!(&buf[..], b"two");
    });
}

#[test]
fn bad_ring_shapes_are_refused() {
    assert!(BufRing::new(3, 64).is_err());
    assert!(BufRing::new(4, 0).is_err());
}
