//! Directory listings as HTML: a table of name, size, modification date and type,
//! directories first, then names in natural, case-insensitive order. One small inline style
//! sheet (light and dark), no script, nothing fetched from elsewhere. Only entries the server
//! would serve are listed: hidden names (unless shown), dangling links, links out of the
//! root, FIFOs, sockets, devices and unreadable files are left out.

use super::mime;
use super::path::percent_encode;
use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

/// What `readdir` says about a name, before anything is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirentKind {
    File,
    Dir,
    /// A symbolic link, or a file system that does not say: open it to find out.
    Unknown,
    /// A FIFO, socket or device: never served, never listed.
    Special,
}

/// One row of the table.
#[derive(Debug)]
pub(crate) struct Row {
    pub name: Vec<u8>,
    pub is_dir: bool,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// Natural, case-insensitive order: `file2` before `file10`, `B` beside `b`; exact bytes
/// break ties, so the order is total.
pub(crate) fn natural(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (x, y) = (trim_zeros(&a[si..i]), trim_zeros(&b[sj..j]));
            let by_value = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if by_value != Ordering::Equal {
                return by_value;
            }
            continue;
        }
        let (x, y) = (a[i].to_ascii_lowercase(), b[j].to_ascii_lowercase());
        if x != y {
            return x.cmp(&y);
        }
        i += 1;
        j += 1;
    }
    (a.len() - i).cmp(&(b.len() - j)).then_with(|| a.cmp(b))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let first = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[first..]
}

/// The page for the directory shown at the decoded URL path `shown` (ending in `/`).
pub(crate) fn page(mut rows: Vec<Row>, shown: &str, at_root: bool) -> String {
    rows.sort_by(|a, b| {
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| natural(&a.name, &b.name))
    });
    let title = escape(shown);
    let mut html = String::with_capacity(1024 + rows.len() * 200);
    html.push_str(HEAD_START);
    html.push_str(&format!("<title>Index of {title}</title>\n"));
    html.push_str(STYLE);
    html.push_str(&format!(
        "</head>\n<body>\n<h1>Index of {title}</h1>\n<table>\n<thead><tr><th class=\"n\">Name</th>\
         <th class=\"s\">Size</th><th class=\"m\">Modified</th><th class=\"t\">Type</th></tr></thead>\n<tbody>\n"
    ));
    if !at_root {
        html.push_str(
            "<tr class=\"up\"><td class=\"n\"><a href=\"../\">../</a></td><td class=\"s\"></td>\
             <td class=\"m\"></td><td class=\"t\">Parent folder</td></tr>\n",
        );
    }
    for row in &rows {
        let slash = if row.is_dir { "/" } else { "" };
        let href = percent_encode(&row.name);
        let name = escape(&String::from_utf8_lossy(&row.name));
        let (size, size_title) = if row.is_dir {
            ("—".to_string(), String::new())
        } else {
            (human_size(row.len), format!(" title=\"{} bytes\"", row.len))
        };
        let modified = row.modified.map_or(String::new(), date);
        let kind = if row.is_dir {
            "Folder"
        } else {
            mime::kind(&row.name)
        };
        let class = if row.is_dir { "d" } else { "f" };
        html.push_str(&format!(
            "<tr class=\"{class}\"><td class=\"n\"><a href=\"{href}{slash}\">{name}{slash}</a></td>\
             <td class=\"s\"{size_title}>{size}</td><td class=\"m\">{modified}</td>\
             <td class=\"t\">{kind}</td></tr>\n"
        ));
    }
    html.push_str("</tbody>\n</table>\n");
    let count = rows.len();
    let noun = if count == 1 { "entry" } else { "entries" };
    html.push_str(&format!(
        "<footer>{count} {noun} · served by ringport</footer>\n</body>\n</html>\n"
    ));
    html
}

const HEAD_START: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"color-scheme\" content=\"light dark\">\n";

const STYLE: &str = "<style>
:root { --fg: #1f2328; --muted: #656d76; --bg: #ffffff; --line: #d8dee4; --head: #f6f8fa;
  --link: #0969da; --hover: #f3f6fa; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #8d96a0; --bg: #0d1117; --line: #30363d; --head: #161b22;
    --link: #4493f8; --hover: #161b22; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 64rem; padding: 1.5rem 1rem 3rem; color: var(--fg);
  background: var(--bg); font: 15px/1.5 system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif; }
h1 { font-size: 1.25rem; font-weight: 600; margin: 0 0 1rem; word-break: break-all; }
table { width: 100%; border-collapse: collapse; border: 1px solid var(--line); border-radius: 6px; }
th, td { padding: .45rem .75rem; text-align: left; border-bottom: 1px solid var(--line); }
th { background: var(--head); font-weight: 600; font-size: .85rem; color: var(--muted); }
tbody tr:hover { background: var(--hover); }
tbody tr:last-child td { border-bottom: 0; }
td.n { word-break: break-all; }
td.s, th.s { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.m, td.t { white-space: nowrap; color: var(--muted); font-variant-numeric: tabular-nums; }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
tr.d a { font-weight: 600; }
footer { margin-top: 1rem; font-size: .8rem; color: var(--muted); }
@media (max-width: 40rem) { td.t, th.t, td.m, th.m { display: none; } }
</style>
";

/// `1.2 KiB`, `340 B`, `4.0 GiB`.
pub(crate) fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// `2026-11-22 00:56` (UTC).
pub(crate) fn date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn natural_order_is_case_insensitive_and_numeric() {
        let mut names: Vec<&[u8]> = vec![
            b"file10", b"File2", b"file1", b"b", b"A", b"a", b"file02", b"z9", b"z10",
        ];
        names.sort_by(|a, b| natural(a, b));
        let want: Vec<&[u8]> = vec![
            b"A", b"a", b"b", b"file1", b"File2", b"file02", b"file10", b"z9", b"z10",
        ];
        assert_eq!(names, want);
    }

    #[test]
    fn sizes_and_dates_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(20 * 1024 * 1024), "20 MiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
        assert_eq!(date(UNIX_EPOCH), "1970-01-01 00:00");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_308_960); // 2026-11-22 00:56 UTC
        assert_eq!(date(t), "2026-11-22 00:56");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
