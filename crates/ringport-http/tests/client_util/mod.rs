//! A scripted origin for the client tests: plain std threads and sockets, so the bytes on
//! the wire are exactly what each test says (including broken ones).
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the origin saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which accepted connection (0, 1, ...) it came on.
    pub conn: usize,
    /// The request line and headers, as text.
    pub head: String,
    /// The body, after `Content-Length`.
    pub body: Vec<u8>,
}

impl Seen {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// The request line.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

/// What the origin does with one request.
pub enum Reply {
    /// Write these bytes and keep reading requests.
    Send(Vec<u8>),
    /// Write these bytes and close the connection.
    SendClose(Vec<u8>),
    /// Write these bytes, then stall (keep the connection open, send nothing) for a while.
    SendStall(Vec<u8>, Duration),
    /// Close without answering.
    Close,
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// The origin: a listener on 127.0.0.1:0, a thread per connection; stops when dropped.
pub struct Origin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub conns: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Origin {
    /// Starts an origin answering each request with `handler(request, index of the request)`.
    pub fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (s2, c2, st2) = (seen.clone(), conns.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut workers = Vec::new();
            while !st2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let id = c2.fetch_add(1, Ordering::SeqCst);
                        let (h, s, st) = (handler.clone(), s2.clone(), st2.clone());
                        workers.push(std::thread::spawn(move || serve(stream, id, &*h, &s, &st)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Origin {
            addr,
            seen,
            conns,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
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

fn serve(mut s: TcpStream, id: usize, h: &Handler, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => continue,
                Err(_) => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut req = Seen {
            conn: id,
            head,
            body: Vec::new(),
        };
        let len: usize = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) && !stop.load(Ordering::SeqCst) => continue,
                Err(_) => return,
            }
        }
        req.body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let index = {
            let mut all = seen.lock().unwrap();
            all.push(req.clone());
            all.len() - 1
        };
        match h(&req, index) {
            Reply::Send(b) => {
                if s.write_all(&b).is_err() {
                    return;
                }
            }
            Reply::SendClose(b) => {
                let _ = s.write_all(&b);
                return;
            }
            Reply::SendStall(b, d) => {
                let _ = s.write_all(&b);
                std::thread::sleep(d);
                return;
            }
            Reply::Close => return,
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `HTTP/1.1 <status>` with `headers` and `body` (Content-Length added).
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}
