//! Structure-aware generators: inputs that get past the first check of a parser or decoder, so
//! that the fuzzer reaches the code behind it. Random valid Avro schemas and random data written
//! for them, random JSON with deep or wide nesting, `.proto` files, contracts manifests and
//! Protobuf wire-format messages. The targets mutate their output half of the time.

use contracts_core::avro::binary::{
    write_block_end, write_bool, write_bytes, write_double, write_fixed, write_float, write_long,
};
use contracts_core::avro::schema::{Node, Schema};
use rand::Rng as _;
use rand::seq::IndexedRandom;

use crate::Rng;
use crate::mutate::{INTERESTING, varint, zigzag};

const PRIMITIVES: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// A random Avro schema, as JSON text: records (some recursive), enums, fixed, arrays, maps,
/// unions, logical types, named references, defaults and aliases.
pub fn avro_schema(rng: &mut Rng) -> String {
    let mut g = AvroGen {
        named: Vec::new(),
        next: 0,
    };
    let depth = rng.random_range(1..6);
    g.record(rng, depth, None)
}

struct AvroGen {
    /// Full names defined so far, for references.
    named: Vec<String>,
    next: u32,
}

impl AvroGen {
    fn name(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn record(&mut self, rng: &mut Rng, depth: u32, namespace: Option<&str>) -> String {
        let name = self.name("R");
        let ns = if rng.random_bool(0.3) {
            Some(format!("ns{}.sub", rng.random_range(0..3)))
        } else {
            namespace.map(str::to_string)
        };
        let full = match &ns {
            Some(ns) => format!("{ns}.{name}"),
            None => name.clone(),
        };
        self.named.push(full.clone());
        let n = rng.random_range(0..if depth > 3 { 3 } else { 7 });
        let mut fields = Vec::new();
        for i in 0..n {
            let ty = if rng.random_bool(0.08) {
                // A recursive reference, optional so that data can end.
                format!("[\"null\",\"{full}\"]")
            } else {
                self.ty(rng, depth.saturating_sub(1), ns.as_deref())
            };
            let mut field = format!("{{\"name\":\"f{i}\",\"type\":{ty}");
            if ty.starts_with("[\"null\"") && rng.random_bool(0.5) {
                field.push_str(",\"default\":null");
            } else if ty == "\"int\"" || ty == "\"long\"" {
                if rng.random_bool(0.3) {
                    field.push_str(&format!(",\"default\":{}", rng.random::<i32>()));
                }
            } else if ty == "\"string\"" && rng.random_bool(0.3) {
                field.push_str(",\"default\":\"d\"");
            }
            if rng.random_bool(0.1) {
                field.push_str(&format!(",\"aliases\":[\"old{i}\"]"));
            }
            if rng.random_bool(0.1) {
                field.push_str(",\"doc\":\"a field\"");
            }
            field.push('}');
            fields.push(field);
        }
        let ns_member = match &ns {
            Some(ns) if Some(ns.as_str()) != namespace => format!(",\"namespace\":\"{ns}\""),
            _ => String::new(),
        };
        format!(
            "{{\"type\":\"record\",\"name\":\"{name}\"{ns_member},\"fields\":[{}]}}",
            fields.join(",")
        )
    }

    fn ty(&mut self, rng: &mut Rng, depth: u32, ns: Option<&str>) -> String {
        let pick = if depth == 0 {
            rng.random_range(0..3)
        } else {
            rng.random_range(0..12)
        };
        match pick {
            0 | 1 => format!("\"{}\"", PRIMITIVES.choose(rng).unwrap()),
            2 => match self.named.choose(rng) {
                Some(name) if rng.random_bool(0.3) => format!("\"{name}\""),
                _ => logical(rng),
            },
            3 => self.record(rng, depth, ns),
            4 => {
                let name = self.name("E");
                self.named.push(qualify(ns, &name));
                let n = rng.random_range(1..6);
                let symbols: Vec<String> = (0..n).map(|i| format!("\"S{i}\"")).collect();
                let default = if rng.random_bool(0.3) {
                    ",\"default\":\"S0\""
                } else {
                    ""
                };
                format!(
                    "{{\"type\":\"enum\",\"name\":\"{name}\",\"symbols\":[{}]{default}}}",
                    symbols.join(",")
                )
            }
            5 => {
                let name = self.name("F");
                self.named.push(qualify(ns, &name));
                let size = *[0usize, 1, 4, 16].choose(rng).unwrap();
                format!("{{\"type\":\"fixed\",\"name\":\"{name}\",\"size\":{size}}}")
            }
            6 | 7 => format!(
                "{{\"type\":\"array\",\"items\":{}}}",
                self.ty(rng, depth - 1, ns)
            ),
            8 => format!(
                "{{\"type\":\"map\",\"values\":{}}}",
                self.ty(rng, depth - 1, ns)
            ),
            _ => {
                // A union of distinct unnamed kinds plus fresh named types.
                let mut kinds: Vec<&str> = PRIMITIVES.to_vec();
                let n = rng.random_range(1..4);
                let mut branches = Vec::new();
                for _ in 0..n {
                    if rng.random_bool(0.7) && !kinds.is_empty() {
                        let i = rng.random_range(0..kinds.len());
                        branches.push(format!("\"{}\"", kinds.remove(i)));
                    } else {
                        branches.push(self.record(rng, depth - 1, ns));
                    }
                }
                format!("[{}]", branches.join(","))
            }
        }
    }
}

fn qualify(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}.{name}"),
        None => name.to_string(),
    }
}

