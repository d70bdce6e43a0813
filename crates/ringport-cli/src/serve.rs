//! `ringport serve [DIR] [--addr ADDR]`: static files over HTTP/1.1, with an access log on
//! stderr, until Ctrl-C or SIGTERM (requests in flight finish first).

mod access_log;

use access_log::AccessLog;
use anyhow::Context as _;
use ringport::signal::{signal, SignalKind};
use ringport::Runtime;
use ringport_http::files::ServeDir;
use ringport_http::Server;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::rc::Rc;
use std::task::Poll;

/// Arguments of `ringport serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to serve.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Write no access log.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir =
        ServeDir::new(&args.dir).with_context(|| format!("cannot serve {}", args.dir.display()))?;
    let rt = Runtime::new().context("cannot start the I/O runtime")?;
    rt.block_on(serve(args, dir))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: Args, dir: ServeDir) -> anyhow::Result<()> {
    // Before anything starts a thread: SIGINT and SIGTERM become requests to stop.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let server =
        Server::bind(args.addr).with_context(|| format!("cannot listen on {}", args.addr))?;
    let log = AccessLog::default();
    let writer = ringport::spawn(log.clone().run());
    log.push(&format!(
        "ringport: serving {} on http://{}/ (Ctrl-C to stop)\n",
        dir.root().display(),
        server.local_addr()?
    ));
    let server = if args.quiet {
        server
    } else {
        let log = log.clone();
        server.on_response(move |x| log.push(&access_log::line(x)))
    };
    let stop = {
        let log = log.clone();
        async move {
            either(sigint.recv(), sigterm.recv()).await;
            log.push("ringport: shutting down\n");
        }
    };
    let dir = Rc::new(dir);
    let handler = move |req| {
        let dir = dir.clone();
        async move { dir.handle(&req).await }
    };
    let served = server.serve_with_shutdown(handler, stop).await;
    log.close();
    let _ = writer.await;
    Ok(served?)
}

/// Completes when either future does.
async fn either<A: std::future::Future, B: std::future::Future>(a: A, b: B) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}
