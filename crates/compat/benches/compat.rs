//! Compatibility checking speed, against apache-avro's `SchemaCompatibility::can_read` on the same
//! schema pairs in the same run. Figures and how to read them: `benches/README.md`.

use std::hint::black_box;

use apache_avro::schema_compatibility::SchemaCompatibility;
use contracts_compat::{Level, Version, check};
use contracts_model::Schema;
use contracts_model::avro::{AvroSchema, Validation};
use criterion::{Criterion, criterion_group, criterion_main};

/// Version `i` of an `OrderCreated`-sized record: three fixed fields and a sliding window of
/// five optional ones, so every version reads every other (FULL_TRANSITIVE holds).
fn order_created(i: usize) -> String {
    let mut fields = vec![
        r#"{"name":"order_id","type":"string"}"#.to_string(),
        r#"{"name":"product_name","type":"string"}"#.to_string(),
        r#"{"name":"quantity","type":"int"}"#.to_string(),
        r#"{"name":"currency","type":{"type":"enum","name":"Currency","symbols":["EUR","USD","GBP"],"default":"EUR"},"default":"EUR"}"#.to_string(),
    ];
    for j in i..i + 5 {
        fields.push(format!(
            r#"{{"name":"opt_{j}","type":["null","string"],"default":null}}"#
        ));
    }
    format!(
        r#"{{"type":"record","name":"OrderCreated","namespace":"shop.orders","fields":[{}]}}"#,
        fields.join(",")
    )
}

fn wide(fields: usize, promote: bool) -> String {
    let types = ["int", "string", "double", "boolean", "bytes"];
    let mut out: Vec<String> = (0..fields)
        .map(|i| {
            let ty = match types[i % types.len()] {
                "int" if promote => "long",
                t => t,
            };
            format!(r#"{{"name":"f{i}","type":"{ty}"}}"#)
        })
        .collect();
    if promote {
        out.push(r#"{"name":"added","type":["null","string"],"default":null}"#.to_string());
    }
    format!(
        r#"{{"type":"record","name":"Wide","fields":[{}]}}"#,
        out.join(",")
    )
}

fn ours(text: &str) -> Schema {
    Schema::Avro(AvroSchema::parse_str("bench.avsc", text, Validation::Lenient).expect("valid"))
}

fn theirs(text: &str) -> apache_avro::Schema {
    apache_avro::Schema::parse_str(text).expect("valid")
}

fn history(c: &mut Criterion) {
    let texts: Vec<String> = (0..1000).map(order_created).collect();
    let schemas: Vec<Schema> = texts.iter().map(|t| ours(t)).collect();
    let labels: Vec<String> = (1..=schemas.len()).map(|i| format!("v{i}")).collect();
    let versions: Vec<Version<'_>> = schemas
        .iter()
        .zip(&labels)
        .map(|(schema, label)| Version { label, schema })
        .collect();
    let (candidate, earlier) = versions.split_last().expect("versions");
    assert!(check(Level::FullTransitive, earlier, *candidate).is_empty());

    let apache: Vec<apache_avro::Schema> = texts.iter().map(|t| theirs(t)).collect();
    let (apache_candidate, apache_earlier) = apache.split_last().expect("versions");

    let mut g = c.benchmark_group("history_1000_full_transitive");
    g.sample_size(20);
    g.bench_function("contracts", |b| {
        b.iter(|| check(Level::FullTransitive, black_box(earlier), *candidate))
    });
    g.bench_function("apache_avro", |b| {
        b.iter(|| {
            // can_read(writer, reader), both directions against every earlier version.
            apache_earlier.iter().rev().all(|old| {
                SchemaCompatibility::can_read(old, black_box(apache_candidate)).is_ok()
                    && SchemaCompatibility::can_read(apache_candidate, old).is_ok()
            })
        })
    });
    g.finish();
}

fn wide_pair(c: &mut Criterion) {
    let (old, new) = (wide(200, false), wide(200, true));
    let (o, n) = (ours(&old), ours(&new));
    let (ao, an) = (theirs(&old), theirs(&new));
    let earlier = [Version {
        label: "v1",
        schema: &o,
    }];
    let candidate = Version {
        label: "v2",
        schema: &n,
    };
    assert!(check(Level::Backward, &earlier, candidate).is_empty());
    let mut g = c.benchmark_group("pair_200_fields_backward");
    g.bench_function("contracts", |b| {
        b.iter(|| check(Level::Backward, black_box(&earlier), candidate))
    });
    g.bench_function("apache_avro", |b| {
        b.iter(|| SchemaCompatibility::can_read(black_box(&ao), &an))
    });
    g.finish();
}

criterion_group!(benches, history, wide_pair);
criterion_main!(benches);
