//! The little JSON the command prints (`info --json`, `copy --json`): strings escaped as JSON
//! wants, not as Rust's `{:?}` does.

use std::fmt::Write as _;

/// `s` as a JSON string: quoted, with quotes, backslashes and control characters escaped.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_strings_are_escaped() {
        let s = super::string("a \"b\"\\c\nd\u{1}");
        assert_eq!(s, r#""a \"b\"\\c\nd\u0001""#);
    }
}
