//! Case `compat`: hyper 1.x and axum on ringport (through `ringport-compat`) against the same
//! code on tokio's current-thread runtime, under `wrk -t1 -c100`; the server on CPU 0.
//!
//! Every server answers `GET /` with the plaintext "Hello, World!" of the `http` case, through
//! hyper's `http1::Builder::serve_connection`, one task per connection, `TCP_NODELAY`, no
//! timer. hyper on tokio is the `http` case's own server (engine `hyper`). The ringport
//! servers run it over `Compat` (completion mode) and over `PollIo` (readiness mode); axum's
//! `Router` goes through hyper-util's `TowerToHyperService` on both runtimes.

use crate::echo::set_backend;
use crate::http::{self, Expect, Load, Run, BODY};
use crate::report::{grouped, Check, Section, Target};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::rt::{Read, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::service::TowerToHyperService;
use ringport_compat::{Compat, PollIo};
use std::convert::Infallible;

/// The servers, in run order: hyper on tokio, hyper on ringport (completion, readiness),
/// axum on tokio, axum on ringport (completion, readiness).
const SERVERS: [&str; 7] = [
    "hyper",
    "hyper-ringport",
    "hyper-ringport-direct",
    "hyper-ringport-ready",
    "axum-tokio",
    "axum-ringport",
    "axum-ringport-ready",
];

/// The engines this module's worker serves (`hyper` is `http`'s).
pub const ENGINES: [&str; 6] = [
    "hyper-ringport",
    "hyper-ringport-direct",
    "hyper-ringport-ready",
    "axum-tokio",
    "axum-ringport",
    "axum-ringport-ready",
];

pub fn run(opts: &http::Opts) -> Result<Section, String> {
    let ctx = http::Ctx::new()?;
    let load = Load {
        path: "/",
        conns: opts.conns,
        timeout_s: 5,
        expect: Expect::Body(BODY),
    };
    let results = http::runs_of("compat", &SERVERS, &load, opts, &ctx);
    let mut rows = Vec::new();
    let mut best: Vec<Option<Run>> = Vec::new();
    let mut rounds: Vec<Vec<Run>> = Vec::new();
    let mut backends = Vec::new();
    for (server, res) in SERVERS.iter().zip(results) {
        match res {
            Ok((m, every)) => {
                backends.push(format!("{server}: {}", m.backend));
                let shown: Vec<String> = every
                    .iter()
                    .map(|r| format!("{:.2}{}", r.us_per_req(), r.star()))
                    .collect();
                let [srv, load] = m.cpu_cells();
                rows.push(vec![
                    label(server).to_string(),
                    format!("{}{}", grouped(m.rate()), m.star()),
                    format!("{:.2}", m.us_per_req()),
                    srv,
                    load,
                    format!("{:.2} / {:.2}", m.p50_us / 1e3, m.p99_us / 1e3),
                    shown.join(" / "),
                ]);
                best.push(Some(m));
                rounds.push(every);
            }
            Err(e) => {
                rows.push(vec![label(server).to_string(), format!("failed: {e}")]);
                best.push(None);
                rounds.push(Vec::new());
            }
        }
    }
    let at = |name: &str| SERVERS.iter().position(|s| *s == name).expect("a server");
    let (tokio, axum_tokio) = (at("hyper"), at("axum-tokio"));
    // (ours, peer, what, target): the default adapter carries the target; the others show.
    let pairs = [
        (
            at("hyper-ringport"),
            tokio,
            "hyper, Compat (default)",
            Target::AtMost(1.0),
        ),
        (
            at("hyper-ringport-direct"),
            tokio,
            "hyper, Compat direct writes",
            Target::None,
        ),
        (
            at("hyper-ringport-ready"),
            tokio,
            "hyper, PollIo",
            Target::None,
        ),
        (
            at("axum-ringport"),
            axum_tokio,
            "axum, Compat (default)",
            Target::AtMost(1.0),
        ),
        (
            at("axum-ringport-ready"),
            axum_tokio,
            "axum, PollIo",
            Target::None,
        ),
    ];
    let us = |u: f64| format!("{u:.2} µs");
    let mut checks = Vec::new();
    for (o, p, what, target) in pairs {
        let peer = if p == tokio {
            "hyper on tokio"
        } else {
            "axum on tokio"
        };
        checks.push(paired(
            format!("{what}: server CPU per request vs {peer}, median of round ratios"),
            &rounds[o],
            &rounds[p],
            target,
        ));
        checks.push(http::check(
            format!("{what}: server CPU per request vs {peer}, median runs"),
            best[o].as_ref(),
            best[p].as_ref(),
            Run::us_per_req,
            us,
            Target::None,
        ));
    }
    for (o, p, what) in [
        (
            at("hyper-ringport"),
            tokio,
            "hyper, Compat: requests/s vs hyper on tokio",
        ),
        (
            at("axum-ringport"),
            axum_tokio,
            "axum, Compat: requests/s vs axum on tokio",
        ),
    ] {
        checks.push(http::check(
            what.to_string(),
            best[o].as_ref(),
            best[p].as_ref(),
            Run::rate,
            grouped,
            Target::None,
        ));
    }
    let (wrk, _) = http::versions();
    let mut notes = vec![
        format!(
            "Load: `wrk -t1 -c{} -d{}s --timeout {}s -s wrk-result.lua http://127.0.0.1:PORT/` \
             ({wrk}) pinned to CPU 1, after a warm-up run of {} s; the server pinned to CPU 0. \
             Runs per server: {}, servers interleaved; the figures are the median run's (by \
             requests/s). Each response is checked by hand first (status, body, \
             `Content-Length`); a run with any wrk error fails.",
            opts.conns, opts.secs, load.timeout_s, opts.warmup, opts.reps
        ),
        "Servers: the same hyper 1.x code on both runtimes: an accept loop spawning \
         `http1::Builder::new().serve_connection(io, service)` per connection (`TCP_NODELAY`, \
         no timer), the service answering `Full<Bytes>` \"Hello, World!\" with `Content-Type: \
         text/plain`. tokio: `new_current_thread().enable_io()`, `io = TokioIo::new(stream)` \
         (the `http` case's hyper server). ringport: `Runtime::new()`, `io = \
         Compat::new(stream)` (completion mode: 16 KiB read buffer, 64 KiB write limit) or \
         `PollIo::new(stream)` (readiness mode). axum 0.8: `Router::new().route(\"/\", get(|| \
         async { ([(CONTENT_TYPE, \"text/plain\")], \"Hello, World!\") }))` behind \
         hyper-util's `TowerToHyperService`, through the same builder on each runtime."
            .to_string(),
        "Copies per request, beyond what the kernel does: tokio and `PollIo` none (the kernel \
         reads into hyper's buffer and writes from hyper's head buffer and the body `Bytes` \
         with one `writev`/`sendmsg`). `Compat`: one `memcpy` each way, of the request (read \
         buffer → hyper's buffer with `put_slice`, no zero-fill) and of the response (hyper's \
         head and body slices → the write buffer; `is_write_vectored` is true, so hyper does \
         not flatten them first); with `direct_writes(true)` none out (the socket takes the \
         slices). Here that is about 40 B in and 130 B out per request."
            .to_string(),
        "Servers, ringport side: `Compat::new(stream)` is the default (`HyperIo`): 16 KiB \
         read buffer, 64 KiB write limit, every write copied and sent by a `SEND` op with the \
         turn's other submissions; \"direct writes\" adds `.direct_writes(true)` (a \
         `MSG_DONTWAIT` send on hyper's slices first, the op only for what the socket does \
         not take); `PollIo::new(stream)` is readiness mode (`recv`/`send` with \
         `MSG_DONTWAIT`, `POLL_ADD` waits)."
            .to_string(),
        "Checks: the target check divides each ringport run's server CPU per request by the \
         tokio run of the same round (the servers of a round run back to back, so load that \
         drifts over the case cancels out) and takes the median of those ratios; every \
         round's ratio is listed. The median runs' own ratio is shown beside it."
            .to_string(),
        http::SERVER_CPU_NOTE.to_string(),
        http::contention_note(),
    ];
    if !backends.is_empty() {
        notes.push(format!("Backends: {}.", backends.join("; ")));
    }
    Ok(Section {
        title: "compat: hyper and axum on ringport vs on tokio, plaintext hello, server on one \
                core"
            .into(),
        notes,
        header: vec![
            "server",
            "requests/s",
            "server CPU µs per request",
            "server CPU use / others on CPU 0",
            "wrk CPU use / wait for CPU",
            "latency p50 / p99 (ms)",
            "server CPU µs per request, every run",
        ],
        rows,
        checks,
    })
}

/// Server CPU per request of `ours` ÷ `peer`, run by run within each round (the servers of a
/// round run back to back, so a load that drifts over the whole case cancels out), and the
/// median of those ratios. Rounds where either run was contended are left out.
fn paired(what: String, ours: &[Run], peer: &[Run], target: Target) -> Check {
    let mut ratios: Vec<f64> = ours
        .iter()
        .zip(peer)
        .filter(|(o, p)| !o.contended() && !p.contended())
        .map(|(o, p)| o.us_per_req() / p.us_per_req())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let shown = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    Check {
        what,
        ours: format!("rounds: {}", shown(&ratios)),
        peer: "1".into(),
        ratio: median(&ratios),
        target,
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn label(server: &str) -> &'static str {
    match server {
        "hyper" => "hyper on tokio",
        "hyper-ringport" => "hyper on ringport, Compat",
        "hyper-ringport-direct" => "hyper on ringport, Compat, direct writes",
        "hyper-ringport-ready" => "hyper on ringport, PollIo",
        "axum-tokio" => "axum on tokio",
        "axum-ringport" => "axum on ringport, Compat",
        "axum-ringport-ready" => "axum on ringport, PollIo",
        _ => "?",
    }
}

// ---- the worker side: `worker http-server --engine E` (dispatched from http::server) ----

pub fn server(engine: &str, l: std::net::TcpListener, port: u16) -> Result<(), String> {
    match engine {
        "axum-tokio" => axum_tokio(l, port),
        "hyper-ringport" => on_ringport(l, port, Mode::Compat, false),
        "hyper-ringport-direct" => on_ringport(l, port, Mode::Direct, false),
        "hyper-ringport-ready" => on_ringport(l, port, Mode::PollIo, false),
        "axum-ringport" => on_ringport(l, port, Mode::Compat, true),
        "axum-ringport-ready" => on_ringport(l, port, Mode::PollIo, true),
        other => Err(format!("unknown compat engine {other}")),
    }
}

fn router() -> axum::Router {
    let plain = [(CONTENT_TYPE, HeaderValue::from_static("text/plain"))];
    axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { (plain, BODY) }),
    )
}

