//! Apache Avro Java's `Schema.Parser`, rule for rule, with spans.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{
    AvroSchema, Child, Enum, Field, Fixed, Kind, LogicalType, Name, Named, Node, NodeId, Order,
    Record, Type, Validation,
};
use crate::diagnostic::Diagnostic;
use crate::json::{self, Json, Value};
use crate::text::{SourceFile, Span};

pub(super) fn parse(
    source: Arc<SourceFile>,
    validation: Validation,
) -> Result<AvroSchema, Diagnostic> {
    let json = json::parse(source.text()).map_err(|e| {
        Diagnostic::new(format!("invalid JSON: {}", e.message))
            .at(&source, e.span)
            .with_help(
                "an Avro schema is JSON: a type name in quotes, an object, or an array (a union)",
            )
    })?;
    let mut p = Parser {
        source: &source,
        validation,
        nodes: Vec::new(),
        names: HashMap::new(),
        unresolved: Vec::new(),
        unresolved_nodes: HashSet::new(),
        deferred_unions: Vec::new(),
    };
    let root = p.schema(&json, None, "")?;
    p.resolve_forward_references()?;
    if validation == Validation::Strict {
        p.validate_defaults(root)?;
    }
    let nodes = p.nodes;
    Ok(AvroSchema {
        nodes,
        root,
        source,
    })
}

struct Parser<'a> {
    source: &'a Arc<SourceFile>,
    validation: Validation,
    nodes: Vec<Node>,
    names: HashMap<String, NodeId>,
    /// References to names not yet defined: (placeholder node, candidate full names, span).
    unresolved: Vec<(NodeId, Vec<String>, Span, String)>,
    /// The placeholder nodes of `unresolved`, to ask "is this one?" in constant time.
    unresolved_nodes: HashSet<NodeId>,
    /// Unions with a branch among `unresolved`, checked once the names are known.
    deferred_unions: Vec<NodeId>,
}

type PResult<T> = Result<T, Diagnostic>;

