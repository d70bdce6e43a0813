//! Fuzzes the request parsing path: heads, pipelined requests, and chunked bodies, checking
//! that nothing panics and that incremental parsing agrees with parsing in one go.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringport_http::parse::{parse_head, ChunkedDecoder, Framing};
use ringport_http::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_head_bytes: 4096,
        max_headers: 32,
        max_body_bytes: 1 << 16,
        ..Limits::default()
    };
    let mut rest = data;
    // Pipelined requests, the way a connection walks them.
    for _ in 0..16 {
        let Ok(Some((head, used))) = parse_head(rest, &limits) else {
            break;
        };
        assert!(used > 0 && used <= rest.len());
        assert!(used <= limits.max_head_bytes);
        // A head is complete at its first empty line: no prefix of it is.
        assert!(!matches!(
            parse_head(&rest[..used - 1], &limits),
            Ok(Some(_))
        ));
        rest = &rest[used..];
        match head.framing {
            Framing::None => {}
            Framing::Length(n) => {
                assert!(n <= limits.max_body_bytes);
                rest = &rest[rest.len().min(n as usize)..];
            }
            Framing::Chunked => match chunked(rest, limits.max_body_bytes) {
                Some(used) => rest = &rest[used..],
                None => break,
            },
        }
    }
});

/// Decodes a chunked body in one go and split in two, and checks both agree.
fn chunked(input: &[u8], max: u64) -> Option<usize> {
    let mut whole = ChunkedDecoder::new(max);
    let mut out = Vec::new();
    let res = whole.decode(input, &mut out);
    let split = input
        .first()
        .map_or(0, |&b| usize::from(b))
        .min(input.len());
    let mut parts = ChunkedDecoder::new(max);
    let mut out2 = Vec::new();
    let res2 = parts.decode(&input[..split], &mut out2).and_then(|a| {
        if parts.is_done() {
            Ok(a)
        } else {
            parts.decode(&input[split..], &mut out2).map(|b| a + b)
        }
    });
    match (&res, &res2) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(out, out2);
            assert_eq!(whole.is_done(), parts.is_done());
        }
        (Err(a), Err(b)) => assert_eq!(a.status(), b.status()),
        _ => panic!("split decoding disagrees: {res:?} vs {res2:?}"),
    }
    assert!(out.len() as u64 <= max);
    let used = res.ok()?;
    assert!(used <= input.len());
    whole.is_done().then_some(used)
}
