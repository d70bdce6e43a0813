//! `ringport info`: which backend, with which kernel features, and why.

use anyhow::Context as _;
use ringport::{Backend, BackendInfo, Runtime};
use std::process::ExitCode;

/// Arguments of `ringport info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = Runtime::builder().backend(Backend::Auto).build();
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            println!("backend: none");
            println!("why:     {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // One real operation proves the backend works, not only that it could be set up.
    rt.block_on(ringport::driver::nop())
        .context("a no-op through the backend failed")?;
    let info = rt.backend_info();
    drop(rt);
    let loops = loops()?;
    if args.json {
        println!("{}", to_json(&info, loops));
    } else {
        print_text(&info, loops);
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts one loop per CPU (what `serve --threads` defaults to) and proves each with a no-op
/// through its own ring or epoll; returns how many.
fn loops() -> anyhow::Result<usize> {
    let rt = Runtime::builder()
        .backend(Backend::Auto)
        .threads(0)
        .build()
        .context("cannot start one loop per CPU")?;
    let done = rt.block_on_all(|| async { ringport::driver::nop().await.is_ok() });
    anyhow::ensure!(
        done.iter().all(|ok| *ok),
        "a no-op through one of the loops failed"
    );
    Ok(done.len())
}

/// What each loop owns: a ring, an epoll (kqueue on the BSDs and macOS) or a completion port.
fn loop_kind(backend: Backend) -> &'static str {
    match backend {
        Backend::Poll if cfg!(any(target_os = "linux", target_os = "android")) => "epoll",
        Backend::Poll => "kqueue",
        Backend::Iocp => "completion port",
        _ => "ring",
    }
}

/// Why this backend: the recorded reason, or that it was the first choice. Text and JSON
/// say the same.
fn why(info: &BackendInfo) -> &str {
    info.reason
        .as_deref()
        .unwrap_or("first choice, probe passed")
}

/// What the poll backend does (it has no ring, so none of the ring's fields).
const POLL_OPERATIONS: &str =
    "sockets and pipes by readiness (epoll, edge-triggered), files on the syscall pool";

/// What the IOCP backend does (no ring either).
const IOCP_OPERATIONS: &str = "overlapped ReadFile/WriteFile, WSARecv/WSASend, AcceptEx, \
     ConnectEx and TransmitFile through one completion port per loop; opens, metadata and \
     path calls on the pool";

/// The one line a backend without a ring shows instead of the ring's fields.
fn operations(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Poll => Some(POLL_OPERATIONS),
        Backend::Iocp => Some(IOCP_OPERATIONS),
        _ => None,
    }
}

fn print_text(info: &BackendInfo, loops: usize) {
    println!("backend:     {}", info.backend);
    println!("why:         {}", why(info));
    println!("kernel:      {}", crate::sys::kernel());
    println!("confinement: {}", crate::sys::confinement(info));
    match info.faults {
        Some(f) => println!("faults:      on, RINGPORT_FAULTS={f}"),
        None => println!("faults:      off"),
    }
    println!(
        "loops:       {loops} (one per CPU, each with its own {}, all proved)",
        loop_kind(info.backend)
    );
    if let Some(ops) = operations(info.backend) {
        println!("operations:  {ops}");
        return;
    }
    match info.io_workers {
        Some((bounded, unbounded)) => println!(
            "io-wq:       at most {bounded} bounded and {unbounded} unbounded kernel workers per loop"
        ),
        None => println!("io-wq:       not capped (the kernel has no IOWQ_MAX_WORKERS)"),
    }
    println!(
        "ring:        {} SQ entries, {} CQ entries",
        info.entries.0, info.entries.1
    );
    println!("setup flags: {}", join_or_none(&info.setup_flags));
    println!("features:    {}", join_or_none(&info.features));
    println!("opcodes:");
    for (name, ok) in &info.opcodes {
        let mark = if *ok {
            "yes"
        } else {
            "no (runs on the syscall pool)"
        };
        println!("  {name:<14} {mark}");
    }
}

fn join_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(" ")
    }
}

/// One JSON object: the text's facts, under the same names. The ring's fields only where
/// there is a ring.
fn to_json(info: &BackendInfo, loops: usize) -> String {
    use crate::json::string;
    let strs = |v: &[&str]| {
        let quoted: Vec<String> = v.iter().map(|s| string(s)).collect();
        format!("[{}]", quoted.join(","))
    };
    let head = format!(
        "\"backend\":\"{}\",\"reason\":{},\"kernel\":{},\"confinement\":{},\"faults\":{},\"loops\":{loops}",
        info.backend,
        string(why(info)),
        string(&crate::sys::kernel()),
        string(&crate::sys::confinement(info)),
        info.faults
            .map_or("null".to_string(), |f| string(&f.to_string()))
    );
    if let Some(ops) = operations(info.backend) {
        return format!("{{{head},\"operations\":{}}}", string(ops));
    }
    let opcodes: Vec<String> = info
        .opcodes
        .iter()
        .map(|(n, ok)| format!("{}:{ok}", string(n)))
        .collect();
    format!(
        "{{{head},\"sq_entries\":{},\"cq_entries\":{},\"setup_flags\":{},\"features\":{},\
         \"io_workers\":{},\"opcodes\":{{{}}}}}",
        info.entries.0,
        info.entries.1,
        strs(&info.setup_flags),
        strs(&info.features),
        info.io_workers
            .map_or("null".into(), |(b, u)| format!("[{b},{u}]")),
        opcodes.join(",")
    )
}