fn logical(rng: &mut Rng) -> String {
    [
        "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":12,\"scale\":2}",
        "{\"type\":\"string\",\"logicalType\":\"uuid\"}",
        "{\"type\":\"int\",\"logicalType\":\"date\"}",
        "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}",
        "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}",
        "{\"type\":\"int\",\"logicalType\":\"time-millis\"}",
        "{\"type\":\"long\",\"logicalType\":\"local-timestamp-millis\"}",
    ]
    .choose(rng)
    .unwrap()
    .to_string()
}

/// Appends a random value of `schema`'s root, written as Avro's writer would (counts in blocks,
/// sometimes negative with a byte size).
pub fn avro_datum(rng: &mut Rng, schema: &Schema, out: &mut Vec<u8>) {
    let mut values_left = 4096;
    datum(rng, schema, schema.root(), 0, &mut values_left, out);
}

fn small_long(rng: &mut Rng) -> i64 {
    if rng.random_bool(0.2) {
        *INTERESTING.choose(rng).unwrap()
    } else {
        rng.random_range(-1000..1000)
    }
}

/// `values_left` bounds the values written: nested arrays and maps multiply.
fn datum(
    rng: &mut Rng,
    schema: &Schema,
    node: usize,
    depth: u32,
    values_left: &mut u32,
    out: &mut Vec<u8>,
) {
    if depth > 40 || *values_left == 0 {
        // A record that must contain itself has no finite value, and nested arrays multiply:
        // stop, leaving the data short.
        return;
    }
    *values_left -= 1;
    match schema.node(node) {
        Node::Null => {}
        Node::Boolean => write_bool(out, rng.random()),
        Node::Int => write_long(out, small_long(rng) as i32 as i64),
        Node::Long => write_long(out, small_long(rng)),
        Node::Float => write_float(out, rng.random()),
        Node::Double => write_double(out, rng.random()),
        Node::Bytes => {
            // Decimal bytes as often as not: a few bytes of two's complement.
            let n = rng.random_range(0..12);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            write_bytes(out, &bytes);
        }
        Node::String => {
            let text = if rng.random_bool(0.2) {
                "123e4567-e89b-12d3-a456-426614174000".to_string()
            } else {
                let n = rng.random_range(0..12);
                (0..n)
                    .map(|_| *['a', 'Z', '0', 'é', '☃', ' '].choose(rng).unwrap())
                    .collect()
            };
            write_bytes(out, text.as_bytes());
        }
        Node::Array(items) | Node::Map(items) => {
            let is_map = matches!(schema.node(node), Node::Map(_));
            let items = *items;
            let blocks = if depth > 6 { 0 } else { rng.random_range(0..3) };
            for _ in 0..blocks {
                let n = rng.random_range(1..4);
                let mut block = Vec::new();
                for i in 0..n {
                    if is_map {
                        write_bytes(&mut block, format!("k{i}").as_bytes());
                    }
                    datum(rng, schema, items, depth + 1, values_left, &mut block);
                }
                if rng.random_bool(0.3) {
                    write_long(out, -(n as i64));
                    write_long(out, block.len() as i64);
                } else {
                    write_long(out, n as i64);
                }
                out.extend_from_slice(&block);
            }
            write_block_end(out);
        }
        Node::Union(branches) => {
            let i = if depth > 6 {
                // Deep enough: end recursion through a null branch where there is one.
                branches
                    .iter()
                    .position(|b| matches!(schema.node(*b), Node::Null))
                    .unwrap_or(0)
            } else {
                rng.random_range(0..branches.len().max(1))
            };
            write_long(out, i as i64);
            if let Some(b) = branches.get(i) {
                datum(rng, schema, *b, depth + 1, values_left, out);
            }
        }
        Node::Record(r) => {
            for f in &r.fields {
                datum(rng, schema, f.ty, depth + 1, values_left, out);
            }
        }
        Node::Enum(e) => write_long(out, rng.random_range(0..e.symbols.len().max(1)) as i64),
        Node::Fixed(f) => {
            let bytes: Vec<u8> = (0..f.size).map(|_| rng.random()).collect();
            write_fixed(out, &bytes);
        }
    }
}

