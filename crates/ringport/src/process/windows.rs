//! Child processes on Windows: piped stdio as async pipes through the completion port,
//! `wait` as a thread-pool wait on the process handle whose callback posts to the port
//! (Wine 8 has no wait completion packets), `kill` as `TerminateProcess`.

use crate::driver::fd::{Kind, RawFd, SharedFd};
use crate::driver::op::windows::WaitObject;
use crate::driver::Op;
use crate::pipe::{Receiver, Sender};
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::windows::io::IntoRawHandle;
use std::os::windows::process::ExitStatusExt;
use std::path::Path;
use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, TerminateProcess, WaitForSingleObject,
};

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
///     let out = Command::new("cmd").args(["/c", "echo hello"]).output().await?;
///     assert_eq!(out.stdout, b"hello\r\n");
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

    /// Starts the child. Its piped stdio are std's pipes, whose parent ends are overlapped:
    /// they are read and written through the completion port.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let mut child = self.inner.spawn()?;
        let pid = child.id();
        let stdin = child.stdin.take().map(Sender::from);
        let stdout = child.stdout.take().map(Receiver::from);
        let stderr = child.stderr.take().map(Receiver::from);
        let handle = child.into_raw_handle() as usize;
        Ok(Child {
            pid,
            handle: SharedFd::new(RawFd::new(handle, Kind::Sync)),
            status: None,
            stdin,
            stdout,
            stderr,
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

/// A running (or finished) child.
pub struct Child {
    pid: u32,
    /// The process handle, shared with a wait in flight.
    handle: SharedFd,
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

impl Child {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    fn exit_code(&self) -> io::Result<ExitStatus> {
        let mut code = 0u32;
        // SAFETY: our process handle, open while `self` lives; `code` is a local.
        if unsafe { GetExitCodeProcess(self.handle.raw().raw as _, &mut code) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ExitStatus::from_raw(code))
    }

    /// Waits for the child to exit. Its stdin is closed first, so a child reading it ends.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        drop(self.stdin.take());
        let op = WaitObject {
            fd: self.handle.clone(),
        };
        Op::new(op).await.0.result?;
        let status = self.exit_code()?;
        self.status = Some(status);
        Ok(status)
    }

    /// The exit status when the child has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            // SAFETY: a zero-timeout wait on our process handle.
            if unsafe { WaitForSingleObject(self.handle.raw().raw as _, 0) } == WAIT_OBJECT_0 {
                self.status = Some(self.exit_code()?);
            }
        }
        Ok(self.status)
    }

    /// Terminates the child (`TerminateProcess`, exit code 1); an error when it was already
    /// waited for.
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the child has already exited",
            ));
        }
        // SAFETY: our own process handle.
        if unsafe { TerminateProcess(self.handle.raw().raw as _, 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Terminates the child and waits for it to exit.
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
