//! Validators and conditions for a file, after RFC 9110 sections 13-14: `If-Match` and
//! `If-Unmodified-Since` (412), `If-None-Match` and `If-Modified-Since` (304), and a single
//! `Range` (with `If-Range`).

use http::header::{self, HeaderMap};
use std::time::SystemTime;

/// What identifies a version of a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validators<'a> {
    /// A strong tag (quoted).
    pub etag: &'a str,
    /// The modification time, whole seconds (what an HTTP date can carry).
    pub modified: Option<SystemTime>,
    pub len: u64,
}

/// Which part of the file to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// All of it (200).
    Whole,
    /// Bytes `start..=end` (206).
    Range { start: u64, end: u64 },
    /// A range that misses the file (416).
    Unsatisfiable,
}

impl Validators<'_> {
    /// `If-Match` (strong comparison), or else `If-Unmodified-Since`: whether the request's
    /// precondition fails (412).
    pub fn precondition_failed(&self, headers: &HeaderMap) -> bool {
        if let Some(im) = headers.get(header::IF_MATCH) {
            let Ok(im) = im.to_str() else {
                return true;
            };
            let matches = im
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag == self.etag);
            return !matches;
        }
        let since = headers
            .get(header::IF_UNMODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        matches!((since, self.modified), (Some(since), Some(m)) if m > since)
    }

    /// `If-None-Match` (weak comparison), or else `If-Modified-Since`: whether to answer 304.
    pub fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
            let Ok(inm) = inm.to_str() else {
                return false;
            };
            return inm
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag);
        }
        let since = headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok());
        matches!((since, self.modified), (Some(since), Some(m)) if m <= since)
    }

    /// The part a `Range` header asks for. Only one `bytes` range is honoured; several (in one
    /// field or in two `Range` fields), other units, bad syntax, or an `If-Range` that no
    /// longer matches get the whole file.
    pub fn part(&self, headers: &HeaderMap) -> Part {
        let mut fields = headers.get_all(header::RANGE).iter();
        let (Some(range), None) = (fields.next(), fields.next()) else {
            return Part::Whole;
        };
        let Ok(range) = range.to_str() else {
            return Part::Whole;
        };
        if !self.if_range_holds(headers) {
            return Part::Whole;
        }
        let Some(spec) = range.trim().strip_prefix("bytes=") else {
            return Part::Whole;
        };
        if spec.contains(',') {
            return Part::Whole;
        }
        parse_range(spec.trim(), self.len).unwrap_or(Part::Whole)
    }

    /// `If-Range`: the strong tag, or exactly the modification date.
    fn if_range_holds(&self, headers: &HeaderMap) -> bool {
        let Some(cond) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
            return true;
        };
        let cond = cond.trim();
        if cond.starts_with('"') {
            return cond == self.etag;
        }
        let date = httpdate::parse_http_date(cond).ok();
        date.is_some() && date == self.modified
    }
}

/// `first-last`, `first-` or `-suffix` against a file of `len` bytes; `None` when malformed.
fn parse_range(spec: &str, len: u64) -> Option<Part> {
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Digits past u64 are still a position (past any file's end): saturate.
        Some(s.parse().unwrap_or(u64::MAX))
    };
    if first.is_empty() {
        let suffix = number(last)?;
        if suffix == 0 {
            return Some(Part::Unsatisfiable);
        }
        if len == 0 {
            // RFC 9110 §14.1.1: on an empty file a non-zero suffix is the one satisfiable
            // range, and no Content-Range can name its nothing: the whole (empty) file, 200.
            return Some(Part::Whole);
        }
        return Some(Part::Range {
            start: len.saturating_sub(suffix),
            end: len - 1,
        });
    }
    let start = number(first)?;
    let end = if last.is_empty() {
        u64::MAX
    } else {
        number(last)?
    };
    if end < start {
        return None;
    }
    if start >= len {
        return Some(Part::Unsatisfiable);
    }
    Some(Part::Range {
        start,
        end: end.min(len - 1),
    })
}
