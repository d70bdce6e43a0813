//! One accepting loop that hands each connection to the loop with the fewest live ones: the
//! placement for long or uneven connections, where `SO_REUSEPORT`'s hash (a listener per loop)
//! can leave one loop with many more than another.
//!
//! What crosses threads is a std stream (`Send`; it is taken out of the accepting loop with
//! [`TcpStream::into_std`] and adopted by the receiving loop with [`TcpStream::from_std`]),
//! queued in the receiving loop's inbox, whose waker is woken from the accepting thread. A
//! loop's live count rises when a connection is handed to it and falls when the
//! [`LiveGuard`] its server holds for the connection drops.

use super::{TcpListener, TcpStream};
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

/// Hands accepted connections to the least-loaded of `loops` receivers: `Send + Sync +
/// Clone`, shared by the accepting loop ([`run`](Self::run) or [`hand`](Self::hand)) and
/// every receiving loop ([`incoming`](Self::incoming)).
///
/// ```
/// use ringport::net::{Acceptor, TcpListener};
/// let rt = ringport::Runtime::builder().threads(2).build().unwrap();
/// let acceptor = Acceptor::new(2);
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let client = std::thread::spawn(move || {
///     let conns: Vec<_> = (0..4).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
///     conns
/// });
/// let placed = rt.block_on_all({
///     let (acceptor, listener) = (acceptor.clone(), std::sync::Arc::new(std::sync::Mutex::new(Some(listener))));
///     move || {
///         let (acceptor, listener) = (acceptor.clone(), listener.clone());
///         async move {
///             if ringport::current_core() == 0 {
///                 let l = TcpListener::from_std(listener.lock().unwrap().take().unwrap()).unwrap();
///                 for _ in 0..4 {
///                     let (s, _) = l.accept().await.unwrap();
///                     acceptor.hand(s).unwrap();
///                 }
///             }
///             let mut mine = acceptor.incoming(ringport::current_core());
///             let mut held = Vec::new();
///             while held.len() < 2 {
///                 held.push(mine.next().await.expect("the acceptor is open"));
///             }
///             held.len()
///         }
///     }
/// });
/// assert_eq!(placed, vec![2, 2]); // two each: the least-loaded loop gets the next one
/// drop(client.join().unwrap());
/// ```
#[derive(Clone)]
pub struct Acceptor {
    inner: Arc<Inner>,
}

struct Inner {
    loops: Vec<Inbox>,
    /// Where the next search for the least-loaded loop starts (ties spread round-robin).
    next: AtomicUsize,
}

struct Inbox {
    state: Mutex<InboxState>,
    /// Connections handed to this loop and not yet closed (queued ones included).
    live: AtomicUsize,
}

#[derive(Default)]
struct InboxState {
    queue: VecDeque<std::net::TcpStream>,
    waker: Option<Waker>,
    closed: bool,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live: Vec<usize> = (0..self.loops()).map(|i| self.live(i)).collect();
        f.debug_struct("Acceptor").field("live", &live).finish()
    }
}

impl Acceptor {
    /// An acceptor for `loops` receivers (at least 1), numbered from 0 (a multi-loop
    /// runtime's cores).
    pub fn new(loops: usize) -> Acceptor {
        let loops = (0..loops.max(1))
            .map(|_| Inbox {
                state: Mutex::new(InboxState::default()),
                live: AtomicUsize::new(0),
            })
            .collect();
        Acceptor {
            inner: Arc::new(Inner {
                loops,
                next: AtomicUsize::new(0),
            }),
        }
    }

    /// How many receivers it has.
    pub fn loops(&self) -> usize {
        self.inner.loops.len()
    }

    /// Connections handed to receiver `core` and not yet closed.
    ///
    /// # Panics
    ///
    /// When `core >= loops()`.
    pub fn live(&self, core: usize) -> usize {
        self.inner.loops[core].live.load(Ordering::Relaxed)
    }

    /// The receiver with the fewest live connections (ties: the first after the last pick).
    pub fn least_loaded(&self) -> usize {
        let n = self.loops();
        let start = self.inner.next.load(Ordering::Relaxed) % n;
        let mut best = (usize::MAX, start);
        for i in 0..n {
            let core = (start + i) % n;
            let live = self.live(core);
            if live < best.0 {
                best = (live, core);
            }
        }
        self.inner.next.store(best.1 + 1, Ordering::Relaxed);
        best.1
    }

    /// Hands `stream` to the least-loaded receiver and returns which. Fails when the stream
    /// still has an operation in flight ([`TcpStream::into_std`]) or the acceptor is closed
    /// (then the connection is closed).
    pub fn hand(&self, stream: TcpStream) -> io::Result<usize> {
        let std = stream.into_std()?;
        let core = self.least_loaded();
        let inbox = &self.inner.loops[core];
        let waker = {
            let mut s = inbox.lock();
            if s.closed {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the acceptor is closed",
                ));
            }
            inbox.live.fetch_add(1, Ordering::Relaxed);
            s.queue.push_back(std);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(core)
    }

    /// Accepts from `listener` and hands every connection on, until `stop` resolves; then
    /// closes the acceptor (receivers get `None` once their queue is empty). An accept error
    /// goes to `on_error` and is followed by a 10 ms pause (out of fds: the listener backs off
    /// as well).
    pub async fn run(
        &self,
        listener: &TcpListener,
        stop: impl Future<Output = ()>,
        on_error: impl Fn(&io::Error),
    ) {
        let mut stop = pin!(stop);
        let mut incoming = listener.incoming();
        loop {
            let mut next = pin!(incoming.next());
            let got = poll_fn(|cx| {
                if stop.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                next.as_mut().poll(cx).map(Some)
            })
            .await;
            match got {
                None => break,
                Some(Ok(stream)) => {
                    if let Err(e) = self.hand(stream) {
                        on_error(&e);
                    }
                }
                Some(Err(e)) => {
                    on_error(&e);
                    crate::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        self.close();
    }

    /// Stops handing connections out: receivers take what is queued, then get `None`.
    pub fn close(&self) {
        for inbox in &self.inner.loops {
            let waker = {
                let mut s = inbox.lock();
                s.closed = true;
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// The connections handed to receiver `core`, to be taken on that receiver's loop.
    ///
    /// # Panics
    ///
    /// When `core >= loops()`.
    pub fn incoming(&self, core: usize) -> Handed {
        assert!(
            core < self.loops(),
            "Acceptor::incoming: receiver {core} out of range (it has {})",
            self.loops()
        );
        Handed {
            inner: self.inner.clone(),
            core,
        }
    }
}

/// One receiver's connections ([`Acceptor::incoming`]). Dropping it closes the connections
/// still queued for it.
pub struct Handed {
    inner: Arc<Inner>,
    core: usize,
}

impl fmt::Debug for Handed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handed").field("core", &self.core).finish()
    }
}

impl Handed {
    /// The next connection handed here, adopted by this thread's loop, with the guard that
    /// counts it live until dropped; `None` once the acceptor is closed and nothing is queued.
    pub async fn next(&mut self) -> Option<(TcpStream, LiveGuard)> {
        loop {
            let std = poll_fn(|cx| {
                let inbox = &self.inner.loops[self.core];
                let mut s = inbox.lock();
                if let Some(std) = s.queue.pop_front() {
                    return Poll::Ready(Some(std));
                }
                if s.closed {
                    return Poll::Ready(None);
                }
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            })
            .await?;
            let guard = LiveGuard {
                inner: self.inner.clone(),
                core: self.core,
            };
            match TcpStream::from_std(std) {
                Ok(stream) => return Some((stream, guard)),
                // The connection is closed with the std stream; the guard counts it out.
                Err(_) => continue,
            }
        }
    }

    /// The receiver this is.
    pub fn core(&self) -> usize {
        self.core
    }
}

impl Drop for Handed {
    fn drop(&mut self) {
        let inbox = &self.inner.loops[self.core];
        let dropped = std::mem::take(&mut inbox.lock().queue);
        inbox.live.fetch_sub(dropped.len(), Ordering::Relaxed);
    }
}

/// Counts one connection live on its receiver until dropped: keep it with the connection.
pub struct LiveGuard {
    inner: Arc<Inner>,
    core: usize,
}

impl fmt::Debug for LiveGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveGuard")
            .field("core", &self.core)
            .finish()
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.inner.loops[self.core]
            .live
            .fetch_sub(1, Ordering::Relaxed);
    }
}
