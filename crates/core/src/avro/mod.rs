//! Avro binary codecs at run time: what generated event types call, and the generic resolver
//! for writer schemas that were not known when the code was generated.
//!
//! - [`binary`]: the encoding's primitives and the decode cursor [`Reader`].
//! - [`logical`]: logical types as [`crate::types`] (decimal, uuid, date, time, timestamps).
//! - [`schema`]: the schema graph, parsed at run time or lowered from the schema model.
//! - [`canonical`]: its Parsing Canonical Form and fingerprints.
//! - [`plan`]: the resolution [`Plan`] of a writer schema against a reader schema, which
//!   `contracts-build` renders as resolving decoders and [`resolve`] runs.
//! - [`resolve`]: a [`Program`] that rewrites writer bytes as reader bytes (schema resolution).
//!
//! Generated code implements [`AvroValue`] for every named type and [`AvroRecord`] for every
//! event. Decoding data written with another version takes, in order: the plain decoder when
//! the writer's fingerprint is the type's own; a resolving decoder generated at build time
//! when it is another version of the event's history; otherwise [`decode_resolved`], the
//! generic resolver, whose programs are cached on the [`WriterSchema`].

pub mod binary;
pub mod canonical;
pub mod logical;
pub mod plan;
pub mod resolve;
pub mod schema;

use std::sync::{Arc, Mutex, OnceLock};

pub use binary::{ReadResult, Reader};
pub use plan::Plan;
pub use resolve::{Program, ResolveError};
pub use schema::{Schema, SchemaError};

use crate::{DecodeError, Format, WriterSchema};

/// A generated type that has an Avro binary encoding.
pub trait AvroValue: Sized {
    /// Appends the value's encoding.
    fn write(&self, out: &mut Vec<u8>);
    /// Reads one value written with the type's own schema.
    fn read(r: &mut Reader<'_>) -> ReadResult<Self>;
}

/// A generated top-level record: one version of an Avro event.
pub trait AvroRecord: AvroValue {
    /// The schema text the type was generated from.
    const SCHEMA: &'static str;
    /// SHA-256 of the schema's Parsing Canonical Form.
    const FINGERPRINT: [u8; 32];

    /// Appends the payload (no wire header).
    fn encode(&self, out: &mut Vec<u8>) {
        self.write(out);
    }

