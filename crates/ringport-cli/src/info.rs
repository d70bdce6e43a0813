//! `ringport info`: which backend, with which kernel features, and why.

use anyhow::Context as _;
use ringport::fs::Confinement;
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
    if args.json {
        println!("{}", to_json(&info));
    } else {
        print_text(&info);
    }
    Ok(ExitCode::SUCCESS)
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
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

fn print_text(info: &BackendInfo) {
    println!("backend:     {}", info.backend);
    println!("why:         {}", why(info));
    println!("kernel:      {}", kernel());
    println!("confinement: {}", confinement(info));
    match info.faults {
        Some(f) => println!("faults:      on, RINGPORT_FAULTS={f}"),
        None => println!("faults:      off"),
    }
    if info.backend == Backend::Poll {
        println!("operations:  {POLL_OPERATIONS}");
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

/// How `resolve_beneath` opens (what `ringport serve` keeps paths inside its root with).
fn confinement(info: &BackendInfo) -> String {
    let on_ring =
        info.backend == Backend::Uring && info.opcodes.iter().any(|&(n, ok)| n == "OPENAT2" && ok);
    if on_ring {
        return "openat2 RESOLVE_BENEATH, one OPENAT2 operation on the ring".into();
    }
    match ringport::fs::confinement() {
        Confinement::Openat2 => "openat2 RESOLVE_BENEATH, one call on the syscall pool".into(),
        Confinement::Walk { why } => format!(
            "a walk one component at a time (O_NOFOLLOW) on the blocking pool: openat2 is \
             unavailable ({why})"
        ),
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
fn to_json(info: &BackendInfo) -> String {
    use crate::json::string;
    let strs = |v: &[&str]| {
        let quoted: Vec<String> = v.iter().map(|s| string(s)).collect();
        format!("[{}]", quoted.join(","))
    };
    let head = format!(
        "\"backend\":\"{}\",\"reason\":{},\"kernel\":{},\"confinement\":{},\"faults\":{}",
        info.backend,
        string(why(info)),
        string(&kernel()),
        string(&confinement(info)),
        info.faults
            .map_or("null".to_string(), |f| string(&f.to_string()))
    );
    if info.backend == Backend::Poll {
        return format!("{{{head},\"operations\":{}}}", string(POLL_OPERATIONS));
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
