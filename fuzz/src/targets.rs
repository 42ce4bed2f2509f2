//! The targets: every decoder and parser that reads input from outside.
//!
//! | target            | code under test                                                        |
//! |-------------------|------------------------------------------------------------------------|
//! | `wire`            | `contracts_core::wire`: the Confluent header and Protobuf message indexes |
//! | `avro`            | the Avro binary reader (`resolve::skip`) and resolver (`Program::run`) on random schemas |
//! | `events`          | a framed record decoded into each topic's `TopicMessage` (Avro and Protobuf topics, plain, generated resolving and generic resolving decoders) |
//! | `json`            | `contracts_model::json`, the span-keeping JSON parser schemas go through |
//! | `avro-schema`     | `contracts_model::avro` (strict and lenient) and the runtime's `contracts_core::avro::Schema::parse` |
//! | `protobuf-schema` | `contracts_model::protobuf` (`.proto` text, with the shop's imports)    |
//! | `manifest`        | `contracts_model::manifest` (`contracts.toml`)                          |

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use contracts_core::avro::resolve::{Program, skip};
use contracts_core::avro::{Reader, Schema};
use contracts_core::{Event, Format, SchemaId, SchemaInfo, TopicMessage, WriterSchema, wire};
use contracts_model::avro::{AvroSchema, Validation};
use contracts_model::manifest::Manifest;
use contracts_model::protobuf::ProtoSchema;
use rand::Rng as _;
use rand::SeedableRng;
use rand::seq::IndexedRandom;

use crate::generate;
use crate::mutate::mutate;
use crate::{Rng, Target};

/// Every target, in the order `--target all` runs them.
pub fn all() -> Vec<&'static dyn Target> {
    vec![
        &Wire,
        &Avro,
        &Events,
        &Json,
        &AvroSchemaText,
        &ProtobufSchemaText,
        &ManifestText,
    ]
}

/// The target named `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Target> {
    all().into_iter().find(|t| t.name() == name)
}

/// Inputs longer than this are cut: big enough for deep nesting and long repetitions.
const MAX_LEN: usize = 64 * 1024;

/// Half of the time a corpus entry mutated, else the structure-aware generator's output,
/// itself mutated half of the time.
fn mixed(
    rng: &mut Rng,
    corpus: &[Vec<u8>],
    dict: &[&str],
    out: &mut Vec<u8>,
    generate: impl FnOnce(&mut Rng, &mut Vec<u8>),
) {
    if rng.random_bool(0.5) {
        out.extend_from_slice(corpus.choose(rng).unwrap());
        mutate(rng, out, corpus, dict, MAX_LEN);
    } else {
        generate(rng, out);
        if rng.random_bool(0.5) {
            mutate(rng, out, corpus, dict, MAX_LEN);
        }
        out.truncate(MAX_LEN);
    }
}

fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

fn schemas_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas"))
}

// --- wire ---------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Wire;

impl Target for Wire {
    fn name(&self) -> &'static str {
        "wire"
    }
    fn budget(&self) -> Duration {
        Duration::from_millis(10)
    }
    fn builtin_seeds(&self) -> Vec<Vec<u8>> {
        let mut rng = Rng::seed_from_u64(1);
        (0..8)
            .map(|i| {
                let mut out = Vec::new();
                generate::wire_header(&mut rng, i, i % 2 == 1, &mut out);
                generate::protobuf_message(&mut rng, 0, &mut out);
                out
            })
            .collect()
    }
    fn generate(&self, rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
        mixed(rng, corpus, &[], out, |rng, out| {
            let id = rng.random();
            let protobuf = rng.random_bool(0.5);
            generate::wire_header(rng, id, protobuf, out);
            generate::protobuf_message(rng, 0, out);
        });
    }
    fn run(&self, input: &[u8]) {
        let _ = wire::read_header(input);
        let _ = wire::split(input, Format::Avro);
        if let Ok(framed) = wire::split(input, Format::Protobuf) {
            assert!(!framed.message_indexes.is_empty());
            assert!(framed.payload.len() < input.len());
        }
        let _ = wire::read_message_indexes(input);
    }
}

