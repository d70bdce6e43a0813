//! `ringport copy -r` on Windows: not there yet (the tree walk, links and special files are
//! written for Unix); refused with a one-line error.

use super::{Ctx, Outcome};
use anyhow::bail;
use ringport::fs::Metadata;

/// Refuses: a directory tree cannot be copied on Windows yet.
pub(super) async fn copy(ctx: &Ctx<'_>, _meta: &Metadata) -> anyhow::Result<Outcome> {
    bail!(
        "{} is a directory: copying a tree (-r) is not supported on Windows yet",
        ctx.args.src.display()
    )
}