/// Random JSON: deep arrays and objects, wide ones, duplicate keys, escapes, odd numbers.
pub fn json(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.random_bool(0.05) {
        // Deep nesting, around the parser's depth limit.
        let depth = rng.random_range(100..300);
        let open = if rng.random_bool(0.5) { "[" } else { "{\"a\":" };
        for _ in 0..depth {
            out.push_str(open);
        }
        out.push('1');
        for _ in 0..depth {
            out.push(if open == "[" { ']' } else { '}' });
        }
        return out;
    }
    json_value(rng, 0, &mut out);
    out
}

fn json_value(rng: &mut Rng, depth: u32, out: &mut String) {
    let pick = if depth > 5 || out.len() > 16 * 1024 {
        rng.random_range(0..5)
    } else {
        rng.random_range(0..8)
    };
    match pick {
        0 => out.push_str(["null", "true", "false"].choose(rng).unwrap()),
        1 => out.push_str(
            [
                "0",
                "-0",
                "1e308",
                "1e999",
                "-1.5E-7",
                "123456789012345678901234567890",
                "9223372036854775807",
                "-9223372036854775809",
                "0.1",
            ]
            .choose(rng)
            .unwrap(),
        ),
        2 => out.push_str(&rng.random::<i64>().to_string()),
        3 | 4 => json_string(rng, out),
        5 => {
            out.push('[');
            let n = wide(rng, depth);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                json_value(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            let n = wide(rng, depth);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                json_string(rng, out);
                out.push(':');
                json_value(rng, depth + 1, out);
            }
            out.push('}');
        }
    }
}

/// Mostly narrow; sometimes hundreds of members, at one level only so the text stays small.
fn wide(rng: &mut Rng, depth: u32) -> usize {
    if depth == 0 && rng.random_bool(0.05) {
        rng.random_range(50..500)
    } else {
        rng.random_range(0..5)
    }
}

fn json_string(rng: &mut Rng, out: &mut String) {
    out.push('"');
    let n = rng.random_range(0..8);
    for _ in 0..n {
        out.push_str(
            [
                "a",
                "type",
                "name",
                "\\\"",
                "\\\\",
                "\\n",
                "\\u0000",
                "\\ud83d\\ude00",
                "\\ud800",
                "é",
                "\\/",
            ]
            .choose(rng)
            .unwrap(),
        );
    }
    out.push('"');
}

const PROTO_SCALARS: &[&str] = &[
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
    "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
];

/// A random `.proto` file: messages (nested, recursive), enums, oneofs, maps, reserved ranges,
/// options and imports of the shop's common files and the well-known types.
pub fn proto_file(rng: &mut Rng) -> String {
    let mut out = String::new();
    let proto2 = rng.random_bool(0.2);
    out.push_str(if proto2 {
        "syntax = \"proto2\";\n"
    } else {
        "syntax = \"proto3\";\n"
    });
    out.push_str("package fuzz.v1;\n");
    if rng.random_bool(0.4) {
        out.push_str("import \"shop/common/v1/money.proto\";\n");
    }
    if rng.random_bool(0.3) {
        out.push_str("import \"google/protobuf/timestamp.proto\";\n");
    }
    if rng.random_bool(0.2) {
        out.push_str("option java_package = \"com.example.fuzz\";\n");
    }
    let mut names = Vec::new();
    let n = rng.random_range(1..4);
    for i in 0..n {
        proto_message(rng, &format!("M{i}"), 0, proto2, &mut names, &mut out);
    }
    if rng.random_bool(0.5) {
        out.push_str("enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_B = 2; }\n");
        names.push("Kind".into());
    }
    out
}

