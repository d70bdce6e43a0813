//! `Server::serve_over` with a transport that has only `AsyncRead + AsyncWrite` (as a
//! user-space TLS stream has): the connection code's default paths (reads into its own
//! buffer, file bodies read into a pooled buffer and written) serve the same bytes as TCP's
//! own (receives from a shared ring, splice).

mod util;

use bytes::Bytes;
use http::{Request, Response};
use ringport::buf::{BufResult, IoBuf, IoBufMut};
use ringport::io::{AsyncRead, AsyncWrite};
use ringport::net::TcpStream;
use ringport_http::{Body, Server, Transport};
use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use util::{connect, read_to_close, split};

/// A stream that only forwards reads and writes: no ring receives, no splice.
struct Wrapped(TcpStream);

impl AsyncRead for Wrapped {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        self.0.read(buf)
    }
}

impl AsyncWrite for Wrapped {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        self.0.write(buf)
    }

    fn shutdown_write(&mut self) -> impl Future<Output = io::Result<()>> {
        self.0.shutdown_write()
    }
}

impl Transport for Wrapped {}

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Serves `dir/<name>` as a file body, over the wrapper (`wrapped`) or plain TCP.
fn start(
    dir: PathBuf,
    wrapped: bool,
) -> (
    std::net::SocketAddr,
    Arc<AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let rt = ringport::Runtime::new().unwrap();
        rt.block_on(async move {
            let server = Server::bind("127.0.0.1:0").unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            let stopped = async move {
                while !flag.load(Ordering::SeqCst) {
                    ringport::time::sleep(Duration::from_millis(10)).await;
                }
            };
            let dir = Rc::new(dir);
            let handler = move |req: Request<Bytes>| {
                let path = dir.join(req.uri().path().trim_start_matches('/'));
                async move {
                    let file = ringport::fs::File::open(&path).await.unwrap();
                    let len = file.metadata().await.unwrap().len();
                    Response::new(Body::file(file, 0, len))
                }
            };
            if wrapped {
                let wrap = |tcp| std::future::ready(Ok(Wrapped(tcp)));
                server.serve_over(wrap, handler, stopped).await.unwrap();
            } else {
                server.serve_with_shutdown(handler, stopped).await.unwrap();
            }
        });
    });
    (rx.recv().unwrap(), stop, thread)
}

#[test]
fn both_transports_serve_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0usize, 1, 13, 4000, 65_536, 65_537, 300_000, 5_000_000];
    for &n in &sizes {
        std::fs::write(dir.path().join(format!("f{n}")), pattern(n)).unwrap();
    }
    for wrapped in [true, false] {
        let (addr, stop, thread) = start(dir.path().to_path_buf(), wrapped);
        // All of them on one keep-alive connection, pipelined, the last one closing.
        let mut s = connect(addr);
        let mut req = String::new();
        for (i, n) in sizes.iter().enumerate() {
            let close = if i + 1 == sizes.len() {
                "Connection: close\r\n"
            } else {
                ""
            };
            req.push_str(&format!("GET /f{n} HTTP/1.1\r\nHost: t\r\n{close}\r\n"));
        }
        s.write_all(req.as_bytes()).unwrap();
        let got = read_to_close(&mut s);
        let res = split(&got, &[]);
        assert_eq!(res.len(), sizes.len(), "wrapped: {wrapped}");
        for (r, &n) in res.iter().zip(&sizes) {
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-length"), Some(n.to_string().as_str()));
            assert!(r.body == pattern(n), "wrapped: {wrapped}, {n} bytes differ");
        }
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
    }
}
