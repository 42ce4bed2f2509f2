//! The normalized view of a Protobuf file set that the diff reads: what Wire's parse tree (which
//! Confluent diffs) shows of protox descriptors. Map entries and group types are no messages,
//! proto3 `optional` fields are plain fields, labels are the ones written in the text, and field
//! types are resolved to scalars, enums, messages or maps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use contracts_model::protobuf::{EnumRef, MessageRef, ProtoSchema, Syntax, scalar_type_name};
use prost_types::FieldDescriptorProto;
use prost_types::field_descriptor_proto::{Label as DescriptorLabel, Type};

/// A field's label as Wire's parser gives it; `None` where the text has no label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Label {
    Optional,
    Required,
    Repeated,
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Label::Optional => "optional",
            Label::Required => "required",
            Label::Repeated => "repeated",
        })
    }
}

/// `FieldSchemaDiff.Kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Scalar,
    Message,
    Map,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Scalar => "scalar",
            Kind::Message => "message",
            Kind::Map => "map",
        })
    }
}

/// `FieldSchemaDiff.ScalarKind`: scalars within a group share a wire encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScalarGroup {
    GeneralNumber,
    SignedNumber,
    StringOrBytes,
    Fixed32,
    Fixed64,
    Float,
    Double,
}

impl fmt::Display for ScalarGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScalarGroup::GeneralNumber => "GENERAL_NUMBER",
            ScalarGroup::SignedNumber => "SIGNED_NUMBER",
            ScalarGroup::StringOrBytes => "STRING_OR_BYTES",
            ScalarGroup::Fixed32 => "FIXED32",
            ScalarGroup::Fixed64 => "FIXED64",
            ScalarGroup::Float => "FLOAT",
            ScalarGroup::Double => "DOUBLE",
        })
    }
}

/// A field's type, resolved: what Confluent's `ProtoType` plus its type lookups tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FieldType<'a> {
    Scalar(&'static str),
    /// Full name, without the leading dot.
    Enum(&'a str),
    Message(&'a str),
    Map(Box<FieldType<'a>>, Box<FieldType<'a>>),
}

impl FieldType<'_> {
    pub(super) fn kind(&self) -> Kind {
        match self {
            FieldType::Scalar(_) | FieldType::Enum(_) => Kind::Scalar,
            FieldType::Message(_) => Kind::Message,
            FieldType::Map(..) => Kind::Map,
        }
    }

    /// Enums count as GENERAL_NUMBER, like int32.
    pub(super) fn scalar_group(&self) -> Option<ScalarGroup> {
        Some(match self {
            FieldType::Enum(_) => ScalarGroup::GeneralNumber,
            FieldType::Scalar(name) => match *name {
                "int32" | "int64" | "uint32" | "uint64" | "bool" => ScalarGroup::GeneralNumber,
                "sint32" | "sint64" => ScalarGroup::SignedNumber,
                "string" | "bytes" => ScalarGroup::StringOrBytes,
                "fixed32" | "sfixed32" => ScalarGroup::Fixed32,
                "fixed64" | "sfixed64" => ScalarGroup::Fixed64,
                "float" => ScalarGroup::Float,
                "double" => ScalarGroup::Double,
                _ => return None,
            },
            FieldType::Message(_) | FieldType::Map(..) => return None,
        })
    }
}

impl fmt::Display for FieldType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldType::Scalar(name) => f.write_str(name),
            FieldType::Enum(name) | FieldType::Message(name) => f.write_str(name),
            FieldType::Map(key, value) => write!(f, "map<{key}, {value}>"),
        }
    }
}

