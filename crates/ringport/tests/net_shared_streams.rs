//! Streams shared by two tasks, as the `TcpStream` docs promise: an `Rc<TcpStream>` (and
//! `Rc<UnixStream>`) where one task `read_exact`s while the other `write_all`s, the trait
//! helpers through `&TcpStream`, pipes through `&Sender`/`&Receiver`; `JoinHandle::abort`
//! through a shared reference and from another thread; and `AsyncWrite::shutdown_write` and
//! `TcpStream::shutdown(how)` both reachable. On both backends.

mod util;

use ringport::buf::BufResult;
use ringport::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
#[cfg(unix)]
use ringport::net::UnixStream;
use ringport::net::{TcpListener, TcpStream};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A connected pair of TCP streams.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = ringport::spawn(async move { listener.accept().await.unwrap().0 });
    let a = TcpStream::connect(addr).await.unwrap();
    (a, accept.await.unwrap())
}

#[test]
fn an_rc_tcp_stream_reads_in_one_task_while_another_writes() {
    util::run(async {
        let (a, b) = tcp_pair().await;
        let a = Rc::new(a);
        // The reader starts first and waits: the writer must not need the stream back.
        let reader = a.clone();
        let read = ringport::spawn(async move { reader.read_exact(vec![0u8; 12]).await });
        ringport::yield_now().await;
        let writer = a.clone();
        let write = ringport::spawn(async move { writer.write_all(b"ping".as_slice()).await });
        write.await.unwrap().0.unwrap();
        // The peer answers what it got, twice over, through the trait helpers on `&TcpStream`.
        let mut peer: &TcpStream = &b;
        let BufResult(res, got) = AsyncReadExt::read_exact(&mut peer, vec![0u8; 4]).await;
        res.unwrap();
        assert_eq!(got, b"ping");
        AsyncWriteExt::write_all(&mut peer, b"pongpongpong".as_slice())
            .await
            .0
            .unwrap();
        let BufResult(res, answer) = read.await.unwrap();
        res.unwrap();
        assert_eq!(answer, b"pongpongpong");
    });
}

#[cfg(unix)]
#[test]
fn an_rc_unix_stream_reads_in_one_task_while_another_writes() {
    util::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let reader = a.clone();
        let read = ringport::spawn(async move { reader.read_to_end(Vec::new()).await });
        ringport::yield_now().await;
        let writer = a.clone();
        ringport::spawn(async move { writer.write_all(b"over".as_slice()).await })
            .await
            .unwrap()
            .0
            .unwrap();
        let BufResult(res, got) = b.read_exact(vec![0u8; 4]).await;
        res.unwrap();
        b.write_all(got).await.0.unwrap();
        b.shutdown_write().await.unwrap();
        let BufResult(res, answer) = read.await.unwrap();
        assert_eq!(res.unwrap(), 4);
        assert_eq!(answer, b"over");
    });
}

/// Generic code over the traits, given shared references.
async fn relay<R: AsyncRead, W: AsyncWrite>(mut from: R, mut to: W, n: usize) {
    let BufResult(res, buf) = from.read_exact(vec![0u8; n]).await;
    res.unwrap();
    to.write_all(buf).await.0.unwrap();
    to.shutdown_write().await.unwrap();
}

#[test]
fn shared_references_are_streams_for_generic_code() {
    util::run(async {
        let (a, b) = tcp_pair().await;
        let (tx, rx) = ringport::pipe::pipe().unwrap();
        tx.write_all(b"through a pipe".as_slice()).await.0.unwrap();
        relay(&rx, &a, 14).await;
        let peer = &b;
        let BufResult(res, got) = peer.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(got, b"through a pipe");
        drop(tx);
    });
}

#[test]
fn the_traits_shutdown_write_and_the_sockets_shutdown_are_both_reachable() {
    util::run(async {
        let (a, b) = tcp_pair().await;
        // The socket's own, with a direction.
        a.shutdown(Shutdown::Read).await.unwrap();
        // The trait's, by its name, on the stream itself and through `&TcpStream`.
        let mut shared = &a;
        AsyncWrite::shutdown_write(&mut shared).await.unwrap();
        let BufResult(res, _) = b.read(vec![0u8; 8]).await;
        assert_eq!(res.unwrap(), 0, "the peer sees the end of the stream");
        let mut owned = b;
        AsyncWrite::shutdown_write(&mut owned).await.unwrap();
        let err = owned.shutdown(Shutdown::Write).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotConnected, "already shut");
    });
}

fn assert_send_sync<T: Send + Sync>() {}

/// Lets the loop turn until `cond` holds (5 s at most).
async fn wait_until(cond: impl Fn() -> bool) -> bool {
    for _ in 0..5000 {
        if cond() {
            return true;
        }
        ringport::time::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

#[test]
fn join_handles_abort_through_a_shared_reference_and_from_another_thread() {
    assert_send_sync::<ringport::JoinHandle<u64>>();
    util::run(async {
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        // Through `&JoinHandle`, shared by an Rc.
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = SetOnDrop(dropped.clone());
        let shared = Rc::new(ringport::spawn(async move {
            let _flag = flag;
            ringport::time::sleep(Duration::from_secs(3600)).await;
        }));
        ringport::yield_now().await;
        let other = shared.clone();
        other.abort();
        drop(other);
        let handle = Rc::into_inner(shared).unwrap();
        assert!(handle.is_finished());
        assert!(handle.await.unwrap_err().is_cancelled());
        assert!(
            wait_until(|| dropped.load(Ordering::SeqCst)).await,
            "the future was dropped"
        );

        // Moved to another thread, aborted there, and awaited back here.
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = SetOnDrop(dropped.clone());
        let handle = ringport::spawn(async move {
            let _flag = flag;
            ringport::time::sleep(Duration::from_secs(3600)).await;
            7u64
        });
        ringport::yield_now().await;
        let handle = std::thread::spawn(move || {
            handle.abort();
            handle
        })
        .join()
        .unwrap();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert!(
            wait_until(|| dropped.load(Ordering::SeqCst)).await,
            "the future was dropped on its loop"
        );

        // A finished task keeps its output whatever abort says.
        let done = ringport::spawn(async { 3u64 });
        ringport::time::sleep(Duration::from_millis(1)).await;
        done.abort(); // through `&self`
        assert_eq!(done.await.unwrap(), 3);
    });
}
