//! An HTTP/1.1 server on ringport.
//!
//! `Server::bind(addr)?.serve(handler).await`: the handler takes an [`http::Request`] whose
//! body is the request's bytes (read whole, within [`Limits::max_body_bytes`]) and returns a
//! future of an [`http::Response`] whose [`Body`] is bytes, a stream of chunks, or a file
//! region (small ones sent in the head's write, large ones with `TcpStream::send_file`: no
//! copy through user space). Connections are served over any [`Transport`].
//!
//! ```no_run
//! use ringport_http::{http::Response, Body, Server};
//!
//! ringport::run(async {
//!     let server = Server::bind("127.0.0.1:8080")?;
//!     server
//!         .serve(|req| async move {
//!             let greeting = format!("you asked for {}\n", req.uri().path());
//!             Response::new(Body::from(greeting))
//!         })
//!         .await
//! })
//! .unwrap();
//! ```
//!
//! HTTP/1.1 as RFC 9112 has it: keep-alive and pipelining (answers in request order),
//! `Content-Length` and chunked request bodies, chunked responses for streams, HEAD,
//! `Expect: 100-continue`, `Date`, `Connection: close`. Limits on the head's size, the number
//! of fields and the body's size are answered with 431, 431 and 413, a slow head with 408, a
//! major version other than 1 with 505 (HTTP/1.2 and later minors are read as 1.1), broken
//! framing with 400. The shutdown future of [`Server::serve_with_shutdown`] (Ctrl-C for
//! [`Server::serve`]) stops the server gracefully.
//!
//! The parser is a pure function over bytes: [`parse::parse_head`] and
//! [`parse::ChunkedDecoder`].
//!
//! Features: `client`, the HTTP/1.1 client (`Client`); `tls`, HTTPS for it
//! (`client::HttpsConnector`, on ringport-tls) and for the server (`tls::accept` with
//! [`Server::serve_over`]).

#![deny(unsafe_op_in_unsafe_fn)]

mod body;
mod bufpool;
mod chunked;
#[cfg(feature = "client")]
pub mod client;
mod conn;
mod error;
mod exchange;
pub mod files;
mod limits;
pub mod parse;
mod response;
mod response_head;
mod server;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;
mod trigger;
mod wire;

pub use body::{Body, BodyStream};
#[cfg(feature = "client")]
pub use client::{Client, ClientBuilder};
pub use error::ParseError;
pub use exchange::{Exchange, PeerAddr};
pub use limits::Limits;
pub use server::Server;
pub use transport::Transport;

pub use bytes;
pub use http;
/// The TLS crate the `tls` feature builds on (its configurations and errors).
#[cfg(feature = "tls")]
pub use ringport_tls;
