//! What an idle keep-alive connection costs the server in heap memory: 2,000 connections (or
//! as many as the fd limit allows),
//! one small-file request answered on each, then idle. A counting allocator follows the
//! server thread's allocations only. Alone in its test binary (the allocator is global).

use ringport_http::files::ServeDir;
use ringport_http::Server;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Heap bytes the server thread holds (allocated there and not freed yet).
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Live allocations of the server thread by size, while `SIZES` is on.
static SIZES_ON: AtomicBool = AtomicBool::new(false);
static SIZES: Mutex<BTreeMap<usize, isize>> = Mutex::new(BTreeMap::new());

thread_local! {
    static TRACKED: Cell<bool> = const { Cell::new(false) };
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

fn note(size: usize, delta: isize) {
    if !TRACKED.with(Cell::get) {
        return;
    }
    LIVE.fetch_add(delta * size as isize, Ordering::Relaxed);
    if SIZES_ON.load(Ordering::Relaxed) && !IN_HOOK.with(Cell::get) {
        IN_HOOK.with(|h| h.set(true));
        *SIZES.lock().unwrap().entry(size).or_default() += delta;
        IN_HOOK.with(|h| h.set(false));
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 1);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(layout.size(), -1);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        note(layout.size(), -1);
        note(new, 1);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Connections to open: 2,000, or fewer when the fd limit is low (each takes two fds here).
#[cfg(unix)]
fn conns() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on a live struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    (lim.rlim_cur as usize / 2)
        .saturating_sub(200)
        .clamp(100, 2000)
}

/// Connections to open on Windows (no fd limit; Wine starts each socket slowly): 300.
#[cfg(windows)]
fn conns() -> usize {
    300
}

fn ask(s: &mut TcpStream) {
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !(got.ends_with(b"hello") && got.windows(4).any(|w| w == b"\r\n\r\n")) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn an_idle_keep_alive_connection_holds_little_heap() {
    let n = conns();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
    let root = dir.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let flag = stop.clone();
    let server = std::thread::spawn(move || {
        TRACKED.with(|t| t.set(true));
        let rt = ringport::Runtime::new().unwrap();
        rt.block_on(async move {
            let dir = Rc::new(ServeDir::new(&root).unwrap());
            let server = Server::bind("127.0.0.1:0").unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            let stopped = async move {
                while !flag.load(Ordering::SeqCst) {
                    ringport::time::sleep(Duration::from_millis(10)).await;
                }
            };
            let handler = move |req| {
                let dir = dir.clone();
                async move { dir.handle(&req).await }
            };
            server.serve_with_shutdown(handler, stopped).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    // The first connection warms everything up: the file cached, the pools made.
    let mut first = TcpStream::connect(addr).unwrap();
    ask(&mut first);
    std::thread::sleep(Duration::from_millis(100));
    let before = LIVE.load(Ordering::Relaxed);
    SIZES_ON.store(true, Ordering::Relaxed);
    let mut conns: Vec<TcpStream> = (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in conns.iter_mut() {
        ask(c);
    }
    // Until every connection has settled into its idle wait: the live heap stops moving
    // (300 ms was enough on a quiet machine, not under load or the fault layer's delays).
    let settle = std::time::Instant::now();
    let mut last = LIVE.load(Ordering::Relaxed);
    let mut still = 0;
    while still < 4 && settle.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        let now = LIVE.load(Ordering::Relaxed);
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    let after = LIVE.load(Ordering::Relaxed);
    SIZES_ON.store(false, Ordering::Relaxed);
    let per_conn = (after - before) / n as isize;
    let sizes = SIZES.lock().unwrap().clone();
    let mut by_bytes: Vec<(usize, isize)> = sizes.into_iter().filter(|&(_, n)| n > 0).collect();
    by_bytes.sort_by_key(|&(size, n)| -(size as isize * n));
    let top: Vec<String> = by_bytes
        .iter()
        .take(8)
        .map(|(size, n)| format!("{n} × {size} B"))
        .collect();
    eprintln!(
        "heap per idle connection: {per_conn} B; largest live: {}",
        top.join(", ")
    );
    stop.store(true, Ordering::SeqCst);
    drop(conns);
    server.join().unwrap();
    assert!(
        per_conn <= 2048,
        "{per_conn} B of heap per idle connection; largest: {}",
        top.join(", ")
    );
}
