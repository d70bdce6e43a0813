//! Owned operations (`OwnedRead`, `OwnedWrite`): a read kept in flight across the caller's
//! futures keeps its bytes; writes and the write-side shutdown reach the peer in order.

mod util;

use ringport::buf::BufResult;
use ringport::io::{OwnedRead, OwnedWrite};
use ringport::net::{TcpListener, TcpStream};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Polls `f` once, from inside a future that is then dropped.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await;
    match polled {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

#[test]
fn a_stored_read_outlives_the_futures_that_polled_it() {
    util::run(async {
        let (client, server) = pair().await;
        let mut read = server.read_owned(vec![0u8; 64]);
        // Polled from several short-lived futures (as a TLS layer's callers would), then
        // dropped by none of them: the read stays submitted, and its bytes arrive.
        for _ in 0..3 {
            assert!(poll_once(&mut read).await.is_none());
            let _ = ringport::time::timeout(Duration::from_millis(5), std::future::pending::<()>())
                .await;
        }
        client.write_all(b"kept".to_vec()).await.0.unwrap();
        let BufResult(n, buf) = read.await;
        assert_eq!(&buf[..n.unwrap()], b"kept");
    });
}

#[test]
fn owned_writes_then_shutdown_arrive_in_order() {
    util::run(async {
        let (client, server) = pair().await;
        let BufResult(n, _) = client.write_owned(b"one ".as_slice()).await;
        assert_eq!(n.unwrap(), 4);
        let BufResult(n, _) = client.write_owned(b"two".to_vec()).await;
        assert_eq!(n.unwrap(), 3);
        client.shutdown_write_owned().await.unwrap();
        let BufResult(n, buf) = server.read_to_end(Vec::new()).await;
        assert_eq!(n.unwrap(), 7);
        assert_eq!(buf, b"one two");
    });
}

#[test]
fn pipes_read_and_write_owned() {
    util::run(async {
        let (tx, rx) = ringport::pipe::pipe().unwrap();
        let read = rx.read_owned(vec![0u8; 16]);
        tx.write_all(b"pipe".as_slice()).await.0.unwrap();
        let BufResult(n, buf) = read.await;
        assert_eq!(&buf[..n.unwrap()], b"pipe");
        // A pipe has no half-close: the owned shutdown is done at once.
        tx.shutdown_write_owned().await.unwrap();
        let BufResult(n, _) = tx.write_owned(b"more".as_slice()).await;
        assert_eq!(n.unwrap(), 4);
    });
}
