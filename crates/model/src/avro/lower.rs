//! Lowering to the runtime's schema graph ([`contracts_core::avro::Schema`]): node for node,
//! with the same ids, so that code that walks this model can follow a plan made on the graph.
//! The canonical form and fingerprints are the graph's, so generated code and the runtime
//! compute them with one writer.

use contracts_core::avro::schema as core;

use super::{AvroSchema, Kind};
use crate::json::{Json, Value};

pub(super) fn lower(schema: &AvroSchema) -> core::Schema {
    let nodes = schema.nodes.iter().map(|n| node(&n.kind)).collect();
    core::Schema::from_nodes(nodes, schema.root)
}

fn node(kind: &Kind) -> core::Node {
    match kind {
        Kind::Null => core::Node::Null,
        Kind::Boolean => core::Node::Boolean,
        Kind::Int => core::Node::Int,
        Kind::Long => core::Node::Long,
        Kind::Float => core::Node::Float,
        Kind::Double => core::Node::Double,
        Kind::Bytes => core::Node::Bytes,
        Kind::String => core::Node::String,
        Kind::Array(c) => core::Node::Array(c.node),
        Kind::Map(c) => core::Node::Map(c.node),
        Kind::Union(bs) => core::Node::Union(bs.iter().map(|c| c.node).collect()),
        Kind::Record(r) => core::Node::Record(core::Record {
            name: r.named.name.full(),
            aliases: r.named.aliases.clone(),
            fields: r
                .fields
                .iter()
                .map(|f| core::Field {
                    name: f.name.clone(),
                    aliases: f.aliases.clone(),
                    ty: f.ty.node,
                    default: f.default.as_ref().map(value),
                })
                .collect(),
        }),
        Kind::Enum(e) => core::Node::Enum(core::Enum {
            name: e.named.name.full(),
            aliases: e.named.aliases.clone(),
            symbols: e.symbols.clone(),
            default: e.default.clone(),
        }),
        Kind::Fixed(f) => core::Node::Fixed(core::Fixed {
            name: f.named.name.full(),
            aliases: f.named.aliases.clone(),
            size: f.size,
        }),
    }
}

/// A default as `serde_json` reads it from the same text: numbers parsed from what was
/// written, the last of repeated keys.
fn value(json: &Json) -> serde_json::Value {
    match &json.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::from_str(n.raw())
            .ok()
            .or_else(|| serde_json::Number::from_f64(n.as_f64()).map(serde_json::Value::Number))
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => serde_json::Value::Array(items.iter().map(value).collect()),
        Value::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|m| (m.key.clone(), value(&m.value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::avro::{AvroSchema, Validation};

    #[test]
    fn lowering_keeps_node_ids_and_defaults() {
        let s = AvroSchema::parse_str(
            "t.avsc",
            r#"{"type":"record","name":"R","namespace":"a","fields":[
                {"name":"n","type":["null","R"],"default":null},
                {"name":"m","type":{"type":"map","values":"long"},"default":{"k":12345678901}}
            ]}"#,
            Validation::Strict,
        )
        .unwrap();
        let g = s.lower();
        assert_eq!(g.len(), s.nodes().len());
        assert_eq!(g.root(), s.root());
        let contracts_core::avro::schema::Node::Record(r) = g.node(g.root()) else {
            panic!("the root is a record");
        };
        assert_eq!(r.name, "a.R");
        assert_eq!(
            r.fields[1].default,
            Some(serde_json::json!({"k": 12345678901_i64}))
        );
    }
}
