//! Console control events as async streams, on Windows: Ctrl-C, Ctrl-Break and the console
//! closing, the nearest Windows has to SIGINT, SIGQUIT and SIGTERM.
//!
//! One handler (`SetConsoleCtrlHandler`) is installed on the first listen. Windows calls it
//! on a thread of its own; it counts the event and wakes every listener of that kind (a
//! cross-thread wake-up of their loops). Once a kind has been listened for, the handler
//! reports it handled, so the default action (ending the process) no longer happens, even
//! after the stream drops: as on Unix, where the signal stays blocked.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};
use windows_sys::core::BOOL;
use windows_sys::Win32::System::Console::{
    SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT, CTRL_C_EVENT,
};

/// A console control event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(u32);

impl SignalKind {
    /// Ctrl-C (`CTRL_C_EVENT`): what SIGINT is on Unix.
    pub const fn interrupt() -> Self {
        SignalKind(CTRL_C_EVENT)
    }
    /// Ctrl-Break (`CTRL_BREAK_EVENT`).
    pub const fn ctrl_break() -> Self {
        SignalKind(CTRL_BREAK_EVENT)
    }
    /// The console window is closing (`CTRL_CLOSE_EVENT`): the nearest to SIGTERM. Windows
    /// ends the process about 5 s after the handler returns, whatever it says.
    pub const fn terminate() -> Self {
        SignalKind(CTRL_CLOSE_EVENT)
    }
    /// The event's number (`CTRL_*_EVENT`).
    pub const fn as_raw(self) -> i32 {
        self.0 as i32
    }
}

/// The kinds a listener can wait for (indexes into [`SLOTS`]).
const KINDS: [u32; 3] = [CTRL_C_EVENT, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT];

/// What the handler records for one kind.
struct Slot {
    /// Events of this kind so far.
    count: AtomicU64,
    /// Whether anyone ever listened (the handler then takes the event).
    wanted: AtomicBool,
    /// Listeners waiting now.
    wakers: Mutex<Vec<Waker>>,
}

static SLOTS: [Slot; 3] = [const {
    Slot {
        count: AtomicU64::new(0),
        wanted: AtomicBool::new(false),
        wakers: Mutex::new(Vec::new()),
    }
}; 3];

static INSTALLED: Mutex<bool> = Mutex::new(false);

fn slot(kind: SignalKind) -> Option<&'static Slot> {
    KINDS.iter().position(|&k| k == kind.0).map(|i| &SLOTS[i])
}

/// Called by Windows on a thread of its own for each console event.
unsafe extern "system" fn handler(event: u32) -> BOOL {
    let Some(slot) = slot(SignalKind(event)) else {
        return 0; // not ours: the next handler (or the default) decides
    };
    if !slot.wanted.load(Ordering::Acquire) {
        return 0;
    }
    deliver(slot);
    1
}

/// Runs the handler as Windows would for `kind`, and says whether it took the event (so the
/// default action would not run). For tests where no console exists to raise one in
/// (`GenerateConsoleCtrlEvent` needs one; a headless Wine has none); not a public API.
#[doc(hidden)]
pub fn __deliver(kind: SignalKind) -> bool {
    // SAFETY: the handler takes any event number and touches only the statics above.
    unsafe { handler(kind.0) != 0 }
}

/// Counts one event and wakes its listeners.
fn deliver(slot: &Slot) {
    slot.count.fetch_add(1, Ordering::AcqRel);
    let wakers = std::mem::take(&mut *slot.wakers.lock().unwrap_or_else(|e| e.into_inner()));
    for w in wakers {
        w.wake();
    }
}

/// A stream of deliveries of one event.
pub struct Signal {
    kind: SignalKind,
    slot: &'static Slot,
    /// The count this stream has reported up to.
    seen: u64,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

/// Starts listening for `kind`.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let Some(slot) = slot(kind) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("console event {} cannot be listened for", kind.0),
        ));
    };
    {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        if !*installed {
            // SAFETY: `handler` is a 'static function of the signature Windows calls.
            if unsafe { SetConsoleCtrlHandler(Some(handler), 1) } == 0 {
                return Err(io::Error::last_os_error());
            }
            *installed = true;
        }
    }
    slot.wanted.store(true, Ordering::Release);
    Ok(Signal {
        kind,
        slot,
        seen: slot.count.load(Ordering::Acquire),
    })
}

impl Signal {
    /// Waits for the next delivery (deliveries between two waits may be merged into one).
    pub async fn recv(&mut self) -> io::Result<()> {
        poll_fn(|cx| {
            let now = self.slot.count.load(Ordering::Acquire);
            if now != self.seen {
                self.seen = now;
                return Poll::Ready(Ok(()));
            }
            let mut wakers = self.slot.wakers.lock().unwrap_or_else(|e| e.into_inner());
            // Checked again under the lock: an event counted before it is not missed.
            let now = self.slot.count.load(Ordering::Acquire);
            if now != self.seen {
                self.seen = now;
                return Poll::Ready(Ok(()));
            }
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Which event this stream reports.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

/// Waits for Ctrl-C (`CTRL_C_EVENT`).
///
/// ```no_run
/// ringport::run(async {
///     ringport::signal::ctrl_c().await?;
///     println!("interrupted");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    signal(SignalKind::interrupt())?.recv().await
}
