//! A scripted origin for the client tests: plain std threads and sockets, so the bytes on
//! the wire are exactly what each test says (including broken ones); over TLS too (rustls's
//! blocking stream), with certificates made in the test (`pki`).
#![allow(dead_code)] // each test binary uses a different subset of these helpers

pub mod pki;

use ringport_tls::rustls::{ServerConfig, ServerConnection, StreamOwned};
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
    /// Close without answering (over TLS: after `close_notify`).
    Close,
    /// Write these bytes, then cut the connection: over TLS, without `close_notify`.
    SendCut(Vec<u8>),
}

/// One TLS handshake the origin completed.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The client resumed an earlier session.
    pub resumed: bool,
    /// The version agreed.
    pub version: Option<ringport_tls::rustls::ProtocolVersion>,
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// The origin: a listener on 127.0.0.1:0, a thread per connection; stops when dropped.
pub struct Origin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub conns: Arc<AtomicUsize>,
    /// The TLS handshakes completed, in order (none for a plain origin).
    pub handshakes: Arc<Mutex<Vec<Handshake>>>,
    tls: bool,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Origin {
    /// Starts an origin answering each request with `handler(request, index of the request)`.
    pub fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Origin {
        Origin::start_with(None, handler)
    }

    /// The same origin over TLS with this configuration.
    pub fn start_tls(
        config: Arc<ServerConfig>,
        handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Origin {
        Origin::start_with(Some(config), handler)
    }

    fn start_with(
        tls: Option<Arc<ServerConfig>>,
        handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Origin {
        let is_tls = tls.is_some();
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let hs2 = handshakes.clone();
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
                        let (tls, hs) = (tls.clone(), hs2.clone());
                        workers.push(std::thread::spawn(move || {
                            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
                            match tls {
                                None => serve(stream, id, &*h, &s, &st),
                                Some(config) => {
                                    if let Some(tls) = handshake(stream, config, &hs, &st) {
                                        serve(tls, id, &*h, &s, &st)
                                    }
                                }
                            }
                        }));
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
            handshakes,
            tls: is_tls,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://ADDR/path`, or `https://localhost:PORT/path` for a TLS origin (the name its
    /// test certificate holds).
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    /// The TLS handshakes completed so far.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.handshakes.lock().unwrap().clone()
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

/// A connection the origin answers on: plain TCP or rustls's blocking stream.
trait Wire: Read + Write {
    /// Ends the connection cleanly (over TLS: `close_notify` first).
    fn close(&mut self) {}
}

impl Wire for TcpStream {}

impl Wire for StreamOwned<ServerConnection, TcpStream> {
    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// Runs the server handshake (through the 50 ms read timeouts) and records it.
fn handshake(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    log: &Mutex<Vec<Handshake>>,
    stop: &AtomicBool,
) -> Option<StreamOwned<ServerConnection, TcpStream>> {
    let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
    while tls.conn.is_handshaking() {
        match tls.conn.complete_io(&mut tls.sock) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) && !stop.load(Ordering::SeqCst) => {}
            Err(_) => return None,
        }
    }
    log.lock().unwrap().push(Handshake {
        resumed: tls.conn.handshake_kind() == Some(ringport_tls::rustls::HandshakeKind::Resumed),
        version: tls.conn.protocol_version(),
    });
    Some(tls)
}

fn serve<S: Wire>(mut s: S, id: usize, h: &Handler, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
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
                s.close();
                return;
            }
            Reply::SendStall(b, d) => {
                let _ = s.write_all(&b);
                std::thread::sleep(d);
                return;
            }
            Reply::Close => {
                s.close();
                return;
            }
            Reply::SendCut(b) => {
                let _ = s.write_all(&b);
                return;
            }
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
