//! The generated Avro codecs, compiled from the golden files (see `avro_codegen.rs`) and
//! checked against apache-avro: the same value gives the same bytes both ways, and data
//! written with one version reads into another exactly as apache-avro's resolution reads it,
//! through the generated resolving decoders and through the generic resolver alike.

#![allow(clippy::all)]
// `to_avro_datum`/`from_avro_datum` are the reference the issue names, deprecated or not.
#![allow(deprecated)]

mod kitchen {
    include!("generated/kitchen.rs");
}
mod evolution {
    include!("generated/evolution.rs");
}
mod shop {
    include!("generated/shop_orders.rs");
}

mod avro_cases;

use apache_avro::types::Value;
use avro_cases::*;
use contracts_core::avro::AvroRecord;
use contracts_core::types::{DateTime, Decimal, NaiveDate, NaiveDateTime, NaiveTime, Uuid};
use proptest::prelude::*;

// ---- the kitchen sink: every mapped type ----

fn kitchen_value(k: &kitchen::v1::Kitchen) -> Value {
    use kitchen::v1::*;
    fn part(p: &Part) -> Value {
        record(vec![
            ("name", Value::String(p.name.clone())),
            (
                "weight",
                match p.weight {
                    None => Value::Union(0, Box::new(Value::Null)),
                    Some(w) => Value::Union(1, Box::new(Value::Double(w))),
                },
            ),
        ])
    }
    fn node(n: &Option<Box<Node>>) -> Value {
        match n {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(n) => Value::Union(
                1,
                Box::new(record(vec![
                    ("value", Value::Int(n.value)),
                    ("next", node(&n.next)),
                ])),
            ),
        }
    }
    record(vec![
        ("flag", Value::Boolean(k.flag)),
        ("count", Value::Int(k.count)),
        ("total", Value::Long(k.total)),
        ("ratio", Value::Float(k.ratio)),
        ("precise", Value::Double(k.precise)),
        ("blob", Value::Bytes(k.blob.clone())),
        ("label", Value::String(k.label.clone())),
        ("type", Value::String(k.r#type.clone())),
        ("hash", Value::Fixed(4, k.hash.to_vec())),
        (
            "color",
            Value::Enum(k.color as u32, k.color.symbol().into()),
        ),
        (
            "shape",
            Value::Enum(k.shape as u32, k.shape.symbol().into()),
        ),
        ("parts", Value::Array(k.parts.iter().map(part).collect())),
        (
            "counters",
            Value::Map(
                k.counters
                    .iter()
                    .map(|(a, b)| (a.clone(), Value::Long(*b)))
                    .collect(),
            ),
        ),
        ("maybe_after", opt_string(&k.maybe_after, false)),
        (
            "choice",
            match &k.choice {
                KitchenChoice::Null => Value::Union(0, Box::new(Value::Null)),
                KitchenChoice::String(s) => Value::Union(1, Box::new(Value::String(s.clone()))),
                KitchenChoice::Long(l) => Value::Union(2, Box::new(Value::Long(*l))),
                KitchenChoice::Part(p) => Value::Union(3, Box::new(part(p))),
            },
        ),
        (
            "either",
            Value::Array(
                k.either
                    .iter()
                    .map(|e| match e {
                        KitchenEitherItem::Int(i) => Value::Union(0, Box::new(Value::Int(*i))),
                        KitchenEitherItem::Color(c) => {
                            Value::Union(1, Box::new(Value::Enum(*c as u32, c.symbol().into())))
                        }
                    })
                    .collect(),
            ),
        ),
        ("amount", decimal_value(&k.amount, 3, None)),
        ("fixed_amount", decimal_value(&k.fixed_amount, 2, Some(8))),
        ("id", Value::Uuid(k.id)),
        (
            "day",
            Value::Date((k.day - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32),
        ),
        (
            "at_ms",
            Value::TimeMillis((k.at_ms - NaiveTime::MIN).num_milliseconds() as i32),
        ),
        (
            "at_us",
            Value::TimeMicros((k.at_us - NaiveTime::MIN).num_microseconds().unwrap()),
        ),
        ("ts_ms", Value::TimestampMillis(k.ts_ms.timestamp_millis())),
        ("ts_us", Value::TimestampMicros(k.ts_us.timestamp_micros())),
        (
            "local_ms",
            Value::LocalTimestampMillis(k.local_ms.and_utc().timestamp_millis()),
        ),
        ("unknown_logical", Value::String(k.unknown_logical.clone())),
        ("next", node(&k.next)),
    ])
}

prop_compose! {
    fn any_kitchen()(
        scalars in (any::<bool>(), any::<i32>(), any::<i64>(), -1e30f32..1e30, -1e300f64..1e300, prop::collection::vec(any::<u8>(), 0..8)),
        texts in ("\\PC{0,8}", "\\PC{0,8}", any::<[u8; 4]>(), 0..3usize, any::<bool>()),
        parts in prop::collection::vec(("\\PC{0,6}", proptest::option::of(-1e6f64..1e6)), 0..3),
        // apache-avro writes maps in HashMap order: at most one entry keeps the bytes comparable.
        counters in prop::collection::btree_map("[a-z]{1,4}", any::<i64>(), 0..=1),
        unions in (proptest::option::of("\\PC{0,5}"), 0..4usize, any::<i64>(), prop::collection::vec(proptest::option::of(any::<i32>()), 0..4)),
        logical in (-9_999_999_999i64..9_999_999_999, -9_999_999_999i64..9_999_999_999, any::<u128>(), -100_000i32..100_000, 0..86_400_000i32, 0..86_400_000_000i64),
        times in (-8_000_000_000_000i64..8_000_000_000_000, -8_000_000_000_000_000i64..8_000_000_000_000_000, -8_000_000_000_000i64..8_000_000_000_000, "\\PC{0,5}", prop::collection::vec(any::<i32>(), 0..3)),
    ) -> kitchen::v1::Kitchen {
        use kitchen::v1::*;
        let (flag, count, total, ratio, precise, blob) = scalars;
        let (label, ty, hash, shape, color_blue) = texts;
        let (maybe_after, choice, long, either) = unions;
        let (amount, fixed_amount, id, day, at_ms, at_us) = logical;
        let (ts_ms, ts_us, local_ms, unknown, chain) = times;
        let mut next = None;
        for v in chain.into_iter().rev() {
            next = Some(Box::new(Node { value: v, next }));
        }
        Kitchen {
            flag, count, total, ratio, precise, blob, label, r#type: ty, hash,
            color: if color_blue { Color::Blue } else { Color::Green },
            shape: if shape == 0 { Shape::Circle } else { Shape::Square },
            parts: parts.into_iter().map(|(name, weight)| Part { name, weight }).collect(),
            counters,
            maybe_after: maybe_after.clone(),
            choice: match choice {
                0 => KitchenChoice::Null,
                1 => KitchenChoice::String(maybe_after.unwrap_or_default()),
                2 => KitchenChoice::Long(long),
                _ => KitchenChoice::Part(Part::new("p".into())),
            },
            either: either.into_iter().map(|e| match e { Some(i) => KitchenEitherItem::Int(i), None => KitchenEitherItem::Color(Color::Red) }).collect(),
            amount: Decimal::new(amount, 3),
            fixed_amount: Decimal::new(fixed_amount, 2),
            id: Uuid::from_u128(id),
            day: NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Days::new(0) + chrono::TimeDelta::days(day.into()),
            at_ms: NaiveTime::MIN + chrono::TimeDelta::milliseconds(at_ms.into()),
            at_us: NaiveTime::MIN + chrono::TimeDelta::microseconds(at_us),
            ts_ms: DateTime::from_timestamp_millis(ts_ms).unwrap(),
            ts_us: DateTime::from_timestamp_micros(ts_us).unwrap(),
            local_ms: DateTime::from_timestamp_millis(local_ms).unwrap().naive_utc(),
            unknown_logical: unknown,
            next,
        }
    }
}

use contracts_core::types::chrono;

proptest! {
    #[test]
    fn every_mapped_type_has_apache_avros_bytes_both_ways(k in any_kitchen()) {
        same_both_ways(&k, kitchen_value(&k));
    }

    #[test]
    fn maps_of_any_size_round_trip(entries in prop::collection::btree_map("\\PC{0,4}", any::<i64>(), 0..20)) {
        let mut k = kitchen::v1::Kitchen::new(
            1, 2.0, "l".into(), [0; 4], kitchen::v1::Shape::Circle, vec![], Decimal::ONE, Decimal::ONE,
            Uuid::nil(), NaiveTime::MIN, NaiveTime::MIN, DateTime::UNIX_EPOCH, DateTime::UNIX_EPOCH,
            NaiveDateTime::default(), String::new());
        k.counters = entries;
        let mut bytes = Vec::new();
        k.encode(&mut bytes);
        prop_assert_eq!(kitchen::v1::Kitchen::decode(&bytes).unwrap(), k);
    }
}

#[test]
fn schema_defaults_fill_the_constructor() {
    let k = kitchen::v1::Kitchen::new(
        1,
        2.0,
        "l".into(),
        [0; 4],
        kitchen::v1::Shape::Circle,
        vec![],
        Decimal::ONE,
        Decimal::ONE,
        Uuid::nil(),
        NaiveTime::MIN,
        NaiveTime::MIN,
        DateTime::UNIX_EPOCH,
        DateTime::UNIX_EPOCH,
        NaiveDateTime::default(),
        String::new(),
    );
    assert!(k.flag);
    assert_eq!(k.total, -5);
    assert_eq!(k.ratio, 0.5);
    assert_eq!(k.blob, vec![0, 255]);
    assert_eq!(k.r#type, "keyword");
    assert_eq!(
        k.color,
        kitchen::v1::Color::Green,
        "the field default, not the enum's"
    );
    assert_eq!(k.counters.get("a"), Some(&1));
    assert_eq!(k.maybe_after.as_deref(), Some("x"));
    assert_eq!(k.choice, kitchen::v1::KitchenChoice::Null);
    assert_eq!(k.day, NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
    assert_eq!(kitchen::v1::Color::default(), kitchen::v1::Color::Red);
    let o = shop::v3::OrderCreated::new("o".into(), "p".into(), 1);
    assert_eq!(o.currency, shop::v3::Currency::Eur);
    assert!(o.line_items.is_empty() && o.customer_id.is_none() && o.created_at.is_none());
}

// ---- evolution: promotions, aliases, enum defaults, removed and added fields ----

#[allow(dead_code)]
fn reading_v2_value(r: &evolution::v2::Reading) -> Value {
    use evolution::v2::*;
    record(vec![
        ("unit", Value::Enum(r.unit as u32, r.unit.symbol().into())),
        ("sensor_id", Value::String(r.sensor_id.clone())),
        ("value", Value::Long(r.value)),
        ("scale", Value::Double(r.scale)),
        ("note", Value::Bytes(r.note.clone())),
        (
            "tags",
            Value::Map(
                r.tags
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::Double(*v)))
                    .collect(),
            ),
        ),
        (
            "source",
            match &r.source {
                ReadingSource::Null => Value::Union(0, Box::new(Value::Null)),
                ReadingSource::String(s) => Value::Union(1, Box::new(Value::String(s.clone()))),
                ReadingSource::Long(l) => Value::Union(2, Box::new(Value::Long(*l))),
            },
        ),
        (
            "added",
            Value::Array(r.added.iter().map(|s| Value::String(s.clone())).collect()),
        ),
        ("extra", Value::Union(0, Box::new(Value::Null))),
    ])
}

proptest! {
    #[test]
    fn v2_reads_v1_with_promotions_aliases_and_enum_defaults(
        sensor in "\\PC{0,6}", value in any::<i32>(), scale in -1e6f32..1e6, note in "\\PC{0,6}",
        dropped in prop::collection::vec(any::<i64>(), 0..3), unit in 0..3usize,
        tags in prop::collection::btree_map("[a-z]{1,3}", any::<i32>(), 0..=1),
        source in proptest::option::of("\\PC{0,4}"),
    ) {
        use evolution::v1::*;
        let r = Reading {
            sensor: sensor.clone(), value, scale, note: note.clone(),
            dropped: dropped.into_iter().map(Old::new).collect(),
            unit: Unit::ALL[unit], tags, source: source.clone(),
        };
        let mut bytes = Vec::new();
        r.encode(&mut bytes);
        // apache-avro (Rust) does not resolve field aliases (`sensor` → `sensor_id`), so this
        // history is checked generated-against-generic; the shop's histories are checked
        // against apache-avro above.
        let read = resolves_checked::<evolution::v2::Reading>(Reading::SCHEMA, &bytes, None);
        prop_assert_eq!(read.sensor_id, sensor);
        prop_assert_eq!(read.value, i64::from(value));
        prop_assert_eq!(read.scale, f64::from(scale));
        prop_assert_eq!(read.note, note.into_bytes());
        // K is unknown to v2, whose enum default is C.
        prop_assert_eq!(read.unit, [evolution::v2::Unit::C, evolution::v2::Unit::F, evolution::v2::Unit::C][unit]);
        prop_assert_eq!(read.added, vec!["a".to_string(), "b".to_string()]);
    }
}

#[test]
fn a_writer_unknown_at_build_time_goes_through_the_generic_resolver() {
    // v3 plus a field no version has: not a known fingerprint.
    const V4: &str = r#"{"type":"record","name":"OrderCreated","namespace":"shop.orders","fields":[
        {"name":"order_id","type":"string"},{"name":"product_name","type":"string"},
        {"name":"quantity","type":"int"},{"name":"gift","type":"boolean","default":false}]}"#;
    let mut bytes = Vec::new();
    contracts_core::avro::binary::write_str(&mut bytes, "o-1");
    contracts_core::avro::binary::write_str(&mut bytes, "tea");
    contracts_core::avro::binary::write_int(&mut bytes, 3);
    contracts_core::avro::binary::write_bool(&mut bytes, true);
    let read = shop::v3::OrderCreated::decode_from(&writer(V4), &bytes).unwrap();
    assert_eq!((read.order_id.as_str(), read.quantity), ("o-1", 3));
    assert_eq!(read.currency, shop::v3::Currency::Eur);
}

#[test]
fn decode_errors_carry_offset_and_field_path() {
    let mut bytes = Vec::new();
    shop::v3::OrderCreated::new("o".into(), "p".into(), 1).encode(&mut bytes);
    let err = shop::v3::OrderCreated::decode(&bytes[..4]).unwrap_err();
    assert!(err.to_string().contains("OrderCreated.quantity"), "{err}");
    let mut bad_enum = bytes.clone();
    let at = bad_enum.len() - 2; // currency, then created_at
    bad_enum[at] = 0x10;
    let err = shop::v3::OrderCreated::decode(&bad_enum).unwrap_err();
    assert!(
        err.to_string().contains(&format!("byte {at}")) && err.to_string().contains("Currency"),
        "{err}"
    );
    let mut trailing = bytes;
    trailing.push(0);
    assert!(shop::v3::OrderCreated::decode(&trailing).is_err());
}

proptest! {
    /// Garbage in gives an error, never a panic or a huge allocation: through the plain
    /// decoder, the generated resolving decoders and the generic resolver.
    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = kitchen::v1::Kitchen::decode(&bytes);
        let _ = shop::v3::OrderCreated::decode(&bytes);
        let v1 = writer(shop::v1::OrderCreated::SCHEMA);
        let _ = shop::v3::OrderCreated::decode_from(&v1, &bytes);
        let _ = contracts_core::avro::decode_resolved::<shop::v3::OrderCreated>(&v1, &bytes);
        let _ = evolution::v2::Reading::decode_from(&writer(evolution::v1::Reading::SCHEMA), &bytes);
        let _ = contracts_core::avro::decode_resolved::<evolution::v2::Reading>(
            &writer(evolution::v1::Reading::SCHEMA),
            &bytes,
        );
    }
}

