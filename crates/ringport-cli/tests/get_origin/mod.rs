//! A test origin for `ringport get` that misbehaves on purpose: it serves one file with
//! ranges and an ETag, and can ignore ranges, change the file (and ETag) mid-download, lie
//! about Content-Length both ways, close every connection after K body bytes, answer 503
//! with Retry-After, throttle connections, redirect in chains and loops, and serve an empty
//! file. Plain std threads and sockets (over TLS too: rustls's blocking stream); it stops
//! when dropped.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use ringport_tls::rustls::{HandshakeKind, ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the origin does wrong (all off by default).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer every request with 200 and the whole file.
    pub ignore_range: bool,
    /// From this request on (counting from 0), serve `changed` with another ETag.
    pub change_at: Option<usize>,
    /// Content-Length is the true length plus this (the body stays true).
    pub length_lie: i64,
    /// Apply `length_lie` to 206 answers too (else only to 200s).
    pub lie_on_ranges: bool,
    /// Close each connection after this many body bytes.
    pub close_after: Option<u64>,
    /// Answer the first N requests with 503 and `Retry-After: secs`.
    pub busy: Option<(usize, u64)>,
    /// Bytes per second per connection.
    pub rate: Option<u64>,
    /// Every `n`-th connection (the 1st, n+1-th, ...) runs at this other rate instead.
    pub slow: Option<(usize, u64)>,
    /// `Content-Disposition` to send with the file.
    pub disposition: Option<String>,
}

/// One request as seen.
#[derive(Debug, Clone)]
pub struct Seen {
    pub conn: usize,
    pub head: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

struct State {
    data: Vec<u8>,
    changed: Vec<u8>,
    faults: Faults,
    requests: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

/// The origin.
pub struct Origin {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    tls: bool,
    conns: Arc<AtomicUsize>,
    /// Completed TLS handshakes: whether each resumed a session.
    resumed: Arc<Mutex<Vec<bool>>>,
}

/// Deterministic bytes that do not compress.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

impl Origin {
    /// Serves `data` at `/file` (and `changed` once `change_at` is reached).
    pub fn start(data: Vec<u8>, changed: Vec<u8>, faults: Faults) -> Origin {
        Origin::start_with(data, changed, faults, None)
    }

    /// The same origin over TLS with this configuration (its URLs are
    /// `https://localhost:PORT/...`).
    pub fn start_tls(
        data: Vec<u8>,
        changed: Vec<u8>,
        faults: Faults,
        tls: Arc<ServerConfig>,
    ) -> Origin {
        Origin::start_with(data, changed, faults, Some(tls))
    }

