//! The [`AdminBackend`] of a service whose events flow through Kafka (feature `kafka`):
//! [`KafkaAdmin`] answers the event-plumbing half of the admin API (contracts, consumers, lag,
//! dead letters, pause and resume) from the broker, the registry and the process's
//! [`Consumer`]s of `contracts-runtime`.
//!
//! ```text
//! let admin = KafkaAdmin::builder(client_config, topic_prefix, source.clone())
//!     .produces::<orders::v3::OrderCreated>()
//!     .consumer("inventory", CONSUMER_GROUP, &consumer)
//!     .build()?;
//! let server = AdminServer::new(admin_config, admin);
//! ```
//!
//! - **Lag** is the broker's view, not the process's: the group's committed offset (OffsetFetch)
//!   against each partition's high watermark (ListOffsets), so it also shows a group whose
//!   members are all down.
//! - **Dead letters** are read from the consumers' dead-letter topics from the beginning. A
//!   dead-letter topic can be shared by every group reading the same topic (`orders.DLT` holds
//!   what inventory-service *and* notification-service gave up on), so a process lists only the
//!   records whose `dlt-consumer-group` header is one of its groups.
//! - **Dropped and replayed records** are remembered on the broker, in a compacted topic beside
//!   each dead-letter topic, `<dlt>.dropped`, keyed by `partition:offset`. The broker is the one
//!   place every instance of a service and every restart sees (a local file would not be shared
//!   between replicas), and compaction keeps one small record per id, however often it is
//!   written. Dead-letter records themselves are never deleted: Kafka cannot delete single
//!   records, and the original stays there for audit.
//! - **Replay** re-validates the original bytes against the current contract, exactly as the
//!   consumer would read them (Confluent wire header, schema id known to the registry, payload
//!   decodable by the topic's generated decoder), and sends key, value and headers (minus
//!   `dlt-*`) back to the original topic with a `replay-consumer-group` header: only the group
//!   that dead-lettered it handles it again, the others step over it.

mod dead_letters;
mod lag;
mod marks;
mod scan;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use contracts_core::source::SchemaSource;
use contracts_core::{
    DecodeError, Event, SchemaInfo, ServiceInfo, Topic, TopicMessage, WriterSchema,
};
use contracts_runtime::{Consumer, ConsumerControl, without_consumer_only};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;

use lag::group_lag;
pub use marks::DROPPED_SUFFIX;

use crate::{
    AdminBackend, BackendError, BackendResult, ConsumerInfo, ContractInfo, ContractRole,
    DeadLetterId, DeadLetterPage, DeadLetterQuery, DropResult, PartitionLag, ReplayResult,
};

/// How long one broker request of an admin call may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading a whole dead-letter topic may take.
const SCAN_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a record written with `writer` into the topic's message enum and says which contract
/// it matched. A plain function pointer per topic, so consumers of different topics fit in one
/// list.
type DecodeFn = fn(&WriterSchema, &[u8]) -> Result<&'static SchemaInfo, DecodeError>;

fn decode_as<T: Topic>(
    writer: &WriterSchema,
    payload: &[u8],
) -> Result<&'static SchemaInfo, DecodeError> {
    <T::Message as TopicMessage>::decode_from(writer, payload).map(|m| m.schema())
}

/// A consumer of the process, as the admin API sees it.
struct Watched {
    name: String,
    group: String,
    /// With the topic prefix.
    topic: String,
    dead_letter_topic: String,
    control: ConsumerControl,
    events: &'static [&'static SchemaInfo],
    decode: DecodeFn,
}

impl Watched {
    fn info(&self) -> ConsumerInfo {
        ConsumerInfo {
            name: self.name.clone(),
            group: self.group.clone(),
            topics: vec![self.topic.clone()],
            paused: self.control.is_paused(),
        }
    }
}

/// Why [`KafkaAdminBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Pause and resume find a consumer by its name, so names are unique.
    #[error("two consumers are named {0:?}")]
    DuplicateConsumer(String),
    #[error("creating the admin API's Kafka producer: {0}")]
    Producer(#[source] KafkaError),
}

