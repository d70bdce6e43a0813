//! tokio-util's `LinesCodec` over a ringport `TcpStream`: a line server that answers each
//! line with the line upper-cased, and `BYE` by closing.
//!
//! `cargo run -p ringport-compat --example lines_codec -- [ADDR]`, then
//! `printf 'hello\nBYE\n' | nc 127.0.0.1 8080`.

use futures_util::{SinkExt, StreamExt};
use ringport_compat::Compat;
use tokio_util::codec::{Framed, LinesCodec};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    ringport::run(async move {
        let listener = ringport::net::TcpListener::bind(addr.as_str())?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            ringport::spawn(async move {
                let mut lines = Framed::new(
                    Compat::new(stream),
                    LinesCodec::new_with_max_length(64 * 1024),
                );
                while let Some(line) = lines.next().await {
                    let line = match line {
                        Ok(line) => line,
                        Err(e) => {
                            eprintln!("connection: {e}");
                            return;
                        }
                    };
                    if line == "BYE" {
                        break;
                    }
                    if let Err(e) = lines.send(line.to_uppercase()).await {
                        eprintln!("connection: {e}");
                        return;
                    }
                }
                // Flushes whatever is buffered, then shuts the writing side down.
                let _ = SinkExt::<String>::close(&mut lines).await;
            });
        }
    })
}
