//! TEMPORARY stand-in for `crate::avro::generate_module` until the Avro codec branch lands:
//! plain structs and enums, and an `AvroRecord` impl whose decoder refuses every payload.
//! Deleted when `avro-codec` is merged; nothing outside this file depends on its internals.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use contracts_model::Diagnostic;
use contracts_model::avro::{AvroSchema, Kind, NodeId};

use crate::names::{type_ident, value_ident};

/// One version of an event's subject history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HistoryVersion<'a> {
    pub version: u32,
    pub schema: &'a AvroSchema,
}

/// One event version that a versioned module holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModuleEntry<'a> {
    pub history: &'a [HistoryVersion<'a>],
    pub index: usize,
}

/// Options from the `Config` builder that apply to Avro types.
#[derive(Debug, Clone, Default)]
pub(crate) struct AvroOptions {
    /// `(full name or ".", attribute)`: attributes put on the matching generated types.
    pub type_attributes: Vec<(String, String)>,
    /// `(full type name.field or ".", attribute)`.
    pub field_attributes: Vec<(String, String)>,
}

/// Where the versioned modules find the codec trait the generated types implement.
pub(crate) const RECORD_TRAIT: &str = "super::super::__avro_interim::AvroRecord";

/// Items emitted once at the root of the generated file.
pub(crate) fn root_items() -> &'static str {
    r#"#[doc(hidden)]
pub mod __avro_interim {
    pub trait AvroRecord: Sized {
        fn encode(&self, buf: &mut ::std::vec::Vec<u8>);
        fn decode(payload: &[u8]) -> ::std::result::Result<Self, ::contracts_core::DecodeError>;
        fn decode_from(
            writer: &::contracts_core::WriterSchema,
            payload: &[u8],
        ) -> ::std::result::Result<Self, ::contracts_core::DecodeError>;
    }
}
"#
}

pub(crate) fn generate_module(
    entries: &[ModuleEntry<'_>],
    options: &AvroOptions,
) -> Result<String, Diagnostic> {
    let mut out = String::new();
    let mut emitted = BTreeSet::new();
    for entry in entries {
        let schema = entry.history[entry.index].schema;
        let mut g = Gen {
            schema,
            options,
            out: &mut out,
            emitted: &mut emitted,
        };
        g.named(schema.root())?;
        let Kind::Record(r) = &schema.node(schema.root()).kind else {
            continue;
        };
        let name = type_ident(&r.named.name.name);
        let _ = writeln!(
            out,
            "impl {RECORD_TRAIT} for {name} {{\n    fn encode(&self, _buf: &mut ::std::vec::Vec<u8>) {{}}\n    fn decode(_payload: &[u8]) -> ::std::result::Result<Self, ::contracts_core::DecodeError> {{\n        Err(::contracts_core::DecodeError::Unreadable {{ schema: {full:?}.into(), reason: \"interim generator: no Avro codec yet\".into() }})\n    }}\n    fn decode_from(_writer: &::contracts_core::WriterSchema, payload: &[u8]) -> ::std::result::Result<Self, ::contracts_core::DecodeError> {{\n        <Self as {RECORD_TRAIT}>::decode(payload)\n    }}\n}}\n",
            full = r.named.name.full()
        );
    }
    Ok(out)
}

struct Gen<'a, 'o> {
    schema: &'a AvroSchema,
    options: &'a AvroOptions,
    out: &'o mut String,
    emitted: &'o mut BTreeSet<String>,
}

impl Gen<'_, '_> {
    fn attrs(&self, list: &[(String, String)], path: &str) -> String {
        list.iter()
            .filter(|(p, _)| p == "." || p == path)
            .map(|(_, a)| format!("{a}\n"))
            .collect()
    }

    fn named(&mut self, id: NodeId) -> Result<(), Diagnostic> {
        let node = self.schema.node(id);
        let Some(named) = node.kind.named() else {
            return Ok(());
        };
        let full = named.name.full();
        if !self.emitted.insert(full.clone()) {
            return Ok(());
        }
        let name = type_ident(&named.name.name);
        let attrs = self.attrs(&self.options.type_attributes, &full);
        match &node.kind {
            Kind::Record(r) => {
                let mut fields = String::new();
                for f in &r.fields {
                    let ty = self.ty(f.ty.node)?;
                    let fattrs = self.attrs(
                        &self.options.field_attributes,
                        &format!("{full}.{}", f.name),
                    );
                    let _ = writeln!(fields, "    {fattrs}pub {}: {ty},", value_ident(&f.name));
                }
                let _ = writeln!(
                    self.out,
                    "{attrs}#[derive(Debug, Clone, PartialEq)]\npub struct {name} {{\n{fields}}}\n"
                );
            }
            Kind::Enum(e) => {
                let symbols: String = e
                    .symbols
                    .iter()
                    .map(|s| format!("    {},\n", type_ident(s)))
                    .collect();
                let _ = writeln!(
                    self.out,
                    "{attrs}#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub enum {name} {{\n{symbols}}}\n"
                );
            }
            Kind::Fixed(f) => {
                let _ = writeln!(
                    self.out,
                    "{attrs}#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub struct {name}(pub [u8; {}]);\n",
                    f.size
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn ty(&mut self, id: NodeId) -> Result<String, Diagnostic> {
        let node = self.schema.node(id);
        Ok(match &node.kind {
            Kind::Null => "()".into(),
            Kind::Boolean => "bool".into(),
            Kind::Int => "i32".into(),
            Kind::Long => "i64".into(),
            Kind::Float => "f32".into(),
            Kind::Double => "f64".into(),
            Kind::Bytes => "::std::vec::Vec<u8>".into(),
            Kind::String => "::std::string::String".into(),
            Kind::Array(c) => format!("::std::vec::Vec<{}>", self.ty(c.node)?),
            Kind::Map(c) => format!(
                "::std::collections::HashMap<::std::string::String, {}>",
                self.ty(c.node)?
            ),
            Kind::Union(branches) => {
                let non_null: Vec<_> = branches
                    .iter()
                    .filter(|b| !matches!(self.schema.node(b.node).kind, Kind::Null))
                    .collect();
                match non_null.as_slice() {
                    [one] if branches.len() == 2 => {
                        format!("::std::option::Option<{}>", self.ty(one.node)?)
                    }
                    _ => {
                        return Err(Diagnostic::new(
                            "interim Avro generator: only [\"null\", T] unions are supported",
                        )
                        .at(self.schema.source(), node.span));
                    }
                }
            }
            Kind::Record(_) | Kind::Enum(_) | Kind::Fixed(_) => {
                self.named(id)?;
                let named = node.kind.named().expect("named kinds have a name");
                type_ident(&named.name.name)
            }
        })
    }
}
