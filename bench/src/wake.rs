//! Case `crosscore`, second part: waking a loop that sleeps in `io_uring_enter`, by an eventfd
//! write (ringport's wake) or by IORING_OP_MSG_RING from the waker's own ring. Raw io-uring:
//! two threads with a ring each (SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them)
//! ping-pong N times; each waits for one completion, then wakes the other.

use crate::child;
use crate::crosscore::{one_of, Run};
use crate::report::{grouped, runs, Check, Section, Target};
use crate::Args;
use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::time::Instant;

const WAKES: [&str; 2] = ["eventfd", "msg-ring"];

pub fn section(reps: usize, n: u64) -> Section {
    let mut all: Vec<Vec<Run>> = vec![Vec::new(); WAKES.len()];
    let mut rows = Vec::new();
    for _ in 0..reps {
        for (i, engine) in WAKES.iter().enumerate() {
            eprintln!("crosscore-wake: {engine} x {n}");
            match one_of("crosscore-wake", engine, n, 2.0) {
                Ok(r) => all[i].push(r),
                Err(e) => rows.push(vec![engine.to_string(), format!("failed: {e}")]),
            }
        }
    }
    let mut best = Vec::new();
    for (i, engine) in WAKES.iter().enumerate() {
        match child::median(&all[i], |r| r.ns) {
            Some((m, every)) => {
                rows.push(vec![
                    engine.to_string(),
                    format!("{:.0}", m.ns),
                    format!("{:.2}", m.cpu_us),
                    runs(&every, |v| format!("{v:.0}")),
                ]);
                best.push(Some(m));
            }
            None => best.push(None),
        }
    }
    let show = |r: &Option<Run>| {
        r.as_ref()
            .map_or("failed".into(), |r| format!("{:.0}", r.ns))
    };
    Section {
        title: "crosscore-wake: waking a loop asleep in io_uring_enter, eventfd vs MSG_RING".into(),
        notes: vec![format!(
            "{} rounds per run, runs: {reps}. ns per wake = wall / (2 x rounds) (each round is \
             two wakes); CPU us per wake likewise, both threads. The check reads eventfd ns / \
             MSG_RING ns: above 1 means MSG_RING is faster.",
            grouped(n as f64)
        )],
        header: vec!["wake", "ns per wake", "CPU µs per wake", "ns, every run"],
        rows,
        checks: vec![Check {
            what: "eventfd wake ns / MSG_RING wake ns".into(),
            ours: show(&best[0]),
            peer: show(&best[1]),
            ratio: best[0]
                .as_ref()
                .zip(best[1].as_ref())
                .map(|(e, m)| e.ns / m.ns),
            target: Target::None,
        }],
    }
}

// ---- the worker side: `worker crosscore-wake --engine eventfd|msg-ring --n N` ----

pub fn worker(args: &Args) -> Result<(), String> {
    let n: u64 = args.get("n", 100_000)?;
    let msg_ring = match args.req("engine")? {
        "msg-ring" => true,
        "eventfd" => false,
        other => return Err(format!("unknown wake engine {other}")),
    };
    let secs = pingpong(msg_ring, n).map_err(|e| e.to_string())?;
    child::emit(&[
        ("n", n.to_string()),
        ("done", n.to_string()),
        ("secs", format!("{secs:.6}")),
    ]);
    Ok(())
}

fn new_ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(64)
        .or_else(|_| IoUring::new(64))
}

fn new_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked before it is owned.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// User data: our eventfd read completed / a MSG_RING from the peer arrived.
const FROM_EVENTFD: u64 = 1;
const FROM_PEER: u64 = 2;

struct Side {
    msg_ring: bool,
    ring: IoUring,
    own_efd: RawFd,
    peer_efd: RawFd,
    peer_ring: RawFd,
    buf: Box<u64>,
}

impl Side {
    fn arm(&mut self) {
        if self.msg_ring {
            return;
        }
        let e = opcode::Read::new(
            types::Fd(self.own_efd),
            (&mut *self.buf as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(FROM_EVENTFD);
        // SAFETY: `buf` is boxed and outlives the read: it is re-armed only after the
        // completion is reaped, and the side waits for the last one before it drops.
        unsafe { self.ring.submission().push(&e).expect("sq has room") };
    }

    fn wake_peer(&mut self) {
        if self.msg_ring {
            let e = opcode::MsgRingData::new(types::Fd(self.peer_ring), 0, FROM_PEER, None)
                .build()
                .user_data(3)
                .flags(squeue::Flags::SKIP_SUCCESS);
            // SAFETY: the entry holds no pointers; it is submitted by the next enter.
            unsafe { self.ring.submission().push(&e).expect("sq has room") };
        } else {
            let one = 1u64;
            // SAFETY: writes 8 bytes from a live u64 to an eventfd.
            unsafe { libc::write(self.peer_efd, (&one as *const u64).cast(), 8) };
        }
    }

    /// Submits what is queued (a MSG_RING) and waits for the peer's wake.
    fn wait(&mut self) -> io::Result<()> {
        loop {
            self.ring.submit_and_wait(1)?;
            let got = self
                .ring
                .completion()
                .any(|c| c.user_data() == FROM_EVENTFD || c.user_data() == FROM_PEER);
            if got {
                self.arm();
                return Ok(());
            }
        }
    }
}

/// One side: `rounds` times wake the peer and wait (the first side), or wait and wake.
fn side(
    msg_ring: bool,
    rounds: u64,
    first: bool,
    efds: (RawFd, RawFd),
    own_tx: mpsc::Sender<RawFd>,
    peer_rx: mpsc::Receiver<RawFd>,
) -> io::Result<()> {
    let ring = new_ring()?;
    own_tx.send(ring.as_raw_fd()).ok();
    let peer_ring = peer_rx.recv().map_err(io::Error::other)?;
    let mut s = Side {
        msg_ring,
        ring,
        own_efd: efds.0,
        peer_efd: efds.1,
        peer_ring,
        buf: Box::new(0),
    };
    s.arm();
    for _ in 0..rounds {
        if first {
            s.wake_peer();
            s.wait()?;
        } else {
            s.wait()?;
            s.wake_peer();
        }
    }
    // Hand the last MSG_RING to the kernel; cancel the armed read before `buf` goes.
    s.ring.submit()?;
    if !msg_ring {
        let one = 1u64;
        // SAFETY: completes our own armed read, so the ring no longer points at `buf`.
        unsafe { libc::write(s.own_efd, (&one as *const u64).cast(), 8) };
        s.ring.submit_and_wait(1)?;
    }
    Ok(())
}

fn pingpong(msg_ring: bool, n: u64) -> io::Result<f64> {
    let (efd_a, efd_b) = (new_eventfd()?, new_eventfd()?);
    let (a_tx, a_rx) = mpsc::channel();
    let (b_tx, b_rx) = mpsc::channel();
    let (ra, rb) = (efd_a.as_raw_fd(), efd_b.as_raw_fd());
    let start = Instant::now();
    let other = std::thread::spawn(move || side(msg_ring, n, false, (rb, ra), b_tx, a_rx));
    side(msg_ring, n, true, (ra, rb), a_tx, b_rx)?;
    other
        .join()
        .map_err(|_| io::Error::other("peer panicked"))??;
    let secs = start.elapsed().as_secs_f64();
    drop((efd_a, efd_b));
    Ok(secs / 2.0)
}
