//! The parser as a pure function over bytes: heads, framing rules, every limit, and the
//! chunked decoder fed in every split.

use http::{Method, StatusCode, Version};
use ringport_http::parse::{parse_head, ChunkedDecoder, Framing};
use ringport_http::{Limits, ParseError};

fn limits() -> Limits {
    Limits {
        max_head_bytes: 1024,
        max_headers: 8,
        max_body_bytes: 100,
        ..Limits::default()
    }
}

fn status(bytes: &[u8]) -> StatusCode {
    parse_head(bytes, &limits()).unwrap_err().status()
}

#[test]
fn a_get_with_its_fields_and_what_follows() {
    let bytes = b"\r\nGET /a/b?c=d HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\nGET /next";
    let (head, used) = parse_head(bytes, &limits()).unwrap().unwrap();
    let req = &head.request;
    assert_eq!(req.method(), Method::GET);
    assert_eq!(req.uri().path(), "/a/b");
    assert_eq!(req.uri().query(), Some("c=d"));
    assert_eq!(req.version(), Version::HTTP_11);
    assert_eq!(req.headers().get_all("x-a").iter().count(), 2);
    assert_eq!(head.framing, Framing::None);
    assert!(head.keep_alive);
    assert!(!head.expect_continue);
    assert_eq!(&bytes[used..], b"GET /next");
}

#[test]
fn a_partial_head_asks_for_more_at_every_length() {
    let bytes = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n";
    for end in 0..bytes.len() {
        assert!(
            parse_head(&bytes[..end], &limits()).unwrap().is_none(),
            "{end}"
        );
    }
    let (head, used) = parse_head(bytes, &limits()).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(head.framing, Framing::Length(4));
}

