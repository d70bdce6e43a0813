//! Response heads and their framing (RFC 9112 section 6.3), `Content-Range`, and chunked
//! decoding in place against decoding into a vector.

use ringport_http::http::Method;
use ringport_http::parse::{parse_response, ChunkedDecoder, ContentRange, ResponseFraming};
use ringport_http::ParseError;

fn framing(head: &str, method: Method) -> Result<(ResponseFraming, bool), ParseError> {
    let bytes = format!("{head}\r\n\r\n");
    let (h, used) = parse_response(bytes.as_bytes(), 4096, 32)?.expect("complete");
    assert_eq!(used, bytes.len());
    let f = h.framing(&method)?;
    Ok((f, h.keep_alive(f)))
}

#[test]
fn framing_follows_rfc_9112() {
    use ResponseFraming::*;
    let get = || Method::GET;
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 5", get()),
        Ok((Length(5), true))
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 0", get()),
        Ok((None, true))
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 5", Method::HEAD),
        Ok((None, true))
    );
    assert_eq!(
        framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 5", get()),
        Ok((None, true))
    );
    assert_eq!(framing("HTTP/1.1 204 No Content", get()), Ok((None, true)));
    assert_eq!(framing("HTTP/1.1 200 OK", get()), Ok((UntilClose, false)));
    assert_eq!(
        framing("HTTP/1.0 200 OK\r\nContent-Length: 2", get()),
        Ok((Length(2), false))
    );
    assert_eq!(
        framing(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2",
            get()
        ),
        Ok((Length(2), true))
    );
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2",
            get()
        ),
        Ok((Length(2), false))
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", get()),
        Ok((Chunked, true))
    );
    // Transfer-Encoding wins over Content-Length, and the connection is not reused.
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9",
            get()
        ),
        Ok((Chunked, false))
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", get()),
        Ok((UntilClose, false))
    );
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5",
            get()
        ),
        Ok((Length(5), true))
    );
    for bad in [
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: -1",
        "Content-Length: 1x",
    ] {
        let head = format!("HTTP/1.1 200 OK\r\n{bad}");
        assert!(
            matches!(framing(&head, get()), Err(ParseError::Malformed(_))),
            "{bad}"
        );
    }
}

#[test]
fn partial_interim_and_broken_heads() {
    assert!(matches!(
        parse_response(b"HTTP/1.1 200 OK\r\nA: b\r\n", 4096, 8),
        Ok(None)
    ));
    let (h, _) = parse_response(b"HTTP/1.1 103 Early Hints\r\n\r\n", 4096, 8)
        .unwrap()
        .unwrap();
    assert!(h.status.is_informational());
    assert!(parse_response(b"HTTP/1.1 2000 OK\r\n\r\n", 4096, 8).is_err());
    assert!(parse_response(b"garbage\r\n\r\n", 4096, 8).is_err());
    let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(5000));
    assert_eq!(
        parse_response(big.as_bytes(), 4096, 8).unwrap_err(),
        ParseError::HeadTooLarge
    );
    let many: String = (0..20).map(|i| format!("H{i}: v\r\n")).collect();
    let many = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
    assert_eq!(
        parse_response(many.as_bytes(), 4096, 8).unwrap_err(),
        ParseError::TooManyHeaders
    );
}

#[test]
fn content_range_values() {
    let b = |first, last, total| Some(ContentRange::Bytes { first, last, total });
    assert_eq!(ContentRange::parse(b"bytes 0-0/1"), b(0, 0, Some(1)));
    assert_eq!(ContentRange::parse(b"Bytes 5-9/*"), b(5, 9, None));
    assert_eq!(
        ContentRange::parse(b"bytes */0"),
        Some(ContentRange::Unsatisfied { total: 0 })
    );
    for bad in [
        "bytes 5-9/9",
        "bytes 5-/10",
        "items 0-1/2",
        "bytes 0-1/x",
        "bytes */*",
        "",
    ] {
        assert_eq!(ContentRange::parse(bad.as_bytes()), None, "{bad}");
    }
}

#[test]
fn chunked_in_place_matches_decoding_into_a_vector() {
    let body = b"4\r\nwiki\r\n5;a=b\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: x\r\n\r\nrest";
    for split in 0..body.len() {
        let mut whole = ChunkedDecoder::new(u64::MAX);
        let mut out = Vec::new();
        let used = whole.decode(body, &mut out).unwrap();
        let mut parts = ChunkedDecoder::new(u64::MAX);
        let (mut a, mut b) = (body[..split].to_vec(), body[split..].to_vec());
        let (ua, da) = parts.decode_in_place(&mut a).unwrap();
        let mut got = a[..da].to_vec();
        let mut total = ua;
        if !parts.is_done() {
            let (ub, db) = parts.decode_in_place(&mut b).unwrap();
            got.extend_from_slice(&b[..db]);
            total += ub;
        }
        assert_eq!(got, out, "split at {split}");
        assert_eq!(total, used, "split at {split}");
        assert!(parts.is_done());
    }
}
