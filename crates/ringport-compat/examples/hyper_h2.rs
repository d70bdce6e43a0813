//! hyper 1.x HTTP/2 (cleartext, prior knowledge) on ringport: server and client, with
//! `RingportExecutor` running hyper's `!Send` stream tasks on the loop.
//!
//! `cargo run -p ringport-compat --example hyper_h2 -- [ADDR]` serves `GET /` ("Hello over
//! h2") until stopped; try `curl --http2-prior-knowledge http://127.0.0.1:8080/`. With
//! `--self-test N` it serves on a free port, fetches `/` N times concurrently over one
//! connection with hyper's client, prints each body, and exits.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use ringport_compat::hyper::{HyperIo, RingportExecutor, RingportTimer};
use std::convert::Infallible;
use std::io;

async fn serve(listener: ringport::net::TcpListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        ringport::spawn(async move {
            let hello = service_fn(|_req| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                    b"Hello over h2",
                ))))
            });
            let conn = hyper::server::conn::http2::Builder::new(RingportExecutor)
                .timer(RingportTimer)
                .serve_connection(HyperIo::new(stream), hello);
            if let Err(e) = conn.await {
                eprintln!("connection: {e}");
            }
        });
    }
}

async fn self_test(n: usize) -> io::Result<()> {
    let listener = ringport::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    ringport::spawn(serve(listener));
    let stream = ringport::net::TcpStream::connect(addr).await?;
    let (sender, conn) = hyper::client::conn::http2::Builder::new(RingportExecutor)
        .timer(RingportTimer)
        .handshake(HyperIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    ringport::spawn(conn);
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut sender = sender.clone();
        let uri = format!("http://{addr}/{i}");
        tasks.push(ringport::spawn(async move {
            let req = Request::get(uri)
                .body(Empty::<Bytes>::new())
                .map_err(io::Error::other)?;
            let res = sender.send_request(req).await.map_err(io::Error::other)?;
            let body = res.into_body().collect().await.map_err(io::Error::other)?;
            Ok::<_, io::Error>(String::from_utf8_lossy(&body.to_bytes()).into_owned())
        }));
    }
    for task in tasks {
        println!("{}", task.await.map_err(io::Error::other)??);
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ringport::run(async move {
        if let Some(i) = args.iter().position(|a| a == "--self-test") {
            let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(10);
            return self_test(n).await;
        }
        let addr = args.first().map_or("127.0.0.1:8080", String::as_str);
        let listener = ringport::net::TcpListener::bind(addr)?;
        println!("listening on http://{}/", listener.local_addr()?);
        serve(listener).await
    })
}
