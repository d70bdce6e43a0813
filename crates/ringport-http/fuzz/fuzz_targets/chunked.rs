//! Fuzzes the chunked decoder: decoding in place (the client's way) and into a vector (the
//! server's way), whole and split at a point taken from the input, must agree byte for byte.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringport_http::parse::ChunkedDecoder;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| usize::from(b) * 7).min(data.len());
    let input = data;
    let mut vec_dec = ChunkedDecoder::new(u64::MAX);
    let mut out = Vec::new();
    let whole = vec_dec.decode(input, &mut out);

    let mut dec = ChunkedDecoder::new(u64::MAX);
    let mut got = Vec::new();
    let mut used = 0;
    let mut err = None;
    for part in [&input[..split], &input[split..]] {
        if dec.is_done() {
            break;
        }
        let mut buf = part.to_vec();
        match dec.decode_in_place(&mut buf) {
            Ok((u, n)) => {
                assert!(u <= buf.len() && n <= u);
                got.extend_from_slice(&buf[..n]);
                used += u;
                if u < buf.len() {
                    assert!(dec.is_done(), "input left over only at the end of the body");
                }
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    match (whole, err) {
        (Ok(n), None) => {
            assert_eq!(n, used);
            assert_eq!(out, got);
            assert_eq!(vec_dec.is_done(), dec.is_done());
        }
        (Err(a), Some(b)) => assert_eq!(a.status(), b.status()),
        (a, b) => panic!("in place and into a vector disagree: {a:?} vs {b:?}"),
    }
});
