//! The connection pool: per destination, a LIFO list of idle keep-alive connections and a cap
//! on live ones. A request that finds the cap reached waits for a connection to come back
//! or close.

use super::conn::Conn;
use super::Destination;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// The pool's rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    pub idle_timeout: Option<Duration>,
    pub max_idle_per_host: usize,
    pub max_per_host: usize,
}

#[derive(Debug)]
struct Host<S> {
    idle: Vec<(Conn<S>, Instant)>,
    /// Connections out on lease, idle ones, and connects under way.
    live: usize,
    waiters: Vec<Waker>,
}

impl<S> Default for Host<S> {
    fn default() -> Self {
        Host {
            idle: Vec::new(),
            live: 0,
            waiters: Vec::new(),
        }
    }
}

/// Idle and live connections per destination.
#[derive(Debug)]
pub(crate) struct Pool<S> {
    hosts: RefCell<HashMap<Destination, Host<S>>>,
    config: PoolConfig,
}

/// What a checkout gives: a pooled connection, or the right to open one.
#[derive(Debug)]
pub(crate) enum Checkout<S> {
    Idle(Lease<S>),
    Connect(Slot<S>),
}

impl<S> Pool<S> {
    pub fn new(config: PoolConfig) -> Rc<Pool<S>> {
        Rc::new(Pool {
            hosts: RefCell::new(HashMap::new()),
            config,
        })
    }

    /// Waits for an idle connection to `dest` (newest first) or a free place under the cap.
    pub async fn checkout(self: &Rc<Self>, dest: &Destination) -> Checkout<S> {
        std::future::poll_fn(|cx| {
            let mut hosts = self.hosts.borrow_mut();
            let host = hosts.entry(dest.clone()).or_default();
            if let Some(limit) = self.config.idle_timeout {
                let before = host.idle.len();
                host.idle.retain(|(_, since)| since.elapsed() < limit);
                host.live -= before - host.idle.len();
            }
            if let Some((conn, _)) = host.idle.pop() {
                return Poll::Ready(Checkout::Idle(Lease {
                    pool: self.clone(),
                    dest: dest.clone(),
                    conn: Some(conn),
                    reused: true,
                    reusable: false,
                }));
            }
            if host.live < self.config.max_per_host.max(1) {
                host.live += 1;
                return Poll::Ready(Checkout::Connect(Slot {
                    pool: Some(self.clone()),
                    dest: dest.clone(),
                }));
            }
            if !host.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                host.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// How many connections to `dest` are live (leased, idle, or connecting).
    pub fn live(&self, dest: &Destination) -> usize {
        self.hosts.borrow().get(dest).map_or(0, |h| h.live)
    }

    /// One connection fewer; wakes the waiters.
    fn release(&self, dest: &Destination) {
        let wakers = {
            let mut hosts = self.hosts.borrow_mut();
            let Some(host) = hosts.get_mut(dest) else {
                return;
            };
            host.live = host.live.saturating_sub(1);
            std::mem::take(&mut host.waiters)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// A connection back to the idle list (or closed when the list is full).
    fn put_back(&self, dest: &Destination, conn: Conn<S>) {
        let wakers = {
            let mut hosts = self.hosts.borrow_mut();
            let host = hosts.entry(dest.clone()).or_default();
            if host.idle.len() < self.config.max_idle_per_host {
                host.idle.push((conn, Instant::now()));
            } else {
                host.live = host.live.saturating_sub(1);
            }
            std::mem::take(&mut host.waiters)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The right to open one connection; given back (the place freed) if dropped unused.
#[derive(Debug)]
pub(crate) struct Slot<S> {
    pool: Option<Rc<Pool<S>>>,
    dest: Destination,
}

impl<S> Slot<S> {
    /// The opened connection, leased.
    pub fn fill(mut self, conn: Conn<S>) -> Lease<S> {
        let pool = self.pool.take().expect("a slot is filled once");
        Lease {
            pool,
            dest: self.dest.clone(),
            conn: Some(conn),
            reused: false,
            reusable: false,
        }
    }
}

impl<S> Drop for Slot<S> {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.release(&self.dest);
        }
    }
}

/// A connection on lease: back to the pool on drop when marked reusable, else closed.
#[derive(Debug)]
pub(crate) struct Lease<S> {
    pool: Rc<Pool<S>>,
    dest: Destination,
    conn: Option<Conn<S>>,
    /// It came from the idle list (the server may have closed it meanwhile).
    pub reused: bool,
    /// Its last response was read to the end and allows keep-alive.
    pub reusable: bool,
}

impl<S> Lease<S> {
    pub fn conn(&mut self) -> &mut Conn<S> {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    pub fn conn_ref(&self) -> &Conn<S> {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl<S> Drop for Lease<S> {
    fn drop(&mut self) {
        match self.conn.take() {
            Some(conn) if self.reusable => self.pool.put_back(&self.dest, conn),
            _ => self.pool.release(&self.dest),
        }
    }
}
