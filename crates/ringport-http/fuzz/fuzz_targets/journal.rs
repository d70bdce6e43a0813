//! Fuzzes the resume journal's decoding (`ringport get`): arbitrary bytes never panic, and
//! whatever decodes re-encodes to the same bytes, so a damaged journal is refused rather
//! than misread.

#![no_main]

#[path = "../../../ringport-cli/src/get/journal.rs"]
#[allow(dead_code, missing_docs)]
mod journal;

use journal::{decode_records, encode_record, Header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (records, used) = decode_records(data);
    assert_eq!(used, records.len() * 16);
    let again: Vec<u8> = records.iter().flat_map(|&(i, c)| encode_record(i, c)).collect();
    assert_eq!(&again[..], &data[..used]);
    if let Some((header, n)) = Header::decode(data) {
        let bytes = header.encode();
        assert_eq!(bytes.len(), n);
        assert_eq!(&bytes[..], &data[..bytes.len()]);
    }
});