// --- avro ---------------------------------------------------------------------------------

/// Inputs of the `avro` target: the writer schema's length (4 bytes, little-endian), the schema
/// text, then the payload.
pub fn avro_input(schema: &str, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(schema.len() as u32).to_le_bytes());
    out.extend_from_slice(schema.as_bytes());
    out.extend_from_slice(payload);
}

fn split_avro_input(input: &[u8]) -> Option<(&str, &[u8])> {
    let len = u32::from_le_bytes(input.get(..4)?.try_into().ok()?) as usize;
    let schema = input.get(4..4usize.checked_add(len)?)?;
    Some((std::str::from_utf8(schema).ok()?, &input[4 + len..]))
}

/// The shop's Avro schemas, as in `schemas/`.
const SHOP_AVRO: &[&str] = &[
    include_str!("../../schemas/shop/orders/order_created/v1.avsc"),
    include_str!("../../schemas/shop/orders/order_created/v2.avsc"),
    include_str!("../../schemas/shop/orders/order_created/v3.avsc"),
    include_str!("../../schemas/shop/orders/order_paid/v1.avsc"),
    include_str!("../../schemas/shop/orders/order_shipped/v1.avsc"),
];

#[derive(Debug)]
pub struct Avro;

type ParsedAvro = Option<(Schema, Option<Program>)>;

thread_local! {
    /// The last schema seen, parsed, with its resolution program against itself: most inputs
    /// reuse a corpus entry's schema, as a consumer reuses a writer schema.
    static LAST_AVRO: RefCell<(String, ParsedAvro)> = const { RefCell::new((String::new(), None)) };
}

impl Target for Avro {
    fn name(&self) -> &'static str {
        "avro"
    }
    fn budget(&self) -> Duration {
        Duration::from_millis(10)
    }
    fn builtin_seeds(&self) -> Vec<Vec<u8>> {
        let mut rng = Rng::seed_from_u64(2);
        let mut seeds = Vec::new();
        for text in SHOP_AVRO {
            let schema = Schema::parse(text).expect("the shop's schemas parse");
            for _ in 0..4 {
                let mut payload = Vec::new();
                generate::avro_datum(&mut rng, &schema, &mut payload);
                let mut seed = Vec::new();
                avro_input(text, &payload, &mut seed);
                seeds.push(seed);
            }
        }
        seeds
    }
    fn generate(&self, rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
        let pick = rng.random_range(0..10);
        if pick < 5 {
            // Keep the schema, mutate the payload: the decoder's view of hostile records.
            let seed = corpus.choose(rng).unwrap();
            match split_avro_input(seed) {
                Some((schema, payload)) => {
                    let mut payload = payload.to_vec();
                    let others: Vec<Vec<u8>> = Vec::new();
                    mutate(rng, &mut payload, &others, &[], MAX_LEN);
                    avro_input(schema, &payload, out);
                }
                None => out.extend_from_slice(seed),
            }
        } else if pick < 9 {
            // A random schema and data written for it, the data mutated most of the time.
            let text = generate::avro_schema(rng);
            let Ok(schema) = Schema::parse(&text) else {
                avro_input(&text, &[], out);
                return;
            };
            let mut payload = Vec::new();
            generate::avro_datum(rng, &schema, &mut payload);
            if rng.random_bool(0.7) {
                mutate(rng, &mut payload, &[], &[], MAX_LEN);
            }
            avro_input(&text, &payload, out);
        } else {
            out.extend_from_slice(corpus.choose(rng).unwrap());
            mutate(rng, out, corpus, &[], MAX_LEN);
        }
    }
    fn run(&self, input: &[u8]) {
        let Some((text, payload)) = split_avro_input(input) else {
            return;
        };
        LAST_AVRO.with_borrow_mut(|(last, parsed)| {
            if last != text {
                last.clear();
                last.push_str(text);
                *parsed = Schema::parse(text).ok().map(|s| {
                    let program = Program::new(&s, &s).ok();
                    (s, program)
                });
            }
            let Some((schema, program)) = parsed else {
                return;
            };
            // The generic reader: what the resolver does with writer data it drops.
            let mut r = Reader::new(payload);
            if skip(schema, schema.root(), &mut r, "").is_ok() {
                let _ = r.finish();
            }
            // The resolver, writer against itself; its output must read back the same way.
            if let Some(program) = program {
                let mut out = Vec::with_capacity(payload.len().min(1 << 16));
                if program.run(payload, &mut out).is_ok() {
                    let budget = contracts_core::avro::binary::item_budget(payload.len());
                    let mut r = Reader::with_item_budget(&out, budget);
                    assert!(
                        skip(schema, schema.root(), &mut r, "").is_ok() && r.finish().is_ok(),
                        "the resolver's output does not read back with the schema it was resolved to"
                    );
                }
            }
        });
    }
}

