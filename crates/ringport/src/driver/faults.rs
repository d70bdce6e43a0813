//! The fault layer: a seeded misbehaving world at the driver seam, for either backend.
//!
//! Turned on by `RINGPORT_FAULTS=seed=N,rate=R` or [`Builder::faults`](crate::runtime::Builder::faults),
//! it lives inside the slots every backend shares (`driver::slots::Slots`) and, from a
//! generator seeded by `seed`, for about a fraction `rate` of the operations:
//!
//! - fails an operation before the kernel sees it, with an error the call could really return
//!   there (see `FaultClass`): `EINTR` (which ringport must retry, never report),
//!   `ECONNRESET` and `EPIPE` on stream sockets, `ENOSPC` on file writes, `EMFILE` on accepts
//!   and opens. Such an op completes at the next turn without a kernel wait: the completion
//!   the kernel could have given at once, but never inline (invariant 1). EAGAIN is never a
//!   legal completion of a socket op here (sockets are blocking under io_uring, and the poll
//!   backend retries on readiness), so it is not injected: the kind is counted, at zero, to
//!   say so. On IOCP the errors are the Windows codes of the same situations
//!   (`WSAECONNRESET`, `WSAECONNABORTED`, `ERROR_DISK_FULL`, `WSAEMFILE`,
//!   `ERROR_TOO_MANY_OPEN_FILES`), and there is no EINTR (an overlapped call is never
//!   interrupted);
//! - shortens the result of a positional read or write to whole 4 KiB blocks (legal: the
//!   caller reads or writes the rest again at the next offset; the bytes are the same), and
//!   cuts a stream receive or send to at most 1 to 8 KiB before the kernel sees it (a short
//!   receive, a partial send: the caller must loop); both are counted as `short`;
//! - holds a completion back for 1 to 3 turns, and releases the held ones in a shuffled order:
//!   completions are delayed and reordered. A cancel asked for an op whose completion is held
//!   finds nothing in the kernel: the cancel loses its race and the op completes with its result
//!   (counted as `cancel_lost`).
//!
//! When off, the layer is one `Option` test per submission, completion and park.
//!
//! The same seed gives the same decisions for the same sequence of operations; a runtime with
//! faults says its seed on stderr when built, so a failing test's captured output names it.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// How to misbehave: a seed and a rate (the fraction of operations a fault touches).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Seeds the generator; the same seed replays the same decisions.
    pub seed: u64,
    /// The probability, from 0 to 1, that a given operation gets a fault of each family.
    pub rate: f64,
    /// Whether errors a program sees are injected too (`ECONNRESET`, `EPIPE`, `ENOSPC`,
    /// `EMFILE`: `errors=all`, the default), or only faults a correct program must hide
    /// (`errors=transient`: EINTR, EAGAIN where handled, short transfers, delays, reordering,
    /// lost cancel races), under which every test must pass as in a perfect world.
    pub hard_errors: bool,
}

impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed={},rate={}", self.seed, self.rate)?;
        if !self.hard_errors {
            f.write_str(",errors=transient")?;
        }
        Ok(())
    }
}

impl FaultConfig {
    /// Reads `RINGPORT_FAULTS`: `None` when unset, empty or `off`.
    pub fn from_env() -> io::Result<Option<FaultConfig>> {
        match std::env::var("RINGPORT_FAULTS") {
            Err(_) => Ok(None),
            Ok(v) => Self::parse(&v),
        }
    }