    fn start_with(
        data: Vec<u8>,
        changed: Vec<u8>,
        faults: Faults,
        tls: Option<Arc<ServerConfig>>,
    ) -> Origin {
        let is_tls = tls.is_some();
        let conns = Arc::new(AtomicUsize::new(0));
        let resumed = Arc::new(Mutex::new(Vec::new()));
        let (conns2, resumed2) = (conns.clone(), resumed.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            data,
            changed,
            faults,
            requests: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (st, stop2) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut workers = Vec::new();
            let mut n = 0;
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (st, stop3) = (st.clone(), stop2.clone());
                        let (tls, resumed) = (tls.clone(), resumed2.clone());
                        let id = n;
                        n += 1;
                        conns2.fetch_add(1, Ordering::SeqCst);
                        workers.push(std::thread::spawn(move || {
                            let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
                            let _ = s.set_nodelay(true);
                            match tls {
                                None => conn(s, id, &st, &stop3),
                                Some(config) => {
                                    if let Some(t) = handshake(s, config, &resumed, &stop3) {
                                        conn(t, id, &st, &stop3)
                                    }
                                }
                            }
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
                workers.retain(|w: &JoinHandle<()>| !w.is_finished());
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Origin {
            addr,
            state,
            stop,
            thread: Some(thread),
            tls: is_tls,
            conns,
            resumed,
        }
    }

    /// `http://ADDR/path`, or `https://localhost:PORT/path` for a TLS origin.
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// The TLS handshakes completed so far: whether each resumed a session.
    pub fn resumed(&self) -> Vec<bool> {
        self.resumed.lock().unwrap().clone()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the server handshake (through the 50 ms read timeouts) and records whether it resumed.
fn handshake(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    resumed: &Mutex<Vec<bool>>,
    stop: &AtomicBool,
) -> Option<StreamOwned<ServerConnection, TcpStream>> {
    let mut tls = StreamOwned::new(ServerConnection::new(config).ok()?, tcp);
    while tls.conn.is_handshaking() {
        match tls.conn.complete_io(&mut tls.sock) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) && !stop.load(Ordering::SeqCst) => {}
            Err(_) => return None,
        }
    }
    let kind = tls.conn.handshake_kind();
    resumed
        .lock()
        .unwrap()
        .push(kind == Some(HandshakeKind::Resumed));
    Some(tls)
}

/// Serves one connection. Over TLS it ends without `close_notify` (after `close_after`
/// bytes: a cut the client must not take for the end).
fn conn<S: Read + Write>(mut s: S, id: usize, st: &State, stop: &AtomicBool) {
    let mut buf = Vec::new();
    let mut sent_on_conn = 0u64;
    let rate = match st.faults.slow {
        Some((n, r)) if id % n == 0 => Some(r),
        _ => st.faults.rate,
    };
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let seen = Seen { conn: id, head };
        st.seen.lock().unwrap().push(seen.clone());
        let index = st.requests.fetch_add(1, Ordering::SeqCst);
        let path = seen.head.split(' ').nth(1).unwrap_or("/").to_string();
        let (status, headers, body) = answer(st, &seen, &path, index);
        let mut out = format!("HTTP/1.1 {status}\r\n");
        for (k, v) in &headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        if s.write_all(out.as_bytes()).is_err() {
            return;
        }
        let mut at = 0usize;
        let started = Instant::now();
        let mut sent = 0u64;
        while at < body.len() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let mut n = (body.len() - at).min(16 * 1024);
            if let Some(k) = st.faults.close_after {
                let left = k.saturating_sub(sent_on_conn) as usize;
                if left == 0 {
                    return;
                }
                n = n.min(left);
            }
            if let Some(r) = rate {
                let due = Duration::from_secs_f64(sent as f64 / r as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            if s.write_all(&body[at..at + n]).is_err() {
                return;
            }
            at += n;
            sent += n as u64;
            sent_on_conn += n as u64;
        }
    }
}

type Answer = (String, Vec<(String, String)>, Vec<u8>);

fn answer(st: &State, req: &Seen, path: &str, index: usize) -> Answer {
    let f = &st.faults;
    let h = |k: &str, v: String| (k.to_string(), v);
    if let Some((n, secs)) = f.busy {
        if index < n {
            let body = b"busy".to_vec();
            return (
                "503 Service Unavailable".into(),
                vec![
                    h("Retry-After", secs.to_string()),
                    h("Content-Length", "4".into()),
                ],
                body,
            );
        }
    }
    let redirect = |to: &str| {
        (
            "302 Found".to_string(),
            vec![
                h("Location", to.to_string()),
                h("Content-Length", "0".into()),
            ],
            Vec::new(),
        )
    };
    // `/away/HOST:PORT/PATH`: a redirect to plain `http://HOST:PORT/PATH`.
    if let Some(to) = path.strip_prefix("/away/") {
        return redirect(&format!("http://{to}"));
    }
    match path {
        "/r1" => return redirect("/r2"),
        "/r2" => return redirect("/file"),
        "/loop1" => return redirect("/loop2"),
        "/loop2" => return redirect("/loop1"),
        "/missing" => {
            return (
                "404 Not Found".into(),
                vec![h("Content-Length", "0".into())],
                Vec::new(),
            )
        }
        _ => {}
    }
    let (data, etag): (&[u8], &str) = if path == "/empty" {
        (&[], "\"empty\"")
    } else if f.change_at.is_some_and(|c| index >= c) {
        (&st.changed, "\"v2\"")
    } else {
        (&st.data, "\"v1\"")
    };
    let total = data.len() as u64;
    let mut headers = vec![
        h("ETag", etag.into()),
        h("Accept-Ranges", "bytes".into()),
        h("Last-Modified", "Tue, 01 Dec 2026 00:00:00 GMT".into()),
    ];
    if let Some(d) = &f.disposition {
        headers.push(h("Content-Disposition", d.clone()));
    }
    let range = req.header("range").filter(|_| !f.ignore_range);
    let if_range_ok = req.header("if-range").is_none_or(|v| v == etag);
    let lie = |n: u64, on: bool| {
        if on {
            (n as i64 + f.length_lie).max(0) as u64
        } else {
            n
        }
    };
    match range
        .filter(|_| if_range_ok)
        .and_then(|r| parse_range(&r, total))
    {
        Some(Ok((a, b))) => {
            headers.push(h("Content-Range", format!("bytes {a}-{b}/{total}")));
            headers.push(h(
                "Content-Length",
                lie(b - a + 1, f.lie_on_ranges).to_string(),
            ));
            (
                "206 Partial Content".into(),
                headers,
                data[a as usize..=b as usize].to_vec(),
            )
        }
        Some(Err(())) => {
            headers.push(h("Content-Range", format!("bytes */{total}")));
            headers.push(h("Content-Length", "0".into()));
            ("416 Range Not Satisfiable".into(), headers, Vec::new())
        }
        None => {
            headers.push(h("Content-Length", lie(total, true).to_string()));
            ("200 OK".into(), headers, data.to_vec())
        }
    }
}

/// `bytes=a-b` or `bytes=a-`: the inclusive range, or `Err` when not satisfiable.
fn parse_range(v: &str, total: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let a: u64 = a.trim().parse().ok()?;
    if a >= total {
        return Some(Err(()));
    }
    let b = match b.trim() {
        "" => total - 1,
        b => b.parse::<u64>().ok()?.min(total - 1),
    };
    if b < a {
        return None;
    }
    Some(Ok((a, b)))
}
