//! The Avro schema graph: just what schema resolution needs (types, names, aliases, field
//! defaults), its Parsing Canonical Form and fingerprints. The runtime parses writer schemas
//! from the text a registry returns ([`Schema::parse`]); the schema model, which parses with
//! spans and validation, lowers to the same graph ([`Schema::from_nodes`]).
//!
//! Logical types are not kept: resolution works on the underlying types, and the canonical
//! form drops them.

use std::collections::HashMap;

use serde_json::Value;

/// Index of a node in a [`Schema`].
pub type NodeId = usize;

/// A parsed schema: an arena of nodes; a named type is one node shared by every reference.
#[derive(Debug, Clone)]
pub struct Schema {
    nodes: Vec<Node>,
    root: NodeId,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(NodeId),
    Map(NodeId),
    Union(Vec<NodeId>),
    Record(Record),
    Enum(Enum),
    Fixed(Fixed),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Full name.
    pub name: String,
    /// Full names.
    pub aliases: Vec<String>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub aliases: Vec<String>,
    pub ty: NodeId,
    pub default: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    pub name: String,
    pub aliases: Vec<String>,
    pub symbols: Vec<String>,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fixed {
    pub name: String,
    pub aliases: Vec<String>,
    pub size: usize,
}

impl Node {
    /// The full name of a named type.
    pub fn name(&self) -> Option<&str> {
        match self {
            Node::Record(r) => Some(&r.name),
            Node::Enum(e) => Some(&e.name),
            Node::Fixed(f) => Some(&f.name),
            _ => None,
        }
    }

    pub fn aliases(&self) -> &[String] {
        match self {
            Node::Record(r) => &r.aliases,
            Node::Enum(e) => &e.aliases,
            Node::Fixed(f) => &f.aliases,
            _ => &[],
        }
    }

    /// The schema keyword of the node's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Boolean => "boolean",
            Node::Int => "int",
            Node::Long => "long",
            Node::Float => "float",
            Node::Double => "double",
            Node::Bytes => "bytes",
            Node::String => "string",
            Node::Array(_) => "array",
            Node::Map(_) => "map",
            Node::Union(_) => "union",
            Node::Record(_) => "record",
            Node::Enum(_) => "enum",
            Node::Fixed(_) => "fixed",
        }
    }
}

/// Why schema text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Avro schema: {0}")]
pub struct SchemaError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError(msg.into()))
}

impl Schema {
    /// Parses schema JSON text.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let json: Value =
            serde_json::from_str(text).map_err(|e| SchemaError(format!("not JSON: {e}")))?;
        let mut p = Parser {
            nodes: Vec::new(),
            names: HashMap::new(),
        };
        let root = p.parse(&json, None)?;
        Ok(Schema {
            nodes: p.nodes,
            root,
        })
    }

    pub fn root(&self) -> NodeId {
        self.root
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// A schema from its nodes, for a schema model that parsed the text itself and lowers
    /// to this graph. Named types must be one node shared by every reference, and every
    /// node id must be in `nodes`.
    pub fn from_nodes(nodes: Vec<Node>, root: NodeId) -> Schema {
        assert!(
            root < nodes.len(),
            "the root node {root} is not in the schema"
        );
        Schema { nodes, root }
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the schema has no nodes (never true for a parsed schema).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

struct Parser {
    nodes: Vec<Node>,
    names: HashMap<String, NodeId>,
}

/// Avro's name rules: a dotted name is full; otherwise the type's `namespace` or the
/// enclosing one applies.
fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn namespace_of(full: &str) -> Option<&str> {
    full.rfind('.').map(|i| &full[..i])
}

fn aliases(json: &serde_json::Map<String, Value>, namespace: Option<&str>) -> Vec<String> {
    json.get("aliases")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| full_name(s, namespace))
                .collect()
        })
        .unwrap_or_default()
}

impl Parser {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn primitive(name: &str) -> Option<Node> {
        Some(match name {
            "null" => Node::Null,
            "boolean" => Node::Boolean,
            "int" => Node::Int,
            "long" => Node::Long,
            "float" => Node::Float,
            "double" => Node::Double,
            "bytes" => Node::Bytes,
            "string" => Node::String,
            _ => return None,
        })
    }

    fn reference(&mut self, name: &str, namespace: Option<&str>) -> Result<NodeId, SchemaError> {
        if let Some(p) = Self::primitive(name) {
            return Ok(self.push(p));
        }
        let full = full_name(name, namespace);
        self.names
            .get(&full)
            .or_else(|| self.names.get(name))
            .copied()
            .ok_or_else(|| SchemaError(format!("unknown type \"{name}\"")))
    }

    fn parse(&mut self, json: &Value, namespace: Option<&str>) -> Result<NodeId, SchemaError> {
        match json {
            Value::String(name) => self.reference(name, namespace),
            Value::Array(branches) => {
                let ids = branches
                    .iter()
                    .map(|b| self.parse(b, namespace))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(self.push(Node::Union(ids)))
            }
            Value::Object(obj) => self.parse_object(obj, namespace),
            other => err(format!(
                "a type must be a string, array or object, not {other}"
            )),
        }
    }

