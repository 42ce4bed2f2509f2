//! Typed consumers: [`Consumer<T>`] reads topic `T` in a consumer group and drives a handler.
//!
//! Delivery is at least once. Each partition has its own task, which handles its records one
//! after another; partitions run concurrently. An offset is stored for commit only after its
//! record was handled, forwarded to a retry topic or dead-lettered, so a commit (periodic, on rebalance, on shutdown) never
//! covers a record still in flight, and a crash redelivers what was not finished.
//!
//! Per record: the schema id selects the writer schema (fetched once per id into a bounded
//! cache, see `writer.rs`), the payload is decoded into the topic's message enum, and the
//! handler runs. A record that cannot be decoded goes to the dead-letter topic at once; a retriable handler error is retried in place with
//! exponential backoff, then dead-lettered; a permanent one (or a panic) is dead-lettered at
//! once. The dead-letter record keeps the original key, value and headers and adds `dlt-*`
//! headers ([`crate::headers`]).
//!
//! With retry topics ([`ConsumerConfig::retry_topics`], Spring Kafka's `@RetryableTopic`), a
//! record whose in-place attempts failed retriably is not retried in its partition, which would
//! hold back every record behind it: it is forwarded to `<topic>.retry-1` with `retry-*` headers
//! (attempts so far, when it is due, where it was first read) and its offset is stored. The same
//! consumer reads the retry topics in the same group; a retry partition's task sleeps until its
//! next record is due (polling goes on, other partitions keep flowing), runs the handler again,
//! and on failure forwards it to the next retry topic, after the last one to the dead-letter
//! topic.
//!
//! One file per concept: `config` (settings), `context` (librdkafka callbacks: rebalances,
//! commits, statistics), `run_loop` (poll, dispatch, backpressure, pause, shutdown),
//! `partition` (a partition's task: decode, handle, retry in place, store the offset),
//! `retry_topics`, `dead_letters`, `forward` (writing a record on until acknowledged) and
//! `provision` (creating the dead-letter and retry topics).

mod config;
mod context;
mod dead_letters;
mod forward;
mod partition;
mod provision;
mod retry_topics;
mod run_loop;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use contracts_core::Topic;
use contracts_core::TopicMessage;
use contracts_core::source::SchemaSource;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::FutureProducer;
use tokio::sync::watch;

pub use config::{CONSUMER_ONLY_SETTINGS, ConsumerConfig, RetryPolicy, without_consumer_only};
use context::Callbacks;
use provision::{broker_answers, ensure_topic};
pub use retry_topics::retry_topic_name;

/// The dead-letter topic of `topic` when the consumer's configuration names none.
pub fn dead_letter_topic_name(topic: &str) -> String {
    contracts_core::dead_letter_topic_name(topic)
}

use crate::metrics::Metrics;
use crate::statistics::StatisticsContext;
use crate::writer::WriterCache;
use crate::{Error, Result};

/// Pauses, resumes and stops a running [`Consumer`]; cheap to clone (for the admin API and
/// signal handlers).
#[derive(Debug, Clone)]
pub struct ConsumerControl {
    stop: Arc<watch::Sender<bool>>,
    paused: Arc<watch::Sender<bool>>,
    stopped: Stopped,
    /// The consumer's client, for [`ConsumerControl::check_broker`]; weak, so that a control
    /// kept by the admin API does not keep a finished consumer in its group.
    client: Arc<OnceLock<Weak<StreamConsumer<Callbacks>>>>,
}

/// A partition that stopped because one of its records could not be written to the dead-letter
/// topic (or the next retry topic) for a permanent reason: the record too large for the
/// producer or the broker, the topic refused or missing, authorization denied. Nothing after the
/// record is handled and its offset is not committed, so no record is lost; the partition goes on
/// once the cause is fixed and the service restarted (or the partition moves to another member).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoppedPartition {
    /// The topic read (the source topic or a retry topic).
    pub topic: String,
    pub partition: i32,
    pub group: String,
    /// The record that could not be written on; the committed offset stays at or before it.
    pub offset: i64,
    /// What failed and why.
    pub reason: String,
}

impl fmt::Display for StoppedPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "partition {}[{}] of group {} stopped at offset {}: {}",
            self.topic, self.partition, self.group, self.offset, self.reason
        )
    }
}

/// The stopped partitions of one consumer, shared by its partition tasks and its control.
#[derive(Debug, Clone, Default)]
struct Stopped(Arc<Mutex<BTreeMap<(String, i32), StoppedPartition>>>);

impl Stopped {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, i32), StoppedPartition>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, p: StoppedPartition) {
        self.lock().insert((p.topic.clone(), p.partition), p);
    }

    fn remove(&self, key: &(String, i32)) {
        self.lock().remove(key);
    }
}

impl ConsumerControl {
    fn new() -> Self {
        ConsumerControl {
            stop: Arc::new(watch::channel(false).0),
            paused: Arc::new(watch::channel(false).0),
            stopped: Stopped::default(),
            client: Arc::default(),
        }
    }

