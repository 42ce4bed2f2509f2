//! Protobuf schemas: parsed with protox (no protoc), kept with source positions.
// The Protobuf helper owns this file.

/// A Protobuf schema: the subject's file and the files it imports.
#[derive(Debug, Clone)]
pub struct ProtoSchema {}
