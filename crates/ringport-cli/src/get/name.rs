//! The output's name: from `-o`, or from `Content-Disposition` (with `-O`) or the URL's last
//! path segment, sanitised so that a server can never choose a path: no separators, no
//! `.`/`..`, no leading dot, no control characters, at most 242 bytes (255 less `.part.journal`).

/// The file name a URL path suggests (its last segment, percent-decoded).
pub fn from_url_path(path: &str) -> Option<String> {
    let last = path.rsplit('/').next().unwrap_or_default();
    sanitise(&percent_decode(last))
}

/// The file name a `Content-Disposition` value suggests: `filename*=UTF-8''…` first, then
/// `filename=`.
pub fn from_content_disposition(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in split_params(value) {
        let Some((key, val)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let val = val.trim();
        if key == "filename*" {
            let lower = val.to_ascii_lowercase();
            if let Some(rest) = lower.strip_prefix("utf-8''") {
                let encoded = &val[val.len() - rest.len()..];
                extended = Some(percent_decode(encoded));
            }
        } else if key == "filename" {
            plain = Some(unquote(val));
        }
    }
    extended
        .and_then(|n| sanitise(&n))
        .or_else(|| plain.and_then(|n| sanitise(&n)))
}

/// `;`-separated parameters, honouring quoted strings.
fn split_params(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A safe file name, or `None` when nothing usable is left.
pub fn sanitise(name: &str) -> Option<String> {
    // Only the last component counts: a name with separators keeps what follows the last.
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_string();
    if cleaned.is_empty() {
        return None;
    }
    if cleaned.len() <= MAX_NAME {
        return Some(cleaned);
    }
    // Too long: the start of the name, then its extension (if it has a short one).
    let ext = cleaned
        .rfind('.')
        .map(|i| &cleaned[i..])
        .filter(|e| e.len() <= 16)
        .unwrap_or("");
    let mut end = MAX_NAME - ext.len();
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}{ext}", &cleaned[..end]))
}

/// The longest name kept: 255 bytes (a file name's limit on Linux, macOS and Windows) less
/// the `.part.journal` that sits beside it while it downloads.
const MAX_NAME: usize = 255 - ".part.journal".len();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_directory() {
        assert_eq!(sanitise("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(sanitise("..\\..\\x.exe").as_deref(), Some("x.exe"));
        assert_eq!(sanitise(".bashrc").as_deref(), Some("bashrc"));
        assert_eq!(sanitise("a\u{0}b\nc").as_deref(), Some("abc"));
        assert_eq!(sanitise(".."), None);
        let long = sanitise(&format!("{}.tar.gz", "L".repeat(5000))).unwrap();
        assert_eq!(long.len(), 242);
        assert!(long.starts_with("LLL") && long.ends_with("L.gz"), "{long}");
        let snowmen = sanitise(&"\u{2603}".repeat(200)).unwrap();
        assert!(snowmen.len() <= 242 && snowmen.chars().all(|c| c == '\u{2603}'));
        assert_eq!(sanitise("/"), None);
        // Cut on a character boundary: 121 two-byte characters.
        assert_eq!(sanitise(&"é".repeat(200)).map(|s| s.len()), Some(242));
    }

    #[test]
    fn names_from_urls_and_content_disposition() {
        assert_eq!(
            from_url_path("/dl/big%20file.iso").as_deref(),
            Some("big file.iso")
        );
        assert_eq!(from_url_path("/dl/%2e%2e%2fx").as_deref(), Some("x"));
        assert_eq!(from_url_path("/"), None);
        let cd = from_content_disposition;
        assert_eq!(
            cd("attachment; filename=\"a;b.txt\"").as_deref(),
            Some("a;b.txt")
        );
        assert_eq!(
            cd("attachment; filename=plain.bin").as_deref(),
            Some("plain.bin")
        );
        assert_eq!(
            cd("attachment; filename=\"x.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt").as_deref(),
            Some("€ rates.txt")
        );
        assert_eq!(
            cd("attachment; filename=\"../../evil\"").as_deref(),
            Some("evil")
        );
        assert_eq!(cd("inline"), None);
    }
}
