//! Turning schema text from a request or the log into a parsed model, with its references.
//!
//! All parsing is contracts-model's: strict for a schema being registered, lenient for versions
//! already stored (as Confluent does). This module only assembles what the parser needs (the
//! referenced schemas) and computes the identity that decides "same schema → same id".

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use base64::Engine;
use contracts_model::Schema;
use contracts_model::avro::{AvroSchema, Validation};
use contracts_model::protobuf::ProtoSchema;
use prost::Message;
use serde_json::Value;

use contracts_registry_client::api::SchemaType;

/// The file name a registered Protobuf schema gets when it is compiled (its imports keep theirs).
pub const PROTO_ENTRY: &str = "schema.proto";

/// One referenced schema (one subject and version), resolved once per request however often it
/// is referenced.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub schema_type: SchemaType,
    pub text: Arc<str>,
    /// Its own references: the reference name and the index of the schema in
    /// [`References::schemas`].
    pub references: Vec<(String, usize)>,
}

/// The transitive closure of a schema's references: every referenced schema once, and the
/// names the schema itself gives them. Within one closure a name denotes one schema.
#[derive(Debug, Clone, Default)]
pub struct References {
    pub schemas: Vec<Resolved>,
    /// The schema's own references: (name, index in `schemas`).
    pub root: Vec<(String, usize)>,
}

impl References {
    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// Every reference name in the closure with the schema it denotes.
    fn names(&self) -> HashMap<&str, usize> {
        self.root
            .iter()
            .chain(self.schemas.iter().flat_map(|s| s.references.iter()))
            .map(|(n, i)| (n.as_str(), *i))
            .collect()
    }
}

/// A parsed schema and the key that identifies it among registered schemas.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub schema: Schema,
    /// Equal for schemas that differ only in formatting, property order or comments.
    pub identity: String,
    /// Compact text to store when the client asked to `normalize`.
    pub normalized: String,
}

/// Why a schema is invalid: the message of a 42201 answer.
pub type Invalid = String;

/// Parses `text` of type `ty` whose references are `refs`.
pub fn parse(
    ty: &SchemaType,
    text: &str,
    refs: &References,
    validation: Validation,
) -> Result<Parsed, Invalid> {
    if text.trim().is_empty() {
        return Err("Empty schema".to_string());
    }
    match ty {
        SchemaType::Avro => parse_avro(text, refs, validation),
        SchemaType::Protobuf => parse_protobuf(text, refs),
        SchemaType::Json => Err(
            "Invalid schema type JSON: this registry supports AVRO and PROTOBUF schemas"
                .to_string(),
        ),
        SchemaType::Other(t) => Err(format!(
            "Invalid schema type {t}: this registry supports AVRO and PROTOBUF schemas"
        )),
    }
}

fn describe(d: &contracts_model::Diagnostic) -> String {
    match d.help() {
        Some(help) => format!("Invalid schema: {d}; help: {help}"),
        None => format!("Invalid schema: {d}"),
    }
}

fn parse_avro(text: &str, refs: &References, validation: Validation) -> Result<Parsed, Invalid> {
    let schema = if refs.is_empty() {
        AvroSchema::parse_str("schema", text, validation).map_err(|d| describe(&d))?
    } else {
        // The model parses one document; referenced named types are inlined at their first use
        // so that the parser sees each definition once, as Avro's Schema.Parser does when it is
        // fed the references first. Each definition is spliced in on one line in place of the
        // name, so errors in the schema's own text keep their line numbers.
        let inlined = inline_avro_references(text, refs)?;
        AvroSchema::parse_str("schema", &inlined, validation).map_err(|d| describe(&d))?
    };
    let normalized = compact_json(text).unwrap_or_else(|| text.to_string());
    let identity = format!("AVRO:{normalized}");
    Ok(Parsed {
        schema: Schema::Avro(schema),
        identity,
        normalized,
    })
}

