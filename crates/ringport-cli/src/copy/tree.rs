//! `ringport copy -r`: a directory tree. It is listed on the blocking pool first (so the total
//! is known), then directories are made, files copied one at a time and symbolic links
//! recreated; directories get their permission bits last, once nothing more goes in them.

use super::display::{Display, End, Tally};
use super::{copy_path, display_mode, interval, os, set_mode, Args, Outcome, Stop};
use anyhow::{anyhow, bail};
use ringport::fs::Metadata;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// One thing in the tree, by its path relative to the root.
#[derive(Debug)]
struct Entry {
    rel: PathBuf,
    kind: Kind,
    mode: u32,
}

#[derive(Debug)]
enum Kind {
    Dir,
    File,
    Link(PathBuf),
    /// A device, socket or FIFO: not copied.
    Other,
}

/// Copies the directory `args.src` (whose metadata is `meta`).
pub(super) async fn copy(args: &Args, stop: &Stop, meta: &Metadata) -> anyhow::Result<Outcome> {
    let root = root(args).await?;
    let (src, dst) = (args.src.clone(), root.clone());
    let (entries, total) = ringport::spawn_blocking(move || {
        check_not_inside(&src, &dst)?;
        let mut entries = Vec::new();
        let total = walk(&src, Path::new(""), &mut entries)?;
        anyhow::Ok((entries, total))
    })
    .await
    .map_err(|e| anyhow!("{e}"))??;
    let tally = Tally::new(Some(total), false);
    let display = Display::start(display_mode(args), tally.clone(), interval(args));
    let res = copy_entries(args, stop, &tally, &root, &entries).await;
    let res = match res {
        Ok(Outcome::Done) => set_mode(&root, meta.mode() & 0o7777)
            .await
            .map(|_| Outcome::Done),
        other => other,
    };
    display.finish(match (&res, stop.interrupted()) {
        (_, true) => End::Interrupted,
        (Ok(_), false) => End::Done,
        (Err(_), false) => End::Failed,
    });
    res
}

/// Where the tree goes: inside `dst` when it is a directory, else `dst` itself.
async fn root(args: &Args) -> anyhow::Result<PathBuf> {
    if args.dst.as_os_str() == "-" {
        bail!("a tree cannot be copied to standard output");
    }
    match ringport::fs::metadata(&args.dst).await {
        Ok(m) if m.is_dir() => Ok(match args.src.file_name() {
            Some(name) => args.dst.join(name),
            None => args.dst.clone(),
        }),
        Ok(_) => bail!(
            "cannot copy the directory {} onto the file {}",
            args.src.display(),
            args.dst.display()
        ),
        Err(_) => Ok(args.dst.clone()),
    }
}

/// Refuses a destination inside the source (the copy would never end).
fn check_not_inside(src: &Path, dst: &Path) -> anyhow::Result<()> {
    let src_real = std::fs::canonicalize(src)
        .map_err(|e| anyhow!("cannot open {}: {}", src.display(), os(&e)))?;
    let parent = dst.parent().filter(|p| !p.as_os_str().is_empty());
    let parent = parent.unwrap_or(Path::new("."));
    let Ok(parent_real) = std::fs::canonicalize(parent) else {
        return Ok(()); // a missing parent is reported when the directory is made
    };
    let dst_real = match dst.file_name() {
        Some(name) => parent_real.join(name),
        None => parent_real,
    };
    if dst_real.starts_with(&src_real) {
        bail!(
            "cannot copy {} into itself ({})",
            src.display(),
            dst.display()
        );
    }
    Ok(())
}

/// Lists `root/rel` depth-first, parents before children, names sorted; returns the bytes
/// of the files in it.
fn walk(root: &Path, rel: &Path, out: &mut Vec<Entry>) -> anyhow::Result<u64> {
    let dir = root.join(rel);
    let read = std::fs::read_dir(&dir)
        .map_err(|e| anyhow!("cannot read the directory {}: {}", dir.display(), os(&e)))?;
    let mut names: Vec<_> = read.filter_map(Result::ok).map(|d| d.file_name()).collect();
    names.sort();
    let mut total = 0;
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| anyhow!("cannot open {}: {}", path.display(), os(&e)))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            total += meta.len();
            Kind::File
        } else if ft.is_symlink() {
            Kind::Link(std::fs::read_link(&path)?)
        } else {
            Kind::Other
        };
        let is_dir = matches!(kind, Kind::Dir);
        let mode = meta.permissions().mode() & 0o7777;
        out.push(Entry {
            rel: rel.clone(),
            kind,
            mode,
        });
        if is_dir {
            total += walk(root, &rel, out)?;
        }
    }
    Ok(total)
}

async fn copy_entries(
    args: &Args,
    stop: &Stop,
    tally: &std::sync::Arc<Tally>,
    root: &Path,
    entries: &[Entry],
) -> anyhow::Result<Outcome> {
    make_dir(root).await?;
    for e in entries {
        if stop.interrupted() {
            return Ok(Outcome::Interrupted("interrupted".into()));
        }
        let (from, to) = (args.src.join(&e.rel), root.join(&e.rel));
        match &e.kind {
            Kind::Dir => make_dir(&to).await?,
            Kind::File => match copy_path(args, stop, tally, &from, &to, e.mode).await? {
                Outcome::Done => {}
                interrupted => return Ok(interrupted),
            },
            Kind::Link(target) => link(target, &to).await?,
            Kind::Other => eprintln!("ringport: skipped {} (not a file)", from.display()),
        }
    }
    for e in entries.iter().rev().filter(|e| matches!(e.kind, Kind::Dir)) {
        set_mode(&root.join(&e.rel), e.mode).await?;
    }
    Ok(Outcome::Done)
}

/// Makes a directory, or accepts one that is there.
async fn make_dir(path: &Path) -> anyhow::Result<()> {
    match ringport::fs::create_dir(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match ringport::fs::metadata(path).await {
                Ok(m) if m.is_dir() => Ok(()),
                _ => bail!("cannot create the directory {}: {}", path.display(), os(&e)),
            }
        }
        Err(e) => bail!("cannot create the directory {}: {}", path.display(), os(&e)),
    }
}

/// Recreates a symbolic link (on the blocking pool: there is no ring operation for it).
async fn link(target: &Path, at: &Path) -> anyhow::Result<()> {
    let (t, a) = (target.to_path_buf(), at.to_path_buf());
    ringport::spawn_blocking(move || std::os::unix::fs::symlink(t, a))
        .await
        .map_err(|e| anyhow!("{e}"))?
        .map_err(|e| anyhow!("cannot create the link {}: {}", at.display(), os(&e)))
}