// --- events -------------------------------------------------------------------------------

/// Every version of every event the shop has: what a consumer may find in the registry.
fn shop_events() -> Vec<&'static SchemaInfo> {
    use events::{inventory, order_created_pb, orders};
    vec![
        orders::v1::OrderCreated::SCHEMA,
        orders::v2::OrderCreated::SCHEMA,
        orders::v3::OrderCreated::SCHEMA,
        orders::v1::OrderPaid::SCHEMA,
        orders::v1::OrderShipped::SCHEMA,
        inventory::v1::InventoryReserved::SCHEMA,
        inventory::v2::InventoryReserved::SCHEMA,
        inventory::v1::InventoryRejected::SCHEMA,
        inventory::v2::InventoryRejected::SCHEMA,
        inventory::v3::InventoryRejected::SCHEMA,
        order_created_pb::v1::OrderCreated::SCHEMA,
        order_created_pb::v2::OrderCreated::SCHEMA,
    ]
}

/// The writer schemas records of the `events` target claim: every shop event, and v3 of
/// OrderCreated with one more field (a version unknown at build time, so the generic
/// resolver reads it), as the runtime builds them from the registry.
fn event_writers() -> &'static [(WriterSchema, Option<Schema>)] {
    static WRITERS: OnceLock<Vec<(WriterSchema, Option<Schema>)>> = OnceLock::new();
    WRITERS.get_or_init(|| {
        let mut writers: Vec<(WriterSchema, Option<Schema>)> = shop_events()
            .into_iter()
            .enumerate()
            .map(|(i, info)| {
                let name = Some(info.name.to_string());
                let w = WriterSchema::new(
                    SchemaId(i as u32 + 1),
                    info.format,
                    info.schema,
                    name,
                    info.message_indexes.to_vec(),
                );
                let parsed = (info.format == Format::Avro)
                    .then(|| Schema::parse(info.schema).expect("the shop's schemas parse"));
                (w, parsed)
            })
            .collect();
        let v3 = events::orders::v3::OrderCreated::SCHEMA.schema;
        let at = v3.rfind(']').expect("a record schema");
        let extended = format!(
            "{},{{\"name\":\"extra\",\"type\":[\"null\",{{\"type\":\"array\",\"items\":\"null\"}}],\"default\":null}}{}",
            &v3[..at],
            &v3[at..]
        );
        let parsed = Schema::parse(&extended).expect("the extended schema parses");
        writers.push((
            WriterSchema::new(SchemaId(100), Format::Avro, extended, None, vec![]),
            Some(parsed),
        ));
        writers
    })
}

/// Inputs of the `events` target: one selector byte (which writer schema the record claims,
/// and which topic's consumer reads it), then the record value as on the topic.
#[derive(Debug)]
pub struct Events;

fn event_record(rng: &mut Rng, writer: usize, out: &mut Vec<u8>) {
    let writers = event_writers();
    let (w, parsed) = &writers[writer % writers.len()];
    let topic = rng.random_range(0..3u8);
    out.push(writer as u8 + topic * writers.len() as u8);
    generate::wire_header(rng, w.id().0, w.format() == Format::Protobuf, out);
    match parsed {
        Some(schema) => generate::avro_datum(rng, schema, out),
        None => generate::protobuf_message(rng, 0, out),
    }
}