/// Collects what a process produces and consumes; [`KafkaAdminBuilder::build`] makes the
/// backend.
pub struct KafkaAdminBuilder {
    client: ClientConfig,
    topic_prefix: String,
    source: Arc<dyn SchemaSource>,
    contracts: Vec<(&'static SchemaInfo, String, ContractRole)>,
    consumers: Vec<Watched>,
}

impl std::fmt::Debug for KafkaAdminBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAdminBuilder")
            .field("topic_prefix", &self.topic_prefix)
            .field("contracts", &self.contracts.len())
            .field("consumers", &self.consumers.len())
            .finish_non_exhaustive()
    }
}

impl KafkaAdminBuilder {
    /// `client` holds `bootstrap.servers` and the pass-through librdkafka settings;
    /// `topic_prefix` is the one the process's producers and consumers use.
    pub fn new(
        client: ClientConfig,
        topic_prefix: impl Into<String>,
        source: Arc<dyn SchemaSource>,
    ) -> Self {
        KafkaAdminBuilder {
            client,
            topic_prefix: topic_prefix.into(),
            source,
            contracts: Vec::new(),
            consumers: Vec::new(),
        }
    }

    /// The process publishes event `E`.
    pub fn produces<E: Event>(mut self) -> Self {
        let topic = format!("{}{}", self.topic_prefix, <E::Topic as Topic>::NAME);
        self.contracts
            .push((E::SCHEMA, topic, ContractRole::Produced));
        self
    }

    /// The process publishes what `service` produces, as the manifest says (the generated
    /// `services::<service>::SERVICE`).
    pub fn service(mut self, service: &ServiceInfo) -> Self {
        for produced in service.produces {
            let topic = format!("{}{}", self.topic_prefix, produced.topic);
            self.contracts
                .push((produced.schema, topic, ContractRole::Produced));
        }
        self
    }

    /// The process runs `consumer` (in `group`) under `name`, the name pause and resume take.
    /// Every event its topic carries counts as consumed.
    pub fn consumer<T: Topic>(
        mut self,
        name: impl Into<String>,
        group: impl Into<String>,
        consumer: &Consumer<T>,
    ) -> Self {
        let topic = format!("{}{}", self.topic_prefix, T::NAME);
        let events = <T::Message as TopicMessage>::EVENTS;
        for schema in events {
            self.contracts
                .push((schema, topic.clone(), ContractRole::Consumed));
        }
        self.consumers.push(Watched {
            name: name.into(),
            group: group.into(),
            topic,
            dead_letter_topic: consumer.dead_letter_topic().to_owned(),
            control: consumer.control(),
            events,
            decode: decode_as::<T>,
        });
        self
    }

    pub fn build(self) -> Result<KafkaAdmin, BuildError> {
        let mut names = HashSet::new();
        for c in &self.consumers {
            if !names.insert(c.name.as_str()) {
                return Err(BuildError::DuplicateConsumer(c.name.clone()));
            }
        }
        let producer: FutureProducer = without_consumer_only(&self.client)
            .set("acks", "all")
            .create()
            .map_err(BuildError::Producer)?;
        Ok(KafkaAdmin {
            state: Arc::new(KafkaAdminState {
                client: self.client,
                source: self.source,
                contracts: self.contracts,
                consumers: self.consumers,
                producer,
                marks_ready: tokio::sync::OnceCell::new(),
            }),
        })
    }
}

struct KafkaAdminState {
    client: ClientConfig,
    source: Arc<dyn SchemaSource>,
    contracts: Vec<(&'static SchemaInfo, String, ContractRole)>,
    consumers: Vec<Watched>,
    producer: FutureProducer,
    /// Set once every `<dlt>.dropped` topic exists.
    marks_ready: tokio::sync::OnceCell<()>,
}

/// [`AdminBackend`] over the broker and the registry; cheap to clone.
#[derive(Clone)]
pub struct KafkaAdmin {
    state: Arc<KafkaAdminState>,
}

impl std::fmt::Debug for KafkaAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let consumers: Vec<_> = self.state.consumers.iter().map(|c| &c.name).collect();
        f.debug_struct("KafkaAdmin")
            .field("consumers", &consumers)
            .finish_non_exhaustive()
    }
}

