//! Completion-mode writes: queued writes are accepted at once and report their errors no later
//! than the next flush (or the next write once the kernel has failed the write); direct writes
//! report theirs at once; shutdown flushes first; a full buffer pushes back without taking
//! bytes.

mod util;

use futures_util::AsyncWriteExt;
use ringport::buf::BufResult;
use ringport::io::OwnedRead;
use ringport_compat::{Compat, PollIo};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// The peer closes with `SO_LINGER` 0: a reset, so our next send fails.
async fn reset_pair() -> (ringport::net::TcpStream, ()) {
    let (a, b) = util::tcp_pair().await;
    b.set_linger(Some(Duration::ZERO)).unwrap();
    drop(b);
    // The close is asynchronous (it lands next turn): wait for the reset to arrive.
    ringport::time::sleep(Duration::from_millis(20)).await;
    (a, ())
}

fn is_broken(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

/// The adapter with every write copied and sent by a write operation (the default).
fn queued(s: ringport::net::TcpStream) -> Compat<ringport::net::TcpStream> {
    Compat::new(s)
}

/// The adapter with direct writes first.
fn direct(s: ringport::net::TcpStream) -> Compat<ringport::net::TcpStream> {
    Compat::new(s).direct_writes(true)
}

#[test]
fn a_direct_write_error_appears_at_once_or_by_the_next_flush() {
    util::run(async {
        let (a, ()) = reset_pair().await;
        let mut io = direct(a);
        let err = match io.write(b"doomed").await {
            Err(e) => e,
            Ok(_) => io.flush().await.unwrap_err(),
        };
        assert!(is_broken(&err), "{err}");
    });
}

#[test]
fn a_write_error_appears_by_the_next_flush() {
    util::run(async {
        let (a, ()) = reset_pair().await;
        let mut io = queued(a);
        // Accepted and copied: the failure is not known yet.
        assert_eq!(io.write(b"doomed").await.unwrap(), 6);
        let err = io.flush().await.unwrap_err();
        assert!(is_broken(&err), "flush: {err}");
    });
}

#[test]
fn a_write_error_appears_on_the_next_write_once_known() {
    util::run(async {
        let (a, ()) = reset_pair().await;
        let mut io = queued(a);
        assert_eq!(io.write(b"doomed").await.unwrap(), 6);
        // Let the kernel fail the send, without polling the adapter.
        ringport::time::sleep(Duration::from_millis(20)).await;
        let err = io.write(b"next").await.unwrap_err();
        assert!(is_broken(&err), "write: {err}");
    });
}

#[test]
fn a_write_error_appears_by_shutdown() {
    util::run(async {
        let (a, ()) = reset_pair().await;
        let mut io = queued(a);
        io.write_all(b"doomed").await.unwrap();
        let err = io.close().await.unwrap_err();
        assert!(is_broken(&err), "close: {err}");
    });
}

#[test]
fn readiness_mode_reports_write_errors_at_once() {
    util::run(async {
        let (a, ()) = reset_pair().await;
        let mut io = PollIo::new(a);
        let err = io.write(b"doomed").await.unwrap_err();
        assert!(is_broken(&err), "write: {err}");
    });
}

#[test]
fn shutdown_flushes_every_accepted_byte() {
    shutdown_flushes(false);
    shutdown_flushes(true);
}

fn shutdown_flushes(direct: bool) {
    util::run(async {
        let (a, b) = util::tcp_pair().await;
        let total = 3 << 20; // 3 MiB through a 64 KiB write limit: full buffers push back
        let reader = ringport::spawn(async move {
            let mut got = Vec::with_capacity(total);
            loop {
                let BufResult(res, buf) = b.read_owned(Vec::with_capacity(65536)).await;
                match res.unwrap() {
                    0 => return got,
                    _ => got.extend_from_slice(&buf),
                }
                // A slow reader: short writes and full buffers on the other side.
                ringport::time::sleep(Duration::from_micros(200)).await;
            }
        });
        let data: Vec<u8> = (0..total as u64).map(util::pattern).collect();
        let mut io = Compat::new(a).direct_writes(direct);
        for chunk in data.chunks(10_007) {
            io.write_all(chunk).await.unwrap();
        }
        // No flush: close flushes, then shuts down.
        io.close().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got.len(), total);
        assert!(got == data, "the bytes differ");
    });
}

#[test]
fn a_full_write_buffer_is_pending_and_takes_nothing() {
    util::run(async {
        let (a, b) = util::tcp_pair().await;
        let mut io = Compat::with_capacity(1024, 1000, a);
        let block = vec![7u8; 4 << 20];
        // Fill the socket and the adapter: nobody reads.
        let mut accepted = 0usize;
        let mut saw_pending = false;
        for _ in 0..100_000 {
            let mut w = pin!(io.write(&block));
            match poll_fn(|cx| Poll::Ready(w.as_mut().poll(cx))).await {
                Poll::Ready(n) => accepted += n.unwrap(),
                Poll::Pending => {
                    saw_pending = true;
                    break;
                }
            }
            ringport::yield_now().await;
        }
        assert!(saw_pending, "the write side never pushed back");
        // The reader drains; exactly what was accepted arrives.
        let reader = ringport::spawn(async move {
            let mut n = 0usize;
            loop {
                let BufResult(res, _) = b.read_owned(Vec::with_capacity(1 << 20)).await;
                match res.unwrap() {
                    0 => return n,
                    k => n += k,
                }
            }
        });
        io.close().await.unwrap();
        assert_eq!(reader.await.unwrap(), accepted);
    });
}

#[test]
fn a_direct_write_leaves_nothing_buffered_and_a_queued_one_waits_for_flush() {
    util::run(async {
        let (a, b) = util::tcp_pair().await;
        let (c, d) = util::tcp_pair().await;
        let mut fast = direct(a);
        let mut slow = queued(c);
        assert_eq!(fast.write(b"now").await.unwrap(), 3);
        assert!(
            !fast.has_pending_write(),
            "the kernel took it during the call"
        );
        assert_eq!(slow.write(b"later").await.unwrap(), 5);
        assert!(
            slow.has_pending_write(),
            "copied, and the write op still in flight"
        );
        slow.flush().await.unwrap();
        assert!(!slow.has_pending_write());
        for (peer, want) in [(b, &b"now"[..]), (d, &b"later"[..])] {
            let BufResult(res, buf) = peer.read_owned(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..res.unwrap()], want);
        }
    });
}

/// The end of the stream held back for a waiting flush (crate docs) still arrives when the
/// caller never flushes again: one call returns `Pending`, the next the end.
#[test]
fn end_of_stream_reaches_a_reader_that_left_its_flush_waiting() {
    use futures_util::AsyncReadExt;
    use std::pin::Pin;
    util::run(async {
        let (a, b) = util::tcp_pair().await;
        let mut io = queued(a);
        let waiting = poll_fn(|cx| {
            let mut io = Pin::new(&mut io);
            assert!(matches!(
                io.as_mut().poll_write(cx, b"bye"),
                Poll::Ready(Ok(3))
            ));
            // The write was only queued (submitted with the turn): the flush must wait.
            Poll::Ready(io.poll_flush(cx).is_pending())
        })
        .await;
        assert!(
            waiting,
            "a queued write cannot be done before the turn ends"
        );
        let BufResult(res, buf) = b.read_owned(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..res.unwrap()], b"bye");
        drop(b);
        let mut rest = Vec::new();
        let got = ringport::time::timeout(Duration::from_secs(5), io.read_to_end(&mut rest)).await;
        assert_eq!(got.expect("the end of stream arrived").unwrap(), 0);
    });
}