    /// Whether this consumer reaches the cluster now: asks a broker for the topic's metadata
    /// over the consumer's own connections, waiting at most `timeout`. Kept out of probes'
    /// way: a service calls it from a background check and caches the answer.
    pub async fn check_broker(&self, timeout: Duration) -> std::result::Result<(), String> {
        let Some(consumer) = self.client.get().and_then(Weak::upgrade) else {
            return Err("the consumer has stopped".into());
        };
        tokio::task::spawn_blocking(move || {
            let topic = consumer.context().topics[0].clone();
            consumer
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .map(|_| ())
                .map_err(|e| format!("no answer from the Kafka cluster for {topic}: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// The partitions stopped behind a record that could not be dead-lettered, by topic and
    /// partition; empty while all is well. A service's `/health` reports them.
    pub fn stopped_partitions(&self) -> Vec<StoppedPartition> {
        self.stopped.lock().values().cloned().collect()
    }

    /// Stops fetching and handling; records in flight finish. Committed offsets stay.
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Graceful shutdown: stop fetching, finish in-flight handlers, commit, leave the group.
    /// [`Consumer::run`] returns when it is done.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

/// The level of `topic` in `topics` (the source topic, then the retry topics in order).
fn level_of(topics: &[String], topic: &str) -> Option<usize> {
    topics.iter().position(|t| t == topic)
}

/// What a partition task needs to handle records.
struct Pipeline<T: Topic> {
    /// The source topic, then the retry topics in order: a topic's index is its level.
    topics: Vec<String>,
    /// The delay of retry topic `n` at index `n - 1`.
    retry_delays: Vec<Duration>,
    group: String,
    dead_letter_topic: String,
    retry: RetryPolicy,
    writers: WriterCache,
    /// Writes to the retry topics and the dead-letter topic.
    forwarder: FutureProducer<StatisticsContext>,
    consumer: Arc<StreamConsumer<Callbacks>>,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
    paused: watch::Receiver<bool>,
    stopped: Stopped,
    _topic: PhantomData<fn() -> T>,
}

impl<T: Topic> Pipeline<T> {
    fn source_topic(&self) -> &str {
        &self.topics[0]
    }
}

/// Reads topic `T` in a consumer group and hands every record, decoded into `T::Message`, to a
/// handler (for example a generated `services::<svc>::<Topic>Dispatcher`).
pub struct Consumer<T: Topic> {
    pipeline: Arc<Pipeline<T>>,
    config: ConsumerConfig,
    control: ConsumerControl,
    /// Dead-letter and retry topics to create once the broker answers (it did not at start).
    deferred_topics: Vec<String>,
}

impl<T: Topic> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("topic", &T::NAME)
            .field("group", &self.config.group_id)
            .field("retry_topics", &self.retry_topics())
            .field("dead_letter_topic", &self.pipeline.dead_letter_topic)
            .finish_non_exhaustive()
    }
}

impl<T: Topic> Consumer<T> {
    /// Connects (lazily: librdkafka connects in the background) and subscribes to `T::NAME`
    /// and its retry topics. Creates the dead-letter and retry topics when configured to.
    pub async fn new(
        config: ConsumerConfig,
        source: Arc<dyn SchemaSource>,
        metrics: Metrics,
    ) -> Result<Self> {
        let control = ConsumerControl::new();
        let topic = format!("{}{}", config.topic_prefix, T::NAME);
        let mut topics = vec![topic.clone()];
        topics.extend((1..=config.retry_topics.len()).map(|n| retry_topic_name(&topic, n)));
        let callbacks = Callbacks {
            topics: topics.clone(),
            group: config.group_id.clone(),
            metrics: metrics.clone(),
            partitions: Mutex::default(),
            paused: control.paused.subscribe(),
            unassigned_since: Mutex::new(Some(Instant::now())),
        };
        let consumer: StreamConsumer<Callbacks> = config
            .consumer_config()
            .create_with_context(callbacks)
            .map_err(Error::Config)?;
        let forwarder: FutureProducer<StatisticsContext> = config
            .producer_config()
            .create_with_context(StatisticsContext::new(metrics.clone()))
            .map_err(Error::Config)?;
        let dead_letter_topic = config
            .dead_letter_topic
            .clone()
            .unwrap_or_else(|| dead_letter_topic_name(&topic));
        let consumer = Arc::new(consumer);
        let _ = control.client.set(Arc::downgrade(&consumer));
        let mut deferred_topics = Vec::new();
        if let Some(replication) = config.create_dead_letter_topic {
            let wanted = std::iter::once(&dead_letter_topic).chain(&topics[1..]);
            if broker_answers(&consumer, &topic).await {
                for created in wanted {
                    ensure_topic(&config, &consumer, &topic, created, replication).await?;
                }
            } else {
                // A service must start (and take work it can keep, such as outbox rows) while
                // Kafka is down; the topics are created once it is back. Until then a record to
                // dead-letter waits: forwarding retries until the topic takes it.
                tracing::warn!(%topic, "the broker does not answer; the dead-letter and retry topics will be created once it does");
                deferred_topics = wanted.cloned().collect();
            }
        }
        let subscription: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&subscription)
            .map_err(|source| Error::Kafka {
                what: format!("subscribing to {}", subscription.join(", ")),
                source,
            })?;
        let pipeline = Arc::new(Pipeline {
            topics,
            retry_delays: config.retry_topics.clone(),
            group: config.group_id.clone(),
            dead_letter_topic,
            retry: config.retry.clone(),
            writers: WriterCache::new(source, <T::Message as TopicMessage>::EVENTS),
            forwarder,
            consumer,
            metrics,
            stop: control.stop.subscribe(),
            paused: control.paused.subscribe(),
            stopped: control.stopped.clone(),
            _topic: PhantomData,
        });
        Ok(Consumer {
            pipeline,
            config,
            control,
            deferred_topics,
        })
    }

    /// Pause, resume and shutdown for this consumer.
    pub fn control(&self) -> ConsumerControl {
        self.control.clone()
    }

    pub fn dead_letter_topic(&self) -> &str {
        &self.pipeline.dead_letter_topic
    }

    /// The retry topics, in order (`<topic>.retry-1`, ...); empty without non-blocking retries.
    pub fn retry_topics(&self) -> &[String] {
        &self.pipeline.topics[1..]
    }
}
