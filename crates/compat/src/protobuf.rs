//! Confluent's Protobuf compatibility rules.
// The Protobuf helper owns this file.

use contracts_model::protobuf::ProtoSchema;

use crate::{Direction, Incompatibility};

/// Confluent's `SchemaDiff.compare(original, update)`, keeping the incompatible differences.
pub fn check(
    _original: &ProtoSchema,
    _update: &ProtoSchema,
    _direction: Direction,
) -> Vec<Incompatibility> {
    Vec::new()
}
