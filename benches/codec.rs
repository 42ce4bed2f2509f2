//! Encode and decode of `OrderCreated` v3: the generated Avro codec against apache-avro's
//! `to_avro_datum`/`from_avro_datum` and against prost on the equivalent message, in one run.
//!
//! Run: `cargo bench --bench codec`. Figures and ratios go in `benches/README.md`.

#![allow(deprecated)] // to_avro_datum/from_avro_datum are the baseline the issue names.

use std::hint::black_box;
use std::str::FromStr;

use apache_avro::types::Value;
use contracts_core::Event;
use contracts_core::types::{DateTime, Decimal};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use events::orders::v3::{Currency, LineItem, OrderCreated};

fn order() -> OrderCreated {
    let mut o = OrderCreated::new("order-7f3a9c".into(), "Green tea, 100 g".into(), 2);
    o.customer_id = Some("customer-42".into());
    o.line_items = vec![
        LineItem::new(
            "Green tea, 100 g".into(),
            2,
            Decimal::from_str("7.90").unwrap(),
        ),
        LineItem::new("Teapot".into(), 1, Decimal::from_str("34.50").unwrap()),
        LineItem::new(
            "Cups, set of 4".into(),
            1,
            Decimal::from_str("19.99").unwrap(),
        ),
    ];
    o.currency = Currency::Eur;
    o.created_at = DateTime::from_timestamp_millis(1_764_000_000_000);
    o
}