pub(super) fn field_type<'a>(
    schema: &'a ProtoSchema,
    field: &'a FieldDescriptorProto,
) -> FieldType<'a> {
    let name = field
        .type_name()
        .strip_prefix('.')
        .unwrap_or(field.type_name());
    match field.r#type() {
        Type::Enum => FieldType::Enum(name),
        Type::Message | Type::Group => match schema.message(name) {
            Some(entry) if entry.is_map_entry() => {
                let part = |part: &str| {
                    entry
                        .descriptor
                        .field
                        .iter()
                        .find(|f| f.name() == part)
                        .map(|f| field_type(schema, f))
                };
                match (part("key"), part("value")) {
                    (Some(key), Some(value)) => FieldType::Map(Box::new(key), Box::new(value)),
                    _ => FieldType::Message(name),
                }
            }
            _ => FieldType::Message(name),
        },
        ty => scalar_type_name(ty).map_or(FieldType::Message(name), FieldType::Scalar),
    }
}

/// The label Wire's parser would give the field as written.
pub(super) fn wire_label(
    syntax: Syntax,
    field: &FieldDescriptorProto,
    in_oneof: bool,
    ty: &FieldType,
) -> Option<Label> {
    if in_oneof || matches!(ty, FieldType::Map(..)) {
        return None;
    }
    match field.label() {
        DescriptorLabel::Repeated => Some(Label::Repeated),
        DescriptorLabel::Required => Some(Label::Required),
        // proto2 fields always carry a label; proto3 ones only when written `optional`;
        // editions have no label keyword, like implicit proto3 fields
        DescriptorLabel::Optional => {
            (syntax == Syntax::Proto2 || field.proto3_optional()).then_some(Label::Optional)
        }
    }
}

#[derive(Debug)]
pub(super) struct FieldInfo<'a> {
    pub(super) field: &'a FieldDescriptorProto,
    /// Index in `DescriptorProto.field`, for its source path.
    pub(super) index: i32,
    pub(super) oneof: Option<&'a str>,
    pub(super) label: Option<Label>,
    pub(super) ty: FieldType<'a>,
}

#[derive(Debug)]
pub(super) struct Oneof<'a> {
    pub(super) name: &'a str,
    pub(super) index: i32,
    pub(super) tags: Vec<i32>,
}

/// A message's fields by tag, oneof members included, and its real (not synthetic) oneofs.
#[derive(Debug)]
pub(super) struct Fields<'a> {
    pub(super) by_tag: BTreeMap<i32, FieldInfo<'a>>,
    pub(super) oneofs: Vec<Oneof<'a>>,
    /// Positions in `oneofs` by name (the first, if a malformed message repeats one).
    oneof_by_name: HashMap<&'a str, usize>,
}

impl<'a> Fields<'a> {
    pub(super) fn of(schema: &'a ProtoSchema, message: MessageRef<'a>) -> Self {
        let syntax = Syntax::of(message.file);
        let decls = &message.descriptor.oneof_decl;
        let mut oneofs: Vec<Oneof<'a>> = Vec::new();
        let mut oneof_at: HashMap<i32, usize> = HashMap::new();
        let mut by_tag = BTreeMap::new();
        for (index, field) in (0i32..).zip(&message.descriptor.field) {
            // Wire keeps proto2 groups apart from fields; Confluent never sees them.
            if field.r#type() == Type::Group {
                continue;
            }
            let oneof = field
                .oneof_index
                .filter(|_| !field.proto3_optional())
                .and_then(|i| Some((i, decls.get(usize::try_from(i).ok()?)?.name())));
            if let Some((i, name)) = oneof {
                match oneof_at.get(&i) {
                    Some(&at) => oneofs[at].tags.push(field.number()),
                    None => {
                        oneof_at.insert(i, oneofs.len());
                        oneofs.push(Oneof {
                            name,
                            index: i,
                            tags: vec![field.number()],
                        });
                    }
                }
            }
            let ty = field_type(schema, field);
            let label = wire_label(syntax, field, oneof.is_some(), &ty);
            by_tag.insert(
                field.number(),
                FieldInfo {
                    field,
                    index,
                    oneof: oneof.map(|(_, name)| name),
                    label,
                    ty,
                },
            );
        }
        oneofs.sort_by_key(|o| o.index);
        let mut oneof_by_name = HashMap::new();
        for (at, o) in oneofs.iter().enumerate() {
            oneof_by_name.entry(o.name).or_insert(at);
        }
        Fields {
            by_tag,
            oneofs,
            oneof_by_name,
        }
    }

    pub(super) fn oneof(&self, name: &str) -> Option<&Oneof<'a>> {
        self.oneofs.get(*self.oneof_by_name.get(name)?)
    }
}

