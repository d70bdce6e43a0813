//! The access log: lines queued by the server's response hook, written to stderr by one task
//! through the ring, so logging never blocks the loop.

use ringport_http::Exchange;
use std::cell::RefCell;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Past this much unwritten log, new lines are dropped rather than held in memory.
const MAX_PENDING: usize = 1024 * 1024;

/// A queue of log text and the writer task's waker. Clones share the queue.
#[derive(Debug, Clone, Default)]
pub struct AccessLog {
    state: Rc<RefCell<State>>,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<u8>,
    waker: Option<Waker>,
    closed: bool,
}

impl AccessLog {
    /// Queues `text` (whole lines, newline included).
    pub fn push(&self, text: &str) {
        let mut state = self.state.borrow_mut();
        if state.pending.len() + text.len() <= MAX_PENDING {
            state.pending.extend_from_slice(text.as_bytes());
        }
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// Lets the writer finish once the queue is empty.
    pub fn close(&self) {
        let mut state = self.state.borrow_mut();
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// The writer task: batches whatever is queued into one write to stderr.
    pub async fn run(self) {
        let stderr = ringport::stdio::stderr();
        while let Some(batch) = self.next_batch().await {
            if stderr.write_all(batch).await.0.is_err() {
                return; // stderr is gone; lines pile up to the cap and are dropped
            }
        }
    }

    async fn next_batch(&self) -> Option<Vec<u8>> {
        std::future::poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if !state.pending.is_empty() {
                Poll::Ready(Some(std::mem::take(&mut state.pending)))
            } else if state.closed {
                Poll::Ready(None)
            } else {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// `peer "METHOD target VERSION" status bytes duration`, `"-"` for a request refused before
/// its head was read.
pub fn line(x: &Exchange) -> String {
    let request = match (&x.method, &x.uri, x.version) {
        (Some(m), Some(u), Some(v)) => format!("{m} {u} {v:?}"),
        _ => "-".to_string(),
    };
    let ms = x.elapsed.as_secs_f64() * 1000.0;
    format!(
        "{} \"{request}\" {} {} {ms:.1}ms\n",
        x.peer,
        x.status.as_u16(),
        x.body_bytes
    )
}