fn proto_message(
    rng: &mut Rng,
    name: &str,
    depth: u32,
    proto2: bool,
    names: &mut Vec<String>,
    out: &mut String,
) {
    names.push(name.to_string());
    out.push_str(&format!("message {name} {{\n"));
    let fields = rng.random_range(0..8);
    let mut number = 0;
    for i in 0..fields {
        number += if rng.random_bool(0.1) {
            rng.random_range(1..100_000)
        } else {
            1
        };
        let label = match rng.random_range(0..4) {
            0 => "repeated ",
            1 if proto2 => "optional ",
            1 => "optional ",
            _ if proto2 => "optional ",
            _ => "",
        };
        let ty = match rng.random_range(0..6) {
            0 => names
                .choose(rng)
                .cloned()
                .unwrap_or_else(|| "string".into()),
            1 => "shop.common.v1.Money".into(),
            2 => "google.protobuf.Timestamp".into(),
            3 if label.is_empty() && !proto2 => {
                format!("map<string, {}>", PROTO_SCALARS.choose(rng).unwrap())
            }
            _ => PROTO_SCALARS.choose(rng).unwrap().to_string(),
        };
        let label = if ty.starts_with("map<") { "" } else { label };
        out.push_str(&format!("  {label}{ty} f{i} = {number};\n"));
    }
    if rng.random_bool(0.3) {
        number += 1;
        out.push_str(&format!(
            "  oneof choice {{ string a = {}; int64 b = {}; }}\n",
            number,
            number + 1
        ));
        number += 1;
    }
    if rng.random_bool(0.2) {
        out.push_str(&format!("  reserved {} to {};\n", number + 1, number + 5));
        out.push_str("  reserved \"gone\";\n");
    }
    if depth < 3 && rng.random_bool(0.3) {
        proto_message(rng, &format!("{name}N"), depth + 1, proto2, names, out);
    }
    if rng.random_bool(0.2) {
        out.push_str("  enum Inner { INNER_UNSPECIFIED = 0; INNER_X = 1; }\n");
    }
    out.push_str("}\n");
}

/// A random Protobuf wire-format message: fields 1 to 12 of every wire type, nested messages,
/// packed runs and lengths that lie.
pub fn protobuf_message(rng: &mut Rng, depth: u32, out: &mut Vec<u8>) {
    let fields = rng.random_range(0..8);
    for _ in 0..fields {
        let number: u64 = if rng.random_bool(0.05) {
            *INTERESTING.choose(rng).unwrap() as u64
        } else {
            rng.random_range(1..13)
        };
        let wire: u64 = *[0u64, 0, 1, 2, 2, 2, 5, 3, 4, 6].choose(rng).unwrap();
        varint(out, (number << 3) | wire);
        match wire {
            0 => varint(out, *INTERESTING.choose(rng).unwrap() as u64),
            1 => out.extend_from_slice(&rng.random::<u64>().to_le_bytes()),
            5 => out.extend_from_slice(&rng.random::<u32>().to_le_bytes()),
            2 => {
                let mut inner = Vec::new();
                match rng.random_range(0..3) {
                    0 if depth < 4 => protobuf_message(rng, depth + 1, &mut inner),
                    1 => {
                        let n = rng.random_range(0..6);
                        for _ in 0..n {
                            varint(&mut inner, rng.random_range(0..300));
                        }
                    }
                    _ => inner.extend_from_slice("o-1 ☃".as_bytes()),
                }
                let len = if rng.random_bool(0.05) {
                    *INTERESTING.choose(rng).unwrap() as u64
                } else {
                    inner.len() as u64
                };
                varint(out, len);
                out.extend_from_slice(&inner);
            }
            _ => {}
        }
    }
}

