//! From a URL path to a file under the root: percent-decoding, `..` refused, and the
//! canonical path checked to stay inside the root (which catches symlinks that leave it).

use http::StatusCode;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Decodes `%XX` escapes. `None` for a broken escape.
pub(crate) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let digit = |b: u8| (b as char).to_digit(16);
            out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Escapes every byte but the unreserved ones, for a link to a file named `name`.
pub(crate) fn percent_encode(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The relative path a URL path names: its decoded segments, with empty and `.` segments
/// dropped. A `..` segment (however it was spelled: `..`, `%2e%2e`, `%2E.`) is 403; a NUL or
/// a broken escape is 400. Decoding happens before splitting, so `%2F` separates too, and an
/// absolute path such as `//etc/passwd` is only ever a path under the root.
pub(crate) fn relative(url_path: &str) -> Result<PathBuf, StatusCode> {
    let decoded = percent_decode(url_path).ok_or(StatusCode::BAD_REQUEST)?;
    if decoded.contains(&0) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let mut rel = PathBuf::new();
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return Err(StatusCode::FORBIDDEN),
            _ => rel.push(OsStr::from_bytes(segment)),
        }
    }
    Ok(rel)
}

/// Canonicalizes `full` on the blocking pool: `canonicalize` follows every symlink, and the
/// result must still be inside `root` (itself canonical), or the answer is 403.
pub(crate) async fn resolve(root: &Path, full: PathBuf) -> Result<PathBuf, StatusCode> {
    let canonical = ringport::spawn_blocking(move || std::fs::canonicalize(full))
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .map_err(|e| io_status(&e))?;
    if !canonical.starts_with(root) {
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(canonical)
}

/// The status for a failed file-system call.
pub(crate) fn io_status(e: &io::Error) -> StatusCode {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidInput => {
            StatusCode::NOT_FOUND
        }
        io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        // A symlink loop, or a name too long for the file system.
        _ if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENAMETOOLONG)) => {
            StatusCode::NOT_FOUND
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
