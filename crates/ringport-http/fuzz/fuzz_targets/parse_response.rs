//! Fuzzes the client's response parsing: heads (interim ones included), their framing for GET
//! and HEAD, keep-alive, Content-Range and Content-Length, checking that nothing panics and
//! that the rules hold together.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringport_http::http::{header, Method};
use ringport_http::parse::{parse_response, ContentRange, ResponseFraming};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    for _ in 0..8 {
        let Ok(Some((head, used))) = parse_response(rest, 4096, 32) else {
            break;
        };
        assert!(used > 0 && used <= rest.len() && used <= 4096);
        // No prefix of a complete head is complete.
        assert!(!matches!(parse_response(&rest[..used - 1], 4096, 32), Ok(Some(_))));
        rest = &rest[used..];
        let get = head.framing(&Method::GET);
        // HEAD never has a body; neither do 1xx, 204 and 304 (whatever the headers say).
        assert!(matches!(head.framing(&Method::HEAD), Ok(ResponseFraming::None) | Err(_)));
        let code = head.status.as_u16();
        if let Ok(f) = get {
            if (100..200).contains(&code) || code == 204 || code == 304 {
                assert_eq!(f, ResponseFraming::None);
            }
            // A body until the close never leaves the connection open.
            if f == ResponseFraming::UntilClose {
                assert!(!head.keep_alive(f));
            }
            if let ResponseFraming::Length(n) = f {
                assert_eq!(head.content_length().ok().flatten(), Some(n));
            }
        }
        for v in head.headers.get_all(header::CONTENT_RANGE) {
            match ContentRange::parse(v.as_bytes()) {
                Some(ContentRange::Bytes { first, last, total }) => {
                    assert!(first <= last);
                    assert!(total.is_none_or(|t| last < t));
                }
                Some(ContentRange::Unsatisfied { .. }) | None => {}
            }
        }
    }
});
