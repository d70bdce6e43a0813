//! `ringport copy SRC DST`: a file (or with `-r` a tree) copied by `io::copy_with_progress`,
//! `-` for standard input or output, with a progress bar on a terminal, JSON lines for
//! scripts, and SIGINT, SIGTERM or SIGHUP removing the partial file (exit code 128 + signal).
//!
//! What is known about the source and the destination is looked up once (one `statx` of the
//! source, one or two of the destination) and handed down; the library probes the open fds.

mod dest;
mod display;
mod stop;
#[cfg(unix)]
#[path = "copy/sys_unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "copy/sys_windows.rs"]
mod sys;
#[cfg(unix)]
mod tree;
#[cfg(windows)]
#[path = "copy/tree_windows.rs"]
mod tree;

use anyhow::{anyhow, bail, Context as _};
use dest::{Dest, Origin, Target};
use display::{Display, End, Mode, Tally};
use ringport::fs::{File, Metadata, OpenOptions};
use ringport::Runtime;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use stop::Stop;

/// Arguments of `ringport copy`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The file to copy, or `-` for standard input.
    src: PathBuf,
    /// Where to copy it, or `-` for standard output; into it when it is a directory.
    dst: PathBuf,
    /// Copy a directory and everything in it (files, directories, symbolic links, FIFOs and
    /// device files); an entry that fails is reported, the rest is copied, and the exit code
    /// is 1.
    #[arg(short, long)]
    recursive: bool,
    /// Bypass the page cache (O_DIRECT) on both files: for very large copies.
    #[arg(long)]
    direct: bool,
    /// The block size of a buffered copy: bytes, or with K, M or G (binary: 1K = 1024),
    /// rounded up to a multiple of 4 KiB, at most 1G; never more than the file needs.
    #[arg(long, value_parser = parse_size, default_value = "256K")]
    block_size: usize,
    /// How many blocks a buffered copy keeps in flight (never more than the file needs).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    depth: u16,
    /// How the bytes move (`auto` picks the fastest the kernel offers).
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    method: Method,
    /// Show no progress at all.
    #[arg(long, conflicts_with_all = ["progress", "json"])]
    no_progress: bool,
    /// Show progress even when stderr is not a terminal (a line every interval).
    #[arg(long)]
    progress: bool,
    /// Print progress as JSON lines on stderr, for scripts (and one at the end, with the
    /// error when the copy failed).
    #[arg(long)]
    json: bool,
    /// Seconds between progress lines (`--progress` off a terminal, `--json`).
    #[arg(long, default_value_t = 1.0, value_parser = parse_interval)]
    interval: f64,
    /// Keep the partial destination when interrupted (SIGINT, SIGTERM, SIGHUP) or failed.
    #[arg(long)]
    keep_partial: bool,
}

const AFTER_HELP: &str = "\
Modes, as cp without -p: a new file or directory gets the source's permission bits minus the \
umask; an existing destination keeps its own. The set-user-ID and set-group-ID bits are never \
copied, whoever owns the copy (a copy made by root of another user's set-user-ID program never \
becomes a set-user-ID-root program; a set-group-ID bit a new directory inherits from its \
parent stays).

Holes in a sparse source stay holes in the copy (every method). A dangling symbolic link as \
the destination is refused rather than written through.

Exit codes: 0 done; 1 an error (one line on stderr; with -r, one line per entry that failed); \
2 bad arguments; 128 + the signal when interrupted by SIGINT (130), SIGTERM (143) or SIGHUP \
(129), after removing the partial file unless --keep-partial. When standard output is closed \
early (`ringport copy big - | head`), it ends quietly, as cat does.";

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Method {
    Auto,
    Range,
    Splice,
    Buffered,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let t = s
        .trim()
        .trim_end_matches(['b', 'B'])
        .trim_end_matches(['i', 'I']);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: usize = num.parse().map_err(|_| format!("{s:?} is not a size"))?;
    match n.checked_mul(mult) {
        Some(v) if (1..=1 << 30).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?}: the block size must be between 1 byte and 1G"
        )),
    }
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: seconds between 0.01 and 3600")),
    }
}

/// How the command ended when it did not fail.
enum Outcome {
    Done,
    /// A signal stopped it: the signal's number and the line to print.
    Interrupted(i32, String),
    /// Standard output was closed by its reader.
    BrokenPipe,
}

/// What every part of one command shares: the arguments, the signal watch and the umask.
struct Ctx<'a> {
    args: &'a Args,
    stop: &'a Stop,
    #[cfg_attr(windows, allow(dead_code))] // read by the tree copy, which Windows lacks yet
    umask: u32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Read before any thread starts: reading the umask means setting it.
    let umask = sys::umask();
    let rt = Runtime::new().context("cannot start the I/O runtime")?;
    let outcome = rt.block_on(main(&args, umask));
    drop(rt);
    match outcome? {
        Outcome::Done => Ok(ExitCode::SUCCESS),
        Outcome::Interrupted(signal, msg) => {
            eprintln!("ringport: {msg}");
            Ok(ExitCode::from(128 + signal as u8))
        }
        Outcome::BrokenPipe => sys::die_of_sigpipe(),
    }
}

fn display_mode(args: &Args) -> Mode {
    if args.no_progress {
        Mode::None
    } else if args.json {
        Mode::Json
    } else if std::io::stderr().is_terminal() {
        Mode::Bar
    } else if args.progress {
        Mode::Lines
    } else {
        Mode::None
    }
}

