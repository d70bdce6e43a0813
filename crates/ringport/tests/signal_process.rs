//! Signals through a signalfd on the ring, and child processes waited for through a pidfd.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

mod util;

use ringport::process::{Command, Stdio};
use ringport::signal::{self, SignalKind};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

#[test]
fn ctrl_c_is_seen_after_raising_sigint() {
    util::run(async {
        let mut sigint = signal::signal(SignalKind::interrupt()).unwrap();
        ringport::spawn(async {
            ringport::time::sleep(Duration::from_millis(10)).await;
            // SAFETY: raise sends SIGINT to this thread, where it is now blocked and queued.
            unsafe { libc::raise(libc::SIGINT) };
        });
        ringport::time::timeout(Duration::from_secs(5), sigint.recv())
            .await
            .expect("SIGINT was not seen")
            .unwrap();
        // A second delivery is seen too.
        // SAFETY: as above.
        unsafe { libc::raise(libc::SIGINT) };
        ringport::time::timeout(Duration::from_secs(5), sigint.recv())
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn a_recv_dropped_in_flight_leaves_the_stream_working() {
    util::run(async {
        let mut usr2 = signal::signal(SignalKind::user_defined2()).unwrap();
        // A wait given up (raced, timed out) drops its read in flight...
        let gave_up = ringport::time::timeout(Duration::from_millis(20), usr2.recv()).await;
        assert!(gave_up.is_err());
        // ...and the next wait still waits for a real delivery (no spurious wake-up).
        let early = ringport::time::timeout(Duration::from_millis(50), usr2.recv()).await;
        assert!(early.is_err(), "recv completed without a signal: {early:?}");
        // SAFETY: tgkill sends SIGUSR2 to this very thread, where it is blocked.
        unsafe {
            libc::syscall(
                libc::SYS_tgkill,
                libc::getpid(),
                libc::gettid(),
                libc::SIGUSR2,
            )
        };
        ringport::time::timeout(Duration::from_secs(5), usr2.recv())
            .await
            .unwrap()
            .unwrap();
    });
}

#[test]
fn any_signal_sent_to_the_loop_thread_reaches_its_stream() {
    util::run(async {
        let mut usr1 = signal::signal(SignalKind::user_defined1()).unwrap();
        // SAFETY: tgkill sends SIGUSR1 to this very thread, where it is blocked: a
        // process-wide kill could land on a test-harness thread where it is not.
        unsafe {
            libc::syscall(
                libc::SYS_tgkill,
                libc::getpid(),
                libc::gettid(),
                libc::SIGUSR1,
            )
        };
        ringport::time::timeout(Duration::from_secs(5), usr1.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(signal::signal(SignalKind::from_raw(libc::SIGKILL)).is_err());
    });
}

#[test]
fn a_child_process_stdout_is_captured_with_its_exit_status() {
    util::run(async {
        let out = Command::new("sh")
            .args(["-c", "echo hello; echo oops >&2; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"hello\n");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
    });
}

#[test]
fn piped_stdin_to_a_child_and_back() {
    util::run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 255) as u8).collect();
        let expected = data.clone();
        let writer = ringport::spawn(async move {
            stdin.write_all(data).await.0.unwrap();
            // Dropping stdin closes the pipe: cat sees EOF.
        });
        let (res, got) = stdout.read_to_end(Vec::new()).await.into_parts();
        res.unwrap();
        writer.await.unwrap();
        assert!(got == expected);
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn kill_ends_a_child_and_wait_reports_the_signal() {
    util::run(async {
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        assert!(child.try_wait().unwrap().is_none());
        let start = Instant::now();
        let status = child.kill().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(
            child.start_kill().is_err(),
            "a reaped child cannot be killed"
        );
    });
}

#[test]
fn waiting_for_a_child_does_not_block_the_loop() {
    util::run(async {
        let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let ticker = ringport::spawn(async {
            let mut ticks = 0;
            let mut iv = ringport::time::interval(Duration::from_millis(10));
            for _ in 0..10 {
                iv.tick().await;
                ticks += 1;
            }
            ticks
        });
        let status = child.wait().await.unwrap();
        assert!(status.success());
        assert_eq!(ticker.await.unwrap(), 10);
    });
}

#[test]
fn a_missing_program_is_a_not_found_error() {
    util::run(async {
        let err = Command::new("/nonexistent/program").spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}
