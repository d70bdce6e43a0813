//! Precompressed siblings: which encodings a client accepts (`Accept-Encoding`), and the
//! names looked for next to a file.

use http::header::{self, HeaderMap};

/// The precompressed siblings looked for, best first: (suffix, `Content-Encoding`).
pub(crate) const ENCODINGS: [(&str, &str); 3] = [(".br", "br"), (".zst", "zstd"), (".gz", "gzip")];

/// The q-values of `br`, `zstd` and `gzip` in `Accept-Encoding` (0 when not accepted; `*`
/// stands for the ones not named).
pub(crate) fn accepted_encodings(headers: &HeaderMap) -> [f32; 3] {
    let mut q = [0.0f32; 3];
    let mut named = [false; 3];
    let mut star = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let index = match coding.to_ascii_lowercase().as_str() {
                "br" => Some(0),
                "zstd" => Some(1),
                "gzip" | "x-gzip" => Some(2),
                "*" => {
                    star = Some(weight);
                    None
                }
                _ => None,
            };
            if let Some(i) = index {
                q[i] = weight;
                named[i] = true;
            }
        }
    }
    if let Some(w) = star {
        for i in 0..3 {
            if !named[i] {
                q[i] = w;
            }
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn q(value: &str) -> [f32; 3] {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        accepted_encodings(&h)
    }

    #[test]
    fn q_values_and_the_star() {
        assert_eq!(q("gzip, deflate, br"), [1.0, 0.0, 1.0]);
        assert_eq!(q("br;q=0, gzip;q=0.5"), [0.0, 0.0, 0.5]);
        assert_eq!(q("*"), [1.0, 1.0, 1.0]);
        assert_eq!(q("zstd, *;q=0.1"), [0.1, 1.0, 0.1]);
        assert_eq!(q("identity"), [0.0, 0.0, 0.0]);
        assert_eq!(q("X-GZIP"), [0.0, 0.0, 1.0]);
    }
}