fn to_value(o: &OrderCreated) -> Value {
    fn s(v: &str) -> Value {
        Value::String(v.to_string())
    }
    let price = |d: &Decimal| {
        let mut d = *d;
        d.rescale(2);
        let m = d.mantissa().to_be_bytes();
        let start = m.iter().position(|&b| b != 0).unwrap_or(15).min(15);
        let start = if m[start] & 0x80 != 0 {
            start - 1
        } else {
            start
        };
        Value::Decimal(apache_avro::Decimal::from(m[start..].to_vec()))
    };
    Value::Record(vec![
        ("order_id".into(), s(&o.order_id)),
        ("product_name".into(), s(&o.product_name)),
        ("quantity".into(), Value::Int(o.quantity)),
        (
            "customer_id".into(),
            match &o.customer_id {
                Some(c) => Value::Union(1, Box::new(s(c))),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        ),
        (
            "line_items".into(),
            Value::Array(
                o.line_items
                    .iter()
                    .map(|l| {
                        Value::Record(vec![
                            ("product_name".into(), s(&l.product_name)),
                            ("quantity".into(), Value::Int(l.quantity)),
                            ("unit_price".into(), price(&l.unit_price)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "currency".into(),
            Value::Enum(o.currency as u32, o.currency.symbol().into()),
        ),
        (
            "created_at".into(),
            match o.created_at {
                Some(t) => Value::Union(1, Box::new(Value::TimestampMillis(t.timestamp_millis()))),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        ),
    ])
}

/// The equivalent Protobuf message (prices as unscaled cents, timestamp as millis).
#[derive(Clone, PartialEq, prost::Message)]
struct PbOrderCreated {
    #[prost(string, tag = "1")]
    order_id: String,
    #[prost(string, tag = "2")]
    product_name: String,
    #[prost(int32, tag = "3")]
    quantity: i32,
    #[prost(string, optional, tag = "4")]
    customer_id: Option<String>,
    #[prost(message, repeated, tag = "5")]
    line_items: Vec<PbLineItem>,
    #[prost(int32, tag = "6")]
    currency: i32,
    #[prost(int64, optional, tag = "7")]
    created_at: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbLineItem {
    #[prost(string, tag = "1")]
    product_name: String,
    #[prost(int32, tag = "2")]
    quantity: i32,
    #[prost(int64, tag = "3")]
    unit_price_cents: i64,
}

fn to_pb(o: &OrderCreated) -> PbOrderCreated {
    PbOrderCreated {
        order_id: o.order_id.clone(),
        product_name: o.product_name.clone(),
        quantity: o.quantity,
        customer_id: o.customer_id.clone(),
        line_items: o
            .line_items
            .iter()
            .map(|l| PbLineItem {
                product_name: l.product_name.clone(),
                quantity: l.quantity,
                unit_price_cents: (l.unit_price * Decimal::from(100)).try_into().unwrap_or(0),
            })
            .collect(),
        currency: o.currency as i32,
        created_at: o.created_at.map(|t| t.timestamp_millis()),
    }
}

/// The same event for apache-avro's serde path.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct SerdeOrder {
    order_id: String,
    product_name: String,
    quantity: i32,
    customer_id: Option<String>,
    line_items: Vec<SerdeLine>,
    currency: SerdeCurrency,
    created_at: Option<i64>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct SerdeLine {
    product_name: String,
    quantity: i32,
    unit_price: apache_avro::Decimal,
}

#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, serde::Serialize, serde::Deserialize)]
enum SerdeCurrency {
    EUR,
    USD,
    GBP,
}

fn to_serde(o: &OrderCreated) -> SerdeOrder {
    let Value::Record(fields) = to_value(o) else {
        unreachable!()
    };
    let Value::Array(lines) = &fields[4].1 else {
        unreachable!()
    };
    SerdeOrder {
        order_id: o.order_id.clone(),
        product_name: o.product_name.clone(),
        quantity: o.quantity,
        customer_id: o.customer_id.clone(),
        line_items: o
            .line_items
            .iter()
            .zip(lines)
            .map(|(l, v)| {
                let Value::Record(f) = v else { unreachable!() };
                let Value::Decimal(d) = &f[2].1 else {
                    unreachable!()
                };
                SerdeLine {
                    product_name: l.product_name.clone(),
                    quantity: l.quantity,
                    unit_price: d.clone(),
                }
            })
            .collect(),
        currency: match o.currency {
            Currency::Eur => SerdeCurrency::EUR,
            Currency::Usd => SerdeCurrency::USD,
            Currency::Gbp => SerdeCurrency::GBP,
        },
        created_at: o.created_at.map(|t| t.timestamp_millis()),
    }
}

fn codec(c: &mut Criterion) {
    let order = order();
    let schema = apache_avro::Schema::parse_str(OrderCreated::SCHEMA.schema).unwrap();
    let value = to_value(&order);
    let mut ours = Vec::new();
    order.encode(&mut ours);
    let theirs = apache_avro::to_avro_datum(&schema, value.clone()).unwrap();
    assert_eq!(ours, theirs, "the benchmark compares equal bytes");
    let pb = to_pb(&order);
    let pb_bytes = prost::Message::encode_to_vec(&pb);

    let mut g = c.benchmark_group("encode OrderCreated v3");
    let mut buf = Vec::with_capacity(256);
    g.bench_function("generated (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&order).encode(&mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("apache-avro to_avro_datum", |b| {
        b.iter_batched(
            || value.clone(),
            |v| apache_avro::to_avro_datum(&schema, v).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let serde_order = to_serde(&order);
    // A writer whose header is already out: what is measured is one record and its block.
    let new_writer = || {
        let mut w = apache_avro::Writer::new(&schema, Vec::with_capacity(4096)).unwrap();
        w.append_ser(&serde_order).unwrap();
        w.flush().unwrap();
        w
    };
    g.bench_function("apache-avro serde Writer (append_ser + flush)", |b| {
        b.iter_batched_ref(
            new_writer,
            |w| {
                w.append_ser(black_box(&serde_order)).unwrap();
                w.flush().unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    let mut pb_buf = Vec::with_capacity(256);
    g.bench_function("prost (reused buffer)", |b| {
        b.iter(|| {
            pb_buf.clear();
            prost::Message::encode(black_box(&pb), &mut pb_buf).unwrap();
            black_box(pb_buf.len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decode OrderCreated v3");
    g.bench_function("generated", |b| {
        b.iter(|| OrderCreated::decode(black_box(&ours)).unwrap())
    });
    g.bench_function("apache-avro from_avro_datum", |b| {
        b.iter(|| apache_avro::from_avro_datum(&schema, &mut black_box(&theirs[..]), None).unwrap())
    });
    let container = new_writer().into_inner().unwrap();
    g.bench_function("apache-avro serde Reader (next + from_value)", |b| {
        b.iter_batched(
            || apache_avro::Reader::new(&container[..]).unwrap(),
            |mut r| {
                let v = r.next().unwrap().unwrap();
                apache_avro::from_value::<SerdeOrder>(&v).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("prost", |b| {
        b.iter(|| <PbOrderCreated as prost::Message>::decode(black_box(&pb_bytes[..])).unwrap())
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