fn kafka_unavailable(what: &str, e: KafkaError) -> BackendError {
    tracing::warn!("{what}: {e}");
    BackendError::unavailable(format!("{what}: {e}"))
}

/// Runs blocking broker work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> BackendResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(BackendError::internal)?
}

impl KafkaAdmin {
    pub fn builder(
        client: ClientConfig,
        topic_prefix: impl Into<String>,
        source: Arc<dyn SchemaSource>,
    ) -> KafkaAdminBuilder {
        KafkaAdminBuilder::new(client, topic_prefix, source)
    }

    /// The dead-letter topics of the process, each with the groups whose records it lists.
    fn dead_letter_topics(&self) -> BTreeMap<&str, HashSet<&str>> {
        let mut out: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
        for c in &self.state.consumers {
            out.entry(c.dead_letter_topic.as_str())
                .or_default()
                .insert(c.group.as_str());
        }
        out
    }

    fn find_consumer(&self, name: &str) -> BackendResult<&Watched> {
        self.state
            .consumers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .state
                    .consumers
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                BackendError::not_found(format!(
                    "no consumer {name:?}; this process runs {names:?}"
                ))
            })
    }
}

impl AdminBackend for KafkaAdmin {
    async fn contracts(&self) -> BackendResult<Vec<ContractInfo>> {
        let mut out = Vec::with_capacity(self.state.contracts.len());
        for (schema, topic, role) in &self.state.contracts {
            let info = ContractInfo::from_schema(schema, topic, *role);
            // Look up only: listing contracts must not register anything.
            match self.state.source.schema_id(schema, false).await {
                Ok(id) => out.push(info.with_schema_id(id)),
                Err(e) if e.is_retriable() => {
                    return Err(BackendError::unavailable(format!(
                        "looking up {} in the registry: {e}",
                        schema.subject
                    )));
                }
                Err(e) => {
                    tracing::debug!(subject = schema.subject, "no schema id: {e}");
                    out.push(info);
                }
            }
        }
        Ok(out)
    }

    async fn consumers(&self) -> BackendResult<Vec<ConsumerInfo>> {
        Ok(self.state.consumers.iter().map(Watched::info).collect())
    }

    async fn lag(&self, group: Option<&str>) -> BackendResult<Vec<PartitionLag>> {
        if let Some(g) = group
            && !self.state.consumers.iter().any(|c| c.group == g)
        {
            let groups: BTreeMap<&str, ()> = self
                .state
                .consumers
                .iter()
                .map(|c| (c.group.as_str(), ()))
                .collect();
            return Err(BackendError::not_found(format!(
                "no consumer group {g:?} in this process; it has {:?}",
                groups.keys().collect::<Vec<_>>()
            )));
        }
        let mut out = Vec::new();
        for c in &self.state.consumers {
            if group.is_some_and(|g| g != c.group) {
                continue;
            }
            let client = self.state.client.clone();
            let (group, topic) = (c.group.clone(), c.topic.clone());
            out.extend(blocking(move || group_lag(&client, &group, &topic)).await?);
        }
        Ok(out)
    }

    async fn dead_letters(&self, query: DeadLetterQuery) -> BackendResult<DeadLetterPage> {
        self.list_dead_letters(query).await
    }

    async fn replay(&self, ids: &[DeadLetterId]) -> BackendResult<Vec<ReplayResult>> {
        self.replay_dead_letters(ids).await
    }

    async fn drop_dead_letters(&self, ids: &[DeadLetterId]) -> BackendResult<Vec<DropResult>> {
        self.drop_by_id(ids).await
    }

    async fn pause(&self, consumer: &str) -> BackendResult<ConsumerInfo> {
        let c = self.find_consumer(consumer)?;
        c.control.pause();
        tracing::info!(consumer, group = %c.group, topic = %c.topic, "consumer paused over the admin API");
        Ok(c.info())
    }

    async fn resume(&self, consumer: &str) -> BackendResult<ConsumerInfo> {
        let c = self.find_consumer(consumer)?;
        c.control.resume();
        tracing::info!(consumer, group = %c.group, topic = %c.topic, "consumer resumed over the admin API");
        Ok(c.info())
    }
}
