//! Avro schemas, parsed the way Apache Avro Java parses them, with a source span for every node.
//!
//! Two validation modes mirror the Confluent Schema Registry: a schema being registered is parsed
//! [`Validation::Strict`] (names must be valid identifiers, field defaults must match their types),
//! while versions already stored are read [`Validation::Lenient`]ly, so a history that an older
//! registry accepted still loads.

mod lower;
mod parse;

use std::fmt;
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::json::Json;
use crate::text::{Location, SourceFile, Span};

/// Index of a node in [`AvroSchema::nodes`].
pub type NodeId = usize;

/// How strictly a schema is validated while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// As Confluent parses a new schema: strict names and validated defaults.
    #[default]
    Strict,
    /// As Confluent reads a schema it already stored: no name or default validation.
    Lenient,
}

/// A parsed Avro schema: an arena of nodes; named types are shared by every reference to them.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    nodes: Vec<Node>,
    root: NodeId,
    source: Arc<SourceFile>,
}

/// One schema node with the span of its definition.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
    /// `logicalType` and its attributes; compatibility ignores them, code generation does not.
    pub logical: Option<LogicalType>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalType {
    pub name: String,
    pub precision: Option<i64>,
    pub scale: Option<i64>,
}

/// A use of a node inside another: the node and where the reference was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child {
    pub node: NodeId,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(Child),
    Map(Child),
    Union(Vec<Child>),
    Record(Record),
    Enum(Enum),
    Fixed(Fixed),
}

/// The type tags Apache Avro's `Schema.Type` has; messages print them as Java does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array,
    Map,
    Union,
    Record,
    Enum,
    Fixed,
}

impl Type {
    /// Java's `Schema.Type` name, e.g. `INT`.
    pub fn java_name(self) -> &'static str {
        match self {
            Type::Null => "NULL",
            Type::Boolean => "BOOLEAN",
            Type::Int => "INT",
            Type::Long => "LONG",
            Type::Float => "FLOAT",
            Type::Double => "DOUBLE",
            Type::Bytes => "BYTES",
            Type::String => "STRING",
            Type::Array => "ARRAY",
            Type::Map => "MAP",
            Type::Union => "UNION",
            Type::Record => "RECORD",
            Type::Enum => "ENUM",
            Type::Fixed => "FIXED",
        }
    }

    /// The schema keyword, e.g. `int`.
    pub fn avro_name(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Boolean => "boolean",
            Type::Int => "int",
            Type::Long => "long",
            Type::Float => "float",
            Type::Double => "double",
            Type::Bytes => "bytes",
            Type::String => "string",
            Type::Array => "array",
            Type::Map => "map",
            Type::Union => "union",
            Type::Record => "record",
            Type::Enum => "enum",
            Type::Fixed => "fixed",
        }
    }

    pub(crate) fn primitive(name: &str) -> Option<Type> {
        Some(match name {
            "null" => Type::Null,
            "boolean" => Type::Boolean,
            "int" => Type::Int,
            "long" => Type::Long,
            "float" => Type::Float,
            "double" => Type::Double,
            "bytes" => Type::Bytes,
            "string" => Type::String,
            _ => return None,
        })
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.avro_name())
    }
}

/// A full name split as Avro does: the part after the last dot, and the namespace before it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name {
    pub name: String,
    pub namespace: Option<String>,
}

