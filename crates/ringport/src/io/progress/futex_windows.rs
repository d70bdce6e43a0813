//! The futex the waiters of a `Progress` sleep on, on Windows: `WaitOnAddress` and
//! `WakeByAddressAll` (the same compare-and-sleep on one word).

use std::sync::atomic::AtomicU32;
use std::time::Duration;
use windows_sys::Win32::System::Threading::{WaitOnAddress, WakeByAddressAll};

/// Sleeps while `word` still holds `expected`, for at most `timeout` (spurious wake-ups
/// allowed: callers loop).
pub(super) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    // Whole milliseconds, rounded up so a short wait still sleeps; INFINITE (u32::MAX) is
    // never passed, a long timeout is capped just below it.
    let ms = timeout
        .as_nanos()
        .div_ceil(1_000_000)
        .min(u128::from(u32::MAX - 1)) as u32;
    // SAFETY: `word` is a live, aligned u32 for the whole call and `expected` a local of the
    // same size; the call only reads both. A timeout or a changed value just returns.
    unsafe {
        WaitOnAddress(
            word.as_ptr().cast(),
            (&expected as *const u32).cast(),
            std::mem::size_of::<u32>(),
            ms,
        );
    }
}

/// Wakes every thread sleeping on `word`. Never blocks.
pub(super) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: only the address is used, to find the waiters.
    unsafe { WakeByAddressAll(word.as_ptr().cast()) }
}
