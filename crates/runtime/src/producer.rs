//! Typed producers: [`Publisher`] sends any event, [`Producer<E>`] one event type.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use contracts_core::source::{SchemaSource, SourceError};
use contracts_core::{Event, EventKey as _, Publish, SchemaId, SchemaInfo, Topic, wire};
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use tokio::sync::OnceCell;
use tracing::{Instrument as _, field};

use crate::metrics::{self, Counter, HistogramHandle, Labels, Metrics};
use crate::statistics::StatisticsContext;
use crate::{Error, Result, headers};

/// Whether a producer may register its schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaRegistration {
    /// Register a schema that is missing from its subject (development; Confluent's
    /// `auto.register.schemas=true`).
    #[default]
    Register,
    /// Only look schemas up; a missing one fails the send (production, where CI registers).
    LookupOnly,
}

/// How a [`Publisher`] connects and behaves.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    pub registration: SchemaRegistration,
    /// Put before every contract topic name, for clusters shared by environments or tenants
    /// (`"staging."` sends `orders` events to `staging.orders`). Empty by default.
    pub topic_prefix: String,
    /// librdkafka settings, applied over the defaults (`enable.idempotence=true`, `acks=all`):
    /// `linger.ms`, `compression.type`, `security.protocol`, `sasl.*`, `ssl.*`, ...
    pub client: BTreeMap<String, String>,
}

impl ProducerConfig {
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        ProducerConfig {
            bootstrap_servers: bootstrap_servers.into(),
            registration: SchemaRegistration::default(),
            topic_prefix: String::new(),
            client: BTreeMap::new(),
        }
    }

    /// Sets a librdkafka setting.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client.insert(key.into(), value.into());
        self
    }

    pub fn topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    pub fn registration(mut self, registration: SchemaRegistration) -> Self {
        self.registration = registration;
        self
    }

    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            // No event is written twice or out of order by the producer's own retries, and an
            // acknowledged event is on every in-sync replica.
            .set("enable.idempotence", "true")
            .set("acks", "all");
        for (k, v) in &self.client {
            config.set(k, v);
        }
        config
    }
}

/// Where a sent event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub schema_id: SchemaId,
    /// The `event_id` header the record carries.
    pub event_id: String,
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// The schema id could not be resolved.
    #[error(transparent)]
    Schema(SourceError),
    /// Kafka did not acknowledge the record.
    #[error("Kafka did not accept the record: {0}")]
    Kafka(KafkaError),
}

/// A failed send: the event comes back, with what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("sending {} v{} to {}: {kind}", E::SCHEMA.name, E::SCHEMA.version, <E::Topic as Topic>::NAME)]
pub struct SendError<E: Event> {
    event: E,
    #[source]
    kind: SendErrorKind,
}

impl<E: Event> SendError<E> {
    pub fn kind(&self) -> &SendErrorKind {
        &self.kind
    }

    /// The event that was not sent.
    pub fn event(&self) -> &E {
        &self.event
    }

    pub fn into_event(self) -> E {
        self.event
    }

    /// Whether sending the same event again later may succeed.
    pub fn is_retriable(&self) -> bool {
        match &self.kind {
            SendErrorKind::Schema(e) => e.is_retriable(),
            SendErrorKind::Kafka(e) => crate::error::is_retriable(e),
        }
    }

    fn class(&self) -> &'static str {
        match &self.kind {
            SendErrorKind::Schema(_) => "schema",
            SendErrorKind::Kafka(e) if crate::error::is_retriable(e) => "kafka-retriable",
            SendErrorKind::Kafka(_) => "kafka",
        }
    }
}

/// Sends events of any type to their contract's topic. Cheap to clone; one per process is the
/// usual set-up (generated producer sets wrap it: `services::order::Producer::new(publisher)`).
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<PublisherState>,
}

