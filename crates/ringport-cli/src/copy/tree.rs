//! `ringport copy -r`: a directory tree, as `cp -r` copies it. It is listed on the blocking
//! pool first (so the total is known), then directories are made, files copied one at a time,
//! symbolic links, FIFOs and device files recreated (replacing what a previous run left);
//! new directories get their final mode last, once nothing more goes in them. An entry that
//! fails is reported on its own line and the rest is copied; the command then exits with 1.

use super::dest::{Origin, Target};
use super::display::{Display, Tally};
use super::{copy_to, display_mode, end_of, interval, os, Ctx, Outcome};
use anyhow::{anyhow, bail};
use ringport::fs::{Metadata, OpenOptions};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// One thing in the tree, by its path relative to the root.
#[derive(Debug)]
struct Entry {
    rel: PathBuf,
    kind: Kind,
    origin: Origin,
}

#[derive(Debug)]
enum Kind {
    Dir,
    File,
    Link(PathBuf),
    /// A FIFO, socket or device: its file type bits and device number, for `mknod`.
    Special {
        ifmt: u32,
        rdev: u64,
    },
    /// Something that could not be listed or examined: the message.
    Unreadable(String),
}

/// A directory this command made, to get its final mode at the end.
struct MadeDir {
    path: PathBuf,
    origin: Origin,
}

/// Copies the directory `ctx.args.src` (whose metadata is `meta`).
pub(super) async fn copy(ctx: &Ctx<'_>, meta: &Metadata) -> anyhow::Result<Outcome> {
    let args = ctx.args;
    let root = root(args).await?;
    let (src, dst) = (args.src.clone(), root.clone());
    let (entries, total) = ringport::spawn_blocking(move || {
        check_not_inside(&src, &dst)?;
        let mut entries = Vec::new();
        let total = walk(&src, Path::new(""), &mut entries);
        anyhow::Ok((entries, total))
    })
    .await
    .map_err(|e| anyhow!("{e}"))??;
    let tally = Tally::new(Some(total), false);
    let display = Display::start(display_mode(args), tally.clone(), interval(args));
    let res = copy_entries(ctx, &tally, &root, Origin::of(meta), &entries).await;
    display.finish(end_of(&res, ctx.stop));
    res
}

/// Where the tree goes: inside `dst` when it is a directory, else `dst` itself.
async fn root(args: &super::Args) -> anyhow::Result<PathBuf> {
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
/// of the files in it. What cannot be read becomes an `Unreadable` entry, and the walk goes on.
fn walk(root: &Path, rel: &Path, out: &mut Vec<Entry>) -> u64 {
    let dir = root.join(rel);
    let unreadable = |msg: String| Entry {
        rel: rel.to_path_buf(),
        kind: Kind::Unreadable(msg),
        origin: Origin::STREAM,
    };
    let read = match std::fs::read_dir(&dir) {
        Ok(read) => read,
        Err(e) => {
            let msg = format!("cannot read the directory {}: {}", dir.display(), os(&e));
            out.push(unreadable(msg));
            return 0;
        }
    };
    let mut names = Vec::new();
    for entry in read {
        match entry {
            Ok(d) => names.push(d.file_name()),
            Err(e) => {
                let msg = format!("cannot read the directory {}: {}", dir.display(), os(&e));
                out.push(unreadable(msg));
            }
        }
    }
    names.sort();
    let mut total = 0;
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let (kind, origin) = match examine(&path) {
            Ok((kind, origin, len)) => {
                total += len;
                (kind, origin)
            }
            Err(msg) => (Kind::Unreadable(msg), Origin::STREAM),
        };
        let is_dir = matches!(kind, Kind::Dir);
        out.push(Entry {
            rel: rel.clone(),
            kind,
            origin,
        });
        if is_dir {
            total += walk(root, &rel, out);
        }
    }
    total
}

/// What `path` is (not following a symbolic link), its permission facts, and its length
/// when it is a file: one `lstat`.
fn examine(path: &Path) -> Result<(Kind, Origin, u64), String> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot open {}: {}", path.display(), os(&e)))?;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path)
            .map_err(|e| format!("cannot read the link {}: {}", path.display(), os(&e)))?;
        Kind::Link(target)
    } else {
        let ifmt: libc::mode_t = if ft.is_fifo() {
            libc::S_IFIFO
        } else if ft.is_socket() {
            libc::S_IFSOCK
        } else if ft.is_block_device() {
            libc::S_IFBLK
        } else {
            libc::S_IFCHR
        };
        Kind::Special {
            ifmt: ifmt as u32,
            rdev: meta.rdev(),
        }
    };
    let origin = Origin {
        mode: meta.permissions().mode() & 0o7777,
    };
    let len = if ft.is_file() { meta.len() } else { 0 };
    Ok((kind, origin, len))
}

