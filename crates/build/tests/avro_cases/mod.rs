//! Cases shared by `crates/build/tests/avro_codec.rs` (on the golden files) and the root
//! crate's `tests/avro_codec.rs` (on the `events` crate): the includer provides a module
//! `crate::shop` with the versioned modules `v1`, `v2`, `v3` of the shop's "orders" topic.

#![allow(dead_code)]
// `to_avro_datum`/`from_avro_datum` are the reference the issue names, deprecated or not.
#![allow(deprecated)]

use apache_avro::types::Value;
use contracts_core::avro::{AvroRecord, decode_resolved};
use contracts_core::types::{DateTime, Decimal, Utc};
use contracts_core::{Format, SchemaId, WriterSchema};
use proptest::prelude::*;

pub fn apache_schema(text: &str) -> apache_avro::Schema {
    apache_avro::Schema::parse_str(text).unwrap()
}

pub fn writer(text: &'static str) -> WriterSchema {
    WriterSchema::new(SchemaId(1), Format::Avro, text, None, vec![])
}

/// Our bytes equal apache-avro's for the same value, and each side reads the other's bytes
/// back to the same value.
pub fn same_both_ways<T: AvroRecord + PartialEq + std::fmt::Debug>(value: &T, expected: Value) {
    let schema = apache_schema(T::SCHEMA);
    let mut ours = Vec::new();
    value.encode(&mut ours);
    let theirs = apache_avro::to_avro_datum(&schema, expected.clone()).unwrap();
    assert_eq!(ours, theirs, "bytes differ for {value:?}");
    let read_by_them = apache_avro::from_avro_datum(&schema, &mut &ours[..], None).unwrap();
    assert_eq!(read_by_them, expected);
    assert_eq!(&T::decode(&theirs).unwrap(), value);
}

/// `payload` written with `writer_text` reads into `R` the same way through the generated
/// decoder, the generic resolver and apache-avro's resolution.
pub fn resolves_like_apache<R: AvroRecord + PartialEq + std::fmt::Debug>(
    writer_text: &'static str,
    payload: &[u8],
    to_value: impl Fn(&R) -> Value,
) -> R {
    resolves_checked::<R>(writer_text, payload, Some(&to_value))
}

pub fn resolves_checked<R: AvroRecord + PartialEq + std::fmt::Debug>(
    writer_text: &'static str,
    payload: &[u8],
    to_value: Option<&dyn Fn(&R) -> Value>,
) -> R {
    let ws = writer(writer_text);
    let generated = R::decode_from(&ws, payload).unwrap();
    let generic = decode_resolved::<R>(&ws, payload).unwrap();
    assert_eq!(
        generated, generic,
        "generated and generic resolution disagree"
    );
    let Some(to_value) = to_value else {
        return generated;
    };
    let theirs = apache_avro::from_avro_datum(
        &apache_schema(writer_text),
        &mut &payload[..],
        Some(&apache_schema(R::SCHEMA)),
    )
    .unwrap();
    assert_eq!(to_value(&generated), theirs);
    generated
}

pub fn decimal_bytes(d: &Decimal, scale: u32, fixed: Option<usize>) -> Vec<u8> {
    let mut d = *d;
    d.rescale(scale);
    let m = d.mantissa();
    let full = m.to_be_bytes();
    match fixed {
        Some(n) => full[16 - n..].to_vec(),
        None => {
            let mut start = 0;
            while start < 15
                && ((full[start] == 0 && full[start + 1] & 0x80 == 0)
                    || (full[start] == 0xff && full[start + 1] & 0x80 != 0))
            {
                start += 1;
            }
            full[start..].to_vec()
        }
    }
}

pub fn decimal_value(d: &Decimal, scale: u32, fixed: Option<usize>) -> Value {
    Value::Decimal(apache_avro::Decimal::from(decimal_bytes(d, scale, fixed)))
}

pub fn opt_string(v: &Option<String>, null_first: bool) -> Value {
    match (v, null_first) {
        (None, true) => Value::Union(0, Box::new(Value::Null)),
        (Some(s), true) => Value::Union(1, Box::new(Value::String(s.clone()))),
        (Some(s), false) => Value::Union(0, Box::new(Value::String(s.clone()))),
        (None, false) => Value::Union(1, Box::new(Value::Null)),
    }
}

pub fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

// ---- the shop's OrderCreated, OrderPaid, OrderShipped ----

fn currency_value(c: crate::shop::v3::Currency) -> Value {
    Value::Enum(c as u32, c.symbol().to_string())
}

fn v1_value(o: &crate::shop::v1::OrderCreated) -> Value {
    record(vec![
        ("order_id", Value::String(o.order_id.clone())),
        ("product_name", Value::String(o.product_name.clone())),
        ("quantity", Value::Int(o.quantity)),
    ])
}

fn v2_value(o: &crate::shop::v2::OrderCreated) -> Value {
    record(vec![
        ("order_id", Value::String(o.order_id.clone())),
        ("product_name", Value::String(o.product_name.clone())),
        ("quantity", Value::Int(o.quantity)),
        ("customer_id", opt_string(&o.customer_id, true)),
    ])
}