    /// Parses `seed=N,rate=R[,errors=all|transient]` (any may be left out: the seed is then
    /// taken from the clock, the rate is 0.05, errors are all); `seed=random` also takes the seed
    /// from the clock.
    pub fn parse(v: &str) -> io::Result<Option<FaultConfig>> {
        let v = v.trim();
        if v.is_empty() || v == "off" || v == "0" {
            return Ok(None);
        }
        let bad = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RINGPORT_FAULTS={v:?}: {why} (expected `seed=N,rate=R`)"),
            )
        };
        let mut seed = None;
        let mut rate = 0.05;
        let mut hard_errors = true;
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(bad(format!("{part:?} is not key=value")));
            };
            match key.trim() {
                "seed" if value.trim() == "random" => seed = None,
                "seed" => {
                    seed = Some(
                        value
                            .trim()
                            .parse::<u64>()
                            .map_err(|_| bad(format!("seed {value:?} is not a number")))?,
                    )
                }
                "rate" => {
                    rate = value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|r| (0.0..=1.0).contains(r))
                        .ok_or_else(|| bad(format!("rate {value:?} is not between 0 and 1")))?
                }
                "errors" => {
                    hard_errors = match value.trim() {
                        "all" => true,
                        "transient" => false,
                        v => return Err(bad(format!("errors {v:?} is not `all` or `transient`"))),
                    }
                }
                other => return Err(bad(format!("unknown key {other:?}"))),
            }
        }
        let seed = seed.unwrap_or_else(clock_seed);
        Ok(Some(FaultConfig {
            seed,
            rate,
            hard_errors,
        }))
    }
}

fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

/// What an operation is, as far as which faults are legal for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultClass {
    /// Only delays (closes, syncs, multishot ops, no-ops, ...).
    Other,
    /// A read at an offset: may be shortened, may fail with EINTR.
    PosRead,
    /// A write at an offset: may be shortened, may fail with EINTR or ENOSPC.
    PosWrite,
    /// A receive on a connected stream socket: EINTR, ECONNRESET.
    StreamRecv,
    /// A send on a connected stream socket: EINTR, ECONNRESET, EPIPE.
    StreamSend,
    /// An accept: EINTR, EMFILE.
    Accept,
    /// A splice: EINTR. (EAGAIN is legal only with a non-blocking end; telling would take a
    /// system call on the loop thread, so it is not injected.) Windows has no splice.
    #[cfg_attr(windows, allow(dead_code))]
    Splice,
    /// An open: EINTR, EMFILE.
    Open,
}

impl FaultClass {
    #[cfg(unix)]
    fn errors(self) -> &'static [i32] {
        use libc::*;
        match self {
            FaultClass::Other => &[],
            FaultClass::PosRead => &[EINTR],
            FaultClass::PosWrite => &[EINTR, ENOSPC],
            FaultClass::StreamRecv => &[EINTR, ECONNRESET],
            FaultClass::StreamSend => &[EINTR, ECONNRESET, EPIPE],
            FaultClass::Accept => &[EINTR, EMFILE],
            FaultClass::Splice => &[EINTR],
            FaultClass::Open => &[EINTR, EMFILE],
        }
    }

    /// On Windows: no EINTR (an overlapped call is never interrupted, so ringport has nothing
    /// to retry there) and no splice; the errors are given as errno values and become the
    /// Windows codes a call would report ([`native`]).
    #[cfg(windows)]
    fn errors(self) -> &'static [i32] {
        use libc::*;
        match self {
            FaultClass::Other | FaultClass::PosRead | FaultClass::Splice => &[],
            FaultClass::PosWrite => &[ENOSPC],
            FaultClass::StreamRecv => &[ECONNRESET],
            FaultClass::StreamSend => &[ECONNRESET, EPIPE],
            FaultClass::Accept | FaultClass::Open => &[EMFILE],
        }
    }
}

/// The code a backend reports for the errno `e`: `e` itself on Unix.
#[cfg(unix)]
fn native(e: i32, _class: FaultClass) -> i32 {
    e
}

/// The code a backend reports for the errno `e`: the Win32 or Winsock code a Windows call
/// fails with in that situation (what `io::Error::from_raw_os_error` reads there).
#[cfg(windows)]
fn native(e: i32, class: FaultClass) -> i32 {
    match e {
        libc::ECONNRESET => 10054,                            // WSAECONNRESET
        libc::EPIPE => 10053, // WSAECONNABORTED: a send on a connection the stack dropped
        libc::ENOSPC => 112,  // ERROR_DISK_FULL
        libc::EMFILE if class == FaultClass::Accept => 10024, // WSAEMFILE: AcceptEx's socket
        libc::EMFILE => 4,    // ERROR_TOO_MANY_OPEN_FILES
        other => other,
    }
}