impl Name {
    pub fn full(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

/// What records, enums and fixed types share.
#[derive(Debug, Clone)]
pub struct Named {
    pub name: Name,
    /// Aliases as full names, resolved against the type's namespace as Java does.
    pub aliases: Vec<String>,
    pub doc: Option<String>,
    pub name_span: Span,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub named: Named,
    pub fields: Vec<Field>,
    pub is_error: bool,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub aliases: Vec<String>,
    pub doc: Option<String>,
    pub ty: Child,
    pub default: Option<Json>,
    pub order: Order,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Ascending,
    Descending,
    Ignore,
}

#[derive(Debug, Clone)]
pub struct Enum {
    pub named: Named,
    pub symbols: Vec<String>,
    pub default: Option<String>,
    pub symbols_span: Span,
}

#[derive(Debug, Clone)]
pub struct Fixed {
    pub named: Named,
    pub size: usize,
    pub size_span: Span,
}

impl Kind {
    pub fn ty(&self) -> Type {
        match self {
            Kind::Null => Type::Null,
            Kind::Boolean => Type::Boolean,
            Kind::Int => Type::Int,
            Kind::Long => Type::Long,
            Kind::Float => Type::Float,
            Kind::Double => Type::Double,
            Kind::Bytes => Type::Bytes,
            Kind::String => Type::String,
            Kind::Array(_) => Type::Array,
            Kind::Map(_) => Type::Map,
            Kind::Union(_) => Type::Union,
            Kind::Record(_) => Type::Record,
            Kind::Enum(_) => Type::Enum,
            Kind::Fixed(_) => Type::Fixed,
        }
    }

    pub fn named(&self) -> Option<&Named> {
        match self {
            Kind::Record(r) => Some(&r.named),
            Kind::Enum(e) => Some(&e.named),
            Kind::Fixed(f) => Some(&f.named),
            _ => None,
        }
    }
}

impl AvroSchema {
    /// Parses a schema file's text.
    pub fn parse(source: Arc<SourceFile>, validation: Validation) -> Result<Self, Diagnostic> {
        parse::parse(source, validation)
    }

    /// Parses schema text that has no file (e.g. a registry request); `name` labels messages.
    pub fn parse_str(name: &str, text: &str, validation: Validation) -> Result<Self, Diagnostic> {
        Self::parse(SourceFile::new(name, text), validation)
    }

    pub fn root(&self) -> NodeId {
        self.root
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn source(&self) -> &Arc<SourceFile> {
        &self.source
    }

    pub fn location(&self, span: Span) -> Location {
        self.source.location(span)
    }

    /// The full name of the root type, if it is named (the RecordNameStrategy subject).
    pub fn full_name(&self) -> Option<String> {
        self.node(self.root).kind.named().map(|n| n.name.full())
    }

    /// The schema as the runtime's graph, node for node with the same [`NodeId`]s: what the
    /// canonical form, the fingerprints and the resolution planner work on.
    pub fn lower(&self) -> contracts_core::avro::Schema {
        lower::lower(self)
    }

    /// Avro's Parsing Canonical Form of the schema.
    pub fn canonical_form(&self) -> String {
        self.lower().canonical_form()
    }

    /// The CRC-64-AVRO (Rabin) fingerprint of the canonical form, as used by single-object
    /// encoding.
    pub fn fingerprint(&self) -> u64 {
        self.lower().rabin_fingerprint()
    }

    /// SHA-256 of the canonical form.
    pub fn sha256(&self) -> [u8; 32] {
        self.lower().fingerprint()
    }

    /// Follows an Apache Avro location (the tokens of a JSON pointer such as `/fields/2/type`)
    /// through this schema and returns the span of the element it names. Tokens that do not apply
    /// stop the walk at the last element found.
    pub fn span_of_path(&self, path: &str) -> Span {
        self.walk(path).span
    }

    /// The record and field that a location is inside, for messages.
    pub fn field_at_path(&self, path: &str) -> Option<(String, String)> {
        self.walk(path).field
    }

    fn walk(&self, path: &str) -> Walk {
        let mut node = self.root;
        let mut walk = Walk {
            span: self.nodes[node].span,
            field: None,
        };
        let mut pending_field: Option<&Field> = None;
        for token in path.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            let kind = &self.nodes[node].kind;
            match (token.as_str(), kind) {
                ("fields", Kind::Record(_)) => {}
                (idx, Kind::Record(r)) if pending_field.is_none() => {
                    let Some(f) = idx.parse::<usize>().ok().and_then(|i| r.fields.get(i)) else {
                        break;
                    };
                    walk.span = f.span;
                    walk.field = Some((r.named.name.full(), f.name.clone()));
                    pending_field = Some(f);
                    continue;
                }
                ("type", _) if pending_field.is_some() => {
                    let Some(f) = pending_field.take() else { break };
                    node = f.ty.node;
                    walk.span = f.ty.span;
                    continue;
                }
                ("items", Kind::Array(c)) | ("values", Kind::Map(c)) => {
                    node = c.node;
                    walk.span = c.span;
                }
                ("name", k) => {
                    if let Some(n) = k.named() {
                        walk.span = n.name_span;
                    }
                    break;
                }
                ("symbols", Kind::Enum(e)) => {
                    walk.span = e.symbols_span;
                    break;
                }
                ("size", Kind::Fixed(f)) => {
                    walk.span = f.size_span;
                    break;
                }
                (idx, Kind::Union(branches)) => {
                    let Some(c) = idx.parse::<usize>().ok().and_then(|i| branches.get(i)) else {
                        break;
                    };
                    node = c.node;
                    walk.span = c.span;
                }
                _ => break,
            }
            pending_field = None;
        }
        walk
    }

    /// A short description of a node for messages: `int`, `array`, `record "shop.Order"`.
    pub fn describe(&self, id: NodeId) -> String {
        let kind = &self.nodes[id].kind;
        match kind.named() {
            Some(n) => format!("{} \"{}\"", kind.ty(), n.name.full()),
            None => match kind {
                Kind::Union(branches) => {
                    let parts: Vec<String> = branches
                        .iter()
                        .map(|c| {
                            let k = &self.nodes[c.node].kind;
                            k.named()
                                .map_or_else(|| k.ty().to_string(), |n| n.name.full())
                        })
                        .collect();
                    format!("union [{}]", parts.join(", "))
                }
                k => k.ty().to_string(),
            },
        }
    }
}

struct Walk {
    span: Span,
    field: Option<(String, String)>,
}

#[cfg(test)]
mod tests;
