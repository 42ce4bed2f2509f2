//! The Avro codecs of the `events` crate, as users reach them through `contracts_core::Event`:
//! bytes equal apache-avro's both ways for every Avro event of the shop, `decode_from` reads
//! every version of `OrderCreated` from every other the compatibility level allows, and the
//! fingerprints the runtime computes for writer schemas equal the ones embedded at build time.

#![allow(clippy::all)]

mod shop {
    pub use events::orders::{v1, v2, v3};
}

#[path = "../crates/build/tests/avro_cases/mod.rs"]
mod avro_cases;

use contracts_core::{Event, Format, SchemaId, SchemaInfo, WriterSchema};
use events::orders::{v1, v2, v3};

const AVRO_EVENTS: [&SchemaInfo; 5] = [
    v1::OrderCreated::SCHEMA,
    v2::OrderCreated::SCHEMA,
    v3::OrderCreated::SCHEMA,
    v1::OrderPaid::SCHEMA,
    v1::OrderShipped::SCHEMA,
];

fn writer_of(info: &SchemaInfo) -> WriterSchema {
    WriterSchema::new(
        SchemaId(info.version),
        Format::Avro,
        info.schema,
        None,
        vec![],
    )
}

#[test]
fn runtime_fingerprints_of_writer_schemas_equal_the_embedded_ones() {
    for info in AVRO_EVENTS {
        assert_eq!(info.format, Format::Avro);
        assert_eq!(
            writer_of(info).avro_fingerprint().unwrap(),
            info.fingerprint,
            "{} v{}",
            info.name,
            info.version
        );
    }
    assert_eq!(
        <v3::OrderCreated as contracts_core::avro::AvroRecord>::FINGERPRINT,
        v3::OrderCreated::SCHEMA.fingerprint
    );
}

fn sample_v3() -> v3::OrderCreated {
    let mut o = v3::OrderCreated::new("o-1".into(), "tea".into(), 2);
    o.customer_id = Some("c-9".into());
    o.line_items = vec![v3::LineItem::new("tea".into(), 2, "7.90".parse().unwrap())];
    o.currency = v3::Currency::Gbp;
    o
}

#[test]
fn event_encode_and_decode_are_the_avro_codec() {
    let o = sample_v3();
    let mut via_event = Vec::new();
    Event::encode(&o, &mut via_event);
    let mut via_codec = Vec::new();
    contracts_core::avro::AvroRecord::encode(&o, &mut via_codec);
    assert_eq!(via_event, via_codec);
    assert_eq!(<v3::OrderCreated as Event>::decode(&via_event).unwrap(), o);
    assert_eq!(
        <v3::OrderCreated as Event>::decode_from(&writer_of(v3::OrderCreated::SCHEMA), &via_event)
            .unwrap(),
        o
    );
}

#[test]
fn every_version_of_order_created_reads_every_other_under_full_transitive() {
    let o = sample_v3();
    let mut v3_bytes = Vec::new();
    Event::encode(&o, &mut v3_bytes);
    let v1_read =
        <v1::OrderCreated as Event>::decode_from(&writer_of(v3::OrderCreated::SCHEMA), &v3_bytes)
            .unwrap();
    assert_eq!(
        v1_read,
        v1::OrderCreated::new("o-1".into(), "tea".into(), 2)
    );
    let v2_read =
        <v2::OrderCreated as Event>::decode_from(&writer_of(v3::OrderCreated::SCHEMA), &v3_bytes)
            .unwrap();
    assert_eq!(v2_read.customer_id.as_deref(), Some("c-9"));

    let mut v1_bytes = Vec::new();
    Event::encode(&v1_read, &mut v1_bytes);
    let back =
        <v3::OrderCreated as Event>::decode_from(&writer_of(v1::OrderCreated::SCHEMA), &v1_bytes)
            .unwrap();
    assert_eq!(back.order_id, "o-1");
    assert_eq!(
        back.currency,
        v3::Currency::Eur,
        "v1 data has the v3 default currency"
    );
    assert!(back.line_items.is_empty() && back.customer_id.is_none());

    let mut v2_bytes = Vec::new();
    Event::encode(&v2_read, &mut v2_bytes);
    let back =
        <v3::OrderCreated as Event>::decode_from(&writer_of(v2::OrderCreated::SCHEMA), &v2_bytes)
            .unwrap();
    assert_eq!(back.customer_id.as_deref(), Some("c-9"));
}

#[test]
fn an_unreadable_writer_is_a_decode_error_not_a_panic() {
    // OrderPaid's schema is a different record: OrderCreated cannot read it.
    let err = <v3::OrderCreated as Event>::decode_from(&writer_of(v1::OrderPaid::SCHEMA), &[0])
        .unwrap_err();
    assert!(
        matches!(err, contracts_core::DecodeError::Unreadable { .. }),
        "{err}"
    );
}
