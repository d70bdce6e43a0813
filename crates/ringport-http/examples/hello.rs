//! Hello world: `cargo run -p ringport-http --example hello`, then open http://127.0.0.1:8080/.

use ringport_http::http::{header::CONTENT_TYPE, HeaderValue, Response};
use ringport_http::{Body, Server};

fn main() -> std::io::Result<()> {
    ringport::run(async {
        let server = Server::bind("127.0.0.1:8080")?;
        println!("listening on http://{}/", server.local_addr()?);
        server
            .serve(|_req| async {
                let mut res = Response::new(Body::from("<h1>Hello World!</h1>"));
                let html = HeaderValue::from_static("text/html; charset=utf-8");
                res.headers_mut().insert(CONTENT_TYPE, html);
                res
            })
            .await
    })
}
