//! Avro: Rust types and direct binary codecs for the versions of Avro events.
//!
//! The versioned-module writer calls [`generate_module`] once per module with every event
//! version the module holds. For each it gets back Rust items (no `mod` wrapper):
//!
//! - the types: records → structs with public fields, enums → Rust enums, non-nullable unions
//!   → Rust enums, `["null", T]` → `Option<T>`, arrays → `Vec`, maps → `BTreeMap` (sorted, so
//!   the same value always encodes to the same bytes), fixed → `[u8; N]` (a named alias), bytes
//!   → `Vec<u8>`, logical types → [`contracts_core::types`];
//! - `Default` for records whose fields all have defaults, and `new(required fields)`, which
//!   fills the defaulted fields, for every record;
//! - `contracts_core::avro::AvroValue` for every named type and union, and
//!   `contracts_core::avro::AvroRecord` for the event's record, whose `decode_from` picks a
//!   resolving decoder generated here for every other version of the history the event can
//!   read (the verdict is `contracts_compat::can_read`'s), and the run-time generic resolver
//!   for writers unknown at build time.
//!
//! Enums and unknown symbols: a writer may know symbols the reader does not. When the reader's
//! enum has a default symbol, such a symbol reads as the default (the Avro rule), through the
//! generated decoders and the generic resolver alike; without a default it is a decode error
//! naming the symbol. The original symbol is not kept: the value re-encodes as the default.

mod codec;
mod names;
mod resolve;

use std::collections::HashMap;
use std::fmt::Write as _;

use contracts_model::Diagnostic;
use contracts_model::avro::{AvroSchema, Kind, NodeId};

use names::{doc_comment, type_ident, value_ident};

/// One version of an event's subject history.
#[derive(Debug, Clone, Copy)]
pub struct HistoryVersion<'a> {
    pub version: u32,
    pub schema: &'a AvroSchema,
}

/// One event version that a versioned module holds.
#[derive(Debug, Clone, Copy)]
pub struct ModuleEntry<'a> {
    /// Every version of the event's subject history, oldest first.
    pub history: &'a [HistoryVersion<'a>],
    /// Which of them this module holds.
    pub index: usize,
}

/// Options from the `Config` builder that apply to Avro types.
#[derive(Debug, Clone, Default)]
pub struct AvroOptions {
    /// `(full name or ".", attribute)`: attributes put on the matching generated types.
    pub type_attributes: Vec<(String, String)>,
    /// `(full type name.field or ".", attribute)`.
    pub field_attributes: Vec<(String, String)>,
}

/// Rust items (types, codec impls, resolving decoders for the other versions of each
/// entry's history) for one versioned module. Named types shared by several entries are
/// emitted once when their definitions are identical; two different definitions of one name
/// are a [`Diagnostic`].
pub fn generate_module(
    entries: &[ModuleEntry<'_>],
    options: &AvroOptions,
) -> Result<String, Diagnostic> {
    let mut module = Module {
        options,
        items: Vec::new(),
        by_rust_name: HashMap::new(),
    };
    for entry in entries {
        module.entry(entry)?;
    }
    let mut out = String::new();
    for item in &module.items {
        out.push_str(&item.code);
        out.push('\n');
    }
    Ok(out)
}

/// An emitted item, remembered to emit shared named types once.
struct Item {
    rust_name: String,
    /// The node it was generated from, for errors.
    node: NodeId,
    /// The Avro full name, or a description for generated union enums.
    origin: String,
    /// The event whose schema defined it.
    event: String,
    code: String,
}

struct Module<'o> {
    options: &'o AvroOptions,
    items: Vec<Item>,
    by_rust_name: HashMap<String, usize>,
}

