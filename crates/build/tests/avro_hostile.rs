//! Hostile block counts through the generated decoders: the plain decoder, a generated
//! resolving decoder (which skips the writer's arrays and maps) and the generic resolver. Each
//! hostile payload is a few bytes claiming millions of zero-size items; each is rejected by
//! its block count, before any item is looped over, with the field's path in the error.

#![allow(clippy::all)]

mod hostile {
    include!("generated/hostile.rs");
}

use contracts_core::avro::AvroRecord;
use contracts_core::avro::binary::write_long;
use contracts_core::{Format, SchemaId, WriterSchema};
use hostile::{v1, v2};
use proptest::prelude::*;

/// v1 with a null field added: unknown at build time, so `v1::Hostile::decode_from` takes the
/// generic resolver for it, and its payloads are v1's byte for byte (a null takes no bytes).
const V1_PLUS_NULL: &str = r#"{"type":"record","name":"Hostile","namespace":"test.hostile","fields":[
    {"name":"nulls","type":{"type":"array","items":"null"}},
    {"name":"empties","type":{"type":"array","items":{"type":"record","name":"Empty","fields":[]}}},
    {"name":"nested","type":{"type":"array","items":{"type":"array","items":"Empty"}}},
    {"name":"by_key","type":{"type":"map","values":"null"}},
    {"name":"n","type":"int"},
    {"name":"extra","type":"null"}]}"#;

fn writer(text: &'static str) -> WriterSchema {
    WriterSchema::new(SchemaId(1), Format::Avro, text, None, vec![])
}

fn long(v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    write_long(&mut out, v);
    out
}

/// A v1 payload with the given encodings of its four arrays and maps (each ends itself).
fn payload(nulls: &[u8], empties: &[u8], nested: &[u8], by_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [nulls, empties, nested, by_key] {
        out.extend_from_slice(part);
    }
    out.push(0x02); // n = 1
    out
}

const END: &[u8] = &[0x00];

/// Every decode path rejects `bytes` with an error naming `field` and a block count or size.
fn rejected_everywhere(bytes: &[u8], field: &str) {
    let plain = v1::Hostile::decode(bytes).map(|_| ()).unwrap_err();
    let resolving = v2::Hostile::decode_from(&writer(v1::Hostile::SCHEMA), bytes)
        .map(|_| ())
        .unwrap_err();
    let generic = v1::Hostile::decode_from(&writer(V1_PLUS_NULL), bytes)
        .map(|_| ())
        .unwrap_err();
    for (how, err) in [
        ("plain", plain),
        ("generated resolving", resolving),
        ("generic resolver", generic),
    ] {
        let text = err.to_string();
        assert!(
            text.contains(&format!("Hostile.{field}"))
                && (text.contains("block count") || text.contains("block byte size")),
            "{how}: {text}"
        );
    }
}

#[test]
fn small_arrays_of_zero_size_items_still_read_everywhere() {
    let mut nested = long(2);
    nested.extend_from_slice(&[0x04, 0x00, 0x00, 0x00]); // [[E, E], []]
    let mut by_key = long(1);
    by_key.extend_from_slice(&[0x02, b'k', 0x00]);
    let bytes = payload(&[0x06, 0x00], &[0x02, 0x00], &nested, &by_key);
    let v = v1::Hostile::decode(&bytes).unwrap();
    assert_eq!(
        (
            v.nulls.len(),
            v.empties.len(),
            v.nested.len(),
            v.by_key.len()
        ),
        (3, 1, 2, 1)
    );
    assert_eq!(v.nested[0].len(), 2);
    let mut again = Vec::new();
    v.encode(&mut again);
    assert_eq!(again, bytes);
    assert_eq!(
        v1::Hostile::decode_from(&writer(V1_PLUS_NULL), &bytes).unwrap(),
        v
    );
    assert_eq!(
        v2::Hostile::decode_from(&writer(v1::Hostile::SCHEMA), &bytes)
            .unwrap()
            .n,
        1
    );
}

