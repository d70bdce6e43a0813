//! `ringport copy SRC DST`: a file (or with `-r` a tree) copied by `io::copy_with_progress`,
//! `-` for standard input or output, with a progress bar on a terminal, JSON lines for
//! scripts, and Ctrl-C removing the partial file (exit code 130).

mod display;
mod tree;

use anyhow::{anyhow, bail, Context as _};
use display::{Display, End, Mode, Tally};
use ringport::fs::{File, Metadata, OpenOptions};
use ringport::io::{copy_with_progress, CopySink, CopySource, Progress, Strategy};
use ringport::signal::{signal, SignalKind};
use ringport::Runtime;
use std::cell::{Cell, RefCell};
use std::io::IsTerminal as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `ringport copy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to copy, or `-` for standard input.
    src: PathBuf,
    /// Where to copy it, or `-` for standard output; into it when it is a directory.
    dst: PathBuf,
    /// Copy a directory and everything in it.
    #[arg(short, long)]
    recursive: bool,
    /// Bypass the page cache (O_DIRECT) on both files: for very large copies.
    #[arg(long)]
    direct: bool,
    /// The block size of a buffered copy (bytes, or with K, M, G).
    #[arg(long, value_parser = parse_size, default_value = "256K")]
    block_size: usize,
    /// How many blocks a buffered copy keeps in flight.
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
    /// Print progress as JSON lines on stderr, for scripts (and one at the end).
    #[arg(long)]
    json: bool,
    /// Seconds between progress lines (`--progress` off a terminal, `--json`).
    #[arg(long, default_value_t = 1.0, value_parser = parse_interval)]
    interval: f64,
    /// Keep the partial destination when interrupted or failed.
    #[arg(long)]
    keep_partial: bool,
}

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
    /// Ctrl-C: the line to print.
    Interrupted(String),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = Runtime::new().context("cannot start the I/O runtime")?;
    match rt.block_on(main(&args))? {
        Outcome::Done => Ok(ExitCode::SUCCESS),
        Outcome::Interrupted(msg) => {
            eprintln!("ringport: {msg}");
            Ok(ExitCode::from(130))
        }
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

async fn main(args: &Args) -> anyhow::Result<Outcome> {
    // Before any thread starts: Ctrl-C becomes a request to stop the copy.
    let sigint = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let stop = Stop::new(sigint);
    let stdin = args.src.as_os_str() == "-";
    let src_meta = match stdin {
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
        return tree::copy(args, &stop, meta).await;
    }
    let dst = destination(args).await?;
    if let (Some(src_meta), Some(dst)) = (&src_meta, &dst) {
        check_not_same(&args.src, src_meta, dst).await?;
    }
    let size = src_meta.as_ref().filter(|m| m.is_file()).map(Metadata::len);
    let tally = Tally::new(size, true);
    let display = Display::start(display_mode(args), tally.clone(), interval(args));
    let res = copy_one(args, &stop, &tally, src_meta.as_ref(), dst.as_deref()).await;
    display.finish(match (&res, stop.interrupted()) {
        (_, true) => End::Interrupted,
        (Ok(_), false) => End::Done,
        (Err(_), false) => End::Failed,
    });
    res
}

fn interval(args: &Args) -> Duration {
    Duration::from_secs_f64(args.interval)
}

/// Listens for Ctrl-C for the whole command and cancels the copy running then.
struct Stop {
    interrupted: Rc<Cell<bool>>,
    current: Rc<RefCell<Option<Progress>>>,
    _watcher: ringport::JoinHandle<()>,
}

impl Stop {
    fn new(mut sigint: ringport::signal::Signal) -> Stop {
        let interrupted = Rc::new(Cell::new(false));
        let current: Rc<RefCell<Option<Progress>>> = Rc::default();
        let (flag, running) = (interrupted.clone(), current.clone());
        let watcher = ringport::spawn(async move {
            if sigint.recv().await.is_ok() {
                flag.set(true);
                if let Some(p) = running.borrow().as_ref() {
                    p.cancel();
                }
            }
        });
        Stop {
            interrupted,
            current,
            _watcher: watcher,
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupted.get()
    }

    /// Runs one copy, cancellable by Ctrl-C and shown by `tally`.
    async fn copy<R: CopySource, W: CopySink>(
        &self,
        args: &Args,
        tally: &Arc<Tally>,
        r: R,
        w: W,
    ) -> std::io::Result<u64> {
        let strategy = match args.method {
            Method::Auto => Strategy::Auto,
            Method::Range => Strategy::CopyFileRange,
            Method::Splice => Strategy::Splice,
            Method::Buffered => Strategy::Buffered,
        };
        let copy = copy_with_progress(r, w)
            .block_size(args.block_size)
            .depth(usize::from(args.depth))
            .strategy(strategy);
        let p = copy.progress();
        if self.interrupted() {
            p.cancel();
        }
        *self.current.borrow_mut() = Some(p.clone());
        tally.begin(&p);
        let res = copy.await;
        tally.finish_file();
        *self.current.borrow_mut() = None;
        res
    }
}

/// The source's metadata, or the one-line error.
async fn source_metadata(path: &Path) -> anyhow::Result<Metadata> {
    ringport::fs::metadata(path)
        .await
        .map_err(|e| anyhow!("cannot open {}: {}", path.display(), os(&e)))
}

/// The destination path (`None` for standard output): inside it when it is a directory.
async fn destination(args: &Args) -> anyhow::Result<Option<PathBuf>> {
    if args.dst.as_os_str() == "-" {
        return Ok(None);
    }
    match ringport::fs::metadata(&args.dst).await {
        Ok(m) if m.is_dir() => match args.src.file_name() {
            Some(name) if args.src.as_os_str() != "-" => Ok(Some(args.dst.join(name))),
            _ => bail!(
                "{} is a directory: name the file to write standard input to",
                args.dst.display()
            ),
        },
        _ => Ok(Some(args.dst.clone())),
    }
}

/// Refuses to copy a file onto itself (the truncation would destroy it).
async fn check_not_same(src: &Path, src_meta: &Metadata, dst: &Path) -> anyhow::Result<()> {
    if let Ok(m) = ringport::fs::metadata(dst).await {
        if (m.dev(), m.ino()) == (src_meta.dev(), src_meta.ino()) {
            bail!("{} and {} are the same file", src.display(), dst.display());
        }
    }
    Ok(())
}

/// Copies one file (or standard input) to `dst` (or standard output).
async fn copy_one(
    args: &Args,
    stop: &Stop,
    tally: &Arc<Tally>,
    src_meta: Option<&Metadata>,
    dst: Option<&Path>,
) -> anyhow::Result<Outcome> {
    if let (Some(meta), Some(dst)) = (src_meta, dst) {
        return copy_path(args, stop, tally, &args.src, dst, meta.mode() & 0o7777).await;
    }
    let src = match src_meta {
        Some(_) => Some(open_source(&args.src, args.direct).await?),
        None => None,
    };
    let out = match dst {
        Some(path) => Some(create(path, 0o666, args.direct).await?),
        None => None,
    };
    let res = match (&src, &out) {
        (Some(s), _) => stop.copy(args, tally, s, ringport::stdio::stdout()).await,
        (None, Some(d)) => stop.copy(args, tally, ringport::stdio::stdin(), d).await,
        (None, None) => {
            let (i, o) = (ringport::stdio::stdin(), ringport::stdio::stdout());
            stop.copy(args, tally, i, o).await
        }
    };
    let dst_name = dst.map_or("standard output".into(), |p| p.display().to_string());
    finish(args, stop, res, &src_name(args), dst, &dst_name, None).await
}

/// Copies the file `src` to the file `dst`, which gets the permission bits `mode`.
async fn copy_path(
    args: &Args,
    stop: &Stop,
    tally: &Arc<Tally>,
    src: &Path,
    dst: &Path,
    mode: u32,
) -> anyhow::Result<Outcome> {
    let from = open_source(src, args.direct).await?;
    let to = create(dst, mode, args.direct).await?;
    let res = stop.copy(args, tally, &from, &to).await;
    drop((from, to));
    let (src_name, dst_name) = (src.display().to_string(), dst.display().to_string());
    finish(args, stop, res, &src_name, Some(dst), &dst_name, Some(mode)).await
}

fn src_name(args: &Args) -> String {
    match args.src.as_os_str() == "-" {
        true => "standard input".into(),
        false => args.src.display().to_string(),
    }
}

/// After a copy: set the permission bits, or remove the partial file, and say what happened.
async fn finish(
    args: &Args,
    stop: &Stop,
    res: std::io::Result<u64>,
    src: &str,
    dst: Option<&Path>,
    dst_name: &str,
    mode: Option<u32>,
) -> anyhow::Result<Outcome> {
    let regular = match dst {
        Some(p) => ringport::fs::metadata(p).await.is_ok_and(|m| m.is_file()),
        None => false,
    };
    let e = match res {
        Ok(_) => {
            if let (Some(path), Some(mode), true) = (dst, mode, regular) {
                set_mode(path, mode).await?;
            }
            return Ok(Outcome::Done);
        }
        Err(e) => e,
    };
    let removed = match (dst, regular && !args.keep_partial) {
        (Some(path), true) => ringport::fs::remove_file(path).await.is_ok(),
        _ => false,
    };
    if stop.interrupted() {
        let what = match (removed, dst) {
            (true, _) => format!("; removed the partial {dst_name}"),
            (false, Some(_)) if regular => format!("; kept the partial {dst_name}"),
            _ => String::new(),
        };
        return Ok(Outcome::Interrupted(format!("interrupted{what}")));
    }
    Err(copy_error(&e, src, dst_name))
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

/// Creates (or truncates) the destination, with the source's permission bits.
async fn create(path: &Path, mode: u32, direct: bool) -> anyhow::Result<File> {
    let res = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .direct(direct)
        .open(path)
        .await;
    match res {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            match parent {
                Some(dir) => bail!(
                    "cannot create {}: the directory {} does not exist",
                    path.display(),
                    dir.display()
                ),
                None => bail!("cannot create {}: {}", path.display(), os(&e)),
            }
        }
        Err(e) => bail!("cannot create {}: {}", path.display(), os(&e)),
    }
}

/// Sets exactly `mode` (the umask applied at creation is undone), on the blocking pool.
async fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    let owned = path.to_path_buf();
    let perms = std::fs::Permissions::from_mode(mode);
    ringport::spawn_blocking(move || std::fs::set_permissions(owned, perms))
        .await
        .map_err(|e| anyhow!("{e}"))?
        .map_err(|e| {
            anyhow!(
                "cannot set the permissions of {}: {}",
                path.display(),
                os(&e)
            )
        })
}

/// An OS error's text without the "(os error N)" suffix.
fn os(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
