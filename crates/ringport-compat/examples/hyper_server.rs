//! A hyper 1.x HTTP/1.1 server on ringport.
//!
//! `cargo run -p ringport-compat --example hyper_server -- [ADDR] [--readiness]`, then
//! `curl http://127.0.0.1:8080/`. `GET /` answers "Hello, World!"; `POST /echo` sends the
//! request body back. `--readiness` serves through `PollIo` (readiness mode) instead of the
//! default `HyperIo`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use ringport_compat::hyper::{HyperIo, RingportTimer};
use ringport_compat::PollIo;
use std::convert::Infallible;
use std::time::Duration;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(Full::new(Bytes::from_static(b"Hello, World!"))),
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(body) => Response::new(Full::new(body.to_bytes())),
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(res)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = code;
    res
}

async fn serve<I: Read + Write + Unpin + 'static>(io: I) {
    let conn = http1::Builder::new()
        .timer(RingportTimer)
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(io, service_fn(handle));
    if let Err(e) = conn.await {
        eprintln!("connection: {e}");
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let readiness = args.iter().any(|a| a == "--readiness");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or("127.0.0.1:8080", String::as_str)
        .to_string();
    ringport::run(async move {
        let listener = ringport::net::TcpListener::bind(addr.as_str())?;
        println!("listening on http://{}/", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            if readiness {
                ringport::spawn(serve(PollIo::new(stream)));
            } else {
                ringport::spawn(serve(HyperIo::new(stream)));
            }
        }
    })
}
