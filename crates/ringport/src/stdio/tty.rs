//! `Tty`: a terminal, with raw mode and window size.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::io::{impl_stream_traits, FdStream};
use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A terminal. Raw mode is undone when the `Tty` drops.
///
/// ```no_run
/// use ringport::stdio::Tty;
/// ringport::run(async {
///     let tty = Tty::stdin()?;
///     let (cols, rows) = tty.window_size()?;
///     tty.set_raw_mode(true)?;
///     # drop((cols, rows));
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct Tty {
    inner: FdStream,
    /// The settings before raw mode, restored when it is turned off.
    saved: Cell<Option<libc::termios>>,
}

impl fmt::Debug for Tty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tty")
            .field("fd", &self.as_raw_fd())
            .field("raw", &self.saved.get().is_some())
            .finish()
    }
}

fn check_tty(fd: RawFd, what: &str) -> io::Result<()> {
    // SAFETY: isatty only inspects the fd.
    if unsafe { libc::isatty(fd) } == 1 {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} is not a terminal"),
        ))
    }
}

impl Tty {
    /// Standard input, when it is a terminal (never closed by ringport).
    pub fn stdin() -> io::Result<Tty> {
        check_tty(0, "standard input")?;
        Ok(Tty::from_shared(SharedFd::borrowed(0)))
    }

    /// Standard output, when it is a terminal (never closed by ringport).
    pub fn stdout() -> io::Result<Tty> {
        check_tty(1, "standard output")?;
        Ok(Tty::from_shared(SharedFd::borrowed(1)))
    }

    /// Takes over a terminal fd (for example a pty's follower side).
    pub fn from_fd(fd: OwnedFd) -> io::Result<Tty> {
        check_tty(fd.as_raw_fd(), "this fd")?;
        Ok(Tty::from_shared(SharedFd::from_owned(fd)))
    }

    fn from_shared(fd: SharedFd) -> Tty {
        Tty {
            inner: FdStream::other(fd),
            saved: Cell::new(None),
        }
    }

    /// Raw mode on (no line editing, echo or signals from keys; bytes arrive as typed) or
    /// back to the settings from before.
    pub fn set_raw_mode(&self, on: bool) -> io::Result<()> {
        let fd = self.as_raw_fd();
        match (on, self.saved.get()) {
            (true, None) => {
                // SAFETY: termios is plain data; tcgetattr fills it.
                let mut t: libc::termios = unsafe { std::mem::zeroed() };
                // SAFETY: `t` is a valid termios to fill for an fd we hold.
                if unsafe { libc::tcgetattr(fd, &mut t) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                let saved = t;
                // SAFETY: cfmakeraw edits the struct in place.
                unsafe { libc::cfmakeraw(&mut t) };
                // SAFETY: sets attributes from a valid termios.
                if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                self.saved.set(Some(saved));
            }
            (false, Some(saved)) => {
                // SAFETY: restores the attributes read before.
                if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                self.saved.set(None);
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether raw mode is on.
    pub fn is_raw(&self) -> bool {
        self.saved.get().is_some()
    }

    /// The window size as `(columns, rows)`.
    pub fn window_size(&self) -> io::Result<(u16, u16)> {
        // SAFETY: winsize is plain data; TIOCGWINSZ fills it.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize through the pointer.
        if unsafe { libc::ioctl(self.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((ws.ws_col, ws.ws_row))
    }

    /// Reads what the terminal has, up to the buffer's capacity.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }

    /// Writes some of the buffer's bytes.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }

    /// Terminals have no half-close: `Ok` and nothing else.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for Tty {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = self.set_raw_mode(false);
    }
}

impl_stream_traits!(Tty);
