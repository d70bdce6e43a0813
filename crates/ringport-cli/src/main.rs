//! The `ringport` command: a thin layer over the library crates.
//!
//! `main -> run(parse) -> ExitCode`: arguments become a validated command before any I/O.

mod args;
mod copy;
mod get;
mod info;
mod json;
mod serve;
#[cfg(unix)]
#[path = "sys_unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "sys_windows.rs"]
mod sys;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// True asynchronous I/O: the completion-port model on io_uring.
#[derive(Debug, Parser)]
#[command(name = "ringport", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the I/O backend in use, the kernel's io_uring features and opcodes, and why.
    Info(info::Args),
    /// Serve the files of a directory over HTTP/1.1 or HTTPS (listings, ranges, revalidation).
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::Args),
    /// Copy a file or, with -r, a tree (`-` for stdin or stdout), showing progress.
    Copy(copy::Args),
    /// Download a file over HTTP or HTTPS in segments, resumably, verified (exit codes: see --help).
    Get(get::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringport: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Info(args) => {
            sys::end_quietly_when_stdout_closes();
            info::run(args)
        }
        Command::Serve(args) => serve::run(args),
        Command::Copy(args) => copy::run(args),
        Command::Get(args) => get::run(args),
    }
}
