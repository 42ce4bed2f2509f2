//! The rules a finding can break, named as the Confluent Schema Registry names them.

use std::fmt;

/// Which part of the engine a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Holds for every schema format.
    General,
    /// Apache Avro's reader/writer resolution (`SchemaCompatibility`).
    Avro,
    /// The Confluent Protobuf provider's schema diff.
    Protobuf,
}

/// A compatibility rule. Ids are Confluent's, so users see the same words locally and from their
/// registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    // General
    SchemaTypeChanged,
    InvalidSchema,
    // Avro
    NameMismatch,
    FixedSizeMismatch,
    MissingEnumSymbols,
    ReaderFieldMissingDefaultValue,
    TypeMismatch,
    MissingUnionBranch,
    AmbiguousFieldMatch,
    // Protobuf
    PackageChanged,
    MessageRemoved,
    FieldKindChanged,
    FieldScalarKindChanged,
    FieldNamedTypeChanged,
    FieldNumericLabelChanged,
    RequiredFieldAdded,
    RequiredFieldRemoved,
    OneofFieldRemoved,
    MultipleFieldsMovedToOneof,
    FieldMovedToExistingOneof,
}

impl Rule {
    pub const ALL: [Rule; 20] = [
        Rule::SchemaTypeChanged,
        Rule::InvalidSchema,
        Rule::NameMismatch,
        Rule::FixedSizeMismatch,
        Rule::MissingEnumSymbols,
        Rule::ReaderFieldMissingDefaultValue,
        Rule::TypeMismatch,
        Rule::MissingUnionBranch,
        Rule::AmbiguousFieldMatch,
        Rule::PackageChanged,
        Rule::MessageRemoved,
        Rule::FieldKindChanged,
        Rule::FieldScalarKindChanged,
        Rule::FieldNamedTypeChanged,
        Rule::FieldNumericLabelChanged,
        Rule::RequiredFieldAdded,
        Rule::RequiredFieldRemoved,
        Rule::OneofFieldRemoved,
        Rule::MultipleFieldsMovedToOneof,
        Rule::FieldMovedToExistingOneof,
    ];

    /// The SCREAMING_SNAKE id.
    pub fn id(self) -> &'static str {
        self.info().0
    }

    pub fn category(self) -> Category {
        self.info().1
    }

    /// One line on what the rule protects.
    pub fn purpose(self) -> &'static str {
        self.info().2
    }

    fn info(self) -> (&'static str, Category, &'static str) {
        use Category::*;
        match self {
            Rule::SchemaTypeChanged => (
                "SCHEMA_TYPE_CHANGED",
                General,
                "a subject keeps one schema format: Avro data cannot be read as Protobuf",
            ),
            Rule::InvalidSchema => (
                "INVALID_SCHEMA",
                General,
                "a new schema must parse under the registry's strict rules",
            ),
            Rule::NameMismatch => (
                "NAME_MISMATCH",
                Avro,
                "a record, enum or fixed keeps its name (or the reader lists the old name in `aliases`)",
            ),
            Rule::FixedSizeMismatch => ("FIXED_SIZE_MISMATCH", Avro, "a fixed type keeps its size"),
            Rule::MissingEnumSymbols => (
                "MISSING_ENUM_SYMBOLS",
                Avro,
                "the reader knows every symbol the writer may write, or has an enum default",
            ),
            Rule::ReaderFieldMissingDefaultValue => (
                "READER_FIELD_MISSING_DEFAULT_VALUE",
                Avro,
                "a field the writer does not have needs a default in the reader",
            ),
            Rule::TypeMismatch => (
                "TYPE_MISMATCH",
                Avro,
                "the reader's type reads the writer's type (same type or an allowed promotion)",
            ),
            Rule::MissingUnionBranch => (
                "MISSING_UNION_BRANCH",
                Avro,
                "every branch the writer may write has a branch in the reader that reads it",
            ),
            Rule::AmbiguousFieldMatch => (
                "AMBIGUOUS_FIELD_MATCH",
                Avro,
                "a reader field's name and aliases match at most one writer field",
            ),
            Rule::PackageChanged => (
                "PACKAGE_CHANGED",
                Protobuf,
                "the file keeps its package, which is part of every message's full name",
            ),
            Rule::MessageRemoved => (
                "MESSAGE_REMOVED",
                Protobuf,
                "a message stays in the subject's file, since records name it by index",
            ),
            Rule::FieldKindChanged => (
                "FIELD_KIND_CHANGED",
                Protobuf,
                "a field stays a scalar, a message or a map",
            ),
            Rule::FieldScalarKindChanged => (
                "FIELD_SCALAR_KIND_CHANGED",
                Protobuf,
                "a scalar field keeps a wire-compatible type",
            ),
            Rule::FieldNamedTypeChanged => (
                "FIELD_NAMED_TYPE_CHANGED",
                Protobuf,
                "a message field keeps its message type, and that type stays compatible",
            ),
            Rule::FieldNumericLabelChanged => (
                "FIELD_NUMERIC_LABEL_CHANGED",
                Protobuf,
                "a numeric or enum field keeps its label (optional, repeated)",
            ),
            Rule::RequiredFieldAdded => (
                "REQUIRED_FIELD_ADDED",
                Protobuf,
                "no proto2 required field is added",
            ),
            Rule::RequiredFieldRemoved => (
                "REQUIRED_FIELD_REMOVED",
                Protobuf,
                "no proto2 required field is removed",
            ),
            Rule::OneofFieldRemoved => (
                "ONEOF_FIELD_REMOVED",
                Protobuf,
                "a member of a oneof that stays is not removed",
            ),
            Rule::MultipleFieldsMovedToOneof => (
                "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
                Protobuf,
                "at most one existing field moves into a new oneof",
            ),
            Rule::FieldMovedToExistingOneof => (
                "FIELD_MOVED_TO_EXISTING_ONEOF",
                Protobuf,
                "the members of a oneof come from one earlier field or oneof",
            ),
        }
    }

    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
        for rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(rule));
        }
    }
}
