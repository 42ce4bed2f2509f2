//! Hostile array counts decoded into the shop's generated events, as a consumer would meet
//! them: a few bytes claiming 2^28 line items are rejected by their count, before any item is
//! read, with the field's path, through the plain decoder, a generated resolving decoder and
//! the generic resolver alike.

use contracts_core::avro::binary::{write_long, write_str};
use contracts_core::{Event, Format, SchemaId, WriterSchema};
use events::orders::{v2, v3};
use proptest::prelude::*;

fn writer(id: u32, text: &'static str) -> WriterSchema {
    WriterSchema::new(SchemaId(id), Format::Avro, text, None, vec![])
}

/// v3's fields up to `line_items`, then `count` as the first block's item count.
fn order_claiming(count: i64) -> Vec<u8> {
    let mut out = Vec::new();
    write_str(&mut out, "o-1");
    write_str(&mut out, "p");
    write_long(&mut out, 1); // quantity
    write_long(&mut out, 0); // customer_id: null
    write_long(&mut out, count);
    out
}

/// v3 with a null field added: unknown at build time, so it goes through the generic resolver.
fn v3_plus_null() -> &'static str {
    let text = v3::OrderCreated::SCHEMA.schema;
    let at = text.rfind(']').unwrap();
    let extended = format!(
        "{},{{\"name\":\"extra\",\"type\":\"null\"}}{}",
        &text[..at],
        &text[at..]
    );
    Box::leak(extended.into_boxed_str())
}

#[test]
fn a_block_of_2_pow_28_line_items_is_rejected_on_every_decode_path() {
    let v3_writer = writer(3, v3::OrderCreated::SCHEMA.schema);
    let unknown_writer = writer(99, v3_plus_null());
    for count in [1 << 28, -(1 << 28), i64::MAX, 1_000_000] {
        let mut bytes = order_claiming(count);
        if count < 0 {
            write_long(&mut bytes, 4); // a byte size with no bytes behind it
        }
        let errors = [
            ("plain", v3::OrderCreated::decode(&bytes).map(drop)),
            (
                "generated resolving (v2 skips line_items)",
                v2::OrderCreated::decode_from(&v3_writer, &bytes).map(drop),
            ),
            (
                "generic resolver",
                v3::OrderCreated::decode_from(&unknown_writer, &bytes).map(drop),
            ),
        ];
        for (how, result) in errors {
            let text = result.unwrap_err().to_string();
            assert!(
                text.contains("OrderCreated.line_items")
                    && (text.contains("block count") || text.contains("block byte size")),
                "{how}, count {count}: {text}"
            );
        }
    }
}

proptest! {
    /// Random bytes after a valid prefix never panic a generated decoder.
    #[test]
    fn random_line_items_never_panic(tail in prop::collection::vec(any::<u8>(), 0..128)) {
        let mut bytes = order_claiming(0);
        bytes.pop();
        bytes.extend_from_slice(&tail);
        let _ = v3::OrderCreated::decode(&bytes);
        let _ = v2::OrderCreated::decode_from(&writer(3, v3::OrderCreated::SCHEMA.schema), &bytes);
        let _ = v3::OrderCreated::decode_from(&writer(99, v3_plus_null()), &bytes);
    }
}
