//! Fuzzes the file server's `Range` and conditional header parsing (`files/cond.rs`, compiled
//! in place): `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`,
//! `If-Range` and `Range` against a file's validators. Besides "never panics":
//!
//! - a range part lies inside the file (`start <= end < len`), and a file of 0 bytes never
//!   gets one;
//! - a well-formed single `bytes=first-last` or `bytes=-suffix` range (no `If-Range`) is what
//!   a reference computation says: inside the file, clipped to its end, unsatisfiable past it
//!   (a suffix on an empty file: the whole, empty file);
//! - `If-Match: *` never fails the precondition, `If-None-Match: *` always answers 304.
//!
//! The input: 8 bytes of file length, 4 of modification time, then `\n`-separated fields in a
//! fixed order (etag, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since,
//! If-Range, Range); an empty field is an absent header.

#![no_main]

#[path = "../../src/files/cond.rs"]
#[allow(dead_code)]
mod cond;

use cond::{Part, Validators};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime};

const NAMES: [HeaderName; 6] = [
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::IF_RANGE,
    header::RANGE,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    // Small lengths matter most (0, 1, the edges): take the length modulo a few sizes.
    let raw = u64::from_le_bytes(data[..8].try_into().unwrap());
    let len = match raw % 4 {
        0 => raw % 4,
        1 => raw % 100,
        2 => raw % 100_000,
        _ => raw,
    };
    let secs = u32::from_le_bytes(data[8..12].try_into().unwrap());
    let modified = (secs != 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(secs.into()));
    let mut fields = data[12..].split(|&b| b == b'\n');
    let etag_bytes = fields.next().unwrap_or_default();
    let etag = std::str::from_utf8(etag_bytes).unwrap_or("\"x\"");
    let mut headers = HeaderMap::new();
    for name in NAMES {
        let Some(field) = fields.next() else { break };
        if field.is_empty() {
            continue;
        }
        if let Ok(v) = HeaderValue::from_bytes(field) {
            headers.insert(name, v);
        }
    }
    let v = Validators {
        etag,
        modified,
        len,
    };
    let failed = v.precondition_failed(&headers);
    let not_modified = v.not_modified(&headers);
    let part = v.part(&headers);
    if let Part::Range { start, end } = part {
        assert!(
            start <= end && end < len,
            "{part:?} outside a file of {len} bytes"
        );
    }
    if headers.get(header::IF_MATCH).is_some_and(|m| m == "*") {
        assert!(!failed);
    }
    if headers.get(header::IF_NONE_MATCH).is_some_and(|m| m == "*") {
        assert!(not_modified);
    }
    // The reference for the plain forms, when no If-Range is there.
    if headers.get(header::IF_RANGE).is_some() {
        return;
    }
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
    else {
        return;
    };
    let Some((a, b)) = spec.split_once('-') else {
        return;
    };
    let digits = |s: &str| !s.is_empty() && s.len() < 19 && s.bytes().all(|c| c.is_ascii_digit());
    if digits(a) && digits(b) {
        let (first, last): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        let want = if last < first {
            Part::Whole
        } else if first >= len {
            Part::Unsatisfiable
        } else {
            Part::Range {
                start: first,
                end: last.min(len - 1),
            }
        };
        assert_eq!(part, want, "bytes={spec} on {len} bytes");
    } else if a.is_empty() && digits(b) {
        let suffix: u64 = b.parse().unwrap();
        let want = if suffix == 0 {
            Part::Unsatisfiable
        } else if len == 0 {
            // The one satisfiable range on an empty file (RFC 9110 §14.1.1): served whole.
            Part::Whole
        } else {
            Part::Range {
                start: len.saturating_sub(suffix),
                end: len - 1,
            }
        };
        assert_eq!(part, want, "bytes=-{b} on {len} bytes");
    }
});
