//! The completion port: one per loop, every source of completions posts to it, and one
//! `GetQueuedCompletionStatusEx` a turn drains a batch from it.

use crate::driver::Unpark;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Weak;
use std::time::Duration;
use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, WAIT_TIMEOUT};
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetQueuedCompletionStatusEx, PostQueuedCompletionStatus, OVERLAPPED,
    OVERLAPPED_ENTRY,
};

/// The completion key of a handle's I/O and of nops (their OVERLAPPED is a slot's).
pub(crate) const KEY_IO: usize = 0;
/// A pool job finished (the OVERLAPPED is the op's slot; its result is in the slot).
pub(crate) const KEY_POOL: usize = 1;
/// A detached pool job (a close nobody waits for) finished; no OVERLAPPED.
pub(crate) const KEY_DETACHED: usize = 2;
/// Another thread woke the loop; no OVERLAPPED.
pub(crate) const KEY_WAKE: usize = 3;
/// A thread-pool wait fired (the OVERLAPPED is the op's slot).
pub(crate) const KEY_WAIT: usize = 4;

/// An I/O completion port.
pub(crate) struct Port {
    handle: usize,
    /// Set by the first wake-up since the loop last reaped one, so a burst of wake-ups posts
    /// one packet.
    notified: AtomicBool,
}

impl Port {
    pub fn new() -> io::Result<Port> {
        // SAFETY: creating a new port (no file handle), one thread may run its completions.
        let handle =
            unsafe { CreateIoCompletionPort(-1isize as HANDLE, std::ptr::null_mut(), 0, 1) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Port {
            handle: handle as usize,
            notified: AtomicBool::new(false),
        })
    }

    pub fn raw(&self) -> HANDLE {
        self.handle as HANDLE
    }

    /// Associates `handle` with the port (once for the handle's life: a second port refuses).
    pub fn attach(&self, handle: usize) -> Result<(), u32> {
        // SAFETY: `handle` is open (its owner holds it); the port is ours.
        let rc = unsafe { CreateIoCompletionPort(handle as HANDLE, self.raw(), KEY_IO, 0) };
        if rc.is_null() {
            // SAFETY: reads the calling thread's last error.
            return Err(unsafe { GetLastError() });
        }
        Ok(())
    }

    /// Posts a packet. `ov` is null or a slot's OVERLAPPED that stays alive until the packet
    /// is reaped.
    pub fn post(&self, bytes: u32, key: usize, ov: *const OVERLAPPED) -> Result<(), u32> {
        // SAFETY: see above; the port handle is open while `self` lives.
        if unsafe { PostQueuedCompletionStatus(self.raw(), bytes, key, ov) } == 0 {
            // SAFETY: reads the calling thread's last error.
            return Err(unsafe { GetLastError() });
        }
        Ok(())
    }

    /// Waits up to `timeout` (`None`: for ever) and fills `entries`; the number filled.
    pub fn wait(
        &self,
        entries: &mut [OVERLAPPED_ENTRY],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let ms = match timeout {
            None => u32::MAX, // INFINITE
            // Rounded up, so a timer is never woken early.
            Some(d) => d
                .as_nanos()
                .div_ceil(1_000_000)
                .min(u128::from(u32::MAX - 1)) as u32,
        };
        let mut n = 0u32;
        // SAFETY: `entries` is writable for its length; not alertable.
        let ok = unsafe {
            GetQueuedCompletionStatusEx(
                self.raw(),
                entries.as_mut_ptr(),
                entries.len() as u32,
                &mut n,
                ms,
                0,
            )
        };
        if ok == 0 {
            // SAFETY: reads the calling thread's last error.
            let code = unsafe { GetLastError() };
            return if code == WAIT_TIMEOUT {
                Ok(0)
            } else {
                Err(io::Error::from_raw_os_error(code as i32))
            };
        }
        Ok(n as usize)
    }

    /// The loop reaped the wake-up packet: the next wake-up posts again.
    pub fn woken(&self) {
        self.notified.store(false, Ordering::Release);
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the port is ours; nothing waits on it any more (the driver is gone).
        unsafe { CloseHandle(self.raw()) };
    }
}

/// Wakes the loop from any thread: one `PostQueuedCompletionStatus` per burst. It holds the
/// port weakly: waking a runtime that is gone does nothing.
pub(crate) struct Wake(pub Weak<Port>);

impl Unpark for Wake {
    fn unpark(&self) {
        if let Some(port) = self.0.upgrade() {
            if !port.notified.swap(true, Ordering::AcqRel) {
                if let Err(code) = port.post(0, KEY_WAKE, std::ptr::null()) {
                    port.notified.store(false, Ordering::Release);
                    tracing::error!("waking the loop failed (error {code})");
                }
            }
        }
    }
}
