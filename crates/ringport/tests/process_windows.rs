//! Pipes, child processes and the console on Windows (IOCP; run under Wine in CI).
#![cfg(windows)]

mod util;

use ringport::buf::BufResult;
use ringport::cancel::{is_cancelled, CancelToken};
use ringport::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn a_pipe_carries_bytes_and_ends_when_the_sender_drops() {
    util::run(async {
        let (tx, rx) = ringport::pipe::pipe().unwrap();
        let writer = ringport::spawn(async move {
            for i in 0..100u8 {
                tx.write_all(vec![i; 1000]).await.0.unwrap();
            }
        });
        let BufResult(res, buf) = rx.read_to_end(Vec::new()).await;
        assert_eq!(res.unwrap(), 100_000);
        writer.await.unwrap();
        let expected: Vec<u8> = (0..100u8).flat_map(|i| vec![i; 1000]).collect();
        assert_eq!(buf, expected);
    });
}

#[test]
fn a_pending_pipe_read_is_cancelled_and_hands_its_buffer_back() {
    util::run(async {
        let (_tx, rx) = ringport::pipe::pipe().unwrap();
        let token = CancelToken::new();
        let t2 = token.clone();
        ringport::spawn(async move {
            ringport::time::sleep(Duration::from_millis(20)).await;
            t2.cancel();
        });
        let BufResult(res, buf) = token.run(rx.read(vec![0u8; 64])).await;
        let err = res.unwrap_err();
        assert!(
            is_cancelled(&err),
            "expected the cancelled error, got {err}"
        );
        assert_eq!(buf.len(), 64);
    });
}

#[test]
fn a_child_output_is_collected_through_its_pipes() {
    util::run(async {
        let out = Command::new("cmd")
            .args(["/c", "echo hello&& echo oops 1>&2"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "oops");
        let status = Command::new("cmd")
            .args(["/c", "exit 3"])
            .status()
            .await
            .unwrap();
        assert_eq!(status.code(), Some(3));
    });
}

#[test]
fn a_child_is_fed_through_stdin_and_can_be_killed() {
    util::run(async {
        // `set /p` reads a line from stdin.
        let mut child = Command::new("cmd")
            .args(["/c", "set /p X=& set X"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello\r\n".to_vec()).await.0.unwrap();
        drop(stdin);
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "X=hello");

        // A child that waits for ever on its (piped, silent) stdin.
        let mut child = Command::new("cmd")
            .args(["/c", "set /p X="])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let _stdin = child.stdin.take();
        assert!(child.try_wait().unwrap().is_none());
        let status = child.kill().await.unwrap();
        assert_eq!(status.code(), Some(1));
        assert_eq!(child.try_wait().unwrap(), Some(status));
    });
}

#[test]
fn the_console_switches_to_raw_mode_and_back() {
    match ringport::stdio::Tty::stdin() {
        Err(e) => {
            // Not a console (CI, a pipe, headless Wine): the error says so.
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
            assert!(e.to_string().contains("not a console"), "{e}");
            skip_under_wine!("no console under headless Wine: raw mode is tested on Windows only");
        }
        Ok(tty) => {
            tty.set_raw_mode(true).unwrap();
            assert!(tty.is_raw());
            tty.set_raw_mode(false).unwrap();
            assert!(!tty.is_raw());
            let (cols, rows) = tty.window_size().unwrap();
            assert!(cols > 0 && rows > 0);
        }
    }
}
