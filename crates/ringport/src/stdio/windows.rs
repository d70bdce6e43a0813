//! Standard input, output and error as async streams on Windows, and the console (`Tty`).
//!
//! The standard handles are shared with other processes and usually opened without
//! `FILE_FLAG_OVERLAPPED` (and a console has no overlapped reads at all), so their reads and
//! writes run on the driver's pool, as seed 002 says: through a thread.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::{Kind, RawFd, SharedFd};
use crate::io::{impl_stream_traits, FdStream};
use std::cell::Cell;
use std::fmt;
use std::io;
use windows_sys::Win32::System::Console::{
    GetConsoleMode, GetConsoleScreenBufferInfo, GetStdHandle, SetConsoleMode,
    CONSOLE_SCREEN_BUFFER_INFO, ENABLE_ECHO_INPUT, ENABLE_LINE_INPUT, ENABLE_PROCESSED_INPUT,
    ENABLE_VIRTUAL_TERMINAL_INPUT, STD_ERROR_HANDLE, STD_HANDLE, STD_INPUT_HANDLE,
    STD_OUTPUT_HANDLE,
};

fn std_handle(which: STD_HANDLE) -> SharedFd {
    // SAFETY: reads the process's standard handle (may be null or invalid: calls then fail).
    let h = unsafe { GetStdHandle(which) } as usize;
    SharedFd::borrowed(RawFd::new(h, Kind::Sync))
}

/// The process's standard input as an async stream (never closed by ringport).
pub fn stdin() -> Stdin {
    Stdin {
        inner: FdStream::other(std_handle(STD_INPUT_HANDLE)),
    }
}

/// The process's standard output as an async stream (never closed by ringport).
pub fn stdout() -> Stdout {
    Stdout {
        inner: FdStream::other(std_handle(STD_OUTPUT_HANDLE)),
    }
}

/// The process's standard error as an async stream (never closed by ringport).
pub fn stderr() -> Stderr {
    Stderr {
        inner: FdStream::other(std_handle(STD_ERROR_HANDLE)),
    }
}

/// Standard input.
#[derive(Debug)]
pub struct Stdin {
    inner: FdStream,
}

impl Stdin {
    /// Reads up to the buffer's capacity; `Ok(0)` at end of input.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }
}

macro_rules! output {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name {
            inner: FdStream,
        }

        impl $name {
            /// Writes some of the buffer's bytes.
            pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
                self.inner.write(buf).await
            }
        }

        crate::io::impl_write_trait!($name => half_close: false);
    };
}

output!(Stdout, "Standard output.");
output!(Stderr, "Standard error.");
crate::io::impl_read_trait!(Stdin);

/// The console: raw mode (`SetConsoleMode`), the window's size, and reads and writes (on
/// the pool). The original mode comes back when it is dropped.
pub struct Tty {
    inner: FdStream,
    /// The console input handle (for the mode) and its mode when opened.
    input: usize,
    saved: u32,
    raw: Cell<bool>,
}

impl fmt::Debug for Tty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tty").field("raw", &self.raw.get()).finish()
    }
}

fn console_mode(h: usize) -> io::Result<u32> {
    let mut mode = 0u32;
    // SAFETY: a query on a standard handle into a local.
    if unsafe { GetConsoleMode(h as _, &mut mode) } == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("not a console ({})", io::Error::last_os_error()),
        ));
    }
    Ok(mode)
}

impl Tty {
    fn open(stream: STD_HANDLE) -> io::Result<Tty> {
        // SAFETY: reads a standard handle.
        let input = unsafe { GetStdHandle(STD_INPUT_HANDLE) } as usize;
        let saved = console_mode(input)?;
        let fd = std_handle(stream);
        console_mode(fd.raw().raw)?;
        Ok(Tty {
            inner: FdStream::other(fd),
            input,
            saved,
            raw: Cell::new(false),
        })
    }

    /// The console behind standard input; an error when stdin is not a console.
    pub fn stdin() -> io::Result<Tty> {
        Self::open(STD_INPUT_HANDLE)
    }

    /// The console behind standard output; an error when it is not a console.
    pub fn stdout() -> io::Result<Tty> {
        Self::open(STD_OUTPUT_HANDLE)
    }

    /// Raw mode: keys arrive one at a time, unechoed, Ctrl-C as a byte (line input, echo
    /// and processed input off; virtual-terminal input on). `false` restores the mode the
    /// console had.
    pub fn set_raw_mode(&self, on: bool) -> io::Result<()> {
        let mode = if on {
            (self.saved & !(ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT | ENABLE_PROCESSED_INPUT))
                | ENABLE_VIRTUAL_TERMINAL_INPUT
        } else {
            self.saved
        };
        // SAFETY: sets the mode of the console input handle.
        if unsafe { SetConsoleMode(self.input as _, mode) } == 0 {
            return Err(io::Error::last_os_error());
        }
        self.raw.set(on);
        Ok(())
    }

    /// Whether raw mode is on.
    pub fn is_raw(&self) -> bool {
        self.raw.get()
    }

    /// The window's size: (columns, rows).
    pub fn window_size(&self) -> io::Result<(u16, u16)> {
        // SAFETY: reads standard output's screen buffer into a zeroed local.
        unsafe {
            let mut info: CONSOLE_SCREEN_BUFFER_INFO = std::mem::zeroed();
            let out = GetStdHandle(STD_OUTPUT_HANDLE);
            if GetConsoleScreenBufferInfo(out, &mut info) == 0 {
                return Err(io::Error::last_os_error());
            }
            let w = info.srWindow;
            Ok(((w.Right - w.Left + 1) as u16, (w.Bottom - w.Top + 1) as u16))
        }
    }

    /// Reads what was typed (on the pool: consoles have no overlapped reads).
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// Writes to the console.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// A console has no half-close: returns `Ok`.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if self.raw.get() {
            let _ = self.set_raw_mode(false);
        }
    }
}

impl_stream_traits!(Tty);
