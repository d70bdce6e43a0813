//! The destination of a copy, as cp treats it: looked up once; an existing file is truncated
//! and keeps its mode, a new one is created (`O_EXCL`) with the source's permission bits minus
//! the umask; a dangling symbolic link is refused; the set-user-ID and set-group-ID bits are
//! never copied (as cp without -p: not even when the copy's owner is the source's).

use super::{os, sys, Args};
use anyhow::{anyhow, bail};
use ringport::fs::{File, Metadata, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The set-user-ID and set-group-ID bits.
const SUID_SGID: u32 = 0o6000;

/// The permission facts of what is copied: its mode bits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin {
    pub mode: u32,
}

impl Origin {
    /// A stream (standard input): a new file gets 0o666 minus the umask, as a shell's `>`.
    pub const STREAM: Origin = Origin { mode: 0o666 };

    pub fn of(meta: &Metadata) -> Origin {
        Origin {
            mode: sys::mode_of(meta),
        }
    }

    /// The mode to create with: never set-user-ID or set-group-ID.
    pub fn create_mode(self) -> u32 {
        self.mode & !SUID_SGID
    }

    /// The final mode of a new file or directory: the source's bits minus the umask, without
    /// set-user-ID and set-group-ID. cp without -p drops them whoever owns the copy (a copy
    /// of root's own set-user-ID file is 0755 too), and so do we: a copy is a new program,
    /// and nothing about it was vetted as one.
    #[cfg_attr(windows, allow(dead_code))] // the tree copy's, which Windows lacks yet
    pub fn final_mode(self, umask: u32) -> u32 {
        self.mode & !umask & !SUID_SGID
    }
}

/// Where a single-file copy writes.
pub(super) enum Dest {
    Stdout,
    Path(Box<Target>),
}

impl Dest {
    /// `-`, or the path (inside it when it names a directory).
    pub async fn find(args: &Args) -> anyhow::Result<Dest> {
        if args.dst.as_os_str() == "-" {
            return Ok(Dest::Stdout);
        }
        let found = ringport::fs::metadata(&args.dst).await;
        match found {
            Ok(m) if m.is_dir() => match args.src.file_name() {
                Some(name) if args.src.as_os_str() != "-" => Ok(Dest::Path(Box::new(
                    Target::lookup(args.dst.join(name)).await,
                ))),
                _ => bail!(
                    "{} is a directory: name the file to write standard input to",
                    args.dst.display()
                ),
            },
            found => Ok(Dest::Path(Box::new(Target::with(args.dst.clone(), found)))),
        }
    }
}

/// A destination path and what is there now.
#[derive(Debug)]
pub(super) struct Target {
    pub path: PathBuf,
    /// What the path names, following symbolic links; `None` when nothing is there (or a
    /// symbolic link to nothing, which [`open`] finds out and refuses).
    pub existing: Option<Metadata>,
}

impl Target {
    pub async fn lookup(path: PathBuf) -> Target {
        let found = ringport::fs::metadata(&path).await;
        Target::with(path, found)
    }

    /// From the result of a `metadata` (following links) already made.
    pub fn with(path: PathBuf, found: std::io::Result<Metadata>) -> Target {
        Target {
            path,
            existing: found.ok(),
        }
    }

    /// Refuses to copy a file onto itself (the truncation would destroy it).
    pub fn check_not(&self, src: &Path, src_meta: &Metadata) -> anyhow::Result<()> {
        if let Some(m) = &self.existing {
            if sys::same_file(m, src_meta) {
                bail!(
                    "{} and {} are the same file",
                    src.display(),
                    self.path.display()
                );
            }
        }
        Ok(())
    }
}

/// The destination, open for writing.
#[derive(Debug)]
pub(super) struct Opened {
    pub file: File,
    /// A regular file (removed when the copy fails, unless `--keep-partial`).
    pub regular: bool,
}

/// Opens `t` as cp does: an existing file truncated (through a symbolic link to it), else a
/// new one created exclusively, never through a dangling symbolic link.
pub(super) async fn open(t: &Target, origin: Origin, direct: bool) -> anyhow::Result<Opened> {
    if let Some(m) = &t.existing {
        match open_existing(&t.path, direct).await {
            Ok(file) => {
                return Ok(Opened {
                    file,
                    regular: m.is_file(),
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {} // removed since: create it
            Err(e) => return Err(create_error(&t.path, &e)),
        }
    }
    let mut opts = OpenOptions::new();
    let created = sys::set_create_mode(&mut opts, origin.create_mode())
        .write(true)
        .create_new(true)
        .direct(direct)
        .open(&t.path)
        .await;
    match created {
        Ok(file) => Ok(Opened {
            file,
            regular: true,
        }),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            // A symbolic link (O_EXCL never follows one: a dangling one lands here), or a
            // file made since the lookup.
            let link = ringport::fs::symlink_metadata(&t.path).await;
            let target = ringport::fs::metadata(&t.path).await;
            match (link, target) {
                (Ok(l), Err(_)) if l.is_symlink() => Err(dangling(&t.path)),
                (_, Ok(m)) => match open_existing(&t.path, direct).await {
                    Ok(file) => Ok(Opened {
                        file,
                        regular: m.is_file(),
                    }),
                    Err(e) => Err(create_error(&t.path, &e)),
                },
                _ => Err(create_error(&t.path, &e)),
            }
        }
        Err(e) => Err(create_error(&t.path, &e)),
    }
}

async fn open_existing(path: &Path, direct: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .direct(direct)
        .open(path)
        .await
}

fn dangling(path: &Path) -> anyhow::Error {
    anyhow!("not writing through dangling symlink {}", path.display())
}

/// "cannot create PATH: ...", naming a missing parent directory.
pub(super) fn create_error(path: &Path, e: &std::io::Error) -> anyhow::Error {
    if e.kind() == ErrorKind::NotFound {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            return anyhow!(
                "cannot create {}: the directory {} does not exist",
                path.display(),
                dir.display()
            );
        }
    }
    anyhow!("cannot create {}: {}", path.display(), os(e))
}
