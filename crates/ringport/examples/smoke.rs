//! A smoke check of a backend's speed: TCP echo round trips on loopback and file reads with
//! several in flight. Portable (the same program runs on io_uring, poll and IOCP), so it can
//! run under Wine, where it is a smoke check only: Wine is not Windows, and its figures say
//! nothing about Windows' speed. The real benchmarks are in `bench/`.
//!
//! `cargo run --release -p ringport --example smoke [ROUND_TRIPS] [FILE_MIB]`

use ringport::buf::BufResult;
use ringport::fs::File;
use ringport::net::{TcpListener, TcpStream};
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let trips: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    // The file is written before the runtime starts: no blocking call on the loop thread.
    let path = std::env::temp_dir().join(format!("ringport-smoke-{}", std::process::id()));
    std::fs::write(&path, vec![1u8; mib << 20])?;
    let rt = ringport::Runtime::builder().build()?;
    println!("backend: {}", rt.backend());
    let res = rt.block_on(async {
        echo(trips).await?;
        file_reads(&path, mib).await
    });
    drop(rt);
    std::fs::remove_file(&path)?;
    res
}

/// One connection, `trips` round trips of 64 bytes.
async fn echo(trips: usize) -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = ringport::spawn(async move {
        let (s, _) = listener.accept().await?;
        let mut buf = vec![0u8; 64];
        loop {
            let BufResult(res, b) = s.read_exact(buf).await;
            if res.is_err() {
                return std::io::Result::Ok(());
            }
            let BufResult(res, b) = s.write_all(b).await;
            res?;
            buf = b;
        }
    });
    let c = TcpStream::connect(addr).await?;
    c.set_nodelay(true)?;
    let mut buf = vec![7u8; 64];
    let start = Instant::now();
    for _ in 0..trips {
        let BufResult(res, b) = c.write_all(buf).await;
        res?;
        let BufResult(res, b) = c.read_exact(b).await;
        res?;
        buf = b;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(c);
    server.await.map_err(std::io::Error::other)??;
    println!(
        "echo: {trips} round trips of 64 B in {secs:.3} s: {:.0} round trips/s, {:.1} us each",
        trips as f64 / secs,
        secs * 1e6 / trips as f64
    );
    Ok(())
}

/// A `mib` MiB file read in 1 MiB reads, 8 in flight (cached: the driver's cost, not the
/// disk's).
async fn file_reads(path: &std::path::Path, mib: usize) -> std::io::Result<()> {
    let file = std::rc::Rc::new(File::open(path).await?);
    // Warm the cache once.
    let _ = file.read_at(vec![0u8; 1 << 20], 0).await;
    let start = Instant::now();
    let lanes: Vec<_> = (0..8usize)
        .map(|lane| {
            let file = file.clone();
            ringport::spawn(async move {
                let mut buf = Vec::with_capacity(1 << 20);
                let mut i = lane;
                while i < mib {
                    let BufResult(res, b) = file.read_at(buf, (i as u64) << 20).await;
                    assert_eq!(res?, 1 << 20);
                    buf = b;
                    buf.clear();
                    i += 8;
                }
                std::io::Result::Ok(())
            })
        })
        .collect();
    for lane in lanes {
        lane.await.map_err(std::io::Error::other)??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "file: {mib} MiB in 1 MiB reads, 8 in flight, in {secs:.3} s: {:.0} MiB/s",
        mib as f64 / secs
    );
    Ok(())
}
