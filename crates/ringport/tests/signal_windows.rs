//! Console control events on Windows: a Ctrl-C raised in this process's console group is
//! seen by a listener (and not by the default handler, which would end the process), and
//! each event wakes the listener once.
#![cfg(windows)]

use ringport::signal::{signal, SignalKind};
use std::time::Duration;
use windows_sys::Win32::System::Console::{AllocConsole, GenerateConsoleCtrlEvent, CTRL_C_EVENT};

/// Raises Ctrl-C for the console this process is attached to (making one when it has none,
/// as under a headless Wine); `false` when there is still none.
fn raise_ctrl_c() -> bool {
    // SAFETY: no pointers; process group 0 is every process on this console.
    if unsafe { GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0) } != 0 {
        return true;
    }
    // SAFETY: no arguments; fails harmlessly when a console exists or cannot be made.
    unsafe { AllocConsole() };
    // SAFETY: as above.
    unsafe { GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0) != 0 }
}

#[test]
fn ctrl_c_reaches_the_listener_and_not_the_default_handler() {
    ringport::run(async {
        let mut sig = signal(SignalKind::interrupt()).unwrap();
        assert_eq!(sig.kind(), SignalKind::interrupt());
        if !raise_ctrl_c() {
            // No console (a headless Wine): the handler is run as Windows would run it, on
            // a thread of its own, so the wake-up still crosses threads.
            let why = std::io::Error::last_os_error();
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "no console to raise Ctrl-C in ({why}): running the handler on a thread"
            );
            let took = std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                ringport::signal::__deliver(SignalKind::interrupt())
            });
            let got = ringport::time::timeout(Duration::from_secs(5), sig.recv()).await;
            assert!(matches!(got, Ok(Ok(()))), "{got:?}");
            assert!(
                took.join().unwrap(),
                "the handler left Ctrl-C to the default action"
            );
            let more = ringport::time::timeout(Duration::from_millis(200), sig.recv()).await;
            assert!(more.is_err(), "a second delivery without a second event");
            // An event nobody listens for is left to the next handler.
            assert!(!ringport::signal::__deliver(SignalKind::terminate()));
            return;
        }
        let got = ringport::time::timeout(Duration::from_secs(5), sig.recv()).await;
        assert!(matches!(got, Ok(Ok(()))), "{got:?}");
        // Nothing more was raised: the next recv waits.
        let more = ringport::time::timeout(Duration::from_millis(200), sig.recv()).await;
        assert!(more.is_err(), "a second delivery without a second event");
    });
}
