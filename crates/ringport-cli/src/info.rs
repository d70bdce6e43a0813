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

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn print_text(info: &BackendInfo, loops: usize) {
    println!("backend:     {}", info.backend);
    println!(
        "why:         {}",
        info.reason
            .as_deref()
            .unwrap_or("first choice, probe passed")
    );
    println!("kernel:      {}", kernel());
    println!("loops:       {loops} (one per CPU, each with its own ring or epoll, all proved)");
    if info.backend == Backend::Poll {
        println!("operations:  sockets and pipes by readiness (epoll), files on the syscall pool");
        return;
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

fn to_json(info: &BackendInfo, loops: usize) -> String {
    let strs = |v: &[&str]| {
        let quoted: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
        format!("[{}]", quoted.join(","))
    };
    let opcodes: Vec<String> = info
        .opcodes
        .iter()
        .map(|(n, ok)| format!("{n:?}:{ok}"))
        .collect();
    format!(
        "{{\"backend\":\"{}\",\"reason\":{},\"kernel\":{:?},\"sq_entries\":{},\"cq_entries\":{},\
         \"setup_flags\":{},\"features\":{},\"opcodes\":{{{}}},\"loops\":{}}}",
        info.backend,
        info.reason
            .as_ref()
            .map_or("null".to_string(), |r| format!("{r:?}")),
        kernel(),
        info.entries.0,
        info.entries.1,
        strs(&info.setup_flags),
        strs(&info.features),
        opcodes.join(","),
        loops
    )
}
