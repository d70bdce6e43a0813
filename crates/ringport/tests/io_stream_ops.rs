//! `StreamOps` and `SocketReadiness`: operations stored in a struct field and polled across
//! calls, a dropped one losing nothing it had not taken, readiness waits and calls that never
//! block, and the write shutdown.

mod util;

use ringport::buf::BufResult;
use ringport::io::{Interest, ReadOp, SocketReadiness, StreamOps};
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
fn a_stored_read_op_is_polled_from_later_calls() {
    util::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        struct Holder {
            op: Option<ReadOp<Vec<u8>>>,
        }
        let mut h = Holder { op: None };
        // First call: start the op, see it pending, return (as a poll_read would).
        let first = poll_fn(|cx| {
            let op =
                h.op.get_or_insert_with(|| b.read_op(Vec::with_capacity(64)));
            Poll::Ready(Pin::new(op).poll(cx).is_pending())
        })
        .await;
        assert!(first, "an op is never complete on its first poll");
        let BufResult(res, _) = a.write_op(b"hello".to_vec()).await;
        assert_eq!(res.unwrap(), 5);
        // A later call finds the same op and its bytes.
        let BufResult(res, buf) = h.op.take().unwrap().await;
        assert_eq!(&buf[..res.unwrap()], b"hello");
    });
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
fn shutdown_write_op_ends_the_stream_once() {
    util::run(async {
        let (a, b) = tcp_pair().await;
        a.shutdown_write_op().await.unwrap();
        let BufResult(res, _) = b.read_op(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0, "the peer reads end of stream");
        let again = a.shutdown_write_op().await.unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::NotConnected);
        // Writing after the shutdown is refused by the kernel (EPIPE).
        let BufResult(res, _) = a.write_op(b"late".to_vec()).await;
        assert!(res.is_err());
    });
}

#[test]
fn a_dropped_read_op_cancels_and_the_stream_still_works() {
    util::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        for _ in 0..100 {
            let mut op = b.read_op(vec![0u8; 32]);
            let pending = poll_fn(|cx| Poll::Ready(Pin::new(&mut op).poll(cx).is_pending())).await;
            assert!(pending);
            drop(op);
        }
        // Cancelled reads took nothing: a fresh one gets the bytes.
        let BufResult(res, _) = a.write_op(b"after".to_vec()).await;
        res.unwrap();
        let BufResult(res, buf) = b.read_op(Vec::with_capacity(32)).await;
        assert_eq!(&buf[..res.unwrap()], b"after");
    });
}