/// v1 whose `Empty` records hold an int, which v1's reader drops.
const V1_FULL_EMPTIES: &str = r#"{"type":"record","name":"Hostile","namespace":"test.hostile","fields":[
    {"name":"nulls","type":{"type":"array","items":"null"}},
    {"name":"empties","type":{"type":"array","items":{"type":"record","name":"Empty","fields":[{"name":"x","type":"int"}]}}},
    {"name":"nested","type":{"type":"array","items":{"type":"array","items":"Empty"}}},
    {"name":"by_key","type":{"type":"map","values":"null"}},
    {"name":"n","type":"int"}]}"#;

#[test]
fn items_the_reader_shrinks_to_zero_size_keep_the_writers_budget() {
    // 100,000 one-byte items: legal for the writer's 100 KB. Resolved, they are 100,000 empty
    // records in a few bytes, which the resolved payload alone could not claim.
    let mut empties = long(100_000);
    empties.resize(empties.len() + 100_000, 0);
    empties.push(0);
    let bytes = payload(END, &empties, END, END);
    let v = v1::Hostile::decode_from(&writer(V1_FULL_EMPTIES), &bytes).unwrap();
    assert_eq!(v.empties.len(), 100_000);
}

#[test]
fn a_block_count_of_2_pow_28_with_no_bytes_behind_it() {
    rejected_everywhere(&long(1 << 28), "nulls");
    rejected_everywhere(&payload(END, &long(1 << 28), END, END), "empties");
}

#[test]
fn a_huge_count_of_nulls_in_one_block_or_many() {
    rejected_everywhere(&payload(&long(1_000_000), END, END, END), "nulls");
    // 17 blocks of 4,096 nulls: each small, together more than a short payload may claim.
    let mut nulls = Vec::new();
    for _ in 0..17 {
        nulls.extend_from_slice(&long(1 << 12));
    }
    nulls.push(0);
    rejected_everywhere(&payload(&nulls, END, END, END), "nulls");
}

#[test]
fn nested_arrays_of_empty_records() {
    // 1,000 inner arrays of 1,000 empty records each, in about 3 KB.
    let mut nested = long(1000);
    for _ in 0..1000 {
        nested.extend_from_slice(&long(1000));
        nested.push(0);
    }
    nested.push(0);
    rejected_everywhere(&payload(END, END, &nested, END), "nested");
}

#[test]
fn a_negative_block_count_with_a_byte_size() {
    // -(2^28) items said to take 4 bytes that are not there.
    let mut nulls = long(-(1 << 28));
    nulls.extend_from_slice(&long(4));
    rejected_everywhere(&nulls, "nulls");
    // -(2^28) items in 0 bytes: the size fits, the count does not when read item by item.
    let mut nulls = long(-(1 << 28));
    nulls.extend_from_slice(&long(0));
    nulls.push(0);
    let bytes = payload(&nulls, END, END, END);
    assert!(v1::Hostile::decode(&bytes).is_err());
    assert!(v1::Hostile::decode_from(&writer(V1_PLUS_NULL), &bytes).is_err());
    // A reader that skips the field skips the block by its size without looping: that reads.
    assert_eq!(
        v2::Hostile::decode_from(&writer(v1::Hostile::SCHEMA), &bytes)
            .unwrap()
            .n,
        1
    );
}

#[test]
fn a_map_with_a_huge_count() {
    rejected_everywhere(&payload(END, END, END, &long(1 << 28)), "by_key");
    rejected_everywhere(&payload(END, END, END, &long(i64::MAX)), "by_key");
}

proptest! {
    /// Random bytes and bytes made of block headers never panic a generated decoder.
    #[test]
    fn random_and_block_shaped_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        counts in prop::collection::vec(
            prop_oneof![any::<i64>(), Just(1i64 << 28), Just(-(1i64 << 28)), -3i64..4],
            0..16,
        ),
    ) {
        let mut shaped = Vec::new();
        for c in counts {
            write_long(&mut shaped, c);
        }
        for b in [&bytes, &shaped] {
            let _ = v1::Hostile::decode(b);
            let _ = v2::Hostile::decode_from(&writer(v1::Hostile::SCHEMA), b);
            let _ = v1::Hostile::decode_from(&writer(V1_PLUS_NULL), b);
        }
    }
}
