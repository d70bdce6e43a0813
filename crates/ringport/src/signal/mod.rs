//! Signals as async streams: a `signalfd` read on the ring.
//!
//! Listening for a signal blocks its default action in the calling (loop) thread, and in the
//! threads it starts later (the blocking pool): the signal is then only seen through the
//! stream. It stays blocked when the stream drops, so no signal between two listeners kills
//! the process. Threads started before, which do not block it, may still take it: listen
//! early, before starting other threads.

use crate::driver::fd::SharedFd;
use crate::driver::op::read;
use crate::driver::Op;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use std::fmt;
use std::io;

/// A signal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// SIGINT (Ctrl-C).
    pub const fn interrupt() -> Self {
        SignalKind(libc::SIGINT)
    }
    /// SIGTERM.
    pub const fn terminate() -> Self {
        SignalKind(libc::SIGTERM)
    }
    /// SIGHUP.
    pub const fn hangup() -> Self {
        SignalKind(libc::SIGHUP)
    }
    /// SIGQUIT.
    pub const fn quit() -> Self {
        SignalKind(libc::SIGQUIT)
    }
    /// SIGUSR1.
    pub const fn user_defined1() -> Self {
        SignalKind(libc::SIGUSR1)
    }
    /// SIGUSR2.
    pub const fn user_defined2() -> Self {
        SignalKind(libc::SIGUSR2)
    }
    /// SIGWINCH (terminal resized).
    pub const fn window_change() -> Self {
        SignalKind(libc::SIGWINCH)
    }
    /// SIGCHLD.
    pub const fn child() -> Self {
        SignalKind(libc::SIGCHLD)
    }
    /// Any signal by number.
    pub const fn from_raw(signo: i32) -> Self {
        SignalKind(signo)
    }
    /// The number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

/// A stream of deliveries of one signal.
pub struct Signal {
    fd: SharedFd,
    kind: SignalKind,
    buf: Option<Vec<u8>>,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

const SIGINFO_SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();

/// Starts listening for `kind`.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
    ];
    if kind.0 <= 0 || kind.0 >= libc::SIGRTMAX() || forbidden.contains(&kind.0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {} cannot be listened for", kind.0),
        ));
    }
    // SAFETY: sigset_t is plain data; the calls below initialise and fill it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a local sigset; results checked where they can fail.
    let fd = unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, kind.0);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Signal {
        fd: SharedFd::new(fd),
        kind,
        buf: Some(Vec::with_capacity(SIGINFO_SIZE)),
    })
}

impl Signal {
    /// Waits for the next delivery (deliveries between two waits may be merged into one).
    pub async fn recv(&mut self) -> io::Result<()> {
        // A recv dropped in flight (raced against another future) took the buffer with it.
        let mut buf = self
            .buf
            .take()
            .unwrap_or_else(|| Vec::with_capacity(SIGINFO_SIZE));
        buf.clear();
        let op = read::Read {
            fd: self.fd.clone(),
            buf,
            offset: u64::MAX,
        };
        let (done, op) = Op::new(op).await;
        let res = done.result;
        self.buf = Some(op.buf);
        match res? as usize {
            SIGINFO_SIZE => Ok(()),
            n => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("signalfd gave {n} bytes"),
            )),
        }
    }

    /// Which signal this stream reports.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

/// Waits for Ctrl-C (SIGINT).
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
