//! Helpers shared by the HTTP tests: a server on its own thread with a stop switch, a small
//! router, a raw TCP client, a response splitter and `curl`.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use ringport_http::parse::ChunkedDecoder;
use ringport_http::{Body, Limits, Server};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Command, Output};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

/// A server on its own thread and runtime; dropping it stops it and waits for its thread.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Fires the shutdown trigger and waits for `serve_with_shutdown` to return.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Short limits so the timeout tests run fast; the grace period ends every test quickly.
pub fn test_limits() -> Limits {
    Limits {
        max_head_bytes: 4096,
        max_headers: 20,
        max_body_bytes: 64 * 1024,
        header_timeout: Duration::from_millis(600),
        keep_alive_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_millis(600),
        write_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(3),
    }
}

/// Starts [`routes`] with `limits`, serving `file` at `/file`.
pub fn start(limits: Limits, file: Option<PathBuf>) -> TestServer {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let rt = ringport::Runtime::new()?;
        rt.block_on(async move {
            let server = Server::bind("127.0.0.1:0")?.limits(limits);
            tx.send(server.local_addr()?).unwrap();
            let stopped = async move {
                while !flag.load(Ordering::SeqCst) {
                    ringport::time::sleep(Duration::from_millis(10)).await;
                }
            };
            let file = Rc::new(file);
            server
                .serve_with_shutdown(move |req| routes(req, file.clone()), stopped)
                .await
        })
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server address");
    TestServer {
        addr,
        stop,
        thread: Some(thread),
    }
}

/// `/echo`: the body back; `/stream`: three chunks; `/slow`: after 400 ms; `/file`: the
/// file; `/head-len`: an empty body with the length a GET would have; else the path.
pub async fn routes(req: Request<Bytes>, file: Rc<Option<PathBuf>>) -> Response<Body> {
    let path = req.uri().path().to_string();
    match path.as_str() {
        "/echo" => Response::new(Body::from(req.into_body())),
        "/stream" => Response::new(Body::stream(Chunks::new(&["one,", "", "two,", "three"]))),
        "/slow" => {
            ringport::time::sleep(Duration::from_millis(400)).await;
            Response::new(Body::from("slow done"))
        }
        "/file" => {
            let path = (*file).clone().unwrap();
            let file = ringport::fs::File::open(&path).await.unwrap();
            let len = file.metadata().await.unwrap().len();
            Response::new(Body::file(file, 0, len))
        }
        "/no-content" => {
            let mut res = Response::new(Body::from("ignored"));
            *res.status_mut() = StatusCode::NO_CONTENT;
            res
        }
        _ => Response::new(Body::from(format!("path={path}"))),
    }
}

/// A stream of fixed chunks, ready at once.
pub struct Chunks(VecDeque<Bytes>);

impl Chunks {
    pub fn new(parts: &[&'static str]) -> Chunks {
        Chunks(
            parts
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect(),
        )
    }
}

impl futures_core::Stream for Chunks {
    type Item = std::io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

/// A blocking client connection with a 10 s read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Writes `req` in one go and reads until the server closes.
pub fn raw(addr: SocketAddr, req: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(req).unwrap();
    read_to_close(&mut s)
}

/// Reads until end of stream (or a reset, which ends it too).
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read: {e} after {:?}", String::from_utf8_lossy(&out)),
        }
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Parsed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Parsed {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Splits a byte stream into responses (1xx included). `head_only[i]` marks answers to HEAD.
pub fn split(mut bytes: &[u8], head_only: &[bool]) -> Vec<Parsed> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut fields);
        let n = match res.parse(bytes).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                panic!("partial head: {:?}", String::from_utf8_lossy(bytes))
            }
        };
        let status = res.code.unwrap();
        let headers: Vec<(String, String)> = res
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        bytes = &bytes[n..];
        let mut p = Parsed {
            status,
            headers,
            body: Vec::new(),
        };
        let finals = out.iter().filter(|r: &&Parsed| r.status >= 200).count();
        let head = head_only.get(finals).copied().unwrap_or(false);
        if status >= 200 && !head && status != 204 && status != 304 {
            bytes = take_body(bytes, &mut p);
        }
        out.push(p);
    }
    out
}

fn take_body<'a>(bytes: &'a [u8], p: &mut Parsed) -> &'a [u8] {
    if p.header("transfer-encoding").is_some() {
        let mut dec = ChunkedDecoder::new(u64::MAX);
        let used = dec.decode(bytes, &mut p.body).unwrap();
        assert!(dec.is_done(), "chunked body not finished");
        return &bytes[used..];
    }
    match p.header("content-length") {
        Some(n) => {
            let n: usize = n.parse().unwrap();
            p.body = bytes[..n].to_vec();
            &bytes[n..]
        }
        None => {
            p.body = bytes.to_vec();
            &[]
        }
    }
}

/// Whether a `curl` can be started. On Windows (and under Wine, where the machine's curl is
/// a Linux program a Windows process cannot start) a test that needs it returns early,
/// printing why; on Unix curl is required (.ci/run installs it).
pub fn skip_without_curl() -> bool {
    let missing = cfg!(windows)
        && !Command::new("curl")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if missing {
        // Straight to stderr: libtest captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "skipped on Windows: no curl.exe on PATH (this test runs on Linux)"
        );
    }
    missing
}

/// Runs the real `curl` with a 10 s limit.
pub fn curl(args: &[&str]) -> Output {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is installed");
    out
}

/// Answers a plain GET on a fresh connection within `limit`: the server is not stuck.
pub fn assert_serves(addr: SocketAddr, limit: Duration) {
    let start = std::time::Instant::now();
    let got = raw(
        addr,
        b"GET /alive HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let res = split(&got, &[]);
    assert_eq!(res[0].status, 200);
    assert_eq!(res[0].text(), "path=/alive");
    assert!(start.elapsed() < limit, "took {:?}", start.elapsed());
}

/// Runs `f` on a thread and gives back its handle, for clients that must overlap.
pub fn in_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::spawn(f)
}
