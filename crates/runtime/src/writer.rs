//! Writer schemas by id: fetched from the [`SchemaSource`] once per id, then cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use contracts_core::source::{RegisteredSchema, SchemaSource, SourceError};
use contracts_core::{DecodeError, Format, SchemaId, SchemaInfo, WriterSchema, wire};
use tokio::sync::OnceCell;

/// Why a record could not be turned into a writer schema and payload.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The bytes are wrong (framing, message indexes); dead-letter at once.
    Decode(DecodeError),
    /// The id is not in the registry; dead-letter at once.
    UnknownId(SchemaId),
    /// The registry could not answer now; try the same record again later.
    Registry(SourceError),
}

/// The writer schemas of one consumer, per schema id (and Protobuf message indexes).
pub(crate) struct WriterCache {
    source: Arc<dyn SchemaSource>,
    /// The events the consumer's topic carries: they name what a writer schema holds.
    events: &'static [&'static SchemaInfo],
    fetched: Mutex<HashMap<SchemaId, Arc<OnceCell<Arc<RegisteredSchema>>>>>,
    writers: Mutex<HashMap<(SchemaId, Vec<i32>), WriterSchema>>,
}

impl std::fmt::Debug for WriterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterCache")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl WriterCache {
    pub(crate) fn new(
        source: Arc<dyn SchemaSource>,
        events: &'static [&'static SchemaInfo],
    ) -> Self {
        WriterCache {
            source,
            events,
            fetched: Mutex::default(),
            writers: Mutex::default(),
        }
    }

    /// Splits a record value into the schema it was written with and its payload.
    pub(crate) async fn read<'v>(
        &self,
        value: &'v [u8],
    ) -> Result<(WriterSchema, &'v [u8]), ReadError> {
        let (id, rest) = wire::read_header(value).map_err(ReadError::Decode)?;
        let registered = self.fetch(id).await?;
        let (indexes, payload) = match registered.format {
            Format::Avro => (Vec::new(), rest),
            Format::Protobuf => wire::read_message_indexes(rest).map_err(ReadError::Decode)?,
        };
        let key = (id, indexes);
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = writers.get(&key) {
            return Ok((w.clone(), payload));
        }
        let name = writer_name(&registered, &key.1, self.events);
        if name.is_none() {
            tracing::warn!(schema_id = %id, "cannot tell which event schema {id} holds");
        }
        let writer = WriterSchema::new(
            id,
            registered.format,
            registered.text.as_str(),
            name,
            key.1.clone(),
        );
        writers.insert(key, writer.clone());
        Ok((writer, payload))
    }

    async fn fetch(&self, id: SchemaId) -> Result<Arc<RegisteredSchema>, ReadError> {
        let cell = {
            let mut fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
            fetched.entry(id).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            match self.source.schema_by_id(id).await {
                Ok(s) => {
                    tracing::debug!(schema_id = %id, subjects = ?s.subjects, "fetched writer schema");
                    Ok(Arc::new(s))
                }
                Err(SourceError::UnknownId(id)) => Err(ReadError::UnknownId(id)),
                Err(e) => Err(ReadError::Registry(e)),
            }
        })
        .await
        .cloned()
    }
}

/// The fully-qualified name of the record or message a writer schema holds, which selects the
/// variant of the topic's message enum. Avro says it in the schema text; for Protobuf the
/// subject the schema is registered under says which of the topic's events it is.
fn writer_name(
    registered: &RegisteredSchema,
    indexes: &[i32],
    events: &[&'static SchemaInfo],
) -> Option<String> {
    if registered.format == Format::Avro
        && let Some(name) = avro_full_name(&registered.text)
    {
        return Some(name);
    }
    let same_message = |info: &&&SchemaInfo| {
        info.format == registered.format
            && (registered.format == Format::Avro || info.message_indexes == indexes)
    };
    events
        .iter()
        .filter(same_message)
        .find(|info| {
            registered.subjects.iter().any(|s| s == info.subject) || info.schema == registered.text
        })
        .map(|info| info.name.to_string())
}

/// The full name of an Avro schema whose top level is a named type.
fn avro_full_name(text: &str) -> Option<String> {
    let schema = contracts_core::avro::Schema::parse(text).ok()?;
    schema.node(schema.root()).name().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &'static str, subject: &'static str, format: Format) -> &'static SchemaInfo {
        Box::leak(Box::new(SchemaInfo {
            name,
            version: 1,
            format,
            subject,
            schema: "",
            fingerprint: [0; 32],
            message_indexes: if format == Format::Protobuf {
                &[0]
            } else {
                &[]
            },
            dependencies: &[],
        }))
    }

    #[test]
    fn avro_names_come_from_the_schema_text() {
        let reg = |text: &str| RegisteredSchema {
            format: Format::Avro,
            text: text.into(),
            subjects: vec![],
        };
        let events = [];
        assert_eq!(
            writer_name(
                &reg(r#"{"type":"record","name":"A","namespace":"x.y","fields":[]}"#),
                &[],
                &events
            )
            .as_deref(),
            Some("x.y.A")
        );
        assert_eq!(
            writer_name(
                &reg(r#"{"type":"record","name":"p.q.B","namespace":"x.y","fields":[]}"#),
                &[],
                &events
            )
            .as_deref(),
            Some("p.q.B")
        );
        assert_eq!(writer_name(&reg(r#""string""#), &[], &events), None);
    }

    #[test]
    fn protobuf_names_come_from_the_subject_the_id_is_registered_under() {
        let events = [
            info(
                "shop.inventory.v1.Reserved",
                "inventory-shop.inventory.v1.Reserved",
                Format::Protobuf,
            ),
            info(
                "shop.inventory.v2.Reserved",
                "inventory-shop.inventory.v2.Reserved",
                Format::Protobuf,
            ),
        ];
        let reg = RegisteredSchema {
            format: Format::Protobuf,
            text: "syntax = \"proto3\";".into(),
            subjects: vec!["inventory-shop.inventory.v2.Reserved".into()],
        };
        assert_eq!(
            writer_name(&reg, &[0], &events).as_deref(),
            Some("shop.inventory.v2.Reserved")
        );
        assert_eq!(
            writer_name(&reg, &[1], &events),
            None,
            "another message of the file"
        );
    }
}