impl Target for Events {
    fn name(&self) -> &'static str {
        "events"
    }
    fn budget(&self) -> Duration {
        Duration::from_millis(10)
    }
    fn builtin_seeds(&self) -> Vec<Vec<u8>> {
        let mut rng = Rng::seed_from_u64(3);
        let mut seeds = Vec::new();
        for w in 0..event_writers().len() {
            for _ in 0..3 {
                let mut seed = Vec::new();
                event_record(&mut rng, w, &mut seed);
                seeds.push(seed);
            }
        }
        seeds
    }
    fn generate(&self, rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
        mixed(rng, corpus, &[], out, |rng, out| {
            let w = rng.random_range(0..event_writers().len());
            event_record(rng, w, out);
        });
    }
    fn run(&self, input: &[u8]) {
        let Some((&selector, record)) = input.split_first() else {
            return;
        };
        let writers = event_writers();
        let (writer, _) = &writers[selector as usize % writers.len()];
        let topic = selector as usize / writers.len() % 3;
        // As the runtime's consumer does: split the framing, then decode into the topic's enum.
        let Ok(framed) = wire::split(record, writer.format()) else {
            return;
        };
        let payload = framed.payload;
        let _ = match topic {
            0 => events::orders::Message::decode_from(writer, payload).map(drop),
            1 => events::inventory::Message::decode_from(writer, payload).map(drop),
            _ => events::order_created_pb::Message::decode_from(writer, payload).map(drop),
        };
    }
}

// --- json ---------------------------------------------------------------------------------

const JSON_DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "null",
    "true",
    "false",
    "-",
    "e",
    "E",
    ".",
    "\\u",
    "\\",
    "\"type\"",
    "\"record\"",
    "\"fields\"",
    "\"name\"",
    "\u{feff}",
    " ",
    "\n",
    "/*",
    "//",
    "[[[[[[[[",
    "]]]]]]]]",
    "{\"a\":{\"a\":{\"a\":",
];

#[derive(Debug)]
pub struct Json;

impl Target for Json {
    fn name(&self) -> &'static str {
        "json"
    }
    fn budget(&self) -> Duration {
        Duration::from_millis(20)
    }
    fn builtin_seeds(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn generate(&self, rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
        mixed(rng, corpus, JSON_DICT, out, |rng, out| {
            out.extend_from_slice(generate::json(rng).as_bytes())
        });
    }
    fn run(&self, input: &[u8]) {
        let text = text(input);
        if let Ok(json) = contracts_model::json::parse(&text) {
            assert!(
                json.span.end <= text.len(),
                "a span past the end of the text"
            );
        }
    }
}

// --- avro-schema ----------------------------------------------------------------------------

const AVRO_DICT: &[&str] = &[
    "\"type\"",
    "\"record\"",
    "\"enum\"",
    "\"fixed\"",
    "\"array\"",
    "\"map\"",
    "\"items\"",
    "\"values\"",
    "\"fields\"",
    "\"symbols\"",
    "\"size\"",
    "\"name\"",
    "\"namespace\"",
    "\"aliases\"",
    "\"default\"",
    "\"logicalType\"",
    "\"decimal\"",
    "\"precision\"",
    "\"scale\"",
    "\"null\"",
    "\"string\"",
    "\"long\"",
    "[\"null\",",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    ".",
    "-1",
    "2147483648",
];

#[derive(Debug)]
pub struct AvroSchemaText;

impl Target for AvroSchemaText {
    fn name(&self) -> &'static str {
        "avro-schema"
    }
    fn budget(&self) -> Duration {
        Duration::from_millis(50)
    }
    fn builtin_seeds(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn generate(&self, rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
        mixed(rng, corpus, AVRO_DICT, out, |rng, out| {
            out.extend_from_slice(generate::avro_schema(rng).as_bytes())
        });
    }
    fn run(&self, input: &[u8]) {
        let text = text(input);
        for validation in [Validation::Strict, Validation::Lenient] {
            if let Ok(schema) = AvroSchema::parse_str("fuzz.avsc", &text, validation) {
                let lowered = schema.lower();
                let _ = schema.canonical_form();
                let _ = schema.sha256();
                let _ = Program::new(&lowered, &lowered);
            }
        }
        // The runtime's parser, which reads writer schemas from the registry.
        if let Ok(schema) = Schema::parse(&text) {
            let _ = schema.fingerprint();
            let _ = Program::new(&schema, &schema);
        }
    }
}

