//! The admin API of a service (`contracts-admin`) over Kafka: [`KafkaAdmin`] answers the
//! event-plumbing half (contracts, consumers, lag, dead letters, pause and resume) from the
//! broker and the registry, and [`serve`] runs the gRPC server next to the HTTP one.
//!
//! ```text
//! let admin = kafka.admin(source.clone())
//!     .service(&services::order::SERVICE) // or .produces::<orders::v3::OrderCreated>() per event
//!     .consumer("inventory", CONSUMER_GROUP, &consumer)
//!     .build()?;
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use contracts_admin::{
    AdminBackend, AdminConfig, AdminServer, BackendError, BackendResult, ConsumerInfo,
    ContractInfo, ContractRole, DeadLetter, DeadLetterId, DeadLetterPage, DeadLetterQuery,
    DropOutcome, DropResult, PartitionLag, ReplayOutcome, ReplayResult, TlsIdentity,
};
use contracts_core::source::{SchemaSource, SourceError};
use contracts_core::{
    DecodeError, Event, Format, SchemaInfo, ServiceInfo, Topic, TopicMessage, WriterSchema, wire,
};
use contracts_runtime::{Consumer, ConsumerControl, headers};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::shutdown::Shutdown;

/// How long one broker request of an admin call may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading a whole dead-letter topic may take.
const SCAN_TIMEOUT: Duration = Duration::from_secs(30);
/// The suffix of the topic that remembers dropped and replayed dead letters.
pub const DROPPED_SUFFIX: &str = ".dropped";