/// Compact JSON with sorted object keys: the same for texts that differ only in layout.
fn compact_json(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    Some(sorted(&v).to_string())
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let b: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(b.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

const AVRO_PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn inline_avro_references(text: &str, refs: &References) -> Result<String, Invalid> {
    let names = refs.names();
    for (name, index) in &names {
        let ty = &refs.schemas[*index].schema_type;
        if *ty != SchemaType::Avro {
            return Err(format!(
                "Invalid schema: reference \"{name}\" is a {ty} schema; an Avro schema can only reference Avro schemas"
            ));
        }
    }
    let mut defined = HashSet::new();
    splice_definitions(text, &names, refs, &mut defined)
}

/// `text` with each referenced named type it uses first spliced in as its definition (on one
/// line, so that lines keep their numbers), the definitions' own references spliced the same
/// way. One set of defined names for the whole document: every definition appears once, so the
/// output grows with the closure, not with the number of paths through it.
fn splice_definitions(
    text: &str,
    names: &HashMap<&str, usize>,
    refs: &References,
    defined: &mut HashSet<String>,
) -> Result<String, Invalid> {
    let root = contracts_model::json::parse(text)
        .map_err(|e| format!("Invalid schema: invalid JSON: {}", e.message))?;
    let mut uses = Vec::new();
    inline(&root, None, names, defined, &mut uses);
    let mut splices = Vec::with_capacity(uses.len());
    for (span, full, index) in uses {
        splices.push((span, definition(&full, index, names, refs, defined)?));
    }
    // From the end, so earlier spans stay valid.
    splices.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut out = text.to_string();
    for (span, definition) in splices {
        out.replace_range(span.start..span.end, &definition);
    }
    Ok(out)
}

/// The referenced schema `index` (named `name`) as compact, self-contained JSON: its own
/// references spliced in and its namespace explicit, so that splicing it under another
/// namespace does not rename it.
fn definition(
    name: &str,
    index: usize,
    names: &HashMap<&str, usize>,
    refs: &References,
    defined: &mut HashSet<String>,
) -> Result<String, Invalid> {
    let r = &refs.schemas[index];
    let text = if r.references.is_empty() {
        r.text.to_string()
    } else {
        splice_definitions(&r.text, names, refs, defined)?
    };
    let mut v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("Invalid schema: referenced schema \"{name}\" is not JSON: {e}"))?;
    if let Value::Object(m) = &mut v {
        let own = m.get("name").and_then(Value::as_str).unwrap_or_default();
        if !own.contains('.') && !m.contains_key("namespace") {
            m.insert("namespace".into(), Value::String(String::new()));
        }
    }
    Ok(v.to_string())
}

fn full_name(name: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if !ns.is_empty() && !name.contains('.') => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

/// Finds the first use of each referenced name not defined yet; records (span of the name,
/// its full name, the referenced schema) and marks it defined.
fn inline(
    v: &contracts_model::json::Json,
    ns: Option<&str>,
    defs: &HashMap<&str, usize>,
    defined: &mut HashSet<String>,
    splices: &mut Vec<(contracts_model::Span, String, usize)>,
) {
    use contracts_model::json::Value as J;
    match &v.value {
        J::String(name) if !AVRO_PRIMITIVES.contains(&name.as_str()) => {
            for candidate in [full_name(name, ns), name.clone()] {
                if let Some(index) = defs.get(candidate.as_str()) {
                    if defined.insert(candidate.clone()) {
                        splices.push((v.span, candidate, *index));
                    }
                    return;
                }
            }
        }
        J::Array(items) => items
            .iter()
            .for_each(|i| inline(i, ns, defs, defined, splices)),
        J::Object(_) => {
            let name = v.get("name").and_then(|n| n.as_str()).map(str::to_string);
            let own_ns = match (&name, v.get("namespace").and_then(|n| n.as_str())) {
                (Some(n), _) if n.contains('.') => n.rsplit_once('.').map(|(ns, _)| ns.to_string()),
                (_, Some(ns)) => Some(ns.to_string()),
                _ => ns.map(str::to_string),
            };
            if let Some(n) = name {
                defined.insert(full_name(&n, own_ns.as_deref()));
            }
            let inner = own_ns.as_deref();
            for key in ["type", "items", "values"] {
                if let Some(child) = v.get(key) {
                    inline(child, inner, defs, defined, splices);
                }
            }
            if let Some(fields) = v.get("fields").and_then(|f| f.as_array()) {
                for f in fields {
                    if let Some(t) = f.get("type") {
                        inline(t, inner, defs, defined, splices);
                    }
                }
            }
        }
        _ => {}
    }
}

/// A schema string that is a base64 `FileDescriptorProto` (what Confluent's serializers
/// register), decoded; `None` for `.proto` text.
pub fn decode_descriptor(text: &str) -> Option<prost_types::FileDescriptorProto> {
    let t = text.trim();
    if t.is_empty() || t.contains(char::is_whitespace) || t.contains(';') {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()
}

fn proto_files(refs: &References, files: &mut BTreeMap<String, String>) -> Result<(), Invalid> {
    for (name, index) in refs.names() {
        let r = &refs.schemas[index];
        if r.schema_type != SchemaType::Protobuf {
            return Err(format!(
                "Invalid schema: reference \"{name}\" is a {} schema; a Protobuf schema can only import Protobuf schemas",
                r.schema_type
            ));
        }
        let text = match decode_descriptor(&r.text) {
            Some(d) => crate::proto_text::print(&d),
            None => r.text.to_string(),
        };
        files.insert(name.to_string(), text);
    }
    Ok(())
}

fn parse_protobuf(text: &str, refs: &References) -> Result<Parsed, Invalid> {
    let text = match decode_descriptor(text) {
        Some(d) => crate::proto_text::print(&d),
        None => text.to_string(),
    };
    let mut files = BTreeMap::new();
    proto_files(refs, &mut files)?;
    files.insert(PROTO_ENTRY.to_string(), text);
    let schema = ProtoSchema::parse_files(files, PROTO_ENTRY).map_err(|d| describe(&d))?;
    // The descriptor without file name and source info: equal for the same definitions
    // whatever the layout, comments, or whether they came as text or as a descriptor.
    let mut entry = schema.entry().clone();
    entry.name = None;
    entry.source_code_info = None;
    let identity = format!(
        "PROTOBUF:{}",
        base64::engine::general_purpose::STANDARD.encode(entry.encode_to_vec())
    );
    // Printed from the descriptor: the same text for the same definitions.
    let normalized = crate::proto_text::print(schema.entry());
    Ok(Parsed {
        schema: Schema::Protobuf(schema),
        identity,
        normalized,
    })
}

/// The `format=serialized` form of a Protobuf schema: base64 of its `FileDescriptorProto`.
pub fn serialized(schema: &Schema) -> Option<String> {
    match schema {
        Schema::Protobuf(p) => {
            Some(base64::engine::general_purpose::STANDARD.encode(p.entry_descriptor_bytes()))
        }
        Schema::Avro(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> References {
        References::default()
    }

    fn single(name: &str, schema_type: SchemaType, text: &str) -> References {
        References {
            schemas: vec![Resolved {
                schema_type,
                text: text.into(),
                references: vec![],
            }],
            root: vec![(name.to_string(), 0)],
        }
    }

    #[test]
    fn avro_identity_ignores_layout_and_property_order() {
        let a = parse(
            &SchemaType::Avro,
            r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}"#,
            &none(),
            Validation::Strict,
        )
        .unwrap();
        let b = parse(
            &SchemaType::Avro,
            "{\n  \"name\": \"A\", \"type\": \"record\",\n  \"fields\": [{\"type\": \"int\", \"name\": \"x\"}]\n}",
            &none(),
            Validation::Strict,
        )
        .unwrap();
        assert_eq!(a.identity, b.identity);
    }

    #[test]
    fn invalid_avro_names_the_line_and_field() {
        let err = parse(
            &SchemaType::Avro,
            "{\"type\": \"record\", \"name\": \"A\",\n \"fields\": [{\"name\": \"x\", \"type\": \"nope\"}]}",
            &none(),
            Validation::Strict,
        )
        .unwrap_err();
        assert!(err.starts_with("Invalid schema: "), "{err}");
        assert!(err.contains(":2:"), "names line 2: {err}");
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn avro_references_resolve_named_types_from_other_subjects() {
        let address = single(
            "shop.Address",
            SchemaType::Avro,
            r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}"#,
        );
        let order = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
            {"name":"ship","type":"Address"},{"name":"bill","type":"shop.Address"}]}"#;
        parse(&SchemaType::Avro, order, &address, Validation::Strict).unwrap();
        assert!(parse(&SchemaType::Avro, order, &none(), Validation::Strict).is_err());
        // A mistake in the schema's own text keeps its true line despite the references.
        let broken = "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"shop\",\"fields\":[\n{\"name\":\"ship\",\"type\":\"Address\"},\n{\"name\":\"n\",\"type\":\"integer\"}]}";
        let err = parse(&SchemaType::Avro, broken, &address, Validation::Strict).unwrap_err();
        assert!(err.contains(":3:"), "{err}");
    }

    #[test]
    fn protobuf_text_and_descriptor_have_the_same_identity() {
        let text = "syntax = \"proto3\";\npackage shop;\nmessage A { string id = 1; }\n";
        let parsed = parse(&SchemaType::Protobuf, text, &none(), Validation::Strict).unwrap();
        let b64 = serialized(&parsed.schema).unwrap();
        let again = parse(&SchemaType::Protobuf, &b64, &none(), Validation::Strict).unwrap();
        assert_eq!(parsed.identity, again.identity);
    }

    #[test]
    fn protobuf_imports_resolve_from_references() {
        let common = single(
            "common.proto",
            SchemaType::Protobuf,
            "syntax = \"proto3\";\npackage shop;\nmessage Money { int64 cents = 1; }\n",
        );
        let text = "syntax = \"proto3\";\npackage shop;\nimport \"common.proto\";\nmessage A { Money total = 1; }\n";
        parse(&SchemaType::Protobuf, text, &common, Validation::Strict).unwrap();
        let err = parse(&SchemaType::Protobuf, text, &none(), Validation::Strict).unwrap_err();
        assert!(err.contains("common.proto"), "{err}");
    }

    #[test]
    fn unsupported_types_are_invalid() {
        assert!(
            parse(&SchemaType::Json, "{}", &none(), Validation::Strict)
                .unwrap_err()
                .contains("JSON")
        );
        assert_eq!(
            parse(&SchemaType::Avro, "  ", &none(), Validation::Strict).unwrap_err(),
            "Empty schema"
        );
    }
}
