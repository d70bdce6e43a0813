//! The fault layer (`RINGPORT_FAULTS`, `Builder::faults`): what it injects is legal, a correct
//! program hides the transient faults, the visible errors are clean, the same seed replays the
//! same run, and nothing leaks. Each test builds its own faulty runtime on the backend
//! `RINGPORT_BACKEND` names.
// On IOCP the errors are Windows codes and there is no EINTR (see `driver/faults.rs`).

mod util;

use ringport::buf::BufResult;
use ringport::cancel::CancelToken;
use ringport::driver::faults::{injected, FaultConfig, FaultKind};
use ringport::fs::{File, OpenOptions};
use ringport::net::{TcpListener, TcpStream};
use std::io;

fn faulty(seed: u64, rate: f64, hard_errors: bool) -> ringport::Runtime {
    util::builder()
        .faults(Some(FaultConfig {
            seed,
            rate,
            hard_errors,
        }))
        .build()
        .expect("runtime")
}

/// The errors the layer injects into a TCP exchange, and what a peer's reaction to one gives.
#[cfg(unix)]
fn injected_stream_error(raw: Option<i32>) -> bool {
    matches!(
        raw,
        Some(libc::ECONNRESET | libc::EPIPE | libc::EMFILE | libc::ENOTCONN)
    )
}

/// As on Unix, in Windows codes: WSAECONNRESET, WSAECONNABORTED, WSAEMFILE, WSAENOTCONN.
#[cfg(windows)]
fn injected_stream_error(raw: Option<i32>) -> bool {
    matches!(raw, Some(10054 | 10053 | 10024 | 10057))
}

#[cfg(unix)]
const ENOSPC: i32 = libc::ENOSPC;
#[cfg(windows)]
const ENOSPC: i32 = 112; // ERROR_DISK_FULL

/// Held by every test here: some compare the process-wide counts before and after their
/// runtime, and another test's faults must not count as theirs.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn counting() -> std::sync::MutexGuard<'static, ()> {
    COUNTING.lock().unwrap_or_else(|e| e.into_inner())
}

fn count(kind: FaultKind) -> u64 {
    injected()
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, n)| n)
}

/// A file of `len` bytes whose byte `i` is `i % 251`.
fn data_file(dir: &std::path::Path, len: usize) -> (std::path::PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let path = dir.join("data");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

#[test]
fn the_layer_is_shown_and_can_be_turned_off_by_the_builder() {
    let _counting = counting();
    let rt = faulty(9, 0.1, false);
    let f = rt
        .backend_info()
        .faults
        .expect("faults shown in the backend info");
    assert_eq!((f.seed, f.rate, f.hard_errors), (9, 0.1, false));
    let off = util::builder().faults(None).build().unwrap();
    assert!(off.backend_info().faults.is_none());
}

/// Positional reads under heavy transient faults: short results and EINTR (not on Windows) are
/// absorbed by `read_exact_at`, and no single read ever reports `Interrupted` (the bug the
/// layer found: an EINTR completion used to reach the caller as an error).
#[test]
fn transient_faults_are_invisible_to_a_correct_program() {
    let _counting = counting();
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = data_file(dir.path(), 64 * 1024);
    let before = (count(FaultKind::Eintr), count(FaultKind::Short));
    faulty(1, 0.5, false).block_on(async {
        let file = File::open(&path).await.unwrap();
        for i in 0..200usize {
            let pos = (i * 4096) % data.len();
            let BufResult(res, buf) = file.read_at(vec![0u8; 16384], pos as u64).await;
            let n = res.expect("no error surfaces under transient faults");
            assert!(n >= 1 && buf[..n] == data[pos..pos + n]);
            let BufResult(res, buf) = file.read_exact_at(vec![0u8; 8192], 0).await;
            res.unwrap();
            assert_eq!(buf, data[..8192]);
        }
        let out = File::create(dir.path().join("out")).await.unwrap();
        let BufResult(res, _) = out.write_all_at(data.clone(), 0).await;
        res.unwrap();
        out.sync_all().await.unwrap();
    });
    assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), data);
    if cfg!(unix) {
        assert!(
            count(FaultKind::Eintr) > before.0,
            "no EINTR injected at rate 0.5"
        );
    }
    assert!(
        count(FaultKind::Short) > before.1,
        "no short read at rate 0.5"
    );
}

/// One TCP exchange on loopback: the client sends `sent` and shuts down writing; the server
/// reads it all, echoes it and shuts down. The client's result (what came back) and the
/// server's.
async fn echo(sent: Vec<u8>) -> (io::Result<Vec<u8>>, io::Result<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ringport::spawn(async move {
        let (s, _) = listener.accept().await?;
        let (res, got) = s.read_to_end(Vec::new()).await.into_parts();
        res?;
        s.write_all(got).await.0?;
        s.shutdown_write().await
    });
    let client = async {
        let c = TcpStream::connect(addr).await?;
        c.write_all(sent).await.0?;
        c.shutdown_write().await?;
        let (res, back) = c.read_to_end(Vec::new()).await.into_parts();
        res?;
        io::Result::Ok(back)
    };
    let back = client.await;
    let served = server.await.unwrap();
    (back, served)
}