#[test]
fn connection_and_version_decide_keep_alive() {
    let cases: [(&[u8], bool); 5] = [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
    ];
    for (bytes, keep) in cases {
        let (head, _) = parse_head(bytes, &limits()).unwrap().unwrap();
        assert_eq!(
            head.keep_alive,
            keep,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn expect_100_continue_on_1_1_and_417_for_others() {
    let b = b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
    let (head, _) = parse_head(b, &limits()).unwrap().unwrap();
    assert!(head.expect_continue);
    let b = b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    assert!(!parse_head(b, &limits()).unwrap().unwrap().0.expect_continue);
    let b = b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n";
    assert_eq!(status(b), StatusCode::EXPECTATION_FAILED);
}

#[test]
fn framing_rules_refuse_smuggling() {
    let chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (head, _) = parse_head(chunked, &limits()).unwrap().unwrap();
    assert_eq!(head.framing, Framing::Chunked);
    let same = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n";
    assert_eq!(
        parse_head(same, &limits()).unwrap().unwrap().0.framing,
        Framing::Length(5)
    );
    let bad: [&[u8]; 13] = [
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET small.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET x:y HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET /a b.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n", // no Host
    ];
    for b in bad {
        assert_eq!(
            status(b),
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(b)
        );
    }
    let gzip = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    assert_eq!(status(gzip), StatusCode::NOT_IMPLEMENTED);
    // The other forms of a request target, where they belong.
    for ok in [
        &b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
    ] {
        assert!(
            parse_head(ok, &limits()).unwrap().is_some(),
            "{:?}",
            String::from_utf8_lossy(ok)
        );
    }
}

#[test]
fn limits_are_answered_with_their_status() {
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(2000)
    );
    assert_eq!(
        status(big.as_bytes()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // Still partial but already past the limit: refused without waiting for the rest.
    assert_eq!(
        parse_head(&big.as_bytes()[..1500], &limits()).unwrap_err(),
        ParseError::HeadTooLarge
    );
    // A request line longer than the whole head may be: the target is too long (414).
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    assert_eq!(status(long.as_bytes()), StatusCode::URI_TOO_LONG);
    assert_eq!(
        parse_head(&long.as_bytes()[..1500], &limits()).unwrap_err(),
        ParseError::UriTooLong
    );
    let many: String = (0..9).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_eq!(
        status(many.as_bytes()),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let body = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n";
    assert_eq!(status(body), StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn other_versions_get_505_and_garbage_400() {
    for v in ["HTTP/2.0", "HTTP/3", "HTTP/0.9", "HTTP/4.1"] {
        let b = format!("GET / {v}\r\nHost: x\r\n\r\n");
        assert_eq!(
            status(b.as_bytes()),
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "{v}"
        );
    }
    let bad: [&[u8]; 9] = [
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", // obs-fold
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",                   // space before the colon
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",         // bare CR
        b"GET / FOO/1.1\r\n\r\n",
        b"GET / HTTP/1.12\r\nHost: x\r\n\r\n",
        b"GET\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
    ];
    for b in bad {
        assert_eq!(
            status(b),
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(b)
        );
    }
}

const CHUNKED: &[u8] =
    b"5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";

#[test]
fn chunked_bodies_decode_the_same_in_any_split() {
    let end = CHUNKED.len() - b"NEXT".len();
    for split in 0..CHUNKED.len() {
        let mut dec = ChunkedDecoder::new(100);
        let mut out = Vec::new();
        let a = dec.decode(&CHUNKED[..split], &mut out).unwrap();
        assert_eq!(a, split.min(end), "everything up to the body's end is used");
        let b = dec.decode(&CHUNKED[split..], &mut out).unwrap();
        assert!(dec.is_done(), "split {split}");
        assert_eq!(out, b"hello 0123456789");
        assert_eq!(&CHUNKED[a + b..], b"NEXT");
    }
    // Byte by byte.
    let mut dec = ChunkedDecoder::new(100);
    let mut out = Vec::new();
    let mut used = 0;
    while !dec.is_done() {
        used += dec.decode(&CHUNKED[used..used + 1], &mut out).unwrap();
    }
    assert_eq!(out, b"hello 0123456789");
}

#[test]
fn bad_chunked_framing_is_400_and_too_much_is_413() {
    let bad: [&[u8]; 6] = [
        b"\r\n",                       // no size
        b"x\r\n",                      // not hex
        b"3\r\nabcX\r\n",              // data longer than its size
        b"3\nabc\r\n0\r\n\r\n",        // bare LF
        b"1000000000000000\r\n",       // 2^60: too many digits
        b"0\r\nTrailer: a\nb\r\n\r\n", // bare LF in a trailer
    ];
    for b in bad {
        let err = ChunkedDecoder::new(100)
            .decode(b, &mut Vec::new())
            .unwrap_err();
        assert_eq!(
            err.status(),
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(b)
        );
    }
    let mut dec = ChunkedDecoder::new(100);
    let mut out = Vec::new();
    dec.decode(b"40\r\n", &mut out).unwrap(); // 64: fine
    let err = dec
        .decode(&[b'x'; 64], &mut out)
        .and_then(|_| dec.decode(b"\r\n40\r\n", &mut out));
    assert_eq!(
        err.unwrap_err(),
        ParseError::BodyTooLarge,
        "refused before the data comes"
    );
    assert_eq!(out.len(), 64);
}

#[test]
fn a_later_minor_version_is_read_as_http_1_1() {
    // RFC 9110 §2.5: HTTP/1.2 is processed as the highest 1.x the server conforms to.
    let bytes = b"\r\nPOST /a HTTP/1.2\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /next";
    let (head, used) = parse_head(bytes, &limits()).unwrap().unwrap();
    assert_eq!(head.request.version(), Version::HTTP_11);
    assert_eq!(head.request.uri().path(), "/a");
    assert_eq!(head.framing, Framing::Length(3));
    assert!(head.keep_alive);
    assert_eq!(&bytes[used..], b"abcGET /next");
    // Its framing rules are 1.1's: no Host is still a 400.
    assert_eq!(status(b"GET / HTTP/1.9\r\n\r\n"), StatusCode::BAD_REQUEST);
    // A partial head asks for more, as any other.
    assert!(parse_head(b"GET / HTTP/1.2\r\nHost: x\r\n", &limits())
        .unwrap()
        .is_none());
}
