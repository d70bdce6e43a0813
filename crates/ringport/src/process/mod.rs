//! Child processes: piped stdio as async pipes, `wait` through a pidfd on the ring, `kill`.

use crate::driver::fd::SharedFd;
use crate::driver::op::poll;
use crate::driver::Op;
#[cfg(all(unix, not(target_os = "linux")))]
use crate::libc_compat as libc; // the Linux-only libc items, for macOS and the BSDs
use crate::pipe::{Receiver, Sender};
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

pub use std::process::{ExitStatus, Output, Stdio};

/// The standard input of a child, as an async pipe.
pub type ChildStdin = Sender;
/// The standard output of a child, as an async pipe.
pub type ChildStdout = Receiver;
/// The standard error of a child, as an async pipe.
pub type ChildStderr = Receiver;

/// Builds a child process, like `std::process::Command`.
///
/// ```no_run
/// use ringport::process::Command;
/// ringport::run(async {
///     let out = Command::new("echo").arg("hello").output().await?;
///     assert_eq!(out.stdout, b"hello\n");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
pub struct Command {
    inner: std::process::Command,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Command {
    /// A command running `program`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            inner: std::process::Command::new(program),
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears the environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Standard input: `Stdio::piped()` gives [`Child::stdin`].
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self
    }

    /// Standard output: `Stdio::piped()` gives [`Child::stdout`].
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self
    }

    /// Standard error: `Stdio::piped()` gives [`Child::stderr`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self
    }

    /// Starts the child.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let mut child = self.inner.spawn()?;
        let pid = child.id() as libc::pid_t;
        // SAFETY: pidfd_open on our own child's pid; the result is checked.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        let pidfd = (pidfd >= 0).then(|| SharedFd::new(pidfd));
        Ok(Child {
            pid,
            pidfd,
            status: None,
            stdin: child.stdin.take().map(Sender::from),
            stdout: child.stdout.take().map(Receiver::from),
            stderr: child.stderr.take().map(Receiver::from),
        })
    }

    /// Runs the child to its end and collects its output (stdout and stderr piped unless
    /// set otherwise; stdin closed).
    pub async fn output(&mut self) -> io::Result<Output> {
        self.inner.stdin(Stdio::null());
        self.inner.stdout(Stdio::piped());
        self.inner.stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }

    /// Runs the child to its end.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }
}

/// A running (or finished) child. Dropping it unwaited reaps it in the background.
pub struct Child {
    pid: libc::pid_t,
    pidfd: Option<SharedFd>,
    status: Option<ExitStatus>,
    /// Its standard input, when piped.
    pub stdin: Option<ChildStdin>,
    /// Its standard output, when piped.
    pub stdout: Option<ChildStdout>,
    /// Its standard error, when piped.
    pub stderr: Option<ChildStderr>,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .finish()
    }
}

/// `waitpid(pid, WNOHANG)`: the status once the child exited.
fn try_reap(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    // SAFETY: waits for our own child without blocking; `status` is a valid out pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    match rc {
        0 => Ok(None),
        r if r == pid => Ok(Some(ExitStatus::from_raw(status))),
        _ => Err(io::Error::last_os_error()),
    }
}

async fn wait_pid(pid: libc::pid_t, pidfd: Option<SharedFd>) -> io::Result<ExitStatus> {
    loop {
        if let Some(status) = try_reap(pid)? {
            return Ok(status);
        }
        match &pidfd {
            // The pidfd turns readable when the child exits: a POLL_ADD on the ring.
            Some(fd) => {
                let op = poll::PollAdd {
                    fd: fd.clone(),
                    events: libc::POLLIN as u32,
                };
                Op::new(op).await.0.result?;
            }
            // No pidfd (Linux before 5.3): a blocking wait on the pool, never on the loop.
            None => {
                return crate::spawn_blocking(move || {
                    let mut status = 0;
                    // SAFETY: blocking wait for our own child, off the loop thread.
                    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
                    if rc < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(ExitStatus::from_raw(status))
                })
                .await?;
            }
        }
    }
}

impl Child {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the child to exit. Its stdin is closed first, so a child reading it ends.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        drop(self.stdin.take());
        let status = wait_pid(self.pid, self.pidfd.clone()).await?;
        self.status = Some(status);
        Ok(status)
    }

    /// The exit status when the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = try_reap(self.pid)?;
        }
        Ok(self.status)
    }

    /// Sends SIGKILL (an error when the child was already reaped).
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the child has already exited",
            ));
        }
        let rc = match &self.pidfd {
            Some(fd) => {
                let (nr, fd) = (libc::SYS_pidfd_send_signal, fd.as_raw_fd());
                // SAFETY: signals our own child through its pidfd; a null siginfo is allowed.
                unsafe { libc::syscall(nr, fd, libc::SIGKILL, 0, 0) as i32 }
            }
            // SAFETY: our own child, not reaped yet, so the pid still names it.
            None => unsafe { libc::kill(self.pid, libc::SIGKILL) },
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends SIGKILL and waits for the child to exit.
    pub async fn kill(&mut self) -> io::Result<ExitStatus> {
        self.start_kill()?;
        self.wait().await
    }

    /// Waits for the child while collecting its stdout and stderr.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let out = self.stdout.take().map(|r| crate::spawn(drain(r)));
        let err = self.stderr.take().map(|r| crate::spawn(drain(r)));
        let status = self.wait().await?;
        let stdout = match out {
            Some(h) => h.await??,
            None => Vec::new(),
        };
        let stderr = match err {
            Some(h) => h.await??,
            None => Vec::new(),
        };
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

async fn drain(r: Receiver) -> io::Result<Vec<u8>> {
    let (res, buf) = r.read_to_end(Vec::new()).await.into_parts();
    res.map(|_| buf)
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() || matches!(self.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        // Still running: reap it in the background so it never stays a zombie.
        let (pid, pidfd) = (self.pid, self.pidfd.take());
        if crate::runtime::try_current_context().is_some() {
            drop(crate::spawn(async move {
                let _ = wait_pid(pid, pidfd).await;
            }));
        } else {
            std::thread::spawn(move || {
                let mut status = 0;
                // SAFETY: blocking wait for our own child on a thread of its own.
                unsafe { libc::waitpid(pid, &mut status, 0) };
            });
        }
    }
}