/// The `http` case's hyper service: the request is dropped when the service is called (the
/// returned future does not hold it), exactly as in `http::hyper_server`'s closure.
#[allow(clippy::manual_async_fn)] // an `async fn` would keep the request alive in its future
fn hello(
    _req: hyper::Request<hyper::body::Incoming>,
) -> impl std::future::Future<Output = Result<hyper::Response<Full<Bytes>>, Infallible>> {
    async {
        let mut res = hyper::Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
        let plain = HeaderValue::from_static("text/plain");
        res.headers_mut().insert(CONTENT_TYPE, plain);
        Ok(res)
    }
}

async fn serve<I: Read + Write + Unpin + 'static>(io: I, axum: Option<axum::Router>) {
    let builder = http1::Builder::new();
    let _ = match axum {
        Some(app) => {
            builder
                .serve_connection(io, TowerToHyperService::new(app))
                .await
        }
        None => builder.serve_connection(io, service_fn(hello)).await,
    };
}

/// How a ringport server hands its sockets to hyper.
#[derive(Clone, Copy)]
enum Mode {
    /// `Compat::new`: every write copied and sent by a write op.
    Compat,
    /// `Compat::new(..).direct_writes(true)`: a `MSG_DONTWAIT` send first.
    Direct,
    /// `PollIo::new`.
    PollIo,
}

fn on_ringport(l: std::net::TcpListener, port: u16, mode: Mode, axum: bool) -> Result<(), String> {
    let rt = ringport::Runtime::new().map_err(|e| format!("ringport runtime: {e}"))?;
    let info = rt.backend_info();
    set_backend(format!("{} ({})", info.backend, info.setup_flags.join("+")));
    rt.block_on(async move {
        let listener = ringport::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        let app = axum.then(router);
        println!("LISTEN {port}");
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let app = app.clone();
            match mode {
                Mode::Compat => drop(ringport::spawn(serve(Compat::new(stream), app))),
                Mode::Direct => {
                    let io = Compat::new(stream).direct_writes(true);
                    drop(ringport::spawn(serve(io, app)));
                }
                Mode::PollIo => drop(ringport::spawn(serve(PollIo::new(stream), app))),
            }
        }
    })
}

fn axum_tokio(l: std::net::TcpListener, port: u16) -> Result<(), String> {
    use hyper_util::rt::TokioIo;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    set_backend("tokio (epoll)".into());
    rt.block_on(async move {
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
        let app = router();
        println!("LISTEN {port}");
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| format!("accept: {e}"))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                let _ = http1::Builder::new().serve_connection(io, service).await;
            });
        }
    })
}
