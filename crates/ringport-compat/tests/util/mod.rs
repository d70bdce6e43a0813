//! Helpers shared by the compat tests.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

pub mod alloc;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A runtime on the backend `RINGPORT_BACKEND` names (`.ci/run` runs the suite once per
/// backend), or the automatic choice.
pub fn runtime() -> ringport::Runtime {
    ringport::Runtime::builder()
        .backend(ringport::Backend::Auto)
        .build()
        .expect("runtime")
}

/// Runs `f` in a fresh runtime.
pub fn run<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// A connected TCP pair on loopback.
pub async fn tcp_pair() -> (ringport::net::TcpStream, ringport::net::TcpStream) {
    let listener = ringport::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client =
        ringport::spawn(async move { ringport::net::TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap(), server)
}

/// How many fds this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// The byte at offset `i` of the test pattern (not periodic at any power of two).
pub fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i / 251)) as u8
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One of this package's examples, running; killed (and reaped) when dropped.
pub struct Example {
    child: Child,
    /// The first line it printed (where it listens).
    pub first_line: String,
}

impl Example {
    /// Starts `target/<profile>/examples/<name>` with `args` (the backend comes through the
    /// environment) and waits for its first line of output.
    pub fn start(name: &str, args: &[&str]) -> Example {
        let mut child = example_command(name)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("reading the example's first line");
        assert!(!first_line.is_empty(), "example {name} printed nothing");
        Example {
            child,
            first_line: first_line.trim().to_string(),
        }
    }

    /// The first `http://...` URL (or `host:port`) in the first line.
    pub fn address(&self) -> String {
        self.first_line
            .split_whitespace()
            .last()
            .expect("an address in the first line")
            .to_string()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command for one of this package's examples, killed if the test process dies first.
pub fn example_command(name: &str) -> Command {
    let path = examples_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples (build them with `cargo build \
         -p ringport-compat --examples`)",
        path.display()
    );
    let mut cmd = Command::new(path);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// `target/<profile>/examples`, beside the `deps` folder this test runs from.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("the test's folder");
    deps.parent().expect("the profile folder").join("examples")
}

/// Runs curl with `args`; returns its standard output.
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl (installed by .ci/run)");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("curl output is UTF-8")
}