/// Schema ids per (subject, fingerprint), each resolved once per process.
type IdCache = Mutex<HashMap<(&'static str, [u8; 32]), Arc<OnceCell<SchemaId>>>>;

struct PublisherState {
    producer: FutureProducer<StatisticsContext>,
    source: Arc<dyn SchemaSource>,
    registration: SchemaRegistration,
    topic_prefix: String,
    ids: IdCache,
    /// Per event type, what every send of it reuses.
    prepared: RwLock<HashMap<TypeId, Arc<Prepared>>>,
    metrics: Metrics,
}

/// What a publisher works out on the first send of an event type, so that later sends do not:
/// the topic name, the schema id and its header text, and the metric series of successful
/// sends (updated with atomics, without the registry's lock or label strings).
struct Prepared {
    topic: String,
    id: SchemaId,
    id_text: String,
    sent: Counter,
    duration: HistogramHandle,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("source", &self.inner.source)
            .field("registration", &self.inner.registration)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    pub fn new(
        config: &ProducerConfig,
        source: Arc<dyn SchemaSource>,
        metrics: Metrics,
    ) -> Result<Publisher> {
        let producer = config
            .client_config()
            .create_with_context(StatisticsContext::new(metrics.clone()))
            .map_err(Error::Config)?;
        Ok(Publisher {
            inner: Arc::new(PublisherState {
                producer,
                source,
                registration: config.registration,
                topic_prefix: config.topic_prefix.clone(),
                ids: Mutex::new(HashMap::new()),
                prepared: RwLock::default(),
                metrics,
            }),
        })
    }

    /// A producer for one event type, sharing this publisher's connection.
    pub fn producer<E: Event>(&self) -> Producer<E> {
        Producer {
            publisher: self.clone(),
            _event: PhantomData,
        }
    }

    /// The registry id of `schema`, resolved on first use and then cached.
    pub async fn schema_id(&self, schema: &'static SchemaInfo) -> Result<SchemaId, SourceError> {
        let cell = {
            let mut ids = self.inner.ids.lock().unwrap_or_else(|p| p.into_inner());
            ids.entry((schema.subject, schema.fingerprint))
                .or_default()
                .clone()
        };
        let register = self.inner.registration == SchemaRegistration::Register;
        cell.get_or_try_init(|| async {
            let id = self.inner.source.schema_id(schema, register).await?;
            tracing::info!(
                subject = schema.subject,
                schema_id = %id,
                event_type = schema.name,
                event_version = schema.version,
                "resolved schema id"
            );
            Ok(id)
        })
        .await
        .copied()
    }

    /// Encodes, frames and sends `event`, and waits for the broker's acknowledgement.
    pub async fn send<E: Event>(&self, event: &E) -> Result<Delivery, SendError<E>> {
        let started = Instant::now();
        let prepared = match self.prepared::<E>().await {
            Ok(prepared) => prepared,
            Err(e) => return Err(self.failed(event, SendErrorKind::Schema(e), started)),
        };
        let topic = prepared.topic.as_str();
        let span = tracing::info_span!(
            "publish",
            otel.name = %format_args!("send {topic}"),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.destination.name = topic,
            topic,
            event_type = E::SCHEMA.name,
            event_version = E::SCHEMA.version,
            schema_id = prepared.id.0,
            partition = field::Empty,
            offset = field::Empty,
        );
        match self.send_prepared(event, &prepared).instrument(span).await {
            Ok(delivery) => {
                prepared.duration.observe(started.elapsed());
                prepared.sent.inc();
                Ok(delivery)
            }
            Err(kind) => Err(self.failed(event, kind, started)),
        }
    }

    /// The topic, schema id and metric series of `E`, resolved on its first send.
    async fn prepared<E: Event>(&self) -> Result<Arc<Prepared>, SourceError> {
        let key = TypeId::of::<E>();
        let cached = self
            .inner
            .prepared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(prepared) = cached {
            return Ok(prepared);
        }
        let id = self.schema_id(E::SCHEMA).await?;
        let topic = self.topic::<E>();
        let labels = self.labels::<E>(&topic);
        let metrics = &self.inner.metrics;
        let prepared = Arc::new(Prepared {
            id,
            id_text: id.0.to_string(),
            sent: metrics.counter(metrics::SENT_MESSAGES, labels.clone()),
            duration: metrics.histogram(metrics::SEND_DURATION, labels),
            topic,
        });
        let mut all = self
            .inner
            .prepared
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(all.entry(key).or_insert(prepared).clone())
    }

    fn topic<E: Event>(&self) -> String {
        format!("{}{}", self.inner.topic_prefix, <E::Topic as Topic>::NAME)
    }

    fn labels<E: Event>(&self, topic: &str) -> Labels {
        vec![
            ("messaging_system", "kafka".to_string()),
            ("messaging_destination_name", topic.to_string()),
            ("event_type", E::SCHEMA.name.to_string()),
        ]
    }

    /// Counts and logs a failed send (rare: label strings and the registry's lock are fine).
    fn failed<E: Event>(&self, event: &E, kind: SendErrorKind, started: Instant) -> SendError<E> {
        let e = SendError {
            event: event.clone(),
            kind,
        };
        let topic = self.topic::<E>();
        let mut labels = self.labels::<E>(&topic);
        labels.push(("error_type", e.class().to_string()));
        tracing::warn!(topic, event_type = E::SCHEMA.name, "send failed: {e}");
        let metrics = &self.inner.metrics;
        metrics.observe(metrics::SEND_DURATION, labels.clone(), started.elapsed());
        metrics.inc(metrics::SENT_MESSAGES, labels);
        e
    }

    async fn send_prepared<E: Event>(
        &self,
        event: &E,
        prepared: &Prepared,
    ) -> Result<Delivery, SendErrorKind> {
        let schema = E::SCHEMA;
        let mut value = Vec::with_capacity(128);
        wire::write_header(
            &mut value,
            prepared.id,
            schema.format,
            schema.message_indexes,
        );
        event.encode(&mut value);
        let mut key = Vec::with_capacity(32);
        event.key().write_key(&mut key);

        let event_id = new_event_id();
        let hdrs = OwnedHeaders::new_with_capacity(6)
            .insert(Header {
                key: headers::EVENT_TYPE,
                value: Some(schema.name),
            })
            .insert(Header {
                key: headers::SCHEMA_ID,
                value: Some(&prepared.id_text),
            })
            .insert(Header {
                key: headers::EVENT_ID,
                value: Some(&event_id),
            });
        let hdrs = headers::with_current_trace(hdrs);
        let record = FutureRecord::to(&prepared.topic)
            .key(&key)
            .payload(&value)
            .headers(hdrs);
        // Queue-full waits instead of failing at once; `message.timeout.ms` bounds the rest.
        match self.inner.producer.send(record, Timeout::Never).await {
            Ok(d) => {
                let span = tracing::Span::current();
                span.record("partition", d.partition);
                span.record("offset", d.offset);
                Ok(Delivery {
                    topic: prepared.topic.clone(),
                    partition: d.partition,
                    offset: d.offset,
                    schema_id: prepared.id,
                    event_id,
                })
            }
            Err((e, _)) => Err(SendErrorKind::Kafka(e)),
        }
    }

    /// Waits until every queued record is acknowledged or `timeout` passes; call before exit.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.inner
            .producer
            .flush(timeout)
            .map_err(|source| Error::Kafka {
                what: "flushing the producer".into(),
                source,
            })
    }

    /// The underlying rdkafka producer (for the dead-letter path and raw access).
    pub fn rdkafka(&self) -> &FutureProducer<StatisticsContext> {
        &self.inner.producer
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

/// A random (version 4) UUID, hyphenated: the `event_id` header. From the thread-local CSPRNG
/// rather than a `getrandom` system call per event.
fn new_event_id() -> String {
    let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid.hyphenated().encode_lower(&mut buf).to_owned()
}

impl Publish for Publisher {
    type Delivery = Delivery;
    type Error<E: Event> = SendError<E>;

    fn publish<E: Event>(
        &self,
        event: &E,
    ) -> impl Future<Output = Result<Delivery, SendError<E>>> + Send {
        self.send(event)
    }
}

/// Sends events of one type: `Producer<orders::v3::OrderCreated>` can only send that event, to
/// its contract's topic, keyed by its contract's key.
pub struct Producer<E: Event> {
    publisher: Publisher,
    _event: PhantomData<fn(E)>,
}

impl<E: Event> Clone for Producer<E> {
    fn clone(&self) -> Self {
        Producer {
            publisher: self.publisher.clone(),
            _event: PhantomData,
        }
    }
}

impl<E: Event> fmt::Debug for Producer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("event", &E::SCHEMA.name)
            .field("version", &E::SCHEMA.version)
            .finish_non_exhaustive()
    }
}

impl<E: Event> Producer<E> {
    pub fn new(
        config: &ProducerConfig,
        source: Arc<dyn SchemaSource>,
        metrics: Metrics,
    ) -> Result<Self> {
        Ok(Publisher::new(config, source, metrics)?.producer())
    }

    /// Sends `event` and waits for the broker's acknowledgement; on failure the event comes
    /// back inside the error.
    pub async fn send(&self, event: &E) -> Result<Delivery, SendError<E>> {
        self.publisher.send(event).await
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }
}