impl Parser<'_> {
    fn err(&self, span: Span, pointer: &str, message: impl Into<String>) -> Diagnostic {
        let d = Diagnostic::new(message).at(self.source, span);
        if pointer.is_empty() {
            d
        } else {
            d.with_path(pointer.to_string())
        }
    }

    fn push(&mut self, kind: Kind, span: Span, logical: Option<LogicalType>) -> NodeId {
        self.nodes.push(Node {
            kind,
            span,
            logical,
        });
        self.nodes.len() - 1
    }

    fn child(&mut self, json: &Json, ns: Option<&str>, pointer: &str) -> PResult<Child> {
        Ok(Child {
            node: self.schema(json, ns, pointer)?,
            span: json.span,
        })
    }

    fn schema(&mut self, json: &Json, ns: Option<&str>, pointer: &str) -> PResult<NodeId> {
        match &json.value {
            Value::String(name) => self.reference(name, ns, json.span, pointer),
            Value::Array(branches) => self.union(branches, json.span, ns, pointer),
            Value::Object(_) => self.object(json, ns, pointer),
            _ => Err(self
                .err(json.span, pointer, format!("{} is not a schema", json.kind()))
                .with_help(
                    "write a type name such as \"string\", an object such as {\"type\": \"record\", ...}, \
                     or an array of types for a union",
                )),
        }
    }

    fn reference(
        &mut self,
        name: &str,
        ns: Option<&str>,
        span: Span,
        pointer: &str,
    ) -> PResult<NodeId> {
        if let Some(t) = Type::primitive(name) {
            return Ok(self.push(primitive_kind(t), span, None));
        }
        let candidates = candidates(name, ns);
        if let Some(&id) = candidates.iter().find_map(|c| self.names.get(c)) {
            return Ok(id);
        }
        // Apache Avro 1.12 resolves names defined later in the same schema.
        let placeholder = self.push(Kind::Null, span, None);
        self.unresolved
            .push((placeholder, candidates, span, pointer.to_string()));
        self.unresolved_nodes.insert(placeholder);
        Ok(placeholder)
    }

    fn resolve_forward_references(&mut self) -> PResult<()> {
        if self.unresolved.is_empty() {
            return Ok(());
        }
        let mut map = HashMap::new();
        for (placeholder, candidates, span, pointer) in std::mem::take(&mut self.unresolved) {
            match candidates.iter().find_map(|c| self.names.get(c)) {
                Some(&id) => {
                    map.insert(placeholder, id);
                }
                None => {
                    let mut known: Vec<&String> = self.names.keys().collect();
                    known.sort();
                    let help = if known.is_empty() {
                        "define the type before using it, or use a primitive type name".to_string()
                    } else {
                        format!(
                            "the named types defined in this schema are: {}",
                            known
                                .iter()
                                .map(|s| format!("\"{s}\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    return Err(self
                        .err(
                            span,
                            &pointer,
                            format!("\"{}\" is not a defined name", candidates[0]),
                        )
                        .with_help(help));
                }
            }
        }
        self.unresolved_nodes.clear();
        let fix = |c: &mut Child| {
            if let Some(&id) = map.get(&c.node) {
                c.node = id;
            }
        };
        for node in &mut self.nodes {
            match &mut node.kind {
                Kind::Array(c) | Kind::Map(c) => fix(c),
                Kind::Union(bs) => bs.iter_mut().for_each(fix),
                Kind::Record(r) => r.fields.iter_mut().for_each(|f| fix(&mut f.ty)),
                _ => {}
            }
        }
        // Unions holding forward references could not be checked while parsing.
        for id in std::mem::take(&mut self.deferred_unions) {
            if let Kind::Union(bs) = &self.nodes[id].kind {
                self.check_union_branches(bs)?;
            }
        }
        Ok(())
    }

    fn union(
        &mut self,
        items: &[Json],
        span: Span,
        ns: Option<&str>,
        pointer: &str,
    ) -> PResult<NodeId> {
        let mut branches = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            branches.push(self.child(item, ns, &format!("{pointer}/{i}"))?);
        }
        self.check_union_branches(&branches)?;
        let pending = branches
            .iter()
            .any(|c| self.unresolved_nodes.contains(&c.node));
        let id = self.push(Kind::Union(branches), span, None);
        if pending {
            self.deferred_unions.push(id);
        }
        Ok(id)
    }

    fn check_union_branches(&self, branches: &[Child]) -> PResult<()> {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for c in branches {
            let kind = &self.nodes[c.node].kind;
            if self.unresolved_nodes.contains(&c.node) {
                continue;
            }
            if let Kind::Union(_) = kind {
                return Err(
                    Diagnostic::new("a union cannot directly contain another union")
                        .at(self.source, c.span)
                        .with_help("list the inner union's types in the outer union instead"),
                );
            }
            let key = kind
                .named()
                .map_or_else(|| kind.ty().avro_name().to_string(), |n| n.name.full());
            if seen.insert(key.clone(), c.span).is_some() {
                return Err(Diagnostic::new(format!("duplicate in union: \"{key}\""))
                    .at(self.source, c.span)
                    .with_help(
                        "a union may hold each primitive, array and map type once, and each named type once",
                    ));
            }
        }
        Ok(())
    }

    fn object(&mut self, json: &Json, ns: Option<&str>, pointer: &str) -> PResult<NodeId> {
        let Some(type_json) = json.get("type") else {
            return Err(self
                .err(json.span, pointer, "no \"type\" in schema object")
                .with_help("add \"type\": a primitive name, \"record\", \"enum\", \"array\", \"map\" or \"fixed\""));
        };
        let Some(ty) = type_json.as_str() else {
            return Err(self
                .err(type_json.span, pointer, format!("\"type\" must be a string here, not {}", type_json.kind()))
                .with_help("to nest a complex type, give it as the value of a field's \"type\" or of \"items\"/\"values\""));
        };
        let logical = logical_type(json);
        if let Some(t) = Type::primitive(ty) {
            return Ok(self.push(primitive_kind(t), json.span, logical));
        }
        match ty {
            "record" | "error" => self.record(json, ns, pointer, ty == "error"),
            "enum" => self.enumeration(json, ns, pointer),
            "fixed" => self.fixed(json, ns, pointer, logical),
            "array" => {
                let items = self.required(json, "items", pointer, "array has no \"items\" type")?;
                let c = self.child(items, ns, &format!("{pointer}/items"))?;
                Ok(self.push(Kind::Array(c), json.span, logical))
            }
            "map" => {
                let values =
                    self.required(json, "values", pointer, "map has no \"values\" type")?;
                let c = self.child(values, ns, &format!("{pointer}/values"))?;
                Ok(self.push(Kind::Map(c), json.span, logical))
            }
            other => {
                // {"type": "SomeRecord"} refers to a named type.
                if let Some(&id) = candidates(other, ns).iter().find_map(|c| self.names.get(c)) {
                    return Ok(id);
                }
                Err(self
                    .err(type_json.span, pointer, format!("type not supported: \"{other}\""))
                    .with_help("use a primitive type, \"record\", \"enum\", \"array\", \"map\", \"fixed\", or the name of a type defined earlier"))
            }
        }
    }

    fn required<'j>(
        &self,
        json: &'j Json,
        key: &str,
        pointer: &str,
        message: &str,
    ) -> PResult<&'j Json> {
        json.get(key)
            .ok_or_else(|| self.err(json.span, pointer, message.to_string()))
    }

    fn string_attr<'j>(
        &self,
        json: &'j Json,
        key: &str,
        pointer: &str,
    ) -> PResult<Option<&'j str>> {
        match json.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| {
                self.err(
                    v.span,
                    pointer,
                    format!("\"{key}\" must be a string, not {}", v.kind()),
                )
            }),
        }
    }

    fn string_list(&self, json: &Json, key: &str, pointer: &str) -> PResult<Vec<String>> {
        let Some(v) = json.get(key) else {
            return Ok(Vec::new());
        };
        let Some(items) = v.as_array() else {
            return Err(self.err(
                v.span,
                pointer,
                format!("\"{key}\" must be an array of strings, not {}", v.kind()),
            ));
        };
        items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    self.err(
                        i.span,
                        pointer,
                        format!("\"{key}\" must contain only strings"),
                    )
                })
            })
            .collect()
    }

    fn validate_name(&self, name: &str, span: Span, pointer: &str, what: &str) -> PResult<()> {
        if self.validation == Validation::Lenient {
            return Ok(());
        }
        let mut chars = name.chars();
        let problem = match chars.next() {
            None => Some("is empty".to_string()),
            // Java's STRICT_VALIDATOR: ASCII letters, digits and '_' only.
            Some(c) if !(c.is_ascii_alphabetic() || c == '_') => Some(format!("starts with '{c}'")),
            Some(_) => chars
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                .map(|c| format!("contains '{c}'")),
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(self
                .err(span, pointer, format!("invalid {what} \"{name}\": it {problem}"))
                .with_help("Avro names start with an ASCII letter or '_' and continue with ASCII letters, digits or '_'")),
        }
    }

    fn named(
        &mut self,
        json: &Json,
        ns: Option<&str>,
        pointer: &str,
    ) -> PResult<(Named, Option<String>)> {
        let name_json = self.required(json, "name", pointer, "named type has no \"name\"")?;
        let Some(raw) = name_json.as_str() else {
            return Err(self.err(name_json.span, pointer, "\"name\" must be a string"));
        };
        let given_ns = self.string_attr(json, "namespace", pointer)?;
        let (space, simple) = match raw.rfind('.') {
            Some(dot) => (Some(&raw[..dot]), &raw[dot + 1..]),
            None => (given_ns.or(ns), raw),
        };
        self.validate_name(simple, name_json.span, pointer, "name")?;
        let namespace = space.filter(|s| !s.is_empty()).map(str::to_string);
        let name = Name {
            name: simple.to_string(),
            namespace: namespace.clone(),
        };
        let aliases = self
            .string_list(json, "aliases", pointer)?
            .into_iter()
            .map(|a| match (&namespace, a.contains('.')) {
                (Some(space), false) => format!("{space}.{a}"),
                _ => a,
            })
            .collect();
        let doc = self.string_attr(json, "doc", pointer)?.map(str::to_string);
        Ok((
            Named {
                name,
                aliases,
                doc,
                name_span: name_json.span,
            },
            namespace,
        ))
    }

    fn define(
        &mut self,
        named: &Named,
        kind: Kind,
        span: Span,
        logical: Option<LogicalType>,
        pointer: &str,
    ) -> PResult<NodeId> {
        let full = named.name.full();
        if Type::primitive(&full).is_some() || self.names.contains_key(&full) {
            return Err(self
                .err(
                    named.name_span,
                    pointer,
                    format!("can't redefine: \"{full}\""),
                )
                .with_help("each named type is defined once; refer to it by name afterwards"));
        }
        let id = self.push(kind, span, logical);
        self.names.insert(full, id);
        Ok(id)
    }

    fn record(
        &mut self,
        json: &Json,
        ns: Option<&str>,
        pointer: &str,
        is_error: bool,
    ) -> PResult<NodeId> {
        let (named, space) = self.named(json, ns, pointer)?;
        let fields_json = self.required(json, "fields", pointer, "record has no \"fields\"")?;
        let Some(items) = fields_json.as_array() else {
            return Err(self.err(fields_json.span, pointer, "\"fields\" must be an array"));
        };
        // Defined before its fields so that fields can refer to the record itself.
        let id = self.define(
            &named,
            Kind::Record(Record {
                named: named.clone(),
                fields: Vec::new(),
                is_error,
            }),
            json.span,
            None,
            pointer,
        )?;
        let mut fields: Vec<Field> = Vec::with_capacity(items.len());
        // Duplicates found by hashing: a scan of the fields so far is quadratic in wide records.
        let mut field_names: HashSet<&str> = HashSet::with_capacity(items.len());
        for (i, f) in items.iter().enumerate() {
            let fp = format!("{pointer}/fields/{i}");
            if f.as_object().is_none() {
                return Err(self.err(
                    f.span,
                    &fp,
                    "a field must be an object with \"name\" and \"type\"",
                ));
            }
            let name_json = self.required(f, "name", &fp, "field has no \"name\"")?;
            let Some(name) = name_json.as_str() else {
                return Err(self.err(name_json.span, &fp, "a field's \"name\" must be a string"));
            };
            self.validate_name(name, name_json.span, &fp, "field name")?;
            if !field_names.insert(name) {
                return Err(self
                    .err(
                        name_json.span,
                        &fp,
                        format!("duplicate field \"{name}\" in record \"{}\"", named.name),
                    )
                    .with_help("field names are unique within a record"));
            }
            let type_json =
                self.required(f, "type", &fp, &format!("field \"{name}\" has no \"type\""))?;
            let ty = self.child(type_json, space.as_deref(), &format!("{fp}/type"))?;
            let order = match self.string_attr(f, "order", &fp)? {
                None | Some("ascending") => Order::Ascending,
                Some("descending") => Order::Descending,
                Some("ignore") => Order::Ignore,
                Some(other) => {
                    return Err(self.err(f.get("order").map_or(f.span, |o| o.span), &fp, format!(
                        "invalid \"order\" \"{other}\": expected \"ascending\", \"descending\" or \"ignore\""
                    )));
                }
            };
            let mut aliases: Vec<String> = Vec::new();
            for a in self.string_list(f, "aliases", &fp)? {
                if !aliases.contains(&a) {
                    aliases.push(a);
                }
            }
            fields.push(Field {
                name: name.to_string(),
                aliases,
                doc: self.string_attr(f, "doc", &fp)?.map(str::to_string),
                ty,
                default: f.get("default").cloned(),
                order,
                span: f.span,
            });
        }
        if let Kind::Record(r) = &mut self.nodes[id].kind {
            r.fields = fields;
        }
        Ok(id)
    }

    fn enumeration(&mut self, json: &Json, ns: Option<&str>, pointer: &str) -> PResult<NodeId> {
        let (named, _) = self.named(json, ns, pointer)?;
        let symbols_json = self.required(json, "symbols", pointer, "enum has no \"symbols\"")?;
        let Some(items) = symbols_json.as_array() else {
            return Err(self.err(
                symbols_json.span,
                pointer,
                "\"symbols\" must be an array of strings",
            ));
        };
        let mut symbols: Vec<String> = Vec::with_capacity(items.len());
        let mut seen: HashSet<&str> = HashSet::with_capacity(items.len());
        for s in items {
            let Some(sym) = s.as_str() else {
                return Err(self.err(s.span, pointer, "\"symbols\" must contain only strings"));
            };
            self.validate_name(sym, s.span, pointer, "enum symbol")?;
            if !seen.insert(sym) {
                return Err(self.err(s.span, pointer, format!("duplicate enum symbol \"{sym}\"")));
            }
            symbols.push(sym.to_string());
        }
        let default = self
            .string_attr(json, "default", pointer)?
            .map(str::to_string);
        if let Some(d) = &default
            && !symbols.contains(d)
        {
            {
                let span = json.get("default").map_or(json.span, |j| j.span);
                return Err(self
                    .err(
                        span,
                        pointer,
                        format!(
                            "the enum default \"{d}\" is not one of the symbols [{}]",
                            symbols.join(", ")
                        ),
                    )
                    .with_help("an enum's default must be one of its own symbols"));
            }
        }
        let e = Enum {
            named: named.clone(),
            symbols,
            default,
            symbols_span: symbols_json.span,
        };
        self.define(&named, Kind::Enum(e), json.span, None, pointer)
    }

    fn fixed(
        &mut self,
        json: &Json,
        ns: Option<&str>,
        pointer: &str,
        logical: Option<LogicalType>,
    ) -> PResult<NodeId> {
        let (named, _) = self.named(json, ns, pointer)?;
        let size_json = self.required(json, "size", pointer, "fixed has no \"size\"")?;
        let size = match &size_json.value {
            Value::Number(n) => n.as_i64().filter(|s| (0..=i64::from(i32::MAX)).contains(s)),
            _ => None,
        };
        let Some(size) = size else {
            return Err(self
                .err(
                    size_json.span,
                    pointer,
                    "invalid fixed \"size\": it must be a non-negative integer",
                )
                .with_help("e.g. \"size\": 16"));
        };
        let f = Fixed {
            named: named.clone(),
            size: size as usize,
            size_span: size_json.span,
        };
        self.define(&named, Kind::Fixed(f), json.span, logical, pointer)
    }

    /// Java's `Schema.isValidDefault`, applied to every field default (`setValidateDefaults`).
    fn validate_defaults(&self, root: NodeId) -> PResult<()> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id], true) {
                continue;
            }
            match &self.nodes[id].kind {
                Kind::Array(c) | Kind::Map(c) => stack.push(c.node),
                Kind::Union(bs) => stack.extend(bs.iter().map(|c| c.node)),
                Kind::Record(r) => {
                    for f in &r.fields {
                        stack.push(f.ty.node);
                        if let Some(d) = &f.default
                            && !self.is_valid_default(f.ty.node, Some(d), 0)
                        {
                            {
                                let schema = describe_expected(&self.nodes, f.ty.node);
                                return Err(Diagnostic::new(format!(
                                    "invalid default for field \"{}\": {d} is not {schema}",
                                    f.name
                                ))
                                .at(self.source, d.span)
                                .with_help(default_help(&self.nodes, f.ty.node)));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn is_valid_default(&self, id: NodeId, value: Option<&Json>, depth: usize) -> bool {
        let Some(value) = value else { return false };
        if depth > json::MAX_DEPTH {
            return false;
        }
        match (&self.nodes[id].kind, &value.value) {
            (Kind::String | Kind::Bytes | Kind::Enum(_) | Kind::Fixed(_), v) => {
                matches!(v, Value::String(_))
            }
            (Kind::Int, Value::Number(n)) => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
            (Kind::Long, Value::Number(n)) => n.as_i64().is_some(),
            (Kind::Float | Kind::Double, Value::Number(_)) => true,
            (Kind::Boolean, Value::Bool(_)) => true,
            (Kind::Null, Value::Null) => true,
            (Kind::Array(c), Value::Array(items)) => items
                .iter()
                .all(|i| self.is_valid_default(c.node, Some(i), depth + 1)),
            (Kind::Map(c), Value::Object(members)) => members
                .iter()
                .all(|m| self.is_valid_default(c.node, Some(&m.value), depth + 1)),
            // Apache Avro ≥ 1.11.3 accepts a default matching any branch.
            (Kind::Union(bs), _) => bs
                .iter()
                .any(|c| self.is_valid_default(c.node, Some(value), depth + 1)),
            (Kind::Record(r), Value::Object(_)) => r.fields.iter().all(|f| {
                let v = value.get(&f.name).or(f.default.as_ref());
                self.is_valid_default(f.ty.node, v, depth + 1)
            }),
            _ => false,
        }
    }
}

fn primitive_kind(t: Type) -> Kind {
    match t {
        Type::Null => Kind::Null,
        Type::Boolean => Kind::Boolean,
        Type::Int => Kind::Int,
        Type::Long => Kind::Long,
        Type::Float => Kind::Float,
        Type::Double => Kind::Double,
        Type::Bytes => Kind::Bytes,
        _ => Kind::String,
    }
}

/// Java's name lookup: the name in the current namespace first, then as written.
fn candidates(name: &str, ns: Option<&str>) -> Vec<String> {
    match ns {
        Some(ns) if !name.contains('.') && !ns.is_empty() => {
            vec![format!("{ns}.{name}"), name.to_string()]
        }
        _ => vec![name.to_string()],
    }
}

fn logical_type(json: &Json) -> Option<LogicalType> {
    let name = json.get("logicalType")?.as_str()?.to_string();
    let int = |k: &str| match &json.get(k)?.value {
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    Some(LogicalType {
        name,
        precision: int("precision"),
        scale: int("scale"),
    })
}

fn describe_expected(nodes: &[Node], id: NodeId) -> String {
    match &nodes[id].kind {
        Kind::Union(bs) => {
            let parts: Vec<String> = bs
                .iter()
                .map(|c| describe_expected(nodes, c.node))
                .collect();
            format!("any of: {}", parts.join(", "))
        }
        Kind::String | Kind::Bytes => format!("a {} (a JSON string)", nodes[id].kind.ty()),
        Kind::Enum(e) => format!("a symbol of enum \"{}\" (a JSON string)", e.named.name),
        Kind::Fixed(f) => format!("fixed \"{}\" (a JSON string)", f.named.name),
        Kind::Int => "an int (a whole number from -2147483648 to 2147483647)".to_string(),
        Kind::Long => "a long (a whole number)".to_string(),
        Kind::Float | Kind::Double => format!("a {} (a JSON number)", nodes[id].kind.ty()),
        Kind::Boolean => "a boolean (true or false)".to_string(),
        Kind::Null => "null".to_string(),
        Kind::Array(_) => "an array (a JSON array)".to_string(),
        Kind::Map(_) => "a map (a JSON object)".to_string(),
        Kind::Record(r) => format!(
            "record \"{}\" (a JSON object with its fields)",
            r.named.name
        ),
    }
}

fn default_help(nodes: &[Node], id: NodeId) -> String {
    match &nodes[id].kind {
        Kind::Union(bs) if bs.iter().any(|c| matches!(nodes[c.node].kind, Kind::Null)) => {
            "for an optional field write \"default\": null; a union default must match one of its branches".to_string()
        }
        Kind::Union(_) => "a union default must match one of its branches".to_string(),
        kind => {
            let example = match kind {
                Kind::Int | Kind::Long => "0".to_string(),
                Kind::Float | Kind::Double => "0.0".to_string(),
                Kind::Boolean => "false".to_string(),
                Kind::Null => "null".to_string(),
                Kind::String | Kind::Bytes => "\"\"".to_string(),
                Kind::Enum(e) => format!("\"{}\"", e.symbols.first().map_or("", String::as_str)),
                Kind::Array(_) => "[]".to_string(),
                Kind::Map(_) => "{}".to_string(),
                Kind::Fixed(f) => format!("a string of {} characters", f.size),
                Kind::Record(_) => "an object with a value for each field".to_string(),
                Kind::Union(_) => unreachable!(),
            };
            format!("the default must have the field's type, e.g. \"default\": {example}")
        }
    }
}
