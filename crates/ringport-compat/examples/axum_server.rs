//! An axum `Router` served on ringport through hyper.
//!
//! `cargo run -p ringport-compat --example axum_server -- [ADDR]`, then
//! `curl http://127.0.0.1:8080/hello/you` or `curl -d text http://127.0.0.1:8080/echo`.
//!
//! axum's own `serve` needs tokio; here each connection is served by hyper's http1 builder
//! with the router as its service (hyper-util's `TowerToHyperService`).

use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::service::TowerToHyperService;
use ringport_compat::hyper::{HyperIo, RingportTimer};

fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello from axum on ringport" }))
        .route(
            "/hello/{name}",
            get(|Path(name): Path<String>| async move { format!("Hello, {name}!") }),
        )
        .route("/echo", post(|body: String| async move { body }))
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    ringport::run(async move {
        let listener = ringport::net::TcpListener::bind(addr.as_str())?;
        println!("listening on http://{}/", listener.local_addr()?);
        let app = router();
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let service = TowerToHyperService::new(app.clone());
            ringport::spawn(async move {
                let conn = http1::Builder::new()
                    .timer(RingportTimer)
                    .serve_connection(HyperIo::new(stream), service);
                if let Err(e) = conn.await {
                    eprintln!("connection: {e}");
                }
            });
        }
    })
}