    fn parse_object(
        &mut self,
        obj: &serde_json::Map<String, Value>,
        namespace: Option<&str>,
    ) -> Result<NodeId, SchemaError> {
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            // {"type": {...}} or {"type": [...]}: a wrapped type.
            Some(inner) => return self.parse(inner, namespace),
            None => return err("a type object has no \"type\""),
        };
        match ty {
            "array" => {
                let items = obj
                    .get("items")
                    .ok_or_else(|| SchemaError("array without \"items\"".into()))?;
                let items = self.parse(items, namespace)?;
                Ok(self.push(Node::Array(items)))
            }
            "map" => {
                let values = obj
                    .get("values")
                    .ok_or_else(|| SchemaError("map without \"values\"".into()))?;
                let values = self.parse(values, namespace)?;
                Ok(self.push(Node::Map(values)))
            }
            "record" | "error" | "enum" | "fixed" => self.parse_named(ty, obj, namespace),
            other => self.reference(other, namespace),
        }
    }

    fn parse_named(
        &mut self,
        ty: &str,
        obj: &serde_json::Map<String, Value>,
        enclosing: Option<&str>,
    ) -> Result<NodeId, SchemaError> {
        let Some(name) = obj.get("name").and_then(Value::as_str) else {
            return err(format!("a {ty} has no \"name\""));
        };
        let ns = match obj.get("namespace").and_then(Value::as_str) {
            Some(ns) => Some(ns),
            None => enclosing,
        };
        let full = full_name(name, ns);
        let own_ns = namespace_of(&full).map(str::to_string);
        let own_ns = own_ns.as_deref();
        let aliases = aliases(obj, own_ns);
        if self.names.contains_key(&full) {
            return err(format!("\"{full}\" is defined twice"));
        }
        // Registered before the fields so that a record can refer to itself.
        let id = self.push(Node::Null);
        self.names.insert(full.clone(), id);
        let node = match ty {
            "enum" => {
                let symbols: Vec<String> = obj
                    .get("symbols")
                    .and_then(Value::as_array)
                    .ok_or_else(|| SchemaError(format!("enum \"{full}\" has no \"symbols\"")))?
                    .iter()
                    .map(|s| {
                        s.as_str().map(str::to_string).ok_or_else(|| {
                            SchemaError(format!(
                                "enum \"{full}\" has a symbol that is not a string"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                let default = obj
                    .get("default")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Node::Enum(Enum {
                    name: full,
                    aliases,
                    symbols,
                    default,
                })
            }
            "fixed" => {
                let size = obj
                    .get("size")
                    .and_then(Value::as_u64)
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| {
                        SchemaError(format!("fixed \"{full}\" has no valid \"size\""))
                    })?;
                Node::Fixed(Fixed {
                    name: full,
                    aliases,
                    size,
                })
            }
            _ => {
                let fields_json = obj
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or_else(|| SchemaError(format!("record \"{full}\" has no \"fields\"")))?;
                let mut fields = Vec::with_capacity(fields_json.len());
                for f in fields_json {
                    let Some(fname) = f.get("name").and_then(Value::as_str) else {
                        return err(format!("a field of \"{full}\" has no \"name\""));
                    };
                    let Some(fty) = f.get("type") else {
                        return err(format!("field \"{fname}\" of \"{full}\" has no \"type\""));
                    };
                    let ty = self.parse(fty, own_ns)?;
                    let aliases = f
                        .get("aliases")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    fields.push(Field {
                        name: fname.to_string(),
                        aliases,
                        ty,
                        default: f.get("default").cloned(),
                    });
                }
                Node::Record(Record {
                    name: full,
                    aliases,
                    fields,
                })
            }
        };
        self.nodes[id] = node;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_strips_docs_and_qualifies_names() {
        let s = Schema::parse(
            r#"{"type":"record","name":"R","namespace":"a.b","doc":"x","fields":[
                {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}},
                {"name":"again","type":"E"},
                {"name":"n","type":["null",{"type":"long","logicalType":"timestamp-millis"}]},
                {"name":"m","type":{"type":"map","values":{"type":"fixed","name":"other.F","size":4}}}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            s.canonical_form(),
            r#"{"name":"a.b.R","type":"record","fields":[{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["A","B"]}},{"name":"again","type":"a.b.E"},{"name":"n","type":["null","long"]},{"name":"m","type":{"type":"map","values":{"name":"other.F","type":"fixed","size":4}}}]}"#
        );
    }

    #[test]
    fn recursive_records_parse() {
        let s = Schema::parse(
            r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            s.canonical_form(),
            r#"{"name":"Node","type":"record","fields":[{"name":"next","type":["null","Node"]}]}"#
        );
    }

    #[test]
    fn unknown_type_names_are_errors() {
        let e =
            Schema::parse(r#"{"type":"record","name":"R","fields":[{"name":"x","type":"Nope"}]}"#)
                .unwrap_err();
        assert!(e.to_string().contains("Nope"), "{e}");
        assert!(Schema::parse("{").is_err());
    }
}
