//! Running one engine as a subprocess pinned to one CPU (0 unless a case says otherwise), and
//! taking its CPU time from `wait4`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// What one child run gave: its `RESULT` pairs (workers) or whole stdout (fio), and its cost.
pub struct Outcome {
    pub kv: HashMap<String, String>,
    pub stdout: String,
    /// User + system CPU seconds of the child and every thread and process it waited for.
    pub cpu_s: f64,
    /// Wall seconds from spawn to exit, as the parent saw them.
    pub wall_s: f64,
}

impl Outcome {
    /// A number from the `RESULT` line.
    pub fn num(&self, key: &str) -> Result<f64, String> {
        let v = self
            .kv
            .get(key)
            .ok_or_else(|| format!("worker printed no {key}="))?;
        v.parse().map_err(|_| format!("worker printed {key}={v}"))
    }
}

/// A command that re-executes this binary as a worker.
pub fn worker(args: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "ringport-bench".into());
    let mut cmd = Command::new(exe);
    cmd.arg("worker").args(args);
    cmd
}

/// Prints the one line the parent parses.
pub fn emit(pairs: &[(&str, String)]) {
    let line: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
}

/// Runs `cmd` pinned to CPU 0 and waits for it with `wait4`, which reports its resource use
/// (threads included, and any children it reaped itself, such as fio's job processes).
pub fn run(mut cmd: Command) -> Result<Outcome, String> {
    cmd.stdin(Stdio::null());
    spawn(cmd, 0)?.finish()
}

/// A child started by [`spawn`]: its stdout can be read line by line while it runs.
pub struct Running {
    child: Child,
    shown: String,
    start: Instant,
    out: BufReader<ChildStdout>,
    /// Its stderr, echoed to ours by a thread that keeps the last line for error messages.
    err: Option<std::thread::JoinHandle<String>>,
    reaped: bool,
}

/// Starts `cmd` pinned to `cpu`, with stdout and stderr piped (stderr is echoed to ours);
/// stdin is whatever the caller set on `cmd`.
pub fn spawn(mut cmd: Command, cpu: usize) -> Result<Running, String> {
    let shown = format!("{cmd:?}");
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of_val(&set) {
        return Err(format!("no CPU {cpu}"));
    }
    // SAFETY: `cpu` is inside the set's bit array (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: the hook runs in the forked child before exec and only makes one raw syscall
    // (async-signal-safe, no allocation, no locks) on a set prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{shown}: {e}"))?;
    let out = BufReader::new(child.stdout.take().ok_or("no stdout pipe")?);
    let err = child.stderr.take().map(|e| {
        std::thread::spawn(move || {
            let mut last = String::new();
            for line in BufReader::new(e).lines().map_while(Result::ok) {
                eprintln!("{line}");
                if !line.trim().is_empty() {
                    last = line;
                }
            }
            last
        })
    });
    Ok(Running {
        child,
        shown,
        start,
        out,
        err,
        reaped: false,
    })
}

impl Running {
    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// The pipe to its stdin, when the command asked for `Stdio::piped()`.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The next line it prints, without the newline; an error if it ends first.
    pub fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.out.read_line(&mut line) {
            Ok(0) => Err(format!("{}: ended without printing a line", self.shown)),
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) => Err(format!("{}: reading stdout: {e}", self.shown)),
        }
    }

    /// Reads the rest of its stdout and waits for it with `wait4`.
    pub fn finish(mut self) -> Result<Outcome, String> {
        let mut stdout = String::new();
        let read = self.out.read_to_string(&mut stdout);
        let pid = self.pid();
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it in.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: `pid` is our own unreaped child; `status` and `ru` are valid for writes.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == pid {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(format!("{}: wait4: {e}", self.shown));
            }
        }
        self.reaped = true;
        let wall_s = self.start.elapsed().as_secs_f64();
        let last_err = self
            .err
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            let why = if last_err.is_empty() {
                String::new()
            } else {
                format!(": {last_err}")
            };
            return Err(format!(
                "{} failed (wait status {status:#x}){why}",
                self.shown
            ));
        }
        read.map_err(|e| format!("{}: reading stdout: {e}", self.shown))?;
        let secs = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        let cpu_s = (secs(ru.ru_utime) + secs(ru.ru_stime)).as_secs_f64();
        let kv = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("RESULT "))
            .flat_map(|l| l.split_whitespace())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(Outcome {
            kv,
            stdout,
            cpu_s,
            wall_s,
        })
    }
}

impl Drop for Running {
    /// A child left behind on an error path: it is ours, so it is ended and reaped here.
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The run with the median of `key` (for an even count, the upper middle), and the list of
/// every run's `key` for the table.
pub fn median<T: Clone>(runs: &[T], key: impl Fn(&T) -> f64) -> Option<(T, Vec<f64>)> {
    let mut sorted: Vec<&T> = runs.iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let mid = (*sorted.get(sorted.len() / 2)?).clone();
    Some((mid, runs.iter().map(key).collect()))
}
