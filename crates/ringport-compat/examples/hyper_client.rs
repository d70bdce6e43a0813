//! hyper 1.x's HTTP/1.1 client on ringport.
//!
//! `cargo run -p ringport-compat --example hyper_client -- http://127.0.0.1:8080/ [N]`
//! fetches the URL N times (default 1) over one keep-alive connection and prints the status
//! and body of each response. With no URL it starts a `ringport-http` server on a free port
//! and fetches from that.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::Request;
use ringport_compat::hyper::HyperIo;
use std::io;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next();
    let times: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    ringport::run(async move {
        let url = match url {
            Some(url) => url,
            None => start_server()?,
        };
        let uri: hyper::Uri = url.parse().map_err(invalid)?;
        let host = uri.host().ok_or_else(|| invalid("the URL has no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let stream = ringport::net::TcpStream::connect((host, port)).await?;
        let (mut sender, conn) = http1::handshake(HyperIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        // The connection task drives the socket; it ends when `sender` is dropped.
        let driver = ringport::spawn(conn);
        let authority = uri.authority().map_or(host.to_string(), |a| a.to_string());
        for _ in 0..times {
            let req = Request::get(uri.clone())
                .header(hyper::header::HOST, authority.as_str())
                .body(Empty::<Bytes>::new())
                .map_err(io::Error::other)?;
            let res = sender.send_request(req).await.map_err(io::Error::other)?;
            let status = res.status();
            let body = res.into_body().collect().await.map_err(io::Error::other)?;
            println!(
                "{} {}",
                status.as_u16(),
                String::from_utf8_lossy(&body.to_bytes())
            );
        }
        drop(sender);
        driver
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)
    })
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

/// A ringport-http server on this loop, answering every request "Hello from ringport-http".
fn start_server() -> io::Result<String> {
    let server = ringport_http::Server::bind("127.0.0.1:0")?;
    let url = format!("http://{}/", server.local_addr()?);
    ringport::spawn(async move {
        let hello =
            |_req| async { ringport_http::http::Response::new("Hello from ringport-http".into()) };
        let _ = server
            .serve_with_shutdown(hello, std::future::pending())
            .await;
    });
    Ok(url)
}