fn v3_value(o: &crate::shop::v3::OrderCreated) -> Value {
    record(vec![
        ("order_id", Value::String(o.order_id.clone())),
        ("product_name", Value::String(o.product_name.clone())),
        ("quantity", Value::Int(o.quantity)),
        ("customer_id", opt_string(&o.customer_id, true)),
        (
            "line_items",
            Value::Array(
                o.line_items
                    .iter()
                    .map(|l| {
                        record(vec![
                            ("product_name", Value::String(l.product_name.clone())),
                            ("quantity", Value::Int(l.quantity)),
                            ("unit_price", decimal_value(&l.unit_price, 2, None)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("currency", currency_value(o.currency)),
        (
            "created_at",
            match o.created_at {
                None => Value::Union(0, Box::new(Value::Null)),
                Some(t) => Value::Union(1, Box::new(Value::TimestampMillis(t.timestamp_millis()))),
            },
        ),
    ])
}

fn any_millis() -> impl Strategy<Value = DateTime<Utc>> {
    (-8_000_000_000_000i64..8_000_000_000_000)
        .prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap())
}

fn any_price() -> impl Strategy<Value = Decimal> {
    (-99_999_999_999i64..99_999_999_999).prop_map(|m| Decimal::new(m, 2))
}

fn any_currency() -> impl Strategy<Value = crate::shop::v3::Currency> {
    prop::sample::select(crate::shop::v3::Currency::ALL.to_vec())
}

prop_compose! {
    fn any_v3()(
        order_id in ".{0,20}",
        product_name in "\\PC{0,12}",
        quantity in any::<i32>(),
        customer_id in proptest::option::of("[a-z0-9-]{0,16}"),
        line_items in prop::collection::vec(("\\PC{0,10}", any::<i32>(), any_price()), 0..4),
        currency in any_currency(),
        created_at in proptest::option::of(any_millis()),
    ) -> crate::shop::v3::OrderCreated {
        crate::shop::v3::OrderCreated {
            order_id, product_name, quantity, customer_id,
            line_items: line_items.into_iter().map(|(p, q, u)| crate::shop::v3::LineItem::new(p, q, u)).collect(),
            currency, created_at,
        }
    }
}

prop_compose! {
    fn any_v2()(order_id in ".{0,20}", product_name in ".{0,12}", quantity in any::<i32>(), customer_id in proptest::option::of(".{0,16}")) -> crate::shop::v2::OrderCreated {
        crate::shop::v2::OrderCreated { order_id, product_name, quantity, customer_id }
    }
}

prop_compose! {
    fn any_v1()(order_id in ".{0,20}", product_name in ".{0,12}", quantity in any::<i32>()) -> crate::shop::v1::OrderCreated {
        crate::shop::v1::OrderCreated::new(order_id, product_name, quantity)
    }
}

proptest! {
    #[test]
    fn order_created_v3_bytes_equal_apache_avro_both_ways(o in any_v3()) {
        same_both_ways(&o, v3_value(&o));
    }

    #[test]
    fn order_created_v1_and_v2_bytes_equal_apache_avro_both_ways(a in any_v1(), b in any_v2()) {
        same_both_ways(&a, v1_value(&a));
        same_both_ways(&b, v2_value(&b));
    }

    #[test]
    fn order_paid_and_shipped_bytes_equal_apache_avro_both_ways(
        id in ".{0,10}", amount in any_price(), currency in any_currency(), at in any_millis(),
        tracking in proptest::option::of(".{0,10}"),
    ) {
        let currency = crate::shop::v1::Currency::ALL[currency as usize];
        let paid = crate::shop::v1::OrderPaid::new(id.clone(), "pay-1".into(), amount, currency, at);
        same_both_ways(&paid, record(vec![
            ("order_id", Value::String(id.clone())),
            ("payment_id", Value::String("pay-1".into())),
            ("amount", decimal_value(&amount, 2, None)),
            ("currency", Value::Enum(currency as u32, currency.symbol().into())),
            ("paid_at", Value::TimestampMillis(at.timestamp_millis())),
        ]));
        let mut shipped = crate::shop::v1::OrderShipped::new(id.clone(), "dhl".into(), at);
        shipped.tracking_number = tracking.clone();
        same_both_ways(&shipped, record(vec![
            ("order_id", Value::String(id)),
            ("carrier", Value::String("dhl".into())),
            ("tracking_number", opt_string(&tracking, true)),
            ("shipped_at", Value::TimestampMillis(at.timestamp_millis())),
        ]));
    }

    #[test]
    fn v3_reads_v1_data_with_defaults(a in any_v1()) {
        let mut bytes = Vec::new();
        a.encode(&mut bytes);
        let read = resolves_like_apache::<crate::shop::v3::OrderCreated>(crate::shop::v1::OrderCreated::SCHEMA, &bytes, v3_value);
        prop_assert_eq!(&read.order_id, &a.order_id);
        prop_assert!(read.line_items.is_empty());
        prop_assert_eq!(read.currency, crate::shop::v3::Currency::Eur);
        prop_assert_eq!(read.created_at, None);
    }

    #[test]
    fn v3_reads_v2_data(b in any_v2()) {
        let mut bytes = Vec::new();
        b.encode(&mut bytes);
        let read = resolves_like_apache::<crate::shop::v3::OrderCreated>(crate::shop::v2::OrderCreated::SCHEMA, &bytes, v3_value);
        prop_assert_eq!(read.customer_id, b.customer_id);
    }

    #[test]
    fn v1_and_v2_read_v3_data_skipping_new_fields(o in any_v3()) {
        let mut bytes = Vec::new();
        o.encode(&mut bytes);
        let v1 = resolves_like_apache::<crate::shop::v1::OrderCreated>(crate::shop::v3::OrderCreated::SCHEMA, &bytes, v1_value);
        prop_assert_eq!((&v1.order_id, &v1.product_name, v1.quantity), (&o.order_id, &o.product_name, o.quantity));
        let v2 = resolves_like_apache::<crate::shop::v2::OrderCreated>(crate::shop::v3::OrderCreated::SCHEMA, &bytes, v2_value);
        prop_assert_eq!(v2.customer_id, o.customer_id);
    }
}
