//! The two-thread echo servers of case `echo-threads` (see `echo::THREAD_ENGINES`): the same
//! read + write_all loop per connection as the single-threaded servers, on two threads.

use crate::echo::{ready, set_backend, BUF};

/// Threads per server: 2, or `RINGPORT_BENCH_THREADS` (the 16-core script sets it).
fn threads() -> usize {
    std::env::var("RINGPORT_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

/// Two loops, each accepting from its own dup of the listen socket and echoing on its own.
pub fn ringport(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use ringport::buf::BufResult;
    let rt = ringport::Runtime::builder()
        .threads(threads())
        .build()
        .map_err(|e| format!("ringport runtime: {e}"))?;
    let info = rt.backend_info();
    set_backend(format!(
        "{:?} ({}), {} loops",
        info.backend,
        info.setup_flags.join("+"),
        threads()
    ));
    let l = std::sync::Arc::new(l);
    ready(port);
    let results = rt.block_on_all(move || {
        let l = l.try_clone();
        async move {
            let l = l.map_err(|e| e.to_string())?;
            let listener = ringport::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
            loop {
                let (stream, _) = listener
                    .accept()
                    .await
                    .map_err(|e| format!("accept: {e}"))?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                ringport::spawn(async move {
                    let mut buf: Vec<u8> = Vec::with_capacity(BUF);
                    loop {
                        buf.clear();
                        let BufResult(res, back) = stream.read(buf).await;
                        buf = back;
                        if !matches!(res, Ok(n) if n > 0) {
                            return;
                        }
                        let BufResult(res, back) = stream.write_all(buf).await;
                        buf = back;
                        if res.is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    Ok(())
}

/// tokio multi-thread with 2 workers: one accept loop, tasks spread by work stealing.
pub fn tokio(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads())
        .enable_io()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    set_backend(format!("epoll, {} workers", threads()));
    rt.block_on(async move {
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        ready(port);
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

/// Two threads, each its own monoio runtime accepting from a dup of the listen socket.
pub fn monoio(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    set_backend(format!("io_uring, {} threads", threads()));
    let mut others = Vec::new();
    for _ in 1..threads() {
        let dup = l.try_clone().map_err(|e| e.to_string())?;
        others.push(std::thread::spawn(move || monoio_one(dup)));
    }
    ready(port);
    let r = monoio_one(l);
    for t in others {
        let _ = t.join();
    }
    r
}

fn monoio_one(l: std::net::TcpListener) -> Result<(), String> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .build()
        .map_err(|e| format!("monoio runtime: {e}"))?;
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            monoio::spawn(async move {
                let mut buf: Vec<u8> = Vec::with_capacity(BUF);
                loop {
                    buf.clear();
                    let (res, back) = stream.read(buf).await;
                    buf = back;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                    let (res, back) = stream.write_all(buf).await;
                    buf = back;
                    if res.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
