//! Cancellation: 10,000 `poll_read`s abandoned mid-flight (their futures dropped by a 0-50 µs
//! timeout, or after one poll) while a peer streams a known pattern, through `Compat`,
//! `PollIo` and `TlsCompat`. Every byte arrives once and in order, abandoned reads allocate
//! nothing, and the runtime's drop leaves no fd and no heap behind.
//!
//! One test in this binary: it measures the process's live heap bytes.

mod util;

use futures_util::AsyncReadExt;
use ringport::buf::BufResult;
use ringport::io::AsyncWrite;
use ringport_compat::{Compat, PollIo, TlsCompat};
use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use util::{alloc, pattern, Rng};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

const ABANDONED: u64 = 10_000;

/// What one run saw.
struct Seen {
    abandoned: u64,
    bytes: u64,
    /// Allocations by the loop thread over the second half of the abandoned reads.
    steady_allocs: u64,
}

/// Streams the pattern from a writer task, in chunks of up to 3,000 bytes with 0-150 µs
/// pauses, until told to stop; then shuts down. Reads with `read` (a poll-style read through
/// an adapter) under a 0-50 µs timeout, or polls it once and drops it, until `abandon`
/// reads were abandoned; then reads to end of stream.
async fn stream_and_abandon<R: futures_util::AsyncRead + Unpin, W: AsyncWrite + 'static>(
    reader: R,
    mut writer: W,
    seed: u64,
    abandon: u64,
) -> Seen {
    let stop = Rc::new(Cell::new(false));
    let stop_w = stop.clone();
    let sent = ringport::spawn(async move {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let mut off = 0u64;
        let mut buf = Vec::with_capacity(3000);
        while !stop_w.get() {
            let n = 1 + rng.below(3000);
            buf.clear();
            buf.extend((off..off + n).map(pattern));
            let BufResult(res, b) = writer.write(buf).await;
            buf = b;
            off += res.expect("write") as u64;
            // (a short write leaves the rest unsent: the pattern is by offset, so it still holds)
            ringport::time::sleep(Duration::from_micros(rng.below(150))).await;
        }
        writer.shutdown_write().await.expect("shutdown");
        off
    });

    let mut reader = reader;
    let mut rng = Rng::new(seed);
    let mut buf = vec![0u8; 8192];
    let (mut abandoned, mut got, mut steady_from) = (0u64, 0u64, None);
    let check = |got: u64, bytes: &[u8]| {
        for (i, b) in bytes.iter().enumerate() {
            let at = got + i as u64;
            assert_eq!(
                *b,
                pattern(at),
                "byte {at} is wrong (lost or repeated bytes)"
            );
        }
    };
    loop {
        if abandoned == abandon / 2 && steady_from.is_none() {
            steady_from = Some(alloc::thread_allocs());
        }
        if abandoned >= abandon {
            break;
        }
        let want = 1 + rng.below(buf.len() as u64) as usize;
        let read = reader.read(&mut buf[..want]);
        let n = if rng.below(2) == 0 {
            let wait = Duration::from_micros(rng.below(50));
            match ringport::time::timeout(wait, read).await {
                Ok(res) => res.expect("read"),
                Err(_) => {
                    abandoned += 1;
                    continue;
                }
            }
        } else {
            let mut read = pin!(read);
            match poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
                Poll::Ready(res) => res.expect("read"),
                Poll::Pending => {
                    abandoned += 1;
                    continue;
                }
            }
        };
        assert!(n > 0, "end of stream before the writer stopped");
        check(got, &buf[..n]);
        got += n as u64;
    }
    let steady_allocs = alloc::thread_allocs() - steady_from.unwrap_or(0);
    stop.set(true);
    loop {
        let n = reader.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        check(got, &buf[..n]);
        got += n as u64;
    }
    let sent = sent.await.unwrap();
    assert_eq!(got, sent, "every byte sent was read, once");
    Seen {
        abandoned,
        bytes: got,
        steady_allocs,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Compat,
    PollIo,
    Tls,
}

fn one_run(mode: Mode, seed: u64, abandon: u64) -> Seen {
    // Made outside the runtime, so the loop thread's allocation count holds only the run.
    let certs = (mode == Mode::Tls).then(util::tls::Certs::new);
    util::run(async move {
        let (a, b) = util::tcp_pair().await;
        match (mode, certs) {
            (Mode::PollIo, _) => stream_and_abandon(PollIo::new(b), a, seed, abandon).await,
            (Mode::Tls, Some(certs)) => {
                let acceptor = ringport_tls::TlsAcceptor::new(certs.server(&[]));
                let server = ringport::spawn(async move { acceptor.accept(b).await });
                let client = ringport_tls::TlsConnector::new(certs.client(&[]))
                    .connect(ringport_tls::server_name("localhost").unwrap(), a)
                    .await
                    .expect("client handshake");
                let server = server.await.unwrap().expect("server handshake");
                stream_and_abandon(TlsCompat::new(server), client, seed, abandon).await
            }
            // A small read buffer, so reads also end inside the adapter's buffer.
            _ => stream_and_abandon(Compat::with_capacity(1024, 4096, b), a, seed, abandon).await,
        }
    })
}

#[test]
fn abandoned_poll_reads_lose_nothing_and_leak_nothing() {
    // Warm up (thread-locals, the allocator's first blocks), then measure.
    let _ = one_run(Mode::Compat, 1, 500);
    let _ = one_run(Mode::Tls, 3, 500);
    let fds = util::open_fds();
    let live = alloc::live_bytes();
    for (mode, seed) in [(Mode::Compat, 7), (Mode::PollIo, 11), (Mode::Tls, 13)] {
        let seen = one_run(mode, seed, ABANDONED);
        assert!(
            seen.abandoned >= ABANDONED,
            "{mode:?}: {} abandoned",
            seen.abandoned
        );
        assert!(seen.bytes > 0, "{mode:?}: no bytes moved");
        // The timeouts' timer queue may grow a little; the reads themselves allocate nothing.
        // Over TLS, rustls allocates per record on both sides (the writer shares the loop),
        // so the count is only printed there.
        if mode != Mode::Tls {
            assert!(
                seen.steady_allocs <= 5,
                "{mode:?}: {} allocations over {} abandoned reads",
                seen.steady_allocs,
                ABANDONED / 2
            );
        }
        eprintln!(
            "{mode:?}: {} bytes, {} abandoned reads, {} allocations in the second half",
            seen.bytes, seen.abandoned, seen.steady_allocs
        );
    }
    assert_eq!(util::open_fds(), fds, "fds leaked");
    let grown = alloc::live_bytes() - live;
    assert!(
        grown < 16 * 1024,
        "{grown} heap bytes still live after the runtimes were dropped"
    );
}
