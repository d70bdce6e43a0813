//! From a URL path to a path beneath the root, lexically: percent-decoding, `..` refused,
//! hidden names refused. Whether the path stays inside the root on disk (symbolic links) is
//! the kernel's to say, when the file is opened (`RESOLVE_BENEATH`).

use http::StatusCode;
use std::io;

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

/// A URL path as a path beneath the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rel {
    /// The decoded segments joined with `/`; empty for the root itself.
    pub path: Vec<u8>,
    /// The URL path ended with `/` (it names a directory).
    pub slash: bool,
}

/// Whether a name is hidden (a dotfile), served only with `ServeDir::hidden(true)`.
/// `.well-known` (RFC 8615: ACME challenges, security.txt) is not.
pub(crate) fn is_hidden(name: &[u8]) -> bool {
    name.first() == Some(&b'.') && name != b".well-known"
}

/// The path a URL path names: its decoded segments, with empty and `.` segments dropped. A
/// `..` segment (however it was spelled: `..`, `%2e%2e`, `%2E.`) is 403; a NUL or a broken
/// escape is 400; a hidden segment (`.git`, `.env`) is 404 unless `hidden`. Decoding happens
/// before splitting, so `%2F` separates too, and an absolute path such as `//etc/passwd` is
/// only ever a path under the root.
pub(crate) fn relative(url_path: &str, hidden: bool) -> Result<Rel, StatusCode> {
    let owned;
    let decoded: &[u8] = if url_path.contains('%') {
        owned = percent_decode(url_path).ok_or(StatusCode::BAD_REQUEST)?;
        &owned
    } else {
        url_path.as_bytes()
    };
    if decoded.contains(&0) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let mut path = Vec::with_capacity(decoded.len());
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => return Err(StatusCode::FORBIDDEN),
            _ if !hidden && is_hidden(segment) => return Err(StatusCode::NOT_FOUND),
            _ => {
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(segment);
            }
        }
    }
    Ok(Rel {
        path,
        slash: decoded.ends_with(b"/"),
    })
}

/// The status for a failed open (or other file-system call).
pub(crate) fn io_status(e: &io::Error) -> StatusCode {
    if let Some(status) = super::sys::os_status(e) {
        return status;
    }
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidInput => {
            StatusCode::NOT_FOUND
        }
        io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_paths_beneath_the_root() {
        let rel = |p, hidden| relative(p, hidden);
        assert_eq!(rel("/a/b.txt", false).unwrap().path, b"a/b.txt");
        assert_eq!(rel("//a/./b/", false).unwrap().path, b"a/b");
        assert!(rel("/a/", false).unwrap().slash);
        assert!(!rel("/a", false).unwrap().slash);
        assert_eq!(rel("/", false).unwrap().path, b"");
        assert_eq!(rel("/a%2Fb", false).unwrap().path, b"a/b");
        assert_eq!(rel("/../x", false), Err(StatusCode::FORBIDDEN));
        assert_eq!(rel("/a/%2e%2E/x", false), Err(StatusCode::FORBIDDEN));
        assert_eq!(rel("/a%00", false), Err(StatusCode::BAD_REQUEST));
        assert_eq!(rel("/%zz", false), Err(StatusCode::BAD_REQUEST));
        assert_eq!(rel("/.git/config", false), Err(StatusCode::NOT_FOUND));
        assert_eq!(rel("/a/%2Eenv", false), Err(StatusCode::NOT_FOUND));
        assert_eq!(rel("/.git/config", true).unwrap().path, b".git/config");
        assert_eq!(
            rel("/.well-known/acme", false).unwrap().path,
            b".well-known/acme"
        );
    }
}
