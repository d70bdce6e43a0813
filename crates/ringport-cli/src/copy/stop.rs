//! Stopping a copy: SIGINT, SIGTERM and SIGHUP alike cancel the copy running (the caller
//! then removes the partial file and exits with 128 + the signal); a closed standard output
//! ends the command the way it ends cat.

use super::display::Tally;
use super::sys::SIGNALS;
use super::{Args, Method, Outcome};
use anyhow::Context as _;
use ringport::io::{copy_with_progress, CopySink, CopySource, Progress, Strategy};
use ringport::signal::signal;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

/// Listens for the stopping signals for the whole command and cancels the copy running then.
pub(super) struct Stop {
    /// The first stopping signal received.
    signal: Rc<Cell<Option<i32>>>,
    current: Rc<RefCell<Option<Progress>>>,
    _watchers: Vec<ringport::JoinHandle<()>>,
}

impl Stop {
    /// Starts listening (before any other thread starts, so that none of them takes the
    /// signals with their default action).
    pub fn listen() -> anyhow::Result<Stop> {
        let signal_seen: Rc<Cell<Option<i32>>> = Rc::default();
        let current: Rc<RefCell<Option<Progress>>> = Rc::default();
        let mut watchers = Vec::new();
        for (kind, name, number) in SIGNALS {
            let mut sig = signal(kind).with_context(|| format!("cannot listen for {name}"))?;
            let (seen, running) = (signal_seen.clone(), current.clone());
            watchers.push(ringport::spawn(async move {
                if sig.recv().await.is_ok() {
                    if seen.get().is_none() {
                        seen.set(Some(number));
                    }
                    if let Some(p) = running.borrow().as_ref() {
                        p.cancel();
                    }
                }
            }));
        }
        Ok(Stop {
            signal: signal_seen,
            current,
            _watchers: watchers,
        })
    }

    /// Whether a stopping signal arrived.
    pub fn interrupted(&self) -> bool {
        self.signal.get().is_some()
    }

    /// The outcome after a signal: "interrupted" (by SIGINT) or "interrupted by SIGTERM",
    /// then `what` (what became of the partial file).
    pub fn outcome(&self, what: String) -> Outcome {
        let first = SIGNALS[0].2;
        let signo = self.signal.get().unwrap_or(first);
        let by = match SIGNALS.iter().find(|(_, _, n)| *n == signo) {
            Some((_, name, _)) if signo != first => format!(" by {name}"),
            _ => String::new(),
        };
        Outcome::Interrupted(signo, format!("interrupted{by}{what}"))
    }

    /// Runs one copy, cancellable by the signals and shown by `tally`.
    pub async fn copy<R: CopySource, W: CopySink>(
        &self,
        args: &Args,
        tally: &Arc<Tally>,
        r: R,
        w: W,
    ) -> std::io::Result<u64> {
        let strategy = match args.method {
            Method::Auto => Strategy::Auto,
            Method::Range => Strategy::CopyFileRange,
            Method::Splice => Strategy::Splice,
            Method::Buffered => Strategy::Buffered,
        };
        let copy = copy_with_progress(r, w)
            .block_size(args.block_size)
            .depth(usize::from(args.depth))
            .strategy(strategy);
        let p = copy.progress();
        if self.interrupted() {
            p.cancel();
        }
        *self.current.borrow_mut() = Some(p.clone());
        tally.begin(&p);
        let res = copy.await;
        tally.finish_file(res.is_ok());
        *self.current.borrow_mut() = None;
        res
    }
}