/// A Confluent wire header: magic byte, schema id, and for Protobuf the message indexes.
pub fn wire_header(rng: &mut Rng, schema_id: u32, protobuf: bool, out: &mut Vec<u8>) {
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    if protobuf {
        if rng.random_bool(0.7) {
            zigzag(out, 0);
        } else {
            let n = rng.random_range(1..4);
            zigzag(out, n);
            for _ in 0..n {
                zigzag(out, rng.random_range(0..3));
            }
        }
    }
}

/// A random contracts manifest: the shop's own shape with changed names, levels, strategies,
/// versions and files (of the repository's `schemas/`), missing and extra keys.
pub fn manifest(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.random_bool(0.8) {
        out.push_str(&format!(
            "[defaults]\ncompatibility = \"{}\"\nsubject_strategy = \"{}\"\n\n",
            LEVELS.choose(rng).unwrap(),
            STRATEGIES.choose(rng).unwrap()
        ));
    }
    let services = ["order", "inventory", "notification", "ghost"];
    for s in &services[..rng.random_range(0..4)] {
        out.push_str(&format!(
            "[services.{s}]\ndescription = \"The {s} service.\"\n\n"
        ));
    }
    let topics = ["orders", "inventory", "order-created-pb", "bad topic!"];
    for t in &topics[..rng.random_range(0..4)] {
        out.push_str(&format!(
            "[topics.{t:?}]\ndescription = \"t\"\npartitions = {}\nkey = \"order_id\"\n",
            [1i64, 6, 0, -1, 1 << 40].choose(rng).unwrap()
        ));
        if rng.random_bool(0.5) {
            out.push_str(&format!(
                "subject_strategy = \"{}\"\n",
                STRATEGIES.choose(rng).unwrap()
            ));
        }
        out.push('\n');
    }
    let events = rng.random_range(0..5);
    for _ in 0..events {
        let (name, format, files) = *EVENTS.choose(rng).unwrap();
        out.push_str(&format!(
            "[[events]]\nname = \"{name}\"\nformat = \"{format}\"\ntopic = \"{}\"\n",
            topics.choose(rng).unwrap()
        ));
        if rng.random_bool(0.3) {
            out.push_str(&format!(
                "compatibility = \"{}\"\n",
                LEVELS.choose(rng).unwrap()
            ));
        }
        if rng.random_bool(0.6) {
            out.push_str(&format!(
                "producers = [\"{}\"]\n",
                services.choose(rng).unwrap()
            ));
        }
        if rng.random_bool(0.6) {
            out.push_str(&format!(
                "consumers = [\"{}\", \"{}\"]\n",
                services.choose(rng).unwrap(),
                services.choose(rng).unwrap()
            ));
        }
        out.push_str("versions = [\n");
        let n = rng.random_range(0..=files.len() + 1);
        for v in 0..n {
            let file = files.get(v).or(files.first()).unwrap();
            let number = if rng.random_bool(0.9) {
                v as i64 + 1
            } else {
                *INTERESTING.choose(rng).unwrap()
            };
            out.push_str(&format!("  {{ version = {number}, file = \"{file}\" }},\n"));
        }
        out.push_str("]\n\n");
    }
    out
}

const LEVELS: &[&str] = &[
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
    "backward",
    "SIDEWAYS",
];

const STRATEGIES: &[&str] = &[
    "TopicNameStrategy",
    "RecordNameStrategy",
    "TopicRecordNameStrategy",
    "NoStrategy",
];

const EVENTS: &[(&str, &str, &[&str])] = &[
    (
        "shop.orders.OrderCreated",
        "avro",
        &[
            "shop/orders/order_created/v1.avsc",
            "shop/orders/order_created/v2.avsc",
            "shop/orders/order_created/v3.avsc",
        ],
    ),
    (
        "shop.orders.OrderPaid",
        "avro",
        &["shop/orders/order_paid/v1.avsc"],
    ),
    (
        "shop.inventory.v1.InventoryReserved",
        "protobuf",
        &[
            "shop/inventory/v1/inventory_reserved.proto",
            "shop/inventory/v2/inventory_reserved.proto",
        ],
    ),
    (
        "shop.orders.v1.OrderCreated",
        "protobuf",
        &["shop/orders/v1/order_created.proto"],
    ),
    ("shop.orders.Missing", "avro", &["shop/orders/missing.avsc"]),
];