impl Module<'_> {
    fn entry(&mut self, entry: &ModuleEntry<'_>) -> Result<(), Diagnostic> {
        let Some(current) = entry.history.get(entry.index) else {
            return Err(Diagnostic::new(format!(
                "module entry index {} is outside its history of {} versions",
                entry.index,
                entry.history.len()
            )));
        };
        let schema = current.schema;
        let root = schema.root();
        let Kind::Record(record) = &schema.node(root).kind else {
            return Err(Diagnostic::new(format!(
                "an Avro event must be a record, but this schema is {}",
                schema.describe(root)
            ))
            .at(schema.source(), schema.node(root).span)
            .with_help("wrap the value in a record: {\"type\": \"record\", \"name\": ..., \"fields\": [...]}"));
        };
        let mut types = TypeGen::new(schema, self.options);
        let root_name = types.rust_type(root)?;
        types.collect(root)?;
        let rec_name = record.named.name.full();
        let mut record_impl = types.record_trait_impl(&root_name, &rec_name)?;
        // Resolving decoders for every other version this one can read.
        let mut dispatch = String::new();
        let own_fp = schema.sha256();
        let mut seen_fps = vec![own_fp];
        let mut resolvers = String::new();
        for (i, other) in entry.history.iter().enumerate() {
            if i == entry.index {
                continue;
            }
            let fp = other.schema.sha256();
            if seen_fps.contains(&fp) {
                continue;
            }
            let reader = contracts_model::Schema::Avro(schema.clone());
            let writer = contracts_model::Schema::Avro(other.schema.clone());
            let direction = if i < entry.index {
                contracts_compat::Direction::Backward
            } else {
                contracts_compat::Direction::Forward
            };
            if !contracts_compat::can_read(&reader, &writer, direction).is_empty() {
                continue;
            }
            seen_fps.push(fp);
            let prefix = format!(
                "__{}_from_v{}",
                value_ident(&record.named.name.name).trim_start_matches("r#"),
                other.version
            );
            let entry_fn = resolve::generate(&types, other.schema, &prefix, &mut resolvers)?;
            let _ = write!(
                dispatch,
                "        if __fp == {fp:?} {{\n            // Written with version {v}: resolved by code generated for it.\n            let mut __r = ::contracts_core::avro::Reader::new(payload);\n            let __v = {entry_fn}(&mut __r)?;\n            __r.finish()?;\n            return ::std::result::Result::Ok(__v);\n        }}\n",
                v = other.version,
            );
        }
        record_impl = record_impl.replace("{{DISPATCH}}", &dispatch);
        let mut items = std::mem::take(&mut types.items);
        items.push(Item {
            rust_name: format!("impl AvroRecord for {root_name}"),
            node: root,
            event: String::new(),
            origin: rec_name.clone(),
            code: format!("{record_impl}{resolvers}"),
        });
        for mut item in items {
            item.event = rec_name.clone();
            self.add(item, schema)?;
        }
        Ok(())
    }

    fn add(&mut self, item: Item, schema: &AvroSchema) -> Result<(), Diagnostic> {
        if let Some(&i) = self.by_rust_name.get(&item.rust_name) {
            let existing = &self.items[i];
            if existing.code == item.code {
                return Ok(());
            }
            return Err(Diagnostic::new(format!(
                "two different definitions of `{}` in one module: {} in \"{}\" differs from {} in \"{}\"",
                item.rust_name,
                item.origin,
                schema.full_name().unwrap_or_default(),
                existing.origin,
                existing.event,
            ))
            .at(schema.source(), schema.node(item.node).span)
            .with_help(
                "events that share a versioned module must define a shared named type \
                 identically; rename one of them or make the definitions equal",
            ));
        }
        self.by_rust_name
            .insert(item.rust_name.clone(), self.items.len());
        self.items.push(item);
        Ok(())
    }
}

/// Generates the types and codecs of one schema.
pub(crate) struct TypeGen<'a> {
    schema: &'a AvroSchema,
    options: &'a AvroOptions,
    items: Vec<Item>,
    /// Rust type name per named node or union node.
    names: HashMap<NodeId, String>,
    done: Vec<NodeId>,
}

impl<'a> TypeGen<'a> {
    fn new(schema: &'a AvroSchema, options: &'a AvroOptions) -> Self {
        TypeGen {
            schema,
            options,
            items: Vec::new(),
            names: HashMap::new(),
            done: Vec::new(),
        }
    }

    fn err(&self, node: NodeId, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(message).at(self.schema.source(), self.schema.node(node).span)
    }

    fn attrs(&self, list: &[(String, String)], path: &str) -> String {
        list.iter()
            .filter(|(p, _)| p == "." || p == path)
            .map(|(_, a)| format!("{a}\n"))
            .collect()
    }