    /// Reads a payload written with exactly this schema; trailing bytes are an error.
    fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    /// Reads a payload written with `writer`: generated resolving decoders for the versions
    /// known at build time, [`decode_resolved`] for any other writer.
    fn decode_from(writer: &WriterSchema, payload: &[u8]) -> Result<Self, DecodeError>;
}

/// Reads a payload written with `writer` into `T` through the generic resolver. Used by
/// generated `decode_from` for writers that were not known at build time.
pub fn decode_resolved<T: AvroRecord>(
    writer: &WriterSchema,
    payload: &[u8],
) -> Result<T, DecodeError> {
    if writer.avro_fingerprint()? == T::FINGERPRINT {
        return T::decode(payload);
    }
    let mut buf = Vec::with_capacity(payload.len() + 16);
    writer.avro_resolve(T::SCHEMA, payload, &mut buf)?;
    // The resolved payload holds the writer's items, which the writer's bytes were charged
    // for; when the reader drops every field of an item record they take no bytes here, so
    // the budget is the writer payload's (or the rewritten one's, if larger).
    let budget = binary::item_budget(payload.len().max(buf.len()));
    let mut r = Reader::with_item_budget(&buf, budget);
    let v = T::read(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// Per-writer-schema caches: the parsed schema and the resolution programs built so far.
/// Shared by clones of a [`WriterSchema`].
#[derive(Debug, Default)]
pub(crate) struct WriterCache {
    parsed: OnceLock<Result<Parsed, String>>,
    /// Programs per reader schema text; generated types embed their text as a `'static`, so a
    /// pointer comparison usually finds the entry.
    programs: Mutex<Vec<(&'static str, CachedProgram)>>,
}

/// A resolution program, or why the schemas do not resolve (cached too: it will not change).
type CachedProgram = Arc<Result<Program, String>>;

#[derive(Debug)]
struct Parsed {
    schema: Schema,
    fingerprint: [u8; 32],
}

impl WriterSchema {
    fn unreadable(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::Unreadable {
            schema: self.id().to_string(),
            reason: reason.into(),
        }
    }

    fn avro_parsed(&self) -> Result<&Parsed, DecodeError> {
        if self.format() != Format::Avro {
            return Err(self.unreadable(format!("it is a {} schema, not Avro", self.format())));
        }
        let parsed = self.avro.parsed.get_or_init(|| {
            let schema = Schema::parse(self.text()).map_err(|e| e.to_string())?;
            let fingerprint = schema.fingerprint();
            tracing::debug!(schema_id = %self.id(), "parsed Avro writer schema");
            Ok(Parsed {
                schema,
                fingerprint,
            })
        });
        parsed.as_ref().map_err(|e| self.unreadable(e.clone()))
    }

    /// The writer schema parsed as Avro (parsed once, then cached).
    pub fn avro_schema(&self) -> Result<&Schema, DecodeError> {
        self.avro_parsed().map(|p| &p.schema)
    }

    /// SHA-256 of the writer schema's Parsing Canonical Form, as in
    /// [`crate::SchemaInfo::fingerprint`].
    pub fn avro_fingerprint(&self) -> Result<[u8; 32], DecodeError> {
        self.avro_parsed().map(|p| p.fingerprint)
    }

    /// Rewrites `payload`, written with this schema, as data of `reader_schema`, appended to
    /// `out`. The resolution program is built on first use and cached per reader schema.
    pub fn avro_resolve(
        &self,
        reader_schema: &'static str,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        let program = self.avro_program(reader_schema)?;
        match &*program {
            Ok(p) => p.run(payload, out),
            Err(e) => Err(self.unreadable(e.clone())),
        }
    }

    fn avro_program(&self, reader_schema: &'static str) -> Result<CachedProgram, DecodeError> {
        let writer = self.avro_schema()?;
        // A poisoned lock only means another thread panicked while building; the list is
        // still consistent (entries are pushed whole).
        let mut programs = self.avro.programs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, p)) = programs
            .iter()
            .find(|(text, _)| std::ptr::eq(*text, reader_schema) || *text == reader_schema)
        {
            return Ok(p.clone());
        }
        let program = Schema::parse(reader_schema)
            .map_err(|e| format!("the reader schema is invalid: {e}"))
            .and_then(|reader| Program::new(writer, &reader).map_err(|e| e.0));
        if let Err(e) = &program {
            tracing::warn!(schema_id = %self.id(), "writer schema does not resolve: {e}");
        }
        let program = Arc::new(program);
        programs.push((reader_schema, program.clone()));
        Ok(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SchemaId;

    const READER: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string","default":"d"}]}"#;

    #[test]
    fn a_writer_schema_resolves_and_caches_its_program() {
        let w = WriterSchema::new(
            SchemaId(9),
            Format::Avro,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
            None,
            vec![],
        );
        let mut out = Vec::new();
        w.avro_resolve(READER, &[0x04], &mut out).unwrap();
        assert_eq!(out, [0x04, 0x02, b'd']);
        let clone = w.clone();
        out.clear();
        clone.avro_resolve(READER, &[0x06], &mut out).unwrap();
        assert_eq!(out, [0x06, 0x02, b'd']);
        assert_eq!(
            w.avro.programs.lock().unwrap().len(),
            1,
            "the clone shares the cache"
        );
    }

    #[test]
    fn a_protobuf_writer_is_unreadable_as_avro() {
        let w = WriterSchema::new(
            SchemaId(1),
            Format::Protobuf,
            "syntax = \"proto3\";",
            None,
            vec![],
        );
        assert!(matches!(
            w.avro_fingerprint(),
            Err(DecodeError::Unreadable { .. })
        ));
    }

    #[test]
    fn an_unresolvable_writer_says_why() {
        let w = WriterSchema::new(
            SchemaId(3),
            Format::Avro,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#,
            None,
            vec![],
        );
        let e = w.avro_resolve(READER, &[0], &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("schema 3"), "{e}");
        assert!(e.to_string().contains("string"), "{e}");
    }
}