/// The kinds of fault, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum FaultKind {
    /// EINTR before the kernel saw the op.
    Eintr,
    /// EAGAIN before the kernel saw the op.
    Eagain,
    /// ECONNRESET on a stream socket.
    Econnreset,
    /// EPIPE on a stream socket send.
    Epipe,
    /// ENOSPC on a file write.
    Enospc,
    /// EMFILE on an accept or open.
    Emfile,
    /// A positional read or write reported fewer bytes than it moved.
    Short,
    /// A completion held back for some turns.
    Delayed,
    /// Held completions released in a shuffled order.
    Reordered,
    /// A cancel asked for an op whose completion was already held: it completes with its result.
    CancelLost,
}

impl FaultKind {
    /// Every kind, in counting order.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Eintr,
        FaultKind::Eagain,
        FaultKind::Econnreset,
        FaultKind::Epipe,
        FaultKind::Enospc,
        FaultKind::Emfile,
        FaultKind::Short,
        FaultKind::Delayed,
        FaultKind::Reordered,
        FaultKind::CancelLost,
    ];

    /// The name used in counts and logs.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Eintr => "eintr",
            FaultKind::Eagain => "eagain",
            FaultKind::Econnreset => "econnreset",
            FaultKind::Epipe => "epipe",
            FaultKind::Enospc => "enospc",
            FaultKind::Emfile => "emfile",
            FaultKind::Short => "short",
            FaultKind::Delayed => "delayed",
            FaultKind::Reordered => "reordered",
            FaultKind::CancelLost => "cancel_lost",
        }
    }

    fn of_errno(e: i32) -> FaultKind {
        match e {
            libc::EINTR => FaultKind::Eintr,
            libc::EAGAIN => FaultKind::Eagain,
            libc::ECONNRESET => FaultKind::Econnreset,
            libc::EPIPE => FaultKind::Epipe,
            libc::ENOSPC => FaultKind::Enospc,
            _ => FaultKind::Emfile,
        }
    }
}

static COUNTS: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];

/// How many faults of each kind this process injected so far, over all runtimes.
pub fn injected() -> Vec<(FaultKind, u64)> {
    FaultKind::ALL
        .iter()
        .map(|&k| (k, COUNTS[k as usize].load(Ordering::Relaxed)))
        .collect()
}

/// Appends one runtime's counts to the file `RINGPORT_FAULTS_LOG` names, one line of
/// `kind=n` pairs (for the figures in RELIABILITY.md); nothing when unset.
fn log_counts(config: &FaultConfig, counts: &[u64; 10]) {
    let Ok(path) = std::env::var("RINGPORT_FAULTS_LOG") else {
        return;
    };
    let mut line = vec![format!("seed={}", config.seed)];
    line.extend(
        FaultKind::ALL
            .iter()
            .map(|&k| format!("{}={}", k.name(), counts[k as usize])),
    );
    use std::io::Write as _;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{}", line.join(" "));
    }
}

/// A small, fast, seedable generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Positional transfers are shortened to a multiple of this.
const SHORT_UNIT: i32 = 4096;
/// A stream receive or send is cut to at most this many bytes (at least 1).
const STREAM_CUT: u64 = 8192;

/// One held completion: released when `turns` reaches zero.
struct Held {
    key: usize,
    res: i32,
    flags: u32,
    turns: u8,
}

/// The fault state of one driver.
pub(crate) struct Faults {
    config: FaultConfig,
    rng: Rng,
    /// The class of each op in flight, by key (only single-shot ops are recorded).
    classes: Vec<FaultClass>,
    held: Vec<Held>,
    /// Completions due this turn, in the shuffled order they are released.
    due: Vec<Held>,
    counts: [u64; 10],
    /// `RINGPORT_FAULTS_TRACE` is set: every decision is written to stderr.
    trace: bool,
}

