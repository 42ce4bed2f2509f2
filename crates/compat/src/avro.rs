//! Apache Avro's reader/writer compatibility.
use contracts_model::avro::AvroSchema;

use crate::{Direction, Incompatibility};

pub fn check(
    _reader: &AvroSchema,
    _writer: &AvroSchema,
    _direction: Direction,
) -> Vec<Incompatibility> {
    Vec::new()
}
