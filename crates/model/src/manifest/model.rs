//! What the manifest says, once read and checked: events with their versions, topics, services and
//! the defaults, and the registry subjects that follow from them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::{Format, Level, Location, SourceFile, Span};

/// The manifest's usual file name, inside the schemas directory.
pub const FILE_NAME: &str = "contracts.toml";

/// How a serializer names the registry subject of a record (Confluent's `subject.name.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectStrategy {
    /// `<topic>-value` (or `<topic>-key`): one schema history per topic, so one event per topic.
    TopicName,
    /// The record's fully-qualified name: one history per record, shared by every topic.
    RecordName,
    /// `<topic>-<fully-qualified name>`: one history per record and topic.
    TopicRecordName,
}

/// Whether a subject is for the Kafka message's key or its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessagePart {
    Key,
    Value,
}

impl SubjectStrategy {
    pub const ALL: [SubjectStrategy; 3] = [
        SubjectStrategy::TopicName,
        SubjectStrategy::RecordName,
        SubjectStrategy::TopicRecordName,
    ];

    /// The Java class name Confluent's serializers are configured with.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectStrategy::TopicName => "TopicNameStrategy",
            SubjectStrategy::RecordName => "RecordNameStrategy",
            SubjectStrategy::TopicRecordName => "TopicRecordNameStrategy",
        }
    }

    /// The subject, computed as Confluent's `io.confluent.kafka.serializers.subject` classes do.
    ///
    /// `full_name` is the record's fully-qualified name: `namespace.name` in Avro,
    /// `package.Message` in Protobuf.
    pub fn subject(self, topic: &str, full_name: &str, part: MessagePart) -> String {
        match (self, part) {
            (SubjectStrategy::TopicName, MessagePart::Key) => format!("{topic}-key"),
            (SubjectStrategy::TopicName, MessagePart::Value) => format!("{topic}-value"),
            (SubjectStrategy::RecordName, _) => full_name.to_string(),
            (SubjectStrategy::TopicRecordName, _) => format!("{topic}-{full_name}"),
        }
    }
}

impl fmt::Display for SubjectStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubjectStrategy {
    type Err = String;

    /// The class name, with or without its `io.confluent.kafka.serializers.subject.` package.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let short = s
            .strip_prefix("io.confluent.kafka.serializers.subject.")
            .unwrap_or(s);
        SubjectStrategy::ALL
            .into_iter()
            .find(|st| st.as_str() == short)
            .ok_or_else(|| {
                format!(
                    "unknown subject strategy \"{s}\": expected TopicNameStrategy, \
                     RecordNameStrategy or TopicRecordNameStrategy"
                )
            })
    }
}

/// A parsed and validated `contracts.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file, as named in messages.
    pub path: PathBuf,
    /// The directory schema paths are relative to: the manifest's own directory when loaded.
    pub base_dir: PathBuf,
    pub defaults: Defaults,
    /// In file order.
    pub services: Vec<Service>,
    /// In file order.
    pub topics: Vec<Topic>,
    /// In file order.
    pub events: Vec<Event>,
    pub(super) source: Arc<SourceFile>,
}

/// What an event gets when it does not say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// `BACKWARD` unless `[defaults]` says otherwise, as in the registry.
    pub compatibility: Level,
    /// `TopicNameStrategy` unless `[defaults]` says otherwise, as in Confluent's serializers.
    pub subject_strategy: SubjectStrategy,
    /// Replication factor of every topic that does not set its own; `None`: the broker's
    /// `default.replication.factor`.
    pub replication_factor: Option<u16>,
    /// `min.insync.replicas` of every topic that does not set its own; `None`: the broker's.
    pub min_insync_replicas: Option<u16>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            compatibility: Level::Backward,
            subject_strategy: SubjectStrategy::TopicName,
            replication_factor: None,
            min_insync_replicas: None,
        }
    }
}

/// A service that produces or consumes events (`[services.<name>]`).
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub description: Option<String>,
    /// The Kafka consumer group the service consumes with.
    pub consumer_group: Option<String>,
    /// Names of the events it produces, in manifest order.
    pub produces: Vec<String>,
    /// Names of the events it consumes, in manifest order.
    pub consumes: Vec<String>,
    pub location: Location,
    pub span: Span,
}