impl Faults {
    fn count(&mut self, kind: FaultKind) {
        if self.trace {
            eprintln!("ringport faults: {}", kind.name());
        }
        self.counts[kind as usize] += 1;
        COUNTS[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn new(config: FaultConfig) -> Box<Faults> {
        Box::new(Faults {
            config,
            rng: Rng(config.seed ^ 0x5eed_f00d_dead_beef),
            classes: Vec::new(),
            held: Vec::with_capacity(256),
            due: Vec::with_capacity(256),
            counts: [0; 10],
            trace: std::env::var_os("RINGPORT_FAULTS_TRACE").is_some(),
        })
    }

    /// A single-shot op was inserted at `key`: records its class and, maybe, fails it before
    /// the kernel sees it (the error to complete it with at the next turn).
    pub fn submit(&mut self, key: usize, class: FaultClass) -> Option<i32> {
        if self.classes.len() <= key {
            self.classes.resize(key + 1, FaultClass::Other);
        }
        self.classes[key] = class;
        let errors = class.errors();
        if errors.is_empty() || !self.rng.chance(self.config.rate) {
            return None;
        }
        let e = errors[self.rng.below(errors.len() as u64) as usize];
        if self.trace {
            eprintln!("ringport faults: op {key} ({class:?}) fails with errno {e}");
        }
        if !self.config.hard_errors && !matches!(e, libc::EINTR | libc::EAGAIN) {
            return None;
        }
        self.count(FaultKind::of_errno(e));
        Some(-native(e, class))
    }

    /// A stream receive or send that was not failed: maybe the most bytes it may move, cut
    /// before the kernel sees it (1 to 8 KiB; a short receive or a partial send).
    pub fn cut(&mut self, class: FaultClass) -> Option<u32> {
        if !matches!(class, FaultClass::StreamRecv | FaultClass::StreamSend)
            || !self.rng.chance(self.config.rate)
        {
            return None;
        }
        let max = 1 + self.rng.below(STREAM_CUT) as u32;
        if self.trace {
            eprintln!("ringport faults: a {class:?} cut to {max} bytes");
        }
        self.count(FaultKind::Short);
        Some(max)
    }

    /// A multishot op was inserted at `key`: never shortened nor failed.
    pub fn submit_multi(&mut self, key: usize) {
        if let Some(c) = self.classes.get_mut(key) {
            *c = FaultClass::Other;
        }
    }

    /// A completion arrived: `None` when it is held back, else the (maybe shortened) result.
    pub fn complete(&mut self, key: usize, res: i32, flags: u32) -> Option<i32> {
        let class = self.classes.get(key).copied().unwrap_or(FaultClass::Other);
        let mut res = res;
        // Cut to a whole number of 4 KiB blocks, at least one: a short transfer an O_DIRECT
        // file could also give (any other length there would make the next one EINVAL).
        if matches!(class, FaultClass::PosRead | FaultClass::PosWrite)
            && res > SHORT_UNIT
            && self.rng.chance(self.config.rate)
        {
            let blocks = ((res - 1) / SHORT_UNIT) as u64;
            res = SHORT_UNIT * (1 + self.rng.below(blocks) as i32);
            self.count(FaultKind::Short);
        }
        if self.rng.chance(self.config.rate) {
            let turns = 1 + self.rng.below(3) as u8;
            if self.trace {
                eprintln!("ringport faults: op {key} result {res} held {turns} turns");
            }
            self.held.push(Held {
                key,
                res,
                flags,
                turns,
            });
            self.count(FaultKind::Delayed);
            return None;
        }
        Some(res)
    }

    /// Whether completions are held: the next park must not wait for the kernel.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// A cancel was asked for `key`: counted when its completion is held (the cancel lost).
    pub fn note_cancel(&mut self, key: usize) {
        if self.held.iter().any(|h| h.key == key) {
            self.count(FaultKind::CancelLost);
        }
    }

    /// One turn passed: the completions now due, shuffled, to hand to the slots with
    /// [`due`](Self::due) (a buffer kept between turns: no allocation per turn).
    pub fn turn(&mut self) -> usize {
        let mut i = 0;
        while i < self.held.len() {
            self.held[i].turns -= 1;
            if self.held[i].turns == 0 {
                let h = self.held.swap_remove(i);
                self.due.push(h);
            } else {
                i += 1;
            }
        }
        if self.due.len() > 1 {
            for i in (1..self.due.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                self.due.swap(i, j);
            }
            self.count(FaultKind::Reordered);
        }
        self.due.len()
    }

    /// The `i`-th completion due this turn (after [`turn`](Self::turn)).
    pub fn due(&self, i: usize) -> (usize, i32, u32) {
        let h = &self.due[i];
        (h.key, h.res, h.flags)
    }

    /// Forgets the completions due this turn, once handed out.
    pub fn clear_due(&mut self) {
        self.due.clear();
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        log_counts(&self.config, &self.counts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_is_parsed_and_bad_values_are_one_clear_error() {
        let f = FaultConfig::parse("seed=7,rate=0.25").unwrap().unwrap();
        assert_eq!((f.seed, f.rate, f.hard_errors), (7, 0.25, true));
        let f = FaultConfig::parse("seed=3, errors=transient")
            .unwrap()
            .unwrap();
        assert_eq!((f.seed, f.rate, f.hard_errors), (3, 0.05, false));
        assert_eq!(f.to_string(), "seed=3,rate=0.05,errors=transient");
        assert!(FaultConfig::parse("").unwrap().is_none());
        assert!(FaultConfig::parse("off").unwrap().is_none());
        for bad in [
            "seed=x",
            "rate=2",
            "rate=-1",
            "speed=1",
            "seed",
            "errors=some",
        ] {
            let e = FaultConfig::parse(bad).unwrap_err().to_string();
            assert!(e.contains("RINGPORT_FAULTS") && !e.contains('\n'), "{e}");
        }
    }

    /// Drives a layer through a fixed sequence of ops and records every decision.
    fn script(config: FaultConfig) -> Vec<String> {
        let mut f = Faults::new(config);
        let classes = [
            FaultClass::PosRead,
            FaultClass::PosWrite,
            FaultClass::StreamRecv,
            FaultClass::StreamSend,
            FaultClass::Accept,
            FaultClass::Open,
            FaultClass::Other,
        ];
        let mut log = Vec::new();
        for key in 0..700 {
            let class = classes[key % classes.len()];
            match f.submit(key, class) {
                Some(e) => {
                    assert!(
                        class.errors().iter().any(|&x| native(x, class) == -e),
                        "{e} is not legal for {class:?}"
                    );
                    log.push(format!("{key} fail {e}"));
                }
                None => match f.complete(key, 20000, 0) {
                    Some(res) => {
                        assert!((1..=20000).contains(&res));
                        if res != 20000 {
                            assert_eq!(res % 4096, 0, "cut to whole blocks");
                            assert!(matches!(class, FaultClass::PosRead | FaultClass::PosWrite));
                        }
                        log.push(format!("{key} done {res}"));
                    }
                    None => log.push(format!("{key} held")),
                },
            }
            for i in 0..f.turn() {
                let (k, res, _) = f.due(i);
                log.push(format!("{k} released {res}"));
            }
            f.clear_due();
        }
        while f.holding() {
            for i in 0..f.turn() {
                let (k, res, _) = f.due(i);
                log.push(format!("{k} released {res}"));
            }
            f.clear_due();
        }
        log
    }

    #[test]
    fn the_same_seed_replays_the_same_faults_and_another_seed_differs() {
        let c = |seed| FaultConfig {
            seed,
            rate: 0.2,
            hard_errors: true,
        };
        let a = script(c(11));
        assert_eq!(a, script(c(11)));
        assert_ne!(a, script(c(12)));
        // Every op is answered exactly once: completed, failed, or held and then released.
        for key in 0..700 {
            let answers = a
                .iter()
                .filter(|l| l.starts_with(&format!("{key} ")) && !l.ends_with("held"))
                .count();
            assert_eq!(answers, 1, "op {key}: {a:?}");
        }
        for kind in ["fail", "held", "released"] {
            assert!(a.iter().any(|l| l.contains(kind)), "no {kind} at rate 0.2");
        }
    }

    #[test]
    fn transient_mode_injects_no_error_a_program_would_see() {
        let log = script(FaultConfig {
            seed: 5,
            rate: 0.5,
            hard_errors: false,
        });
        for l in log.iter().filter(|l| l.contains("fail")) {
            let e: i32 = l.rsplit(' ').next().unwrap().parse().unwrap();
            assert!(matches!(-e, libc::EINTR | libc::EAGAIN), "{l}");
        }
        // Windows has no transient error to inject (no EINTR): only delays and short transfers.
        assert_eq!(log.iter().any(|l| l.contains("fail")), cfg!(unix));
        assert!(log.iter().any(|l| l.contains("held")));
    }
}