async fn copy_entries(
    ctx: &Ctx<'_>,
    tally: &std::sync::Arc<Tally>,
    root: &Path,
    root_origin: Origin,
    entries: &[Entry],
) -> anyhow::Result<Outcome> {
    let mut made = Vec::new();
    let mut failed = 0usize;
    let mut report = |msg: String| {
        eprintln!("ringport: {msg}");
        failed += 1;
    };
    match make_dir(root, root_origin).await {
        Ok(Some(dir)) => made.push(dir),
        Ok(None) => {}
        Err(e) => return Err(e), // nothing can go in it
    }
    // The directories that could not be made: nothing under them is tried.
    let mut lost: Vec<&Path> = Vec::new();
    for e in entries {
        if ctx.stop.interrupted() {
            return Ok(ctx.stop.outcome(String::new()));
        }
        if lost.iter().any(|d| e.rel.starts_with(d)) {
            continue;
        }
        let (from, to) = (ctx.args.src.join(&e.rel), root.join(&e.rel));
        let res = match &e.kind {
            Kind::Dir => match make_dir(&to, e.origin).await {
                Ok(dir) => {
                    made.extend(dir);
                    Ok(())
                }
                Err(err) => {
                    lost.push(&e.rel);
                    Err(err)
                }
            },
            Kind::File => {
                let target = Target::lookup(to).await;
                match copy_to(ctx, tally, Some(&from), &target, e.origin).await {
                    Ok(Outcome::Done) => Ok(()),
                    Ok(stopped) => return Ok(stopped),
                    Err(err) => Err(err),
                }
            }
            Kind::Link(target) => link(target, &to).await,
            Kind::Special { ifmt, rdev } => special(&to, *ifmt, *rdev, e.origin).await,
            Kind::Unreadable(msg) => Err(anyhow!("{msg}")),
        };
        if let Err(err) = res {
            report(format!("{err:#}"));
        }
    }
    // Deepest first, so that a directory made read-only does not stop its parent's chmod.
    for dir in made.iter().rev() {
        if let Err(err) = settle_dir(dir, ctx.umask).await {
            report(format!("{err:#}"));
        }
    }
    match failed {
        0 => Ok(Outcome::Done),
        1 => bail!("1 entry of the tree was not copied (see above)"),
        n => bail!("{n} entries of the tree were not copied (see above)"),
    }
}

/// Makes a directory (owner-only until its final mode is set), or accepts one that is there
/// (which keeps its mode). `Some` when this command made it.
async fn make_dir(path: &Path, origin: Origin) -> anyhow::Result<Option<MadeDir>> {
    let fail =
        |e: &std::io::Error| anyhow!("cannot create the directory {}: {}", path.display(), os(e));
    match ringport::fs::create_dir_mode(path, 0o700).await {
        Ok(()) => Ok(Some(MadeDir {
            path: path.to_path_buf(),
            origin,
        })),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match ringport::fs::metadata(path).await {
                Ok(m) if m.is_dir() => Ok(None),
                _ => Err(fail(&e)),
            }
        }
        Err(e) => Err(fail(&e)),
    }
}

/// Gives a directory this command made its final mode: the source's minus the umask (the
/// set-group-ID bit it inherited from its parent kept), through an fd that cannot be a link.
async fn settle_dir(dir: &MadeDir, umask: u32) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| {
        anyhow!(
            "cannot set the permissions of {}: {}",
            dir.path.display(),
            os(&e)
        )
    };
    let fd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(&dir.path)
        .await
        .map_err(fail)?;
    let meta = fd.metadata().await.map_err(fail)?;
    let sgid: libc::mode_t = libc::S_ISGID;
    let inherited = meta.mode() & sgid as u32;
    let mode = dir.origin.final_mode(umask) | inherited;
    fd.set_permissions(std::fs::Permissions::from_mode(mode))
        .await
        .map_err(fail)
}

/// Recreates a symbolic link, replacing a link or file a previous copy left there.
async fn link(target: &Path, at: &Path) -> anyhow::Result<()> {
    let (t, a) = (target.to_path_buf(), at.to_path_buf());
    replace(at, "link", move || std::os::unix::fs::symlink(&t, &a)).await
}

/// Recreates a FIFO, socket or device file (`mknod`), replacing what a previous copy left.
async fn special(at: &Path, ifmt: u32, rdev: u64, origin: Origin) -> anyhow::Result<()> {
    let path = std::ffi::CString::new(at.as_os_str().as_bytes())
        .map_err(|_| anyhow!("{} contains a NUL byte", at.display()))?;
    let mode = ifmt | (origin.create_mode() & 0o777);
    replace(at, "file", move || {
        // SAFETY: mknod with a NUL-terminated path that lives across the call.
        let rc = unsafe { libc::mknod(path.as_ptr(), mode as libc::mode_t, rdev as libc::dev_t) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    })
    .await
}

/// Runs `make` on the blocking pool (no ring operation makes links or nodes); when the name
/// is taken by anything but a directory, removes it and runs `make` again.
async fn replace(
    at: &Path,
    what: &str,
    make: impl Fn() -> std::io::Result<()> + Send + Clone + 'static,
) -> anyhow::Result<()> {
    let fail = |e: &std::io::Error| anyhow!("cannot create the {what} {}: {}", at.display(), os(e));
    let first = make.clone();
    let res = ringport::spawn_blocking(first)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    match res {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let there = ringport::fs::symlink_metadata(at).await;
            if there.as_ref().is_ok_and(Metadata::is_dir) {
                bail!(
                    "cannot overwrite the directory {} with a {what}",
                    at.display()
                );
            }
            ringport::fs::remove_file(at).await.map_err(|e| fail(&e))?;
            ringport::spawn_blocking(make)
                .await
                .map_err(|e| anyhow!("{e}"))?
                .map_err(|e| fail(&e))
        }
        other => other.map_err(|e| fail(&e)),
    }
}
