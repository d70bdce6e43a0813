//! `#[ringport::main]` and `#[ringport::test]`, used as a user does: plain and
//! `Result`-returning tests, `backend = "poll"`, the automatic backend honouring
//! `RINGPORT_BACKEND`, `#[should_panic]` kept, and `main` on a function called by a test.
//! (The compile errors are `compile_fail` doctests in ringport-macros.)

use std::time::Duration;

#[ringport::test]
async fn a_test_runs_on_a_runtime() {
    let started = std::time::Instant::now();
    ringport::time::sleep(Duration::from_millis(5)).await;
    assert!(started.elapsed() >= Duration::from_millis(5));
    assert!(ringport::runtime::current_backend().is_some());
}

#[ringport::test]
async fn a_test_may_return_a_result() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("f");
    ringport::fs::write(&path, b"via ?".as_slice()).await?;
    assert_eq!(ringport::fs::read(&path).await?, b"via ?");
    Ok(())
}

#[cfg(unix)] // Windows has one backend, IOCP
#[ringport::test(backend = "poll")]
async fn backend_poll_is_poll() {
    assert_eq!(
        ringport::runtime::current_backend(),
        Some(ringport::Backend::Poll)
    );
}

#[ringport::test]
async fn the_automatic_backend_honours_ringport_backend() {
    let want = match std::env::var("RINGPORT_BACKEND").as_deref() {
        Ok("poll") => Some(ringport::Backend::Poll),
        Ok("uring") => Some(ringport::Backend::Uring),
        Ok("iocp") => Some(ringport::Backend::Iocp),
        _ => None,
    };
    if let Some(want) = want {
        assert_eq!(ringport::runtime::current_backend(), Some(want));
    }
}

#[ringport::test]
#[should_panic(expected = "inside the runtime")]
async fn other_attributes_are_kept() {
    ringport::yield_now().await;
    panic!("a panic inside the runtime");
}

/// `main` on any function: it starts a runtime, runs the body, and returns its value.
#[cfg_attr(unix, ringport::main(backend = "poll"))]
#[cfg_attr(windows, ringport::main(backend = "iocp"))]
async fn answer() -> u32 {
    let task = ringport::spawn(async { 41 });
    task.await.unwrap() + 1
}

#[test]
fn main_runs_the_body_and_returns_its_value() {
    assert_eq!(answer(), 42);
    assert_eq!(
        ringport::runtime::current_backend(),
        None,
        "and stops the runtime"
    );
}