/// The messages and enums declared at one level (a file's top level, or inside a message), as
/// Wire lists them: without map entries and group types.
#[derive(Debug, Default)]
pub(super) struct Types<'a> {
    pub(super) messages: Vec<MessageRef<'a>>,
    pub(super) enums: Vec<EnumRef<'a>>,
    /// Positions by simple name (the first of a repeated one): a level with thousands of
    /// messages is compared name by name.
    message_at: HashMap<&'a str, usize>,
    enum_at: HashMap<&'a str, usize>,
}

impl<'a> Types<'a> {
    fn indexed(messages: Vec<MessageRef<'a>>, enums: Vec<EnumRef<'a>>) -> Self {
        let mut message_at = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            message_at.entry(m.descriptor.name()).or_insert(i);
        }
        let mut enum_at = HashMap::new();
        for (i, e) in enums.iter().enumerate() {
            enum_at.entry(e.descriptor.name()).or_insert(i);
        }
        Types {
            messages,
            enums,
            message_at,
            enum_at,
        }
    }

    pub(super) fn top(schema: &'a ProtoSchema) -> Self {
        let file = schema.entry();
        let scope = file.package();
        Types::indexed(
            file.message_type
                .iter()
                .filter_map(|m| schema.message(&join(scope, m.name())))
                .filter(|m| !m.is_map_entry())
                .collect(),
            file.enum_type
                .iter()
                .filter_map(|e| schema.enum_type(&join(scope, e.name())))
                .collect(),
        )
    }

    pub(super) fn nested(schema: &'a ProtoSchema, parent: MessageRef<'a>) -> Self {
        let scope = parent.full_name;
        let groups: HashSet<&str> = parent
            .descriptor
            .field
            .iter()
            .filter(|f| f.r#type() == Type::Group)
            .map(|f| f.type_name().strip_prefix('.').unwrap_or(f.type_name()))
            .collect();
        Types::indexed(
            parent
                .descriptor
                .nested_type
                .iter()
                .filter_map(|m| schema.message(&join(scope, m.name())))
                .filter(|m| !m.is_map_entry() && !groups.contains(m.full_name))
                .collect(),
            parent
                .descriptor
                .enum_type
                .iter()
                .filter_map(|e| schema.enum_type(&join(scope, e.name())))
                .collect(),
        )
    }

    pub(super) fn message(&self, name: &str) -> Option<(usize, MessageRef<'a>)> {
        let i = *self.message_at.get(name)?;
        Some((i, self.messages[i]))
    }

    pub(super) fn enum_type(&self, name: &str) -> Option<EnumRef<'a>> {
        Some(self.enums[*self.enum_at.get(name)?])
    }
}

pub(super) fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_groups_follow_confluent() {
        let groups: &[&[&str]] = &[
            &["int32", "int64", "uint32", "uint64", "bool", "E"],
            &["sint32", "sint64"],
            &["string", "bytes"],
            &["fixed32", "sfixed32"],
            &["fixed64", "sfixed64"],
            &["float"],
            &["double"],
        ];
        let ty = |name: &'static str| match name {
            "E" => FieldType::Enum("E"),
            scalar => FieldType::Scalar(scalar),
        };
        for (gi, group) in groups.iter().enumerate() {
            for (gj, other) in groups.iter().enumerate() {
                for from in group.iter() {
                    for to in other.iter() {
                        let (a, b) = (ty(from).scalar_group(), ty(to).scalar_group());
                        assert!(a.is_some() && b.is_some(), "{from}, {to}");
                        assert_eq!(a == b, gi == gj, "{from} → {to}");
                    }
                }
            }
        }
    }
}