// --- protobuf-schema ------------------------------------------------------------------------

const PROTO_DICT: &[&str] = &[
    "message ",
    "enum ",
    "oneof ",
    "map<",
    ">",
    "repeated ",
    "optional ",
    "required ",
    "reserved ",
    "extensions ",
    "extend ",
    "service ",
    "rpc ",
    "returns ",
    "stream ",
    "import ",
    "public ",
    "weak ",
    "package ",
    "option ",
    "syntax = \"proto2\";",
    "syntax = \"proto3\";",
    "edition = \"2023\";",
    "{",
    "}",
    ";",
    "=",
    "[",
    "]",
    "(",
    ")",
    "<",
    ",",
    ".",
    "\"",
    "/*",
    "*/",
    "//",
    "max",
    "to",
    "0x",
    "536870911",
    "19000",
    "string ",
    "int32 ",
    "bytes ",
    "group ",
    "default = ",
    "json_name = ",
    "stream",
];

/// The shop's files that fuzzed `.proto` text may import, as in `schemas/`.
const SHOP_PROTO_IMPORTS: &[(&str, &str)] = &[
    (
        "shop/common/v1/money.proto",
        include_str!("../../schemas/shop/common/v1/money.proto"),
    ),
    (
        "shop/common/v1/line_item.proto",
        include_str!("../../schemas/shop/common/v1/line_item.proto"),
    ),
];

#[derive(Debug)]
pub struct ProtobufSchemaText;

impl Target for ProtobufSchemaText {
    fn name(&self) -> &'static str {
        "protobuf-schema"
    }
    fn budget(&self) -> Duration {
        Duration::from_millis(100)
    }
    fn builtin_seeds(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn generate(&self, rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
        mixed(rng, corpus, PROTO_DICT, out, |rng, out| {
            out.extend_from_slice(generate::proto_file(rng).as_bytes())
        });
    }
    fn run(&self, input: &[u8]) {
        let mut files: BTreeMap<String, String> = SHOP_PROTO_IMPORTS
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect();
        files.insert("fuzz.proto".into(), text(input).into_owned());
        if let Ok(schema) = ProtoSchema::parse_files(files, "fuzz.proto") {
            let _ = schema.entry_descriptor_bytes();
            let _ = schema.package();
        }
    }
}

// --- manifest -------------------------------------------------------------------------------

const TOML_DICT: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'''",
    "\"\"\"",
    "\n",
    ",",
    "{",
    "}",
    ".",
    "#",
    "[events]",
    "[[events]]",
    "[topics.",
    "[services.",
    "[defaults]",
    "name",
    "format",
    "topic",
    "versions",
    "version",
    "file",
    "root",
    "producers",
    "consumers",
    "compatibility",
    "subject_strategy",
    "key",
    "partitions",
    "description",
    "1979-05-27T07:32:00Z",
    "inf",
    "nan",
    "0x7f",
    "1_000",
    "\"avro\"",
    "\"protobuf\"",
    "\"shop/orders/order_created/v1.avsc\"",
];

#[derive(Debug)]
pub struct ManifestText;

impl Target for ManifestText {
    fn name(&self) -> &'static str {
        "manifest"
    }
    fn budget(&self) -> Duration {
        Duration::from_millis(50)
    }
    fn builtin_seeds(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn generate(&self, rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
        mixed(rng, corpus, TOML_DICT, out, |rng, out| {
            out.extend_from_slice(generate::manifest(rng).as_bytes())
        });
    }
    fn run(&self, input: &[u8]) {
        let text = text(input);
        let _ = Manifest::parse("contracts.toml", &text, schemas_dir());
    }
}