/// A TCP exchange under heavy transient faults: receives and sends cut short before the kernel
/// sees them (partial writes, short reads), delays and reordering; `write_all` and
/// `read_to_end` hide them all and the bytes come back equal.
#[test]
fn cut_stream_reads_and_writes_lose_nothing() {
    let _counting = counting();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let before = count(FaultKind::Short);
    let sent = payload.clone();
    let (back, served) = faulty(4, 0.5, false).block_on(echo(sent));
    served.expect("the server's side");
    assert!(
        back.expect("the client's side") == payload,
        "the echo differs from what was sent"
    );
    assert!(
        count(FaultKind::Short) > before,
        "no stream op was cut at rate 0.5"
    );
}

/// The lengths a single task's reads return, in order: deterministic for a seed.
fn read_lengths(path: &std::path::Path, seed: u64) -> Vec<usize> {
    faulty(seed, 0.3, false).block_on(async {
        let file = File::open(path).await.unwrap();
        let mut lens = Vec::new();
        for i in 0..100u64 {
            let BufResult(res, _) = file.read_at(vec![0u8; 32768], (i % 4) * 4096).await;
            lens.push(res.unwrap());
        }
        lens
    })
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let _counting = counting();
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = data_file(dir.path(), 64 * 1024);
    let a = read_lengths(&path, 77);
    assert_eq!(a, read_lengths(&path, 77));
    assert_ne!(a, read_lengths(&path, 78));
    assert!(a.iter().any(|&n| n < 32768), "no read was shortened: {a:?}");
}

/// A TCP exchange under every fault, errors included: either the bytes arrive equal, or one
/// side gets a clean error of a kind the layer injects; never wrong bytes, never a panic, and
/// the fds of every connection are closed when the runtime is gone.
#[test]
fn under_hard_errors_a_stream_gives_equal_bytes_or_a_clean_error() {
    let _counting = counting();
    let fds_before = util::open_fds();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let (mut ok, mut failed) = (0, 0);
    for seed in 0..20 {
        let sent = payload.clone();
        let outcome = faulty(seed, 0.1, true).block_on(echo(sent));
        match outcome {
            (Ok(back), Ok(())) => {
                assert_eq!(back, payload, "seed {seed}: wrong bytes with no error");
                ok += 1;
            }
            (back, served) => {
                for e in [back.err(), served.err()].into_iter().flatten() {
                    assert!(
                        injected_stream_error(e.raw_os_error())
                            || e.kind() == io::ErrorKind::UnexpectedEof,
                        "seed {seed}: unexpected error {e}"
                    );
                }
                failed += 1;
            }
        }
    }
    assert_eq!(ok + failed, 20);
    assert!(ok > 0, "no exchange got through at rate 0.1");
    assert!(
        util::wait_until(std::time::Duration::from_secs(5), || util::open_fds()
            <= fds_before),
        "fds leaked: {} before, {} after",
        fds_before,
        util::open_fds()
    );
}

/// File writes under ENOSPC: each write either lands (the bytes read back equal) or fails
/// cleanly with ENOSPC; a short write is finished by `write_all_at`.
#[test]
fn under_hard_errors_a_file_write_lands_or_fails_with_enospc() {
    let _counting = counting();
    let dir = tempfile::tempdir().unwrap();
    let block: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
    faulty(5, 0.3, true).block_on(async {
        let path = dir.path().join("w");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let (mut landed, mut refused) = (0, 0);
        for i in 0..50u64 {
            let pos = i * block.len() as u64;
            let BufResult(res, _) = file.write_all_at(block.clone(), pos).await;
            match res {
                Ok(()) => {
                    let BufResult(res, back) =
                        file.read_exact_at(vec![0u8; block.len()], pos).await;
                    match res {
                        Ok(()) => assert_eq!(back, block, "block {i} read back wrong"),
                        Err(e) => panic!("read back of block {i}: {e}"),
                    }
                    landed += 1;
                }
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(ENOSPC), "block {i}: {e}");
                    refused += 1;
                }
            }
        }
        assert!(
            landed > 0 && refused > 0,
            "{landed} landed, {refused} refused"
        );
    });
}

/// Cancels racing held completions: each read under a cancelled token hands back either its
/// full result or the documented cancelled error, and some cancels lose their race.
#[test]
fn a_cancel_that_loses_its_race_keeps_the_result() {
    let _counting = counting();
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = data_file(dir.path(), 8192);
    let before = count(FaultKind::CancelLost);
    faulty(3, 0.6, false).block_on(async {
        let file = File::open(&path).await.unwrap();
        let (mut finished, mut cancelled) = (0, 0);
        for _ in 0..300 {
            let token = CancelToken::new();
            let read = token.run(file.read_at(vec![0u8; 4096], 0));
            let mut read = std::pin::pin!(read);
            // Submit, then cancel while the completion may be held by the layer.
            std::future::poll_fn(|cx| {
                let _ = read.as_mut().poll(cx);
                std::task::Poll::Ready(())
            })
            .await;
            ringport::yield_now().await;
            token.cancel();
            let BufResult(res, buf) = read.await;
            match res {
                Ok(n) => {
                    assert!(n >= 1 && buf[..n] == data[..n]);
                    finished += 1;
                }
                Err(e) => {
                    assert!(ringport::cancel::is_cancelled(&e), "{e}");
                    cancelled += 1;
                }
            }
        }
        assert_eq!(finished + cancelled, 300);
    });
    assert!(
        count(FaultKind::CancelLost) > before,
        "no cancel lost its race"
    );
}

use std::future::Future as _;
