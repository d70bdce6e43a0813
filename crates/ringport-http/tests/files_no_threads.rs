//! 10,000 requests for small cached files: no `spawn_blocking` job, and no thread started
//! (no io-wq worker, no pool thread) once the first requests have been served (on the poll
//! backend, whose file calls run on its pool by design, at most the few the once-a-second
//! reopening overlaps by). Alone in its test binary, so that no other test's threads blur
//! the count.

use ringport_http::files::ServeDir;
use ringport_http::Server;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// This process's threads by name (`iou-wrk-…` are io_uring's kernel workers).
fn threads() -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let name = name.trim();
        let name = if name.starts_with("iou-wrk") {
            "iou-wrk"
        } else {
            name
        };
        *out.entry(name.to_string()).or_default() += 1;
    }
    out
}

/// Sends `n` requests for `paths` in turn on one kept-alive connection, reading each answer.
fn requests(c: &mut TcpStream, paths: &[&str], n: usize) {
    let mut buf = vec![0u8; 16384];
    for i in 0..n {
        let path = paths[i % paths.len()];
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        c.write_all(req.as_bytes()).unwrap();
        let mut got = Vec::new();
        loop {
            let k = c.read(&mut buf).unwrap();
            assert!(k > 0, "closed after {i} requests");
            got.extend_from_slice(&buf[..k]);
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                if got.len() >= end + 4 + len {
                    break;
                }
            }
        }
    }
}

#[test]
fn ten_thousand_small_files_start_no_thread_and_no_blocking_job() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "hello, ring\n").unwrap();
    std::fs::write(dir.path().join("b.json"), vec![b'x'; 10 * 1024]).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/c.html"), vec![b'y'; 60 * 1024]).unwrap();
    let root = dir.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let flag = stop.clone();
    let server = std::thread::spawn(move || {
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
        (rt.blocking_jobs(), rt.backend())
    });
    let addr = rx.recv().unwrap();
    let paths = ["/a.txt", "/b.json", "/sub/c.html"];
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Warm up: the files open, the pools (if any) start what they need.
    requests(&mut c, &paths, 300);
    let before = threads();
    requests(&mut c, &paths, 10_000);
    let after = threads();
    stop.store(true, Ordering::SeqCst);
    drop(c);
    let (jobs, backend) = server.join().unwrap();
    assert_eq!(jobs, 0, "spawn_blocking ran {jobs} jobs");
    // Thread names as /proc shows them: cut to 15 bytes.
    assert!(!after.contains_key("ringport-blocki"), "{after:?}");
    if backend == ringport::Backend::Uring {
        // Nothing on the hot path goes to io_uring's kernel workers or to the syscall pool.
        assert_eq!(
            before.values().sum::<usize>(),
            after.values().sum::<usize>(),
            "threads grew: {before:?} -> {after:?}"
        );
        assert!(!after.contains_key("iou-wrk"), "{after:?}");
        assert!(!after.contains_key("ringport-syscal"), "{after:?}");
    } else {
        // The poll backend runs file calls on its syscall pool by design: a hit makes none,
        // the once-a-second reopening of each cached file a few (open, read, the old fd's
        // close), so the pool may grow to the handful they overlap by, never per request;
        // no other thread starts.
        let others = |m: &BTreeMap<String, usize>| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "ringport-syscal")
                .map(|(_, v)| v)
                .sum::<usize>()
        };
        assert_eq!(others(&before), others(&after), "{before:?} -> {after:?}");
        let pool = after.get("ringport-syscal").copied().unwrap_or(0);
        assert!(pool <= 2 * paths.len(), "{pool} pool threads: {after:?}");
    }
}
