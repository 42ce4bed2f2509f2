use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::{DecodeError, HandlerError};

/// The schema languages an event can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Avro,
    Protobuf,
}

impl Format {
    /// The registry's `schemaType` name.
    pub fn registry_name(self) -> &'static str {
        match self {
            Format::Avro => "AVRO",
            Format::Protobuf => "PROTOBUF",
        }
    }

    /// The format a file's extension implies (`.avsc` → Avro, `.proto` → Protobuf).
    pub fn from_extension(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "avsc" => Some(Format::Avro),
            "proto" => Some(Format::Protobuf),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Format::Avro => "avro",
            Format::Protobuf => "protobuf",
        })
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "avro" => Ok(Format::Avro),
            "protobuf" | "proto" => Ok(Format::Protobuf),
            other => Err(format!(
                "unknown schema format \"{other}\": expected \"avro\" or \"protobuf\""
            )),
        }
    }
}

/// A schema registry's id for one schema: the 4 bytes after the magic byte of every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaId(pub u32);

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A schema another schema imports (a Protobuf `import`), registered under its own subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaDependency {
    /// The import path, which is also the reference's `name` in the registry.
    pub name: &'static str,
    /// The subject it is registered under.
    pub subject: &'static str,
    /// Its exact text.
    pub schema: &'static str,
}

/// Everything the contract says about one version of one event, embedded at build time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaInfo {
    /// Fully-qualified name: Avro `namespace.name`, Protobuf `package.Message`.
    pub name: &'static str,
    /// The manifest's version number, from 1.
    pub version: u32,
    pub format: Format,
    /// The registry subject this version is registered under.
    pub subject: &'static str,
    /// The exact schema text the type was generated from, as registered.
    pub schema: &'static str,
    /// SHA-256 of the schema's canonical form (Avro: Parsing Canonical Form; Protobuf: the file's
    /// `FileDescriptorProto` serialized without source code info, so comments do not count).
    pub fingerprint: [u8; 32],
    /// Protobuf: the path of message indexes of the event in its file (Confluent wire format).
    /// Empty for Avro.
    pub message_indexes: &'static [i32],
    /// Protobuf imports to register first, dependencies before dependents. Well-known
    /// `google/protobuf/*` imports are not listed: registries provide them.
    pub dependencies: &'static [SchemaDependency],
}

/// A Kafka key taken from an event's key field.
pub trait EventKey {
    /// Appends the key's bytes as Kafka's standard serializers write them.
    fn write_key(&self, out: &mut Vec<u8>);
}

impl EventKey for String {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl EventKey for str {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

/// Big-endian, as Kafka's `LongSerializer` writes it.
impl EventKey for i64 {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

/// Big-endian, as Kafka's `IntegerSerializer` writes it.
impl EventKey for i32 {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

/// One version of one event, as generated from `schemas/`.
pub trait Event: Sized + Clone + fmt::Debug + Send + Sync + 'static {
    /// The topic the contract puts this event on.
    type Topic: Topic;
    /// The type of the manifest's key field.
    type Key: EventKey + ?Sized;

    /// The contract of this version.
    const SCHEMA: &'static SchemaInfo;

    /// The value of the key field: every event of one key lands in one partition, in order.
    fn key(&self) -> &Self::Key;

    /// Appends the payload (no wire header) to `buf`.
    fn encode(&self, buf: &mut Vec<u8>);

    /// Reads a payload written with exactly this version's schema.
    fn decode(payload: &[u8]) -> Result<Self, DecodeError>;

    /// Reads a payload written with `writer`, resolving it to this version (Avro schema
    /// resolution; Protobuf reads by field number).
    fn decode_from(writer: &WriterSchema, payload: &[u8]) -> Result<Self, DecodeError>;
}

/// A Kafka topic declared in the manifest.
pub trait Topic: Send + Sync + 'static {
    /// The topic's name.
    const NAME: &'static str;
    /// Everything that may appear on the topic.
    type Message: TopicMessage<Topic = Self>;
}

/// What a consumer of a topic receives: one variant per event the topic carries (a generated
/// enum), so that a `match` over it is exhaustive.
pub trait TopicMessage: Sized + fmt::Debug + Send + 'static {
    type Topic: Topic<Message = Self>;

    /// The contracts of every variant's type.
    const EVENTS: &'static [&'static SchemaInfo];

    /// Reads a record written with `writer` into the variant for the writer's event.
    fn decode_from(writer: &WriterSchema, payload: &[u8]) -> Result<Self, DecodeError>;

    /// The contract of the variant this value holds.
    fn schema(&self) -> &'static SchemaInfo;
}

/// The schema a record was written with, as the registry returned it for the record's id.
///
/// The runtime builds one per schema id and caches it, so work done here (parsing, resolution
/// plans) is done once per id.
#[derive(Debug, Clone)]
pub struct WriterSchema {
    id: SchemaId,
    format: Format,
    text: Arc<str>,
    name: Option<String>,
    message_indexes: Vec<i32>,
    /// Avro: the parsed schema and resolution programs, built on first use (see `avro`).
    pub(crate) avro: Arc<crate::avro::WriterCache>,
}

impl WriterSchema {
    /// `name` is the fully-qualified name of the record or message written (for Protobuf, the
    /// one the record's message indexes select), when known.
    pub fn new(
        id: SchemaId,
        format: Format,
        text: impl Into<Arc<str>>,
        name: Option<String>,
        message_indexes: Vec<i32>,
    ) -> Self {
        WriterSchema {
            id,
            format,
            text: text.into(),
            name,
            message_indexes,
            avro: Arc::default(),
        }
    }

    pub fn id(&self) -> SchemaId {
        self.id
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The schema text as the registry returned it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The fully-qualified name of what was written, when known.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn message_indexes(&self) -> &[i32] {
        &self.message_indexes
    }
}

/// Where a consumed record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordMeta {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch, when the record carries a timestamp.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub schema_id: SchemaId,
    /// The producer's unique event id header, when present.
    pub event_id: Option<String>,
}

impl RecordMeta {
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64, schema_id: SchemaId) -> Self {
        RecordMeta {
            topic: topic.into(),
            partition,
            offset,
            timestamp_ms: None,
            key: None,
            schema_id,
            event_id: None,
        }
    }
}

/// Publishes events; implemented by the Kafka runtime, used by generated producer sets.
pub trait Publish: Send + Sync {
    /// What a successful send reports (partition and offset).
    type Delivery: Send;
    /// A failed send; carries the event back to the caller.
    type Error<E: Event>: std::error::Error + Send;

    fn publish<E: Event>(
        &self,
        event: &E,
    ) -> impl Future<Output = Result<Self::Delivery, Self::Error<E>>> + Send;
}

/// Handles the messages of one topic; generated service stubs implement it for a service's
/// handler trait, and the runtime's consumer drives it.
pub trait Handle<M: TopicMessage>: Send + Sync {
    fn handle(
        &self,
        message: M,
        meta: &RecordMeta,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}
