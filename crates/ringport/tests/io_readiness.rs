//! `SocketReadiness`: readiness waits and calls that never block; a dropped owned read takes
//! nothing with it.

#![cfg(unix)] // SocketReadiness is not on the IOCP backend yet

mod util;

use ringport::buf::BufResult;
use ringport::io::{Interest, OwnedRead, OwnedWrite, SocketReadiness};
use ringport::net::{TcpListener, TcpStream, UnixStream};
use std::future::{poll_fn, Future};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::Poll;

/// A connected TCP pair on loopback.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = ringport::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap(), server)
}

#[test]
fn readiness_wait_then_calls_that_never_block() {
    util::run(async {
        let (a, b) = tcp_pair().await;
        let mut buf = [MaybeUninit::<u8>::uninit(); 16];
        let err = b.try_recv(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(a.try_send(b"abc").unwrap(), 3);
        let parts = [io::IoSlice::new(b"de"), io::IoSlice::new(b"f")];
        assert_eq!(a.try_send_vectored(&parts).unwrap(), 3);
        b.ready_op(Interest::Readable).await.unwrap();
        a.ready_op(Interest::Writable).await.unwrap();
        let mut got = Vec::new();
        while got.len() < 6 {
            match b.try_recv(&mut buf) {
                Ok(n) => {
                    // SAFETY: try_recv initialised the first `n` bytes.
                    got.extend(buf[..n].iter().map(|b| unsafe { b.assume_init() }));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    b.ready_op(Interest::Readable).await.unwrap();
                }
                Err(e) => panic!("try_recv: {e}"),
            }
        }
        assert_eq!(got, b"abcdef");
    });
}

#[test]
fn a_dropped_read_op_cancels_and_the_stream_still_works() {
    util::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        for _ in 0..100 {
            let mut op = b.read_owned(vec![0u8; 32]);
            let pending = poll_fn(|cx| Poll::Ready(Pin::new(&mut op).poll(cx).is_pending())).await;
            assert!(pending);
            drop(op);
        }
        // Cancelled reads took nothing: a fresh one gets the bytes.
        let BufResult(res, _) = a.write_owned(b"after".to_vec()).await;
        res.unwrap();
        let BufResult(res, buf) = b.read_owned(vec![7u8; 32]).await;
        assert_eq!(res.unwrap(), 5);
        // The read rule: a read of n bytes at the start leaves exactly n initialised.
        assert_eq!(buf, b"after");
    });
}

#[test]
fn dropped_readiness_waits_leave_the_bytes_to_the_next_call() {
    util::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        for _ in 0..100 {
            let mut wait = b.ready_op(Interest::Readable);
            let pending =
                poll_fn(|cx| Poll::Ready(Pin::new(&mut wait).poll(cx).is_pending())).await;
            assert!(pending, "nothing was sent yet");
        }
        a.try_send(b"late").unwrap();
        b.ready_op(Interest::Readable).await.unwrap();
        let mut buf = [MaybeUninit::<u8>::uninit(); 8];
        assert_eq!(b.try_recv(&mut buf).unwrap(), 4);
        // A write shutdown through the owned op reads as end of stream after the bytes.
        a.shutdown_write_owned().await.unwrap();
        b.ready_op(Interest::Readable).await.unwrap();
        assert_eq!(b.try_recv(&mut buf).unwrap(), 0);
    });
}