/// A Kafka topic (`[topics.<name>]`) and the settings its events share.
#[derive(Debug, Clone)]
pub struct Topic {
    pub name: String,
    pub description: Option<String>,
    pub partitions: Option<u32>,
    /// The key field of events on this topic that do not name their own.
    pub key: Option<String>,
    /// The subject strategy of events on this topic that do not name their own.
    pub subject_strategy: Option<SubjectStrategy>,
    /// Overrides `[defaults] replication_factor`.
    pub replication_factor: Option<u16>,
    /// Overrides `[defaults] min_insync_replicas`.
    pub min_insync_replicas: Option<u16>,
    /// `cleanup.policy`: `delete`, `compact` or `compact,delete`; `None`: the broker's.
    pub cleanup_policy: Option<String>,
    /// `retention.ms` (-1: forever); `None`: the broker's.
    pub retention_ms: Option<i64>,
    /// How many retry topics (`<topic>.retry-<n>`) its consumers use; 0 by default.
    pub retry_topics: u32,
    /// Names of the events on this topic, in manifest order.
    pub events: Vec<String>,
    pub location: Location,
    pub span: Span,
}

/// An event (`[[events]]`): one kind of record, with its versions and where it flows.
#[derive(Debug, Clone)]
pub struct Event {
    /// Fully-qualified record or message name (`shop.orders.OrderCreated`), unique in the manifest.
    pub name: String,
    pub description: Option<String>,
    pub format: Format,
    pub topic: String,
    /// The field the Kafka key is taken from.
    pub key: String,
    pub subject_strategy: SubjectStrategy,
    /// The compatibility level of the event's subject.
    pub level: Level,
    pub producers: Vec<String>,
    pub consumers: Vec<String>,
    /// Oldest first, numbered 1, 2, 3, …
    pub versions: Vec<SchemaVersion>,
    /// The `[[events]]` header.
    pub location: Location,
    pub span: Span,
}

/// One version of an event: a complete schema, not a diff.
#[derive(Debug, Clone)]
pub struct SchemaVersion {
    pub number: u32,
    /// `v1`, `v2`, …, as used in generated module paths.
    pub label: String,
    /// The record or message name in this version: the event's name unless the version renames it
    /// (a Protobuf package that carries its version changes with every major version).
    pub full_name: String,
    /// The import root: Protobuf imports resolve against it.
    pub root: PathBuf,
    /// The schema file relative to `root`, as Protobuf imports and descriptors name it.
    pub file: PathBuf,
    /// `root` joined with `file`: where to read the schema.
    pub path: PathBuf,
    pub location: Location,
    pub span: Span,
}

/// Consecutive versions of an event that share a registry subject, oldest first.
#[derive(Debug, Clone)]
pub struct SubjectHistory<'a> {
    pub subject: String,
    pub level: Level,
    pub versions: Vec<&'a SchemaVersion>,
}

impl Event {
    /// The name without its namespace or package: `OrderCreated`.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }

    /// The newest version.
    pub fn latest(&self) -> &SchemaVersion {
        self.versions
            .last()
            .expect("a validated event has at least one version")
    }

    pub fn version(&self, number: u32) -> Option<&SchemaVersion> {
        self.versions.iter().find(|v| v.number == number)
    }

    /// The value subject the newest version is registered under.
    pub fn subject(&self) -> String {
        self.subject_of(self.latest())
    }

    /// The value subject of one version.
    pub fn subject_of(&self, version: &SchemaVersion) -> String {
        self.subject_strategy
            .subject(&self.topic, &version.full_name, MessagePart::Value)
    }

    /// The versions grouped by subject, in order: what the registry compares with each other.
    ///
    /// Usually one history; a Protobuf event whose package carries its version starts a new
    /// subject with every package under RecordNameStrategy or TopicRecordNameStrategy.
    pub fn histories(&self) -> Vec<SubjectHistory<'_>> {
        let mut out: Vec<SubjectHistory<'_>> = Vec::new();
        for v in &self.versions {
            let subject = self.subject_of(v);
            match out.iter_mut().find(|h| h.subject == subject) {
                Some(h) => h.versions.push(v),
                None => out.push(SubjectHistory {
                    subject,
                    level: self.level,
                    versions: vec![v],
                }),
            }
        }
        out
    }
}

impl Manifest {
    /// The manifest text, for diagnostics that point into it.
    pub fn source(&self) -> &Arc<SourceFile> {
        &self.source
    }

    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name == name)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_confluent_strategies() {
        let name = "shop.orders.OrderCreated";
        let s = |st: SubjectStrategy, part| st.subject("orders", name, part);
        assert_eq!(
            s(SubjectStrategy::TopicName, MessagePart::Value),
            "orders-value"
        );
        assert_eq!(
            s(SubjectStrategy::TopicName, MessagePart::Key),
            "orders-key"
        );
        assert_eq!(s(SubjectStrategy::RecordName, MessagePart::Value), name);
        assert_eq!(s(SubjectStrategy::RecordName, MessagePart::Key), name);
        assert_eq!(
            s(SubjectStrategy::TopicRecordName, MessagePart::Value),
            "orders-shop.orders.OrderCreated"
        );
        assert_eq!(
            "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy".parse(),
            Ok(SubjectStrategy::TopicRecordName)
        );
    }
}