#[test]
fn a_hostile_payload_cannot_nest_a_recursive_record_past_the_limit() {
    let k = kitchen::v1::Kitchen::new(
        1,
        2.0,
        "l".into(),
        [0; 4],
        kitchen::v1::Shape::Circle,
        vec![],
        Decimal::ONE,
        Decimal::ONE,
        Uuid::nil(),
        NaiveTime::MIN,
        NaiveTime::MIN,
        DateTime::UNIX_EPOCH,
        DateTime::UNIX_EPOCH,
        NaiveDateTime::default(),
        String::new(),
    );
    let mut bytes = Vec::new();
    k.encode(&mut bytes);
    assert_eq!(bytes.pop(), Some(0), "`next` is last and null");
    let chain = |levels: usize, out: &mut Vec<u8>| {
        for _ in 0..levels {
            out.extend_from_slice(&[0x02, 0x00]); // Some(Node { value: 0, next: ...
        }
        out.push(0x00); // ... None })
    };
    // Within the limit: reads.
    let mut ok = bytes.clone();
    chain(100, &mut ok);
    let mut depth = 0;
    let mut node = kitchen::v1::Kitchen::decode(&ok).unwrap().next;
    while let Some(n) = node {
        depth += 1;
        node = n.next;
    }
    assert_eq!(depth, 100);
    // A million levels: an error naming the limit, not a stack overflow.
    let mut deep = bytes;
    chain(1_000_000, &mut deep);
    let err = kitchen::v1::Kitchen::decode(&deep).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
}