/// Settings that only consumers know; librdkafka warns when a producer is given them.
const CONSUMER_ONLY: &[&str] = &[
    "auto.offset.reset",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "group.instance.id",
    "group.protocol",
    "isolation.level",
    "enable.partition.eof",
];

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

    pub fn build(self) -> anyhow::Result<KafkaAdmin> {
        let mut names = HashSet::new();
        for c in &self.consumers {
            anyhow::ensure!(
                names.insert(c.name.as_str()),
                "two consumers are named {:?}",
                c.name
            );
        }
        let mut producer_config = self.client.clone();
        for key in CONSUMER_ONLY {
            producer_config.remove(key);
        }
        let producer: FutureProducer = producer_config
            .set("acks", "all")
            .create()
            .context("creating the admin API's Kafka producer")?;
        Ok(KafkaAdmin {
            inner: Arc::new(Inner {
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

struct Inner {
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
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KafkaAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let consumers: Vec<_> = self.inner.consumers.iter().map(|c| &c.name).collect();
        f.debug_struct("KafkaAdmin")
            .field("consumers", &consumers)
            .finish_non_exhaustive()
    }
}

/// One record as read from a topic.
struct RawRecord {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    timestamp: Option<i64>,
    headers: Vec<(String, Vec<u8>)>,
}

impl RawRecord {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn dead_letter(&self, topic: &str) -> DeadLetter {
        DeadLetter::from_record(
            DeadLetterId {
                topic: topic.to_owned(),
                partition: self.partition,
                offset: self.offset,
            },
            self.key.as_deref(),
            self.value.len(),
            self.timestamp,
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
        )
    }
}

fn kafka_unavailable(what: &str, e: KafkaError) -> BackendError {
    tracing::warn!("{what}: {e}");
    BackendError::unavailable(format!("{what}: {e}"))
}

/// Reads every record of `topic` that is there now, from the beginning, calling `each`.
/// Blocking: run it with `spawn_blocking`.
fn scan(
    client: &ClientConfig,
    topic: &str,
    mut each: impl FnMut(RawRecord),
) -> Result<(), BackendError> {
    let consumer: BaseConsumer = client
        .clone()
        // Never subscribes or commits: the group id is only required by librdkafka.
        .set("group.id", "contracts-admin-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| kafka_unavailable("creating a reader", e))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), BROKER_TIMEOUT)
        .map_err(|e| kafka_unavailable(&format!("reading the metadata of {topic}"), e))?;
    let Some(md) = metadata.topics().first() else {
        return Ok(());
    };
    if let Some(e) = md.error() {
        return Err(BackendError::unavailable(format!(
            "topic {topic}: {}",
            RDKafkaErrorCode::from(e)
        )));
    }
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in md.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), BROKER_TIMEOUT)
            .map_err(|e| kafka_unavailable(&format!("reading the offsets of {topic}"), e))?;
        if high > low {
            assignment
                .add_partition_offset(topic, p.id(), Offset::Offset(low))
                .map_err(|e| kafka_unavailable("assigning partitions", e))?;
            ends.insert(p.id(), high);
        }
    }
    if ends.is_empty() {
        return Ok(());
    }
    consumer
        .assign(&assignment)
        .map_err(|e| kafka_unavailable(&format!("reading {topic}"), e))?;
    let deadline = Instant::now() + SCAN_TIMEOUT;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(BackendError::unavailable(format!(
                "reading {topic} took over {SCAN_TIMEOUT:?}; partitions {:?} are unfinished",
                ends.keys().collect::<Vec<_>>()
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            // Only when `-X enable.partition.eof=true` was passed through: that partition is done.
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                ends.remove(&partition);
            }
            Some(Err(e)) => return Err(kafka_unavailable(&format!("reading {topic}"), e)),
            Some(Ok(m)) => {
                let partition = m.partition();
                if ends
                    .get(&partition)
                    .is_some_and(|end| m.offset() + 1 >= *end)
                {
                    ends.remove(&partition);
                }
                each(RawRecord {
                    partition,
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().unwrap_or_default().to_vec(),
                    timestamp: m.timestamp().to_millis(),
                    headers: m
                        .headers()
                        .map(|hs| {
                            hs.iter()
                                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}

/// Lag of `group` on every partition of `topic`. Blocking.
fn group_lag(
    client: &ClientConfig,
    group: &str,
    topic: &str,
) -> Result<Vec<PartitionLag>, BackendError> {
    // Asking for the group's committed offsets does not join the group: no subscribe.
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| kafka_unavailable("creating a lag reader", e))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), BROKER_TIMEOUT)
        .map_err(|e| kafka_unavailable(&format!("reading the metadata of {topic}"), e))?;
    let Some(md) = metadata.topics().first() else {
        return Ok(Vec::new());
    };
    let mut tpl = TopicPartitionList::new();
    for p in md.partitions() {
        tpl.add_partition(topic, p.id());
    }
    let committed = consumer
        .committed_offsets(tpl, BROKER_TIMEOUT)
        .map_err(|e| kafka_unavailable(&format!("reading the offsets {group} committed"), e))?;
    let mut out = Vec::new();
    for e in committed.elements_for_topic(topic) {
        let (low, high) = consumer
            .fetch_watermarks(topic, e.partition(), BROKER_TIMEOUT)
            .map_err(|e| kafka_unavailable(&format!("reading the offsets of {topic}"), e))?;
        let committed_offset = match e.offset() {
            Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        };
        out.push(PartitionLag {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partition: e.partition(),
            committed_offset,
            high_watermark: high,
            lag: (high - committed_offset.unwrap_or(low)).max(0),
        });
    }
    out.sort_by_key(|l| l.partition);
    Ok(out)
}

/// Runs blocking broker work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> BackendResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(BackendError::internal)?
}

/// Why a dead letter cannot be replayed, or that the registry did not answer.
enum Invalid {
    Reason(String),
    Registry(SourceError),
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
        for c in &self.inner.consumers {
            out.entry(c.dead_letter_topic.as_str())
                .or_default()
                .insert(c.group.as_str());
        }
        out
    }

    /// Creates the `<dlt>.dropped` topics that are missing (once per process).
    async fn ensure_marks_topics(&self) -> BackendResult<()> {
        self.inner
            .marks_ready
            .get_or_try_init(|| async {
                let mut config = self.inner.client.clone();
                for key in CONSUMER_ONLY {
                    config.remove(key);
                }
                let admin: AdminClient<DefaultClientContext> = config
                    .create()
                    .map_err(|e| kafka_unavailable("creating an admin client", e))?;
                let names: Vec<String> = self
                    .dead_letter_topics()
                    .keys()
                    .map(|t| format!("{t}{DROPPED_SUFFIX}"))
                    .collect();
                let topics: Vec<NewTopic<'_>> = names
                    .iter()
                    .map(|n| {
                        NewTopic::new(n, 1, TopicReplication::Fixed(-1))
                            .set("cleanup.policy", "compact")
                    })
                    .collect();
                let results = admin
                    .create_topics(
                        &topics,
                        &AdminOptions::new().operation_timeout(Some(BROKER_TIMEOUT)),
                    )
                    .await
                    .map_err(|e| kafka_unavailable("creating the dropped-records topics", e))?;
                for r in results {
                    match r {
                        Ok(topic) => tracing::info!(topic, "created dropped-records topic"),
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((topic, code)) => {
                            return Err(BackendError::unavailable(format!(
                                "creating topic {topic}: {code}"
                            )));
                        }
                    }
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// The ids of `dlt` already dropped or replayed, as `(partition, offset)`.
    async fn marks(&self, dlt: &str) -> BackendResult<HashSet<(i32, i64)>> {
        self.ensure_marks_topics().await?;
        let client = self.inner.client.clone();
        let topic = format!("{dlt}{DROPPED_SUFFIX}");
        blocking(move || {
            let mut marks = HashSet::new();
            scan(&client, &topic, |r| {
                if let Some(id) = r
                    .key
                    .as_deref()
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .and_then(|k| k.split_once(':'))
                    .and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)))
                {
                    marks.insert(id);
                }
            })?;
            Ok(marks)
        })
        .await
    }

    async fn mark(&self, id: &DeadLetterId, what: &str) -> BackendResult<()> {
        let topic = format!("{}{DROPPED_SUFFIX}", id.topic);
        let key = format!("{}:{}", id.partition, id.offset);
        self.inner
            .producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(what),
                BROKER_TIMEOUT,
            )
            .await
            .map_err(|(e, _)| kafka_unavailable(&format!("recording {id} as {what}"), e))?;
        Ok(())
    }

    /// Every record of `dlt` that belongs to `groups`, by `(partition, offset)`, keeping only
    /// those `keep` wants.
    async fn records(
        &self,
        dlt: &str,
        groups: &HashSet<&str>,
        keep: impl Fn(i32, i64) -> bool + Send + 'static,
    ) -> BackendResult<Vec<RawRecord>> {
        let client = self.inner.client.clone();
        let topic = dlt.to_owned();
        let groups: HashSet<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        blocking(move || {
            let mut out = Vec::new();
            scan(&client, &topic, |r| {
                let ours = r
                    .header(headers::DLT_CONSUMER_GROUP)
                    .is_some_and(|g| groups.contains(g));
                if ours && keep(r.partition, r.offset) {
                    out.push(r);
                }
            })?;
            Ok(out)
        })
        .await
    }

    /// Checks a dead-lettered value the way the consumer of `watched` reads records.
    async fn validate(&self, watched: &Watched, value: &[u8]) -> Result<String, Invalid> {
        let (id, rest) = wire::read_header(value)
            .map_err(|e| Invalid::Reason(format!("no Confluent wire header: {e}")))?;
        let registered = match self.inner.source.schema_by_id(id).await {
            Ok(r) => r,
            Err(SourceError::UnknownId(id)) => {
                return Err(Invalid::Reason(format!(
                    "schema id {id} is unknown to the registry"
                )));
            }
            Err(e) => return Err(Invalid::Registry(e)),
        };
        let (indexes, payload) = match registered.format {
            Format::Avro => (Vec::new(), rest),
            Format::Protobuf => wire::read_message_indexes(rest)
                .map_err(|e| Invalid::Reason(format!("bad Protobuf message indexes: {e}")))?,
        };
        let name = writer_name(
            registered.format,
            &registered.text,
            &registered.subjects,
            &indexes,
            watched.events,
        );
        let writer = WriterSchema::new(id, registered.format, registered.text, name, indexes);
        let schema = (watched.decode)(&writer, payload).map_err(|e| {
            Invalid::Reason(format!(
                "does not decode as any event of {} under the current contract: {e}",
                watched.topic
            ))
        })?;
        Ok(format!("{} v{}", schema.name, schema.version))
    }

    /// The consumer whose dead-letter topic is `topic` and whose group wrote `record`.
    fn owner(&self, topic: &str, record: &RawRecord) -> Option<&Watched> {
        let group = record.header(headers::DLT_CONSUMER_GROUP)?;
        self.inner
            .consumers
            .iter()
            .find(|c| c.dead_letter_topic == topic && c.group == group)
    }

    /// The records behind `ids`, read once per dead-letter topic, with the marks of each topic.
    async fn lookup(
        &self,
        ids: &[DeadLetterId],
    ) -> BackendResult<(
        HashMap<DeadLetterId, RawRecord>,
        HashMap<String, HashSet<(i32, i64)>>,
    )> {
        let topics = self.dead_letter_topics();
        let mut found = HashMap::new();
        let mut marks = HashMap::new();
        for (dlt, groups) in &topics {
            let wanted: HashSet<(i32, i64)> = ids
                .iter()
                .filter(|id| id.topic == *dlt)
                .map(|id| (id.partition, id.offset))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            marks.insert((*dlt).to_owned(), self.marks(dlt).await?);
            let records = self
                .records(dlt, groups, move |p, o| wanted.contains(&(p, o)))
                .await?;
            for r in records {
                found.insert(
                    DeadLetterId {
                        topic: (*dlt).to_owned(),
                        partition: r.partition,
                        offset: r.offset,
                    },
                    r,
                );
            }
        }
        Ok((found, marks))
    }

    fn find_consumer(&self, name: &str) -> BackendResult<&Watched> {
        self.inner
            .consumers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .inner
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

/// Which of the topic's events a writer schema holds: Avro says it in its text; for Protobuf
/// the subject the id is registered under says it (as the runtime's consumer decides).
fn writer_name(
    format: Format,
    text: &str,
    subjects: &[String],
    indexes: &[i32],
    events: &[&'static SchemaInfo],
) -> Option<String> {
    if format == Format::Avro
        && let Ok(schema) = contracts_core::avro::Schema::parse(text)
        && let Some(name) = schema.node(schema.root()).name()
    {
        return Some(name.to_owned());
    }
    events
        .iter()
        .filter(|info| {
            info.format == format && (format == Format::Avro || info.message_indexes == indexes)
        })
        .find(|info| subjects.iter().any(|s| s == info.subject) || info.schema == text)
        .map(|info| info.name.to_owned())
}

fn not_found_reason(
    id: &DeadLetterId,
    topics: &BTreeMap<&str, HashSet<&str>>,
    marks: &HashMap<String, HashSet<(i32, i64)>>,
) -> String {
    if !topics.contains_key(id.topic.as_str()) {
        let known: Vec<&&str> = topics.keys().collect();
        return format!(
            "{} is not a dead-letter topic of this process ({known:?})",
            id.topic
        );
    }
    if marks
        .get(&id.topic)
        .is_some_and(|m| m.contains(&(id.partition, id.offset)))
    {
        return format!("{id} was dropped or replayed already");
    }
    format!("no dead letter {id} of this process's consumer groups")
}

impl AdminBackend for KafkaAdmin {
    async fn contracts(&self) -> BackendResult<Vec<ContractInfo>> {
        let mut out = Vec::with_capacity(self.inner.contracts.len());
        for (schema, topic, role) in &self.inner.contracts {
            let info = ContractInfo::from_schema(schema, topic, *role);
            // Look up only: listing contracts must not register anything.
            match self.inner.source.schema_id(schema, false).await {
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
        Ok(self.inner.consumers.iter().map(Watched::info).collect())
    }

    async fn lag(&self, group: Option<&str>) -> BackendResult<Vec<PartitionLag>> {
        if let Some(g) = group
            && !self.inner.consumers.iter().any(|c| c.group == g)
        {
            let groups: BTreeMap<&str, ()> = self
                .inner
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
        for c in &self.inner.consumers {
            if group.is_some_and(|g| g != c.group) {
                continue;
            }
            let client = self.inner.client.clone();
            let (group, topic) = (c.group.clone(), c.topic.clone());
            out.extend(blocking(move || group_lag(&client, &group, &topic)).await?);
        }
        Ok(out)
    }

    async fn dead_letters(&self, query: DeadLetterQuery) -> BackendResult<DeadLetterPage> {
        let topics = self.dead_letter_topics();
        if let Some(t) = &query.topic
            && !topics.contains_key(t.as_str())
        {
            return Err(BackendError::not_found(format!(
                "{t} is not a dead-letter topic of this process; it has {:?}",
                topics.keys().collect::<Vec<_>>()
            )));
        }
        let mut all = Vec::new();
        for (dlt, groups) in &topics {
            if query.topic.as_deref().is_some_and(|t| t != *dlt) {
                continue;
            }
            let marks = self.marks(dlt).await?;
            let records = self
                .records(dlt, groups, move |p, o| !marks.contains(&(p, o)))
                .await?;
            all.extend(records.iter().map(|r| r.dead_letter(dlt)));
        }
        all.sort_by(|a, b| (a.dead_lettered_at, &a.id).cmp(&(b.dead_lettered_at, &b.id)));
        let truncated = all.len() > query.limit;
        all.truncate(query.limit);
        Ok(DeadLetterPage {
            dead_letters: all,
            truncated,
        })
    }

    async fn replay(&self, ids: &[DeadLetterId]) -> BackendResult<Vec<ReplayResult>> {
        let topics = self.dead_letter_topics();
        let (found, mut marks) = self.lookup(ids).await?;
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let marked = marks
                .get(&id.topic)
                .is_some_and(|m| m.contains(&(id.partition, id.offset)));
            let (Some(record), false) = (found.get(id), marked) else {
                results.push(ReplayResult {
                    id: id.clone(),
                    outcome: ReplayOutcome::NotFound,
                    message: not_found_reason(id, &topics, &marks),
                });
                continue;
            };
            let Some(watched) = self.owner(&id.topic, record) else {
                results.push(ReplayResult {
                    id: id.clone(),
                    outcome: ReplayOutcome::NotFound,
                    message: not_found_reason(id, &topics, &marks),
                });
                continue;
            };
            let event = match self.validate(watched, &record.value).await {
                Ok(event) => event,
                Err(Invalid::Reason(reason)) => {
                    results.push(ReplayResult {
                        id: id.clone(),
                        outcome: ReplayOutcome::Rejected,
                        message: reason,
                    });
                    continue;
                }
                Err(Invalid::Registry(e)) => {
                    return Err(BackendError::unavailable(format!(
                        "validating {id} against the registry: {e}"
                    )));
                }
            };
            let mut sent = OwnedHeaders::new();
            for (k, v) in record.headers.iter().filter(|(k, _)| {
                !k.starts_with("dlt-") && k.as_str() != headers::REPLAY_CONSUMER_GROUP
            }) {
                sent = sent.insert(Header {
                    key: k,
                    value: Some(v),
                });
            }
            if let Some(group) = record.header(headers::DLT_CONSUMER_GROUP) {
                sent = sent.insert(Header {
                    key: headers::REPLAY_CONSUMER_GROUP,
                    value: Some(group),
                });
            }
            let mut out = FutureRecord::to(&watched.topic)
                .payload(&record.value)
                .headers(sent);
            if let Some(key) = &record.key {
                out = out.key(key);
            }
            let delivery = self
                .inner
                .producer
                .send(out, BROKER_TIMEOUT)
                .await
                .map_err(|(e, _)| kafka_unavailable(&format!("sending {id} back"), e))?;
            self.mark(id, "replayed").await?;
            marks
                .entry(id.topic.clone())
                .or_default()
                .insert((id.partition, id.offset));
            tracing::info!(%id, topic = %watched.topic, partition = delivery.partition, offset = delivery.offset, "dead letter replayed");
            results.push(ReplayResult {
                id: id.clone(),
                outcome: ReplayOutcome::Replayed,
                message: format!(
                    "{event} sent back to {}:{}:{}",
                    watched.topic, delivery.partition, delivery.offset
                ),
            });
        }
        Ok(results)
    }

    async fn drop_dead_letters(&self, ids: &[DeadLetterId]) -> BackendResult<Vec<DropResult>> {
        let (found, mut marks) = self.lookup(ids).await?;
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let marked = marks
                .get(&id.topic)
                .is_some_and(|m| m.contains(&(id.partition, id.offset)));
            let outcome = if found.contains_key(id) && !marked {
                self.mark(id, "dropped").await?;
                marks
                    .entry(id.topic.clone())
                    .or_default()
                    .insert((id.partition, id.offset));
                tracing::info!(%id, "dead letter dropped");
                DropOutcome::Dropped
            } else {
                DropOutcome::NotFound
            };
            results.push(DropResult {
                id: id.clone(),
                outcome,
            });
        }
        Ok(results)
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

/// How the admin API protects itself; shared by the three binaries (each adds its own
/// `--admin-listen`).
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// When set, every admin call must carry `authorization: Bearer <token>`; health checks
    /// and reflection stay open.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// PEM certificate chain: the admin API speaks TLS (needs --admin-tls-key).
    #[arg(long, env = "ADMIN_TLS_CERT", requires = "admin_tls_key")]
    pub admin_tls_cert: Option<PathBuf>,
    /// PEM private key of --admin-tls-cert.
    #[arg(long, env = "ADMIN_TLS_KEY", requires = "admin_tls_cert")]
    pub admin_tls_key: Option<PathBuf>,
}

impl AdminArgs {
    pub fn config(&self) -> anyhow::Result<AdminConfig> {
        let token = self.admin_token.clone().filter(|t| !t.is_empty());
        let tls = match (&self.admin_tls_cert, &self.admin_tls_key) {
            (Some(cert), Some(key)) => Some(
                TlsIdentity::from_pem_files(cert, key)
                    .context("--admin-tls-cert/--admin-tls-key")?,
            ),
            _ => None,
        };
        Ok(AdminConfig { token, tls })
    }
}

/// Binds `listen` (so a taken port fails the start-up, not later) and serves `server` there
/// until `shutdown`.
pub fn serve(
    listener: tokio::net::TcpListener,
    server: AdminServer,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<Result<(), contracts_admin::Error>>> {
    tracing::info!(admin_listen = %listener.local_addr()?, "admin API listening");
    Ok(tokio::spawn(async move {
        server
            .serve(listener, async move { shutdown.wait().await })
            .await
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        name: &'static str,
        subject: &'static str,
        indexes: &'static [i32],
    ) -> &'static SchemaInfo {
        Box::leak(Box::new(SchemaInfo {
            name,
            version: 1,
            format: Format::Protobuf,
            subject,
            schema: "",
            fingerprint: [0; 32],
            message_indexes: indexes,
            dependencies: &[],
        }))
    }

    #[test]
    fn an_avro_writer_is_named_by_its_schema_text() {
        let text =
            r#"{"type":"record","name":"OrderCreated","namespace":"shop.orders","fields":[]}"#;
        assert_eq!(
            writer_name(Format::Avro, text, &[], &[], &[]).as_deref(),
            Some("shop.orders.OrderCreated")
        );
    }

    #[test]
    fn a_protobuf_writer_is_named_by_the_subject_and_message_index_it_is_registered_under() {
        let events = [
            info("shop.v1.Reserved", "inventory-shop.v1.Reserved", &[0]),
            info("shop.v2.Reserved", "inventory-shop.v2.Reserved", &[0]),
        ];
        let subjects = ["inventory-shop.v2.Reserved".to_owned()];
        assert_eq!(
            writer_name(Format::Protobuf, "syntax", &subjects, &[0], &events).as_deref(),
            Some("shop.v2.Reserved")
        );
        assert_eq!(
            writer_name(Format::Protobuf, "syntax", &subjects, &[1], &events),
            None,
            "another message of the same file"
        );
    }

    #[test]
    fn an_id_is_not_found_for_a_foreign_topic_a_marked_record_or_a_missing_one() {
        let topics = BTreeMap::from([("orders.DLT", HashSet::from(["inventory-service"]))]);
        let marks = HashMap::from([("orders.DLT".to_owned(), HashSet::from([(0, 7)]))]);
        let id = |topic: &str, offset| DeadLetterId {
            topic: topic.into(),
            partition: 0,
            offset,
        };
        assert!(
            not_found_reason(&id("payments.DLT", 1), &topics, &marks)
                .contains("is not a dead-letter topic of this process")
        );
        assert!(
            not_found_reason(&id("orders.DLT", 7), &topics, &marks)
                .contains("dropped or replayed already")
        );
        assert!(
            not_found_reason(&id("orders.DLT", 8), &topics, &marks)
                .starts_with("no dead letter orders.DLT:0:8")
        );
    }

    #[test]
    fn an_empty_admin_token_means_no_authentication_and_a_half_tls_pair_is_refused() {
        let args = AdminArgs {
            admin_token: Some(String::new()),
            admin_tls_cert: None,
            admin_tls_key: None,
        };
        assert!(args.config().unwrap().token.is_none());
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            admin: AdminArgs,
        }
        let err = Cli::try_parse_from(["svc", "--admin-tls-cert", "cert.pem"]).unwrap_err();
        assert!(err.to_string().contains("--admin-tls-key"), "{err}");
        let cli = Cli::try_parse_from(["svc", "--admin-token", "t0k"]).unwrap();
        assert_eq!(cli.admin.config().unwrap().token.as_deref(), Some("t0k"));
    }
}
