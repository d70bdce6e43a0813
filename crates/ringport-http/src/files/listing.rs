//! Directory listings as HTML: names escaped for the page, percent-encoded in links.

use super::path::percent_encode;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// One entry of a directory.
struct Entry {
    name: OsString,
    is_dir: bool,
}

/// Reads `dir` on the blocking pool (there is no ring operation for reading directories),
/// directories first, then by name.
async fn entries(dir: PathBuf) -> io::Result<Vec<Entry>> {
    let read = move || -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            // Follow symlinks for the kind; a dangling one lists as a file.
            let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
            out.push(Entry {
                name: entry.file_name(),
                is_dir,
            });
        }
        out.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    };
    ringport::spawn_blocking(read)
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
}

/// The HTML page listing `dir`, shown at the decoded URL path `shown` (a link to the parent
/// unless `at_root`).
pub(crate) async fn page(dir: PathBuf, shown: &str, at_root: bool) -> io::Result<String> {
    let entries = entries(dir).await?;
    let title = escape(shown);
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Index of {title}</title>\n\
         </head>\n<body>\n<h1>Index of {title}</h1>\n<ul>\n"
    );
    if !at_root {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for entry in entries {
        let slash = if entry.is_dir { "/" } else { "" };
        let href = percent_encode(entry.name.as_bytes());
        let name = escape(&entry.name.to_string_lossy());
        html.push_str(&format!(
            "<li><a href=\"{href}{slash}\">{name}{slash}</a></li>\n"
        ));
    }
    html.push_str("</ul>\n</body>\n</html>\n");
    Ok(html)
}

/// Escapes text for HTML element content and quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
