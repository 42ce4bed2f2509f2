//! Avro schemas.
#[derive(Debug, Clone)]
pub struct AvroSchema {}
