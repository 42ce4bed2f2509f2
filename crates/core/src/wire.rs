//! The Confluent wire format: magic byte `0`, the schema id as 4 big-endian bytes, for Protobuf
//! the message indexes, then the payload. Every Confluent serializer reads and writes it.

use crate::{DecodeError, Format, SchemaId};

/// The first byte of every framed record.
pub const MAGIC_BYTE: u8 = 0;

/// Appends the header of a record written with schema `id` (and, for Protobuf, the path of
/// message indexes that selects the message in its file).
pub fn write_header(buf: &mut Vec<u8>, id: SchemaId, format: Format, message_indexes: &[i32]) {
    buf.push(MAGIC_BYTE);
    buf.extend_from_slice(&id.0.to_be_bytes());
    if format == Format::Protobuf {
        write_message_indexes(buf, message_indexes);
    }
}

/// Message indexes: a zigzag varint count, then each index as a zigzag varint. The common
/// path `[0]` (the file's first message) is written as the single byte `0`.
pub fn write_message_indexes(buf: &mut Vec<u8>, indexes: &[i32]) {
    if indexes == [0] {
        buf.push(0);
        return;
    }
    write_zigzag(buf, indexes.len() as i64);
    for &index in indexes {
        write_zigzag(buf, i64::from(index));
    }
}

/// A record split into its header and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed<'a> {
    pub schema_id: SchemaId,
    /// Protobuf message indexes (`[0]` when the record wrote the short form); empty for Avro.
    pub message_indexes: Vec<i32>,
    pub payload: &'a [u8],
}

/// Splits a record value into header and payload. Only the magic byte and the schema id are
/// read; call [`read_message_indexes`] on the payload for Protobuf, or use [`split`].
pub fn read_header(record: &[u8]) -> Result<(SchemaId, &[u8]), DecodeError> {
    match record {
        [] => Err(DecodeError::Framing("empty record value".into())),
        [magic, ..] if *magic != MAGIC_BYTE => Err(DecodeError::Framing(format!(
            "unknown magic byte {magic:#04x} (expected 0x00)"
        ))),
        [_, rest @ ..] if rest.len() < 4 => Err(DecodeError::Framing(format!(
            "record value is {} byte(s); the header alone needs 5",
            record.len()
        ))),
        [_, a, b, c, d, payload @ ..] => {
            Ok((SchemaId(u32::from_be_bytes([*a, *b, *c, *d])), payload))
        }
        _ => unreachable!("lengths 0 to 4 are handled above"),
    }
}

/// Splits a record value written in `format` into its parts.
pub fn split(record: &[u8], format: Format) -> Result<Framed<'_>, DecodeError> {
    let (schema_id, rest) = read_header(record)?;
    let (message_indexes, payload) = match format {
        Format::Avro => (Vec::new(), rest),
        Format::Protobuf => read_message_indexes(rest)?,
    };
    Ok(Framed {
        schema_id,
        message_indexes,
        payload,
    })
}

/// Reads Protobuf message indexes from the start of `bytes`; returns them and the rest.
pub fn read_message_indexes(bytes: &[u8]) -> Result<(Vec<i32>, &[u8]), DecodeError> {
    let (count, mut rest) = read_zigzag(bytes)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if count < 0 || count as usize > rest.len() {
        return Err(DecodeError::Framing(format!(
            "invalid protobuf message index count {count}"
        )));
    }
    let mut indexes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (index, next) = read_zigzag(rest)?;
        let index = i32::try_from(index)
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| {
                DecodeError::Framing(format!("invalid protobuf message index {index}"))
            })?;
        indexes.push(index);
        rest = next;
    }
    Ok((indexes, rest))
}

fn write_zigzag(buf: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn read_zigzag(bytes: &[u8]) -> Result<(i64, &[u8]), DecodeError> {
    let mut n: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = ((n >> 1) as i64) ^ -((n & 1) as i64);
            return Ok((value, &bytes[i + 1..]));
        }
    }
    Err(DecodeError::Framing(
        "truncated or overlong protobuf message index varint".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_header_is_magic_byte_then_big_endian_id() {
        let mut buf = Vec::new();
        write_header(&mut buf, SchemaId(0x0102_0304), Format::Avro, &[]);
        buf.extend_from_slice(b"payload");
        assert_eq!(&buf[..5], &[0, 1, 2, 3, 4]);
        let framed = split(&buf, Format::Avro).unwrap();
        assert_eq!(framed.schema_id, SchemaId(0x0102_0304));
        assert_eq!(framed.payload, b"payload");
    }

    #[test]
    fn first_protobuf_message_is_written_as_a_single_zero() {
        let mut buf = Vec::new();
        write_header(&mut buf, SchemaId(7), Format::Protobuf, &[0]);
        assert_eq!(buf, [0, 0, 0, 0, 7, 0]);
        let framed = split(&buf, Format::Protobuf).unwrap();
        assert_eq!(framed.message_indexes, [0]);
        assert!(framed.payload.is_empty());
    }

    #[test]
    fn nested_protobuf_message_indexes_round_trip_as_zigzag_varints() {
        let mut buf = Vec::new();
        write_header(&mut buf, SchemaId(7), Format::Protobuf, &[1, 70]);
        // count 2 → 4, 1 → 2, 70 → 140 (two varint bytes)
        assert_eq!(&buf[5..], &[4, 2, 0x8c, 0x01]);
        buf.push(0xaa);
        let framed = split(&buf, Format::Protobuf).unwrap();
        assert_eq!(framed.message_indexes, [1, 70]);
        assert_eq!(framed.payload, [0xaa]);
    }

    #[test]
    fn bad_headers_are_framing_errors_that_say_what_is_wrong() {
        let err = |bytes: &[u8]| split(bytes, Format::Avro).unwrap_err().to_string();
        assert!(err(&[]).contains("empty"));
        assert!(err(&[1, 0, 0, 0, 1]).contains("magic byte 0x01"));
        assert!(err(&[0, 0, 1]).contains("3 byte(s)"));
        let proto = split(&[0, 0, 0, 0, 1, 0x80], Format::Protobuf).unwrap_err();
        assert!(proto.to_string().contains("truncated"));
        let negative = split(&[0, 0, 0, 0, 1, 2, 1], Format::Protobuf).unwrap_err();
        assert!(negative.to_string().contains("message index -1"));
    }
}