    /// Names the unions of a record's fields (`{Record}{Field}`, `...Item`, `...Value`) and
    /// walks into every type the node uses, emitting each named type and union once.
    fn collect(&mut self, id: NodeId) -> Result<(), Diagnostic> {
        if self.done.contains(&id) {
            return Ok(());
        }
        self.done.push(id);
        let node = self.schema.node(id);
        match &node.kind {
            Kind::Record(r) => {
                let owner = type_ident(&r.named.name.name);
                for f in &r.fields {
                    self.name_unions(f.ty.node, &format!("{owner}{}", type_ident(&f.name)));
                }
                for f in &r.fields {
                    self.collect(f.ty.node)?;
                }
                self.emit_record(id)?;
            }
            Kind::Enum(_) => self.emit_enum(id)?,
            Kind::Fixed(_) => self.emit_fixed(id)?,
            Kind::Array(c) | Kind::Map(c) => self.collect(c.node)?,
            Kind::Union(branches) => {
                for b in branches {
                    self.collect(b.node)?;
                }
                if self.union_enum(id).is_some() {
                    self.emit_union(id)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn name_unions(&mut self, id: NodeId, base: &str) {
        match &self.schema.node(id).kind {
            Kind::Union(_) => {
                self.names.entry(id).or_insert_with(|| base.to_string());
            }
            Kind::Array(c) => self.name_unions(c.node, &format!("{base}Item")),
            Kind::Map(c) => self.name_unions(c.node, &format!("{base}Value")),
            _ => {}
        }
    }

    /// For a union that becomes a Rust enum: its branches. `None` for `["null", T]`.
    fn union_enum(&self, id: NodeId) -> Option<&'a [contracts_model::avro::Child]> {
        let schema = self.schema;
        let Kind::Union(branches) = &schema.node(id).kind else {
            return None;
        };
        let nulls = branches
            .iter()
            .filter(|b| matches!(schema.node(b.node).kind, Kind::Null))
            .count();
        if branches.len() == 2 && nulls == 1 {
            None
        } else {
            Some(branches)
        }
    }

    /// The Rust type of a node.
    pub(crate) fn rust_type(&self, id: NodeId) -> Result<String, Diagnostic> {
        let node = self.schema.node(id);
        if let Some(l) = codec::logical(self.schema, id) {
            return Ok(l.rust_type().to_string());
        }
        Ok(match &node.kind {
            Kind::Null => "()".into(),
            Kind::Boolean => "bool".into(),
            Kind::Int => "i32".into(),
            Kind::Long => "i64".into(),
            Kind::Float => "f32".into(),
            Kind::Double => "f64".into(),
            Kind::Bytes => "::std::vec::Vec<u8>".into(),
            Kind::String => "::std::string::String".into(),
            Kind::Array(c) => format!("::std::vec::Vec<{}>", self.rust_type(c.node)?),
            Kind::Map(c) => format!(
                "::std::collections::BTreeMap<::std::string::String, {}>",
                self.rust_type(c.node)?
            ),
            Kind::Union(branches) => match self.union_enum(id) {
                None => {
                    let inner = branches
                        .iter()
                        .find(|b| !matches!(self.schema.node(b.node).kind, Kind::Null))
                        .map(|b| b.node)
                        .unwrap_or(id);
                    format!("::std::option::Option<{}>", self.rust_type(inner)?)
                }
                Some(_) => match self.names.get(&id) {
                    Some(n) => n.clone(),
                    None => {
                        return Err(self.err(
                            id,
                            "a union that is not [\"null\", T] must be a record field's type (or \
                             its array items or map values) to get a Rust enum name",
                        ));
                    }
                },
            },
            Kind::Record(_) if self.boxed(id) => {
                format!("::std::boxed::Box<{}>", self.type_name(id)?)
            }
            Kind::Record(_) | Kind::Enum(_) | Kind::Fixed(_) => self.type_name(id)?,
        })
    }

    /// The name of a generated type (a named type, or a union's enum), never boxed.
    pub(crate) fn type_name(&self, id: NodeId) -> Result<String, Diagnostic> {
        match self.schema.node(id).kind.named() {
            Some(n) => Ok(type_ident(&n.name.name)),
            None => self.rust_type(id),
        }
    }

    /// Whether a record contains itself without a `Vec` or map in between, so that its
    /// references need a `Box` to give it a finite size.
    pub(crate) fn boxed(&self, id: NodeId) -> bool {
        fn inline_children(schema: &AvroSchema, id: NodeId) -> Vec<NodeId> {
            match &schema.node(id).kind {
                Kind::Record(r) => r.fields.iter().map(|f| f.ty.node).collect(),
                Kind::Union(b) => b.iter().map(|c| c.node).collect(),
                _ => Vec::new(),
            }
        }
        if !matches!(self.schema.node(id).kind, Kind::Record(_)) {
            return false;
        }
        let mut seen = vec![id];
        let mut stack = inline_children(self.schema, id);
        while let Some(n) = stack.pop() {
            if n == id {
                return true;
            }
            if !seen.contains(&n) {
                seen.push(n);
                stack.extend(inline_children(self.schema, n));
            }
        }
        false
    }

    /// The variant name of a union branch.
    fn variant(&self, id: NodeId) -> String {
        let node = self.schema.node(id);
        if let Some(l) = codec::logical(self.schema, id) {
            return type_ident(l.name());
        }
        match node.kind.named() {
            Some(n) => type_ident(&n.name.name),
            None => type_ident(node.kind.ty().avro_name()),
        }
    }

    fn emit_record(&mut self, id: NodeId) -> Result<(), Diagnostic> {
        let Kind::Record(r) = &self.schema.node(id).kind else {
            return Ok(());
        };
        let full = r.named.name.full();
        let name = self.type_name(id)?;
        let mut code = String::new();
        code.push_str(&doc_comment(r.named.doc.as_deref(), ""));
        code.push_str(&self.attrs(&self.options.type_attributes, &full));
        let _ = writeln!(
            code,
            "#[derive(Debug, Clone, PartialEq)]\npub struct {name} {{"
        );
        let mut idents: Vec<String> = Vec::new();
        for f in &r.fields {
            let ident = value_ident(&f.name);
            if idents.contains(&ident) {
                return Err(Diagnostic::new(format!(
                    "two fields of \"{full}\" have the Rust name `{ident}`"
                ))
                .at(self.schema.source(), f.span)
                .with_help(
                    "rename one of the fields (Rust names are the snake_case of field names)",
                ));
            }
            idents.push(ident.clone());
            code.push_str(&doc_comment(f.doc.as_deref(), "    "));
            for a in self
                .attrs(
                    &self.options.field_attributes,
                    &format!("{full}.{}", f.name),
                )
                .lines()
            {
                let _ = writeln!(code, "    {a}");
            }
            let _ = writeln!(code, "    pub {ident}: {},", self.rust_type(f.ty.node)?);
        }
        code.push_str("}\n\n");

        // Constructors from defaults.
        let mut params = Vec::new();
        let mut inits = Vec::new();
        for (f, ident) in r.fields.iter().zip(&idents) {
            match &f.default {
                Some(d) => {
                    let expr = self.default_expr(f.ty.node, d).map_err(|e| {
                        Diagnostic::new(format!("invalid default of field \"{}\" of \"{full}\": {e}", f.name))
                            .at(self.schema.source(), f.span)
                            .with_help("give the field a default of its type (for a union, of its first branch)")
                    })?;
                    inits.push(format!("            {ident}: {expr},"));
                }
                None => {
                    params.push(format!("{ident}: {}", self.rust_type(f.ty.node)?));
                    inits.push(format!("            {ident},"));
                }
            }
        }
        let _ = writeln!(
            code,
            "impl {name} {{\n    /// A value with the given required fields; every other field takes its schema default.\n    #[allow(clippy::too_many_arguments)]\n    pub fn new({}) -> Self {{\n        Self {{\n{}\n        }}\n    }}\n}}\n",
            params.join(", "),
            inits.join("\n")
        );
        if params.is_empty() {
            let _ = writeln!(
                code,
                "/// Every field at its schema default.\nimpl ::std::default::Default for {name} {{\n    fn default() -> Self {{\n        Self::new()\n    }}\n}}\n"
            );
        }
        code.push_str(&self.record_value_impl(id, &name)?);
        self.items.push(Item {
            node: id,
            event: String::new(),
            rust_name: name,
            origin: format!("record \"{full}\""),
            code,
        });
        Ok(())
    }

    fn emit_enum(&mut self, id: NodeId) -> Result<(), Diagnostic> {
        let Kind::Enum(e) = &self.schema.node(id).kind else {
            return Ok(());
        };
        let full = e.named.name.full();
        let name = self.rust_type(id)?;
        let variants: Vec<String> = e.symbols.iter().map(|s| type_ident(s)).collect();
        for (i, v) in variants.iter().enumerate() {
            if variants[..i].contains(v) {
                return Err(self
                    .err(
                        id,
                        format!("two symbols of enum \"{full}\" have the Rust name `{v}`"),
                    )
                    .with_help(
                        "rename one of the symbols (Rust names are the UpperCamelCase of symbols)",
                    ));
            }
        }
        let mut code = String::new();
        code.push_str(&doc_comment(e.named.doc.as_deref(), ""));
        if let Some(d) = &e.default {
            let _ = writeln!(
                code,
                "///\n/// Reading a symbol this version does not know yields `{}`, the schema's default.",
                type_ident(d)
            );
        }
        code.push_str(&self.attrs(&self.options.type_attributes, &full));
        let default_derive = if e.default.is_some() { ", Default" } else { "" };
        let _ = writeln!(
            code,
            "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord{default_derive})]\npub enum {name} {{"
        );
        for (s, v) in e.symbols.iter().zip(&variants) {
            if e.default.as_deref() == Some(s.as_str()) {
                code.push_str("    #[default]\n");
            }
            let _ = writeln!(code, "    /// `{s}`\n    {v},");
        }
        code.push_str("}\n\n");
        let symbols: Vec<String> = e.symbols.iter().map(|s| format!("{s:?}")).collect();
        let all: Vec<String> = variants.iter().map(|v| format!("Self::{v}")).collect();
        let _ = writeln!(
            code,
            "impl {name} {{\n    /// Every symbol, in schema order.\n    pub const ALL: [Self; {n}] = [{all}];\n    /// The symbols as the schema spells them, in schema order.\n    pub const SYMBOLS: [&'static str; {n}] = [{syms}];\n\n    /// The symbol as the schema spells it.\n    pub fn symbol(self) -> &'static str {{\n        Self::SYMBOLS[self as usize]\n    }}\n\n    /// The value for a symbol as the schema spells it.\n    pub fn from_symbol(symbol: &str) -> ::std::option::Option<Self> {{\n        Self::SYMBOLS.iter().position(|s| *s == symbol).map(|i| Self::ALL[i])\n    }}\n}}\n",
            n = e.symbols.len(),
            all = all.join(", "),
            syms = symbols.join(", "),
        );
        code.push_str(&self.enum_value_impl(id, &name, &variants));
        self.items.push(Item {
            node: id,
            event: String::new(),
            rust_name: name,
            origin: format!("enum \"{full}\""),
            code,
        });
        Ok(())
    }

    fn emit_fixed(&mut self, id: NodeId) -> Result<(), Diagnostic> {
        let Kind::Fixed(f) = &self.schema.node(id).kind else {
            return Ok(());
        };
        if codec::logical(self.schema, id).is_some() {
            // A decimal or uuid fixed is its logical type; no alias.
            return Ok(());
        }
        let full = f.named.name.full();
        let name = self.rust_type(id)?;
        let mut code = doc_comment(f.named.doc.as_deref(), "");
        let _ = writeln!(code, "pub type {name} = [u8; {}];", f.size);
        self.items.push(Item {
            node: id,
            event: String::new(),
            rust_name: name,
            origin: format!("fixed \"{full}\""),
            code,
        });
        Ok(())
    }

    fn emit_union(&mut self, id: NodeId) -> Result<(), Diagnostic> {
        let Some(branches) = self.union_enum(id) else {
            return Ok(());
        };
        let name = self.rust_type(id)?;
        let mut variants: Vec<String> = Vec::new();
        let mut code = format!(
            "/// One of the branches of a union ({}).\n#[derive(Debug, Clone, PartialEq)]\npub enum {name} {{\n",
            self.schema.describe(id)
        );
        for b in branches {
            let v = self.variant(b.node);
            if variants.contains(&v) {
                return Err(self.err(
                    id,
                    format!("two branches of this union have the Rust variant name `{v}`"),
                ));
            }
            match self.schema.node(b.node).kind {
                Kind::Null => {
                    let _ = writeln!(code, "    {v},");
                }
                _ => {
                    let _ = writeln!(code, "    {v}({}),", self.rust_type(b.node)?);
                }
            }
            variants.push(v);
        }
        code.push_str("}\n\n");
        code.push_str(&self.union_value_impl(id, &name, branches, &variants)?);
        self.items.push(Item {
            node: id,
            event: String::new(),
            rust_name: name,
            origin: self.schema.describe(id),
            code,
        });
        Ok(())
    }
}

/// The trait every generated event record implements; the `Event` impl delegates to it.
pub(crate) const RECORD_TRAIT: &str = "::contracts_core::avro::AvroRecord";

/// Items emitted once at the root of the generated file: none, the codec runtime lives in
/// `contracts_core::avro`.
pub(crate) fn root_items() -> &'static str {
    ""
}