async fn main(args: &Args, umask: u32) -> anyhow::Result<Outcome> {
    // Before any thread starts: the signals become requests to stop the copy.
    let stop = Stop::listen()?;
    let ctx = Ctx {
        args,
        stop: &stop,
        umask,
    };
    let src_meta = match args.src.as_os_str() == "-" {
        true => None,
        false => Some(source_metadata(&args.src).await?),
    };
    if let Some(meta) = src_meta.as_ref().filter(|m| m.is_dir()) {
        if !args.recursive {
            bail!(
                "{} is a directory (use -r to copy a tree)",
                args.src.display()
            );
        }
        return tree::copy(&ctx, meta).await;
    }
    let dst = Dest::find(args).await?;
    if let (Some(src_meta), Dest::Path(t)) = (&src_meta, &dst) {
        t.check_not(&args.src, src_meta)?;
    }
    let size = src_meta.as_ref().filter(|m| m.is_file()).map(Metadata::len);
    let tally = Tally::new(size, true);
    let display = Display::start(display_mode(args), tally.clone(), interval(args));
    let res = copy_one(&ctx, &tally, src_meta.as_ref(), &dst).await;
    display.finish(end_of(&res, &stop));
    res
}

/// How the display's last line describes the end.
fn end_of(res: &anyhow::Result<Outcome>, stop: &Stop) -> End {
    match res {
        _ if stop.interrupted() => End::Interrupted,
        Ok(Outcome::Done) => End::Done,
        Ok(Outcome::Interrupted(..)) => End::Interrupted,
        Ok(Outcome::BrokenPipe) => End::Failed("writing standard output: Broken pipe".into()),
        Err(e) => End::Failed(format!("{e:#}")),
    }
}

fn interval(args: &Args) -> Duration {
    Duration::from_secs_f64(args.interval)
}

/// The source's metadata, or the one-line error.
async fn source_metadata(path: &Path) -> anyhow::Result<Metadata> {
    ringport::fs::metadata(path)
        .await
        .map_err(|e| anyhow!("cannot open {}: {}", path.display(), os(&e)))
}

/// Copies one file (or standard input) to `dst` (or standard output).
async fn copy_one(
    ctx: &Ctx<'_>,
    tally: &Arc<Tally>,
    src_meta: Option<&Metadata>,
    dst: &Dest,
) -> anyhow::Result<Outcome> {
    let (args, stop) = (ctx.args, ctx.stop);
    let origin = src_meta.map_or(Origin::STREAM, Origin::of);
    if let Dest::Path(target) = dst {
        return copy_to(
            ctx,
            tally,
            src_meta.map(|_| args.src.as_path()),
            target,
            origin,
        )
        .await;
    }
    let res = match src_meta {
        Some(_) => {
            let from = open_source(&args.src, args.direct).await?;
            stop.copy(args, tally, &from, ringport::stdio::stdout())
                .await
        }
        None => {
            let (i, o) = (ringport::stdio::stdin(), ringport::stdio::stdout());
            stop.copy(args, tally, i, o).await
        }
    };
    match res {
        Ok(_) => Ok(Outcome::Done),
        Err(_) if stop.interrupted() => Ok(stop.outcome(String::new())),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::BrokenPipe),
        Err(e) => Err(copy_error(&e, &src_name(args), "standard output")),
    }
}

/// Copies the file `src` (standard input when `None`) to the path `target`: creates or
/// truncates it, copies, then gives a new file its final mode, or removes the partial file.
async fn copy_to(
    ctx: &Ctx<'_>,
    tally: &Arc<Tally>,
    src: Option<&Path>,
    target: &Target,
    origin: Origin,
) -> anyhow::Result<Outcome> {
    let (args, stop) = (ctx.args, ctx.stop);
    let from = match src {
        Some(path) => Some(open_source(path, args.direct).await?),
        None => None,
    };
    let to = dest::open(target, origin, args.direct).await?;
    let res = match &from {
        Some(f) => stop.copy(args, tally, f, &to.file).await,
        None => {
            stop.copy(args, tally, ringport::stdio::stdin(), &to.file)
                .await
        }
    };
    drop(from);
    let dst_name = target.path.display().to_string();
    let src_name = src.map_or("standard input".into(), |p| p.display().to_string());
    let res = match res {
        Ok(_) => Ok(()),
        Err(e) => Err(copy_error(&e, &src_name, &dst_name)),
    };
    let Err(e) = res else {
        return Ok(Outcome::Done);
    };
    let removed = to.regular && !args.keep_partial && {
        drop(to.file);
        ringport::fs::remove_file(&target.path).await.is_ok()
    };
    if stop.interrupted() {
        let what = match (removed, to.regular) {
            (true, _) => format!("; removed the partial {dst_name}"),
            (false, true) => format!("; kept the partial {dst_name}"),
            (false, false) => String::new(),
        };
        return Ok(stop.outcome(what));
    }
    Err(e)
}

fn src_name(args: &Args) -> String {
    match args.src.as_os_str() == "-" {
        true => "standard input".into(),
        false => args.src.display().to_string(),
    }
}

/// One line for an error during the copy, naming the side that failed when it is clear.
fn copy_error(e: &std::io::Error, src: &str, dst: &str) -> anyhow::Error {
    use std::io::ErrorKind::*;
    match e.kind() {
        StorageFull | FileTooLarge | QuotaExceeded | BrokenPipe => {
            anyhow!("writing {dst}: {}", os(e))
        }
        _ => anyhow!("copying {src} to {dst}: {}", os(e)),
    }
}

async fn open_source(path: &Path, direct: bool) -> anyhow::Result<File> {
    OpenOptions::new()
        .read(true)
        .direct(direct)
        .open(path)
        .await
        .map_err(|e| anyhow!("cannot open {}: {}", path.display(), os(&e)))
}

/// An OS error's text without the trailing "(os error N)".
fn os(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}
