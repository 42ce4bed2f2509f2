//! Typed consumers: [`Consumer<T>`] reads topic `T` in a consumer group and drives a handler.
//!
//! Delivery is at least once. Each partition has its own task, which handles its records one
//! after another; partitions run concurrently. An offset is stored for commit only after its
//! record was handled, forwarded to a retry topic or dead-lettered, so a commit (periodic, on rebalance, on shutdown) never
//! covers a record still in flight, and a crash redelivers what was not finished.
//!
//! Per record: the schema id selects the writer schema (fetched once per id), the payload is
//! decoded into the topic's message enum, and the handler runs. A record that cannot be decoded
//! goes to the dead-letter topic at once; a retriable handler error is retried in place with
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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use contracts_core::source::SchemaSource;
use contracts_core::{Handle, RecordMeta, Topic, TopicMessage};
use futures_util::FutureExt as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::util::Timeout;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument as _, field};

use crate::metrics::{self, Counter, HistogramHandle, Labels, Metrics};
use crate::writer::{ReadError, WriterCache};
use crate::{Error, Result, headers};

/// How often and how long a retriable failure is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Handler calls per record, the first included; then the record is dead-lettered.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Each backoff is the previous one times this.
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1`, after `attempt` failed ones.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.powi(attempt.saturating_sub(1) as i32);
        self.initial_backoff.mul_f64(factor).min(self.max_backoff)
    }
}

/// How a [`Consumer`] connects and behaves.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// `group.id`: consumers with one group id share the partitions; each group gets every record.
    pub group_id: String,
    /// Where records go that cannot be handled; `<topic>.DLT` when `None`.
    pub dead_letter_topic: Option<String>,
    /// Put before the contract's topic name (and the default dead-letter topic's), as in
    /// [`crate::ProducerConfig::topic_prefix`].
    pub topic_prefix: String,
    /// Creates the dead-letter topic (and the retry topics) at start when they are missing, with
    /// the source topic's partition count and this replication factor (`-1`: the broker's
    /// default). `None` leaves creating them to the operator.
    pub create_dead_letter_topic: Option<i32>,
    /// In-place attempts per delivery (on the source topic and on each retry topic).
    pub retry: RetryPolicy,
    /// Non-blocking retries: the delay of each retry topic, in order; empty (the default)
    /// retries in place only. Retry topic `n` (from 1) is named `<topic>.retry-<n>`, `<topic>`
    /// being the consumed topic with its prefix. A record reaches it after the in-place attempts
    /// of [`RetryPolicy`] failed retriably on the topic before, and is handled again no sooner
    /// than this delay after that. Several consumer groups may share the retry topics: each
    /// skips the records another group scheduled (`retry-consumer-group`).
    pub retry_topics: Vec<Duration>,
    /// How long a shutdown waits for in-flight handlers before it commits and leaves.
    pub shutdown_timeout: Duration,
    /// Records buffered per partition before the partition is paused until its task catches up
    /// (to half). Pausing makes librdkafka drop what it prefetched for the partition and fetch
    /// it again on resume, so the limit must hold a burst of one fetch: a lower one costs
    /// throughput (see benches/README.md).
    pub max_buffered_per_partition: usize,
    /// The same limit in bytes of keys and values, which bounds memory whatever the record size.
    pub max_buffered_bytes_per_partition: usize,
    /// Leave and rejoin the group when this consumer has owned no partition for this long.
    /// Tansu 0.6 can leave the only live member of a group with an empty assignment after
    /// another member died without leaving (kill -9), and never rebalances again; a rejoin
    /// makes it the leader. On Apache Kafka a member owns nothing only while a group has more
    /// members than partitions, and each rejoin then costs the group a rebalance, so this is
    /// off (`None`) by default.
    pub rejoin_when_unassigned: Option<Duration>,
    /// librdkafka settings, applied over the defaults (`auto.offset.reset=earliest`,
    /// `auto.commit.interval.ms=1000`, `statistics.interval.ms=5000`). `enable.auto.commit` and
    /// `enable.auto.offset.store` are the runtime's and cannot be changed. The dead-letter
    /// producer gets the same settings (security, SASL, TLS).
    pub client: BTreeMap<String, String>,
}

impl ConsumerConfig {
    pub fn new(bootstrap_servers: impl Into<String>, group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            bootstrap_servers: bootstrap_servers.into(),
            group_id: group_id.into(),
            dead_letter_topic: None,
            topic_prefix: String::new(),
            create_dead_letter_topic: Some(-1),
            retry: RetryPolicy::default(),
            retry_topics: Vec::new(),
            shutdown_timeout: Duration::from_secs(30),
            max_buffered_per_partition: 10_000,
            max_buffered_bytes_per_partition: 16 << 20,
            rejoin_when_unassigned: None,
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

    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Enables non-blocking retries through one retry topic per delay (see
    /// [`ConsumerConfig::retry_topics`](ConsumerConfig#structfield.retry_topics)). With
    /// `RetryPolicy { max_attempts: 1, .. }` a failing record never holds its partition back.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use contracts_runtime::{ConsumerConfig, RetryPolicy};
    /// let config = ConsumerConfig::new("127.0.0.1:9092", "inventory-service")
    ///     .retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() })
    ///     // orders.retry-1 after 1 s, orders.retry-2 after 5 s more, then orders.DLT
    ///     .retry_topics(vec![Duration::from_secs(1), Duration::from_secs(5)]);
    /// ```
    pub fn retry_topics(mut self, delays: Vec<Duration>) -> Self {
        self.retry_topics = delays;
        self
    }

    pub fn rejoin_when_unassigned(mut self, after: Option<Duration>) -> Self {
        self.rejoin_when_unassigned = after;
        self
    }

    fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("auto.offset.reset", "earliest")
            .set("auto.commit.interval.ms", "1000")
            .set("statistics.interval.ms", "5000");
        for (k, v) in &self.client {
            c.set(k, v);
        }
        // At least once: librdkafka commits only offsets the runtime stored, and the runtime
        // stores an offset only after its record was handled or dead-lettered.
        c.set("group.id", &self.group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false");
        c
    }

    fn producer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all");
        for (k, v) in &self.client {
            if !CONSUMER_ONLY.contains(&k.as_str()) {
                c.set(k, v);
            }
        }
        c
    }
}

/// Consumer settings the dead-letter producer must not be given (librdkafka warns about them).
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
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.wait.max.ms",
    "max.partition.fetch.bytes",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "enable.partition.eof",
    "check.crcs",
];

/// Pauses, resumes and stops a running [`Consumer`]; cheap to clone (for the admin API and
/// signal handlers).
#[derive(Debug, Clone)]
pub struct ConsumerControl {
    stop: Arc<watch::Sender<bool>>,
    paused: Arc<watch::Sender<bool>>,
}

impl ConsumerControl {
    fn new() -> Self {
        ConsumerControl {
            stop: Arc::new(watch::channel(false).0),
            paused: Arc::new(watch::channel(false).0),
        }
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

/// One partition's task and what the dispatcher and the rebalance callback share with it.
#[derive(Debug, Default)]
struct PartitionState {
    /// Set when the partition was revoked: the task finishes its record and stores nothing more.
    revoked: AtomicBool,
    /// Records handed to the task and not yet taken, and their bytes.
    buffered: AtomicUsize,
    buffered_bytes: AtomicUsize,
}

/// A partition of the source topic (level 0) or of retry topic `level`.
type PartitionKey = (usize, i32);

struct Worker {
    state: Arc<PartitionState>,
    tx: mpsc::UnboundedSender<OwnedMessage>,
    task: JoinHandle<()>,
    /// This partition's consumed-records series.
    consumed: Counter,
    /// Paused because its buffer is full.
    backpressured: bool,
}

/// The level of `topic` in `topics` (the source topic, then the retry topics in order).
fn level_of(topics: &[String], topic: &str) -> Option<usize> {
    topics.iter().position(|t| t == topic)
}

/// The name of retry topic `n` (from 1) of `topic`.
fn retry_topic_name(topic: &str, n: usize) -> String {
    format!("{topic}.retry-{n}")
}

/// librdkafka callbacks: rebalances and statistics.
struct Callbacks {
    /// The source topic, then the retry topics in order: a topic's index is its level.
    topics: Vec<String>,
    group: String,
    metrics: Metrics,
    partitions: Mutex<HashMap<PartitionKey, Arc<PartitionState>>>,
    paused: watch::Receiver<bool>,
    /// Since when this member owns no partition of the topic (`None` while it owns some).
    unassigned_since: Mutex<Option<Instant>>,
}

impl Callbacks {
    fn set_unassigned(&self, unassigned: bool) {
        let mut since = self
            .unassigned_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *since = match (unassigned, *since) {
            (false, _) => None,
            (true, Some(t)) => Some(t),
            (true, None) => Some(Instant::now()),
        };
    }

    fn unassigned_for(&self) -> Option<Duration> {
        let since = *self
            .unassigned_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        since.map(|t| t.elapsed())
    }
}

impl ClientContext for Callbacks {
    fn stats(&self, stats: Statistics) {
        for name in &self.topics {
            let Some(topic) = stats.topics.get(name) else {
                continue;
            };
            let scope = vec![
                ("messaging_destination_name", name.clone()),
                ("messaging_consumer_group_name", self.group.clone()),
            ];
            let lag = topic
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.desired && p.hi_offset >= 0)
                .map(|p| {
                    let from = if p.committed_offset >= 0 {
                        p.committed_offset
                    } else {
                        p.lo_offset.max(0)
                    };
                    let mut labels = scope.clone();
                    labels.push((
                        "messaging_destination_partition_id",
                        p.partition.to_string(),
                    ));
                    (labels, (p.hi_offset - from).max(0))
                });
            self.metrics.set_gauges(metrics::CONSUMER_LAG, &scope, lag);
        }
    }
}

impl ConsumerContext for Callbacks {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            for e in tpl.elements() {
                let Some(level) = level_of(&self.topics, e.topic()) else {
                    continue;
                };
                if let Some(state) = partitions.remove(&(level, e.partition())) {
                    state.revoked.store(true, Ordering::SeqCst);
                }
            }
            tracing::info!(topic = %self.topics[0], group = %self.group, revoked = tpl.count(), "partitions revoked");
            self.set_unassigned(true);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            tracing::info!(topic = %self.topics[0], group = %self.group, assigned = tpl.count(), "partitions assigned");
            // Owning only retry-topic partitions is owning nothing of the source topic.
            self.set_unassigned(tpl.elements_for_topic(&self.topics[0]).is_empty());
            if *self.paused.borrow()
                && let Err(e) = consumer.pause(tpl)
            {
                tracing::warn!("pausing newly assigned partitions: {e}");
            }
        }
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(topic = %self.topics[0], group = %self.group, "offset commit failed: {e}")
            }
        }
    }
}

/// What a partition task needs to handle records.
struct Shared<T: Topic> {
    /// The source topic, then the retry topics in order: a topic's index is its level.
    topics: Vec<String>,
    /// The delay of retry topic `n` at index `n - 1`.
    retry_delays: Vec<Duration>,
    group: String,
    dead_letter_topic: String,
    retry: RetryPolicy,
    writers: WriterCache,
    /// Writes to the retry topics and the dead-letter topic.
    forwarder: FutureProducer,
    consumer: Arc<StreamConsumer<Callbacks>>,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
    paused: watch::Receiver<bool>,
    _topic: PhantomData<fn() -> T>,
}

impl<T: Topic> Shared<T> {
    fn source_topic(&self) -> &str {
        &self.topics[0]
    }
}

/// Reads topic `T` in a consumer group and hands every record, decoded into `T::Message`, to a
/// handler (for example a generated `services::<svc>::<Topic>Dispatcher`).
pub struct Consumer<T: Topic> {
    shared: Arc<Shared<T>>,
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
            .field("dead_letter_topic", &self.shared.dead_letter_topic)
            .finish_non_exhaustive()
    }
}

/// What became of a record.
enum Outcome {
    Handled,
    DeadLettered,
    /// Written to the next retry topic and acknowledged there.
    Forwarded,
    /// Given up because of shutdown or revocation; not stored, so it is delivered again.
    Abandoned,
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
        let forwarder: FutureProducer = config.producer_config().create().map_err(Error::Config)?;
        let dead_letter_topic = config
            .dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{topic}.DLT"));
        let consumer = Arc::new(consumer);
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
        let shared = Arc::new(Shared {
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
            _topic: PhantomData,
        });
        Ok(Consumer {
            shared,
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
        &self.shared.dead_letter_topic
    }

    /// The retry topics, in order (`<topic>.retry-1`, ...); empty without non-blocking retries.
    pub fn retry_topics(&self) -> &[String] {
        &self.shared.topics[1..]
    }

    /// Consumes until [`ConsumerControl::shutdown`], then shuts down gracefully: stops fetching,
    /// lets in-flight handlers finish (up to `shutdown_timeout`), commits what was handled and
    /// leaves the group.
    pub async fn run<H>(self, handler: H) -> Result<()>
    where
        H: Handle<T::Message> + 'static,
    {
        let handler = Arc::new(handler);
        let shared = &self.shared;
        let consumer = &shared.consumer;
        let mut workers: HashMap<PartitionKey, Worker> = HashMap::new();
        let mut stop = self.control.stop.subscribe();
        let mut paused = self.control.paused.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let high = (
            self.config.max_buffered_per_partition.max(1),
            self.config.max_buffered_bytes_per_partition.max(1),
        );
        let low = (high.0 / 2, high.1 / 2);
        tracing::info!(topic = %shared.source_topic(), group = %shared.group, "consumer started");
        let setup = match (
            self.config.create_dead_letter_topic,
            &self.deferred_topics[..],
        ) {
            (Some(replication), [_, ..]) => Some(tokio::spawn(create_when_answered(
                self.config.clone(),
                shared.consumer.clone(),
                shared.source_topic().to_owned(),
                self.deferred_topics.clone(),
                replication,
            ))),
            _ => None,
        };
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                Ok(()) = paused.changed() => {
                    let pause = *paused.borrow_and_update();
                    set_paused(consumer, &shared.topics, &workers, pause);
                }
                _ = tick.tick() => {
                    if !*paused.borrow() {
                        resume_drained(consumer, &shared.topics, &mut workers, low);
                    }
                    self.rejoin_if_unassigned();
                }
                received = consumer.recv() => match received {
                    Ok(m) => {
                        let m = m.detach();
                        self.dispatch(m, &mut workers, &handler, high);
                    }
                    Err(e) => tracing::warn!(topic = %shared.source_topic(), group = %shared.group, "consume error: {e}"),
                },
            }
        }
        if let Some(task) = setup {
            task.abort();
        }
        self.shutdown(workers).await
    }

    fn rejoin_if_unassigned(&self) {
        let Some(after) = self.config.rejoin_when_unassigned else {
            return;
        };
        let callbacks = self.shared.consumer.context();
        let Some(idle) = callbacks.unassigned_for().filter(|idle| *idle >= after) else {
            return;
        };
        let topic = self.shared.source_topic();
        tracing::warn!(%topic, group = %self.shared.group, "no partition assigned for {idle:?}; leaving and rejoining the group");
        // Restart the clock: a rejoin takes a rebalance to show its result.
        *callbacks
            .unassigned_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.shared.consumer.unsubscribe();
        // The retry topics too: they are part of this consumer's subscription.
        let subscription: Vec<&str> = self.shared.topics.iter().map(String::as_str).collect();
        if let Err(e) = self.shared.consumer.subscribe(&subscription) {
            tracing::warn!(%topic, "resubscribing: {e}");
        }
    }

    fn dispatch<H>(
        &self,
        m: OwnedMessage,
        workers: &mut HashMap<PartitionKey, Worker>,
        handler: &Arc<H>,
        high: (usize, usize),
    ) where
        H: Handle<T::Message> + 'static,
    {
        let shared = &self.shared;
        let partition = m.partition();
        let Some(level) = level_of(&shared.topics, m.topic()) else {
            tracing::warn!(topic = m.topic(), "a record of a topic not subscribed to");
            return;
        };
        let topic = &shared.topics[level];
        let key = (level, partition);
        let stale = workers
            .get(&key)
            .is_none_or(|w| w.state.revoked.load(Ordering::SeqCst) || w.tx.is_closed());
        if stale {
            // A partition newly (re)assigned: a new task, which waits for the previous one to
            // finish its record so that one partition never runs two handlers at once.
            let previous = workers.remove(&key).map(|w| w.task);
            let state = Arc::new(PartitionState::default());
            self.shared
                .consumer
                .context()
                .partitions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, state.clone());
            let (tx, rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(partition_task(
                self.shared.clone(),
                handler.clone(),
                state.clone(),
                level,
                rx,
                previous,
            ));
            let consumed = shared.metrics.counter(
                metrics::CONSUMED_MESSAGES,
                vec![
                    ("messaging_system", "kafka".into()),
                    ("messaging_destination_name", topic.clone()),
                    ("messaging_consumer_group_name", shared.group.clone()),
                    ("messaging_destination_partition_id", partition.to_string()),
                ],
            );
            workers.insert(
                key,
                Worker {
                    state,
                    tx,
                    task,
                    consumed,
                    backpressured: false,
                },
            );
        }
        let worker = workers.get_mut(&key).expect("inserted above");
        worker.consumed.inc();
        let size = record_size(&m);
        let buffered = worker.state.buffered.fetch_add(1, Ordering::SeqCst) + 1;
        let bytes = worker
            .state
            .buffered_bytes
            .fetch_add(size, Ordering::SeqCst)
            + size;
        if worker.tx.send(m).is_err() {
            worker.state.buffered.fetch_sub(1, Ordering::SeqCst);
            worker
                .state
                .buffered_bytes
                .fetch_sub(size, Ordering::SeqCst);
        }
        if (buffered >= high.0 || bytes >= high.1) && !worker.backpressured {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, partition);
            match shared.consumer.pause(&tpl) {
                Ok(()) => worker.backpressured = true,
                Err(e) => {
                    tracing::warn!(topic = %topic, partition, "pausing a busy partition: {e}")
                }
            }
        }
    }

    async fn shutdown(self, workers: HashMap<PartitionKey, Worker>) -> Result<()> {
        let shared = self.shared;
        tracing::info!(topic = %shared.source_topic(), group = %shared.group, "consumer shutting down");
        let tasks: Vec<_> = workers
            .into_values()
            .map(|w| {
                drop(w.tx);
                w.task
            })
            .collect();
        let finished = tokio::time::timeout(self.config.shutdown_timeout, async {
            for task in tasks {
                let _ = task.await;
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                topic = %shared.source_topic(),
                "handlers still running after {:?}; their records will be delivered again",
                self.config.shutdown_timeout
            );
        }
        let consumer = shared.consumer.clone();
        drop(shared);
        tokio::task::spawn_blocking(move || {
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => tracing::warn!("final offset commit failed: {e}"),
            }
            consumer.unsubscribe();
            // Dropping the last handle closes the consumer, which leaves the group.
            drop(consumer);
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
        tracing::info!(topic = T::NAME, "consumer stopped");
        Ok(())
    }
}

fn set_paused(
    consumer: &StreamConsumer<Callbacks>,
    topics: &[String],
    workers: &HashMap<PartitionKey, Worker>,
    pause: bool,
) {
    let assignment = match consumer.assignment() {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("reading the assignment to pause or resume: {e}");
            return;
        }
    };
    let result = if pause {
        consumer.pause(&assignment)
    } else {
        // Partitions paused for backpressure stay paused until their task catches up.
        let mut tpl = TopicPartitionList::new();
        for e in assignment.elements() {
            let backpressured = level_of(topics, e.topic())
                .and_then(|level| workers.get(&(level, e.partition())))
                .is_some_and(|w| w.backpressured);
            if !backpressured {
                tpl.add_partition(e.topic(), e.partition());
            }
        }
        consumer.resume(&tpl)
    };
    match result {
        Ok(()) => tracing::info!(paused = pause, "consumer pause state changed"),
        Err(e) => tracing::warn!("pause/resume failed: {e}"),
    }
}

/// What a buffered record counts against `max_buffered_bytes_per_partition`.
fn record_size(m: &OwnedMessage) -> usize {
    m.payload().map_or(0, <[u8]>::len) + m.key().map_or(0, <[u8]>::len)
}

fn resume_drained(
    consumer: &StreamConsumer<Callbacks>,
    topics: &[String],
    workers: &mut HashMap<PartitionKey, Worker>,
    low: (usize, usize),
) {
    for ((level, partition), w) in workers.iter_mut() {
        if w.backpressured
            && w.state.buffered.load(Ordering::SeqCst) <= low.0
            && w.state.buffered_bytes.load(Ordering::SeqCst) <= low.1
        {
            let topic = &topics[*level];
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, *partition);
            match consumer.resume(&tpl) {
                Ok(()) => w.backpressured = false,
                Err(e) => {
                    tracing::warn!(topic = %topic, partition, "resuming a drained partition: {e}")
                }
            }
        }
    }
}

/// Whether the broker answers a metadata request for `topic` within a few seconds.
async fn broker_answers(consumer: &Arc<StreamConsumer<Callbacks>>, topic: &str) -> bool {
    let consumer = consumer.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// Creates `topics` once the broker answers, retrying every few seconds.
async fn create_when_answered(
    config: ConsumerConfig,
    consumer: Arc<StreamConsumer<Callbacks>>,
    source_topic: String,
    mut topics: Vec<String>,
    replication: i32,
) {
    loop {
        if broker_answers(&consumer, &source_topic).await {
            let mut left = Vec::new();
            for topic in topics {
                if let Err(e) =
                    ensure_topic(&config, &consumer, &source_topic, &topic, replication).await
                {
                    tracing::warn!(%topic, "creating the topic failed, retrying: {e}");
                    left.push(topic);
                }
            }
            topics = left;
            if topics.is_empty() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Creates `topic` with `source_topic`'s partition count unless it exists.
async fn ensure_topic(
    config: &ConsumerConfig,
    consumer: &StreamConsumer<Callbacks>,
    source_topic: &str,
    topic: &str,
    replication: i32,
) -> Result<()> {
    let partitions = {
        let consumer_md = consumer
            .fetch_metadata(Some(source_topic), Duration::from_secs(10))
            .ok();
        consumer_md
            .and_then(|md| md.topics().first().map(|t| t.partitions().len() as i32))
            .filter(|n| *n > 0)
            .unwrap_or(1)
    };
    let mut admin_config = config.producer_config();
    admin_config.remove("enable.idempotence");
    admin_config.remove("acks");
    let admin: AdminClient<DefaultClientContext> = admin_config.create().map_err(Error::Config)?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .map_err(|source| Error::Kafka {
            what: format!("creating topic {topic}"),
            source,
        })?;
    for r in results {
        match r {
            Ok(_) => tracing::info!(topic, partitions, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(Error::Kafka {
                    what: format!("creating topic {topic}"),
                    source: KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(())
}

/// Handles one partition's records in order until the partition is revoked or the consumer stops.
async fn partition_task<T, H>(
    shared: Arc<Shared<T>>,
    handler: Arc<H>,
    state: Arc<PartitionState>,
    level: usize,
    mut rx: mpsc::UnboundedReceiver<OwnedMessage>,
    previous: Option<JoinHandle<()>>,
) where
    T: Topic,
    H: Handle<T::Message> + 'static,
{
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    let mut stop = shared.stop.clone();
    let mut paused = shared.paused.clone();
    // Process-duration series of handled records, per event type.
    let mut handled: HashMap<String, HistogramHandle> = HashMap::new();
    loop {
        let m = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            m = rx.recv() => match m { Some(m) => m, None => return },
        };
        state.buffered.fetch_sub(1, Ordering::SeqCst);
        state
            .buffered_bytes
            .fetch_sub(record_size(&m), Ordering::SeqCst);
        if state.revoked.load(Ordering::SeqCst) {
            return;
        }
        // Another group's retry or replay: not ours to handle, only to step over.
        let owner = if level > 0 {
            headers::RETRY_CONSUMER_GROUP
        } else {
            headers::REPLAY_CONSUMER_GROUP
        };
        if headers::get(m.headers(), owner).is_some_and(|g| g != shared.group) {
            if !store_offset(&shared, &state, level, &m) {
                return;
            }
            continue;
        }
        if level > 0 {
            // Sleeping here holds back only this retry partition, whose records were all
            // delayed by the same amount and so fall due in order.
            let due = headers::get(m.headers(), headers::RETRY_DUE).and_then(|d| d.parse().ok());
            if !wait_until_due(&shared, &state, due.unwrap_or(0)).await {
                return;
            }
        }
        if *paused.borrow() {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = paused.wait_for(|p| !*p) => {}
            }
        }
        match process(&shared, &*handler, &state, level, &m, &mut handled).await {
            Outcome::Handled | Outcome::DeadLettered | Outcome::Forwarded => {
                if !store_offset(&shared, &state, level, &m) {
                    return;
                }
            }
            Outcome::Abandoned => return,
        }
    }
}

/// Stores the offset after `m` for commit; `false` when the partition is no longer ours.
fn store_offset<T: Topic>(
    shared: &Shared<T>,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
) -> bool {
    if state.revoked.load(Ordering::SeqCst) {
        return false;
    }
    let topic = &shared.topics[level];
    // Stores offset + 1: the next record to read.
    match shared
        .consumer
        .store_offset(topic, m.partition(), m.offset())
    {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(topic = %topic, partition = m.partition(), offset = m.offset(), "storing the offset failed (partition revoked?): {e}");
            false
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sleeps until `due_ms` (milliseconds since the epoch); `false` when the consumer stops or the
/// partition is revoked first.
async fn wait_until_due<T: Topic>(shared: &Shared<T>, state: &PartitionState, due_ms: i64) -> bool {
    let mut stop = shared.stop.clone();
    loop {
        if state.revoked.load(Ordering::SeqCst) {
            return false;
        }
        // Past the due millisecond, not merely in it: the due time was truncated to the
        // millisecond, so this is what guarantees that the whole delay has passed.
        let left = due_ms.saturating_sub(now_ms());
        if left < 0 {
            return true;
        }
        // In slices, so that a revoked partition is handed over without waiting out the delay.
        let slice = Duration::from_millis(left.clamp(1, 100) as u64);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return false,
            _ = tokio::time::sleep(slice) => {}
        }
    }
}

/// Sleeps for `backoff` unless the consumer stops or the partition is revoked first (`false`).
async fn pause_before_retry<T: Topic>(
    shared: &Shared<T>,
    state: &PartitionState,
    backoff: Duration,
) -> bool {
    let mut stop = shared.stop.clone();
    tokio::select! {
        _ = stop.wait_for(|s| *s) => false,
        _ = tokio::time::sleep(backoff) => !state.revoked.load(Ordering::SeqCst),
    }
}

async fn process<T, H>(
    shared: &Shared<T>,
    handler: &H,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
    handled: &mut HashMap<String, HistogramHandle>,
) -> Outcome
where
    T: Topic,
    H: Handle<T::Message>,
{
    let topic = &shared.topics[level];
    let value = m.payload().unwrap_or_default();
    let traceparent = headers::get(m.headers(), headers::TRACEPARENT).map(str::to_owned);
    // Handler calls made before this delivery, on the topics before this retry topic.
    let earlier: u32 = if level > 0 {
        headers::get(m.headers(), headers::RETRY_ATTEMPTS)
            .and_then(|a| a.parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {topic}"),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = %topic,
        messaging.destination.partition.id = m.partition(),
        messaging.kafka.offset = m.offset(),
        messaging.consumer.group.name = %shared.group,
        topic = %topic,
        partition = m.partition(),
        offset = m.offset(),
        retry_level = level,
        event_type = field::Empty,
        schema_id = field::Empty,
        attempts = field::Empty,
    );
    headers::continue_trace(&span, traceparent.as_deref());
    async move {
        let failed = |class: &str| -> Labels {
            vec![
                ("messaging_system", "kafka".into()),
                ("messaging_destination_name", topic.clone()),
                ("messaging_consumer_group_name", shared.group.clone()),
                ("error_type", class.into()),
            ]
        };
        // The writer schema: a registry outage is waited out, never dead-lettered.
        let mut registry_attempt = 0;
        let (writer, payload) = loop {
            match shared.writers.read(value).await {
                Ok(read) => break read,
                Err(ReadError::Decode(e)) => {
                    shared
                        .metrics
                        .inc(metrics::CONSUMER_ERRORS, failed("decode"));
                    let text = e.to_string();
                    return dead_letter(shared, state, level, m, "decode", &text, earlier).await;
                }
                Err(ReadError::UnknownId(id)) => {
                    shared
                        .metrics
                        .inc(metrics::CONSUMER_ERRORS, failed("unknown-schema"));
                    let text = format!("schema id {id} is not in the registry");
                    return dead_letter(shared, state, level, m, "unknown-schema", &text, earlier)
                        .await;
                }
                Err(ReadError::Registry(e)) => {
                    registry_attempt += 1;
                    let backoff = shared.retry.backoff(registry_attempt);
                    tracing::warn!("cannot fetch the writer schema, retrying in {backoff:?}: {e}");
                    if !pause_before_retry(shared, state, backoff).await {
                        return Outcome::Abandoned;
                    }
                }
            }
        };
        let span = tracing::Span::current();
        span.record("schema_id", writer.id().0);
        if let Some(name) = writer.name() {
            span.record("event_type", name);
        }
        let mut meta = RecordMeta::new(topic.clone(), m.partition(), m.offset(), writer.id());
        meta.timestamp_ms = m.timestamp().to_millis();
        meta.key = m.key().map(<[u8]>::to_vec);
        meta.event_id = headers::get(m.headers(), headers::EVENT_ID).map(str::to_owned);
        let event_type = writer.name().unwrap_or("unknown");

        let mut attempt = 0;
        loop {
            // Decoded again per attempt: decoding is deterministic and cheap, and the handler
            // takes the message by value.
            let message = match <T::Message as TopicMessage>::decode_from(&writer, payload) {
                Ok(message) => message,
                Err(e) => {
                    if attempt == 0 {
                        shared
                            .metrics
                            .inc(metrics::CONSUMER_ERRORS, failed("decode"));
                    }
                    let text = e.to_string();
                    let attempts = earlier + attempt;
                    return dead_letter(shared, state, level, m, "decode", &text, attempts).await;
                }
            };
            attempt += 1;
            span.record("attempts", earlier + attempt);
            let started = Instant::now();
            let result = AssertUnwindSafe(handler.handle(message, &meta))
                .catch_unwind()
                .await;
            let labels = || -> Labels {
                vec![
                    ("messaging_system", "kafka".into()),
                    ("messaging_destination_name", topic.clone()),
                    ("messaging_consumer_group_name", shared.group.clone()),
                    ("event_type", event_type.into()),
                ]
            };
            let (class, text) = match result {
                Ok(Ok(())) => {
                    let took = started.elapsed();
                    // Per record: a handle kept by the partition's task, so no label strings.
                    match handled.get(event_type) {
                        Some(h) => h.observe(took),
                        None => {
                            let h = shared
                                .metrics
                                .histogram(metrics::PROCESS_DURATION, labels());
                            h.observe(took);
                            handled.insert(event_type.to_string(), h);
                        }
                    }
                    return Outcome::Handled;
                }
                Ok(Err(e)) if e.is_retriable() => ("handler-retriable", e.to_string()),
                Ok(Err(e)) => ("handler-permanent", e.to_string()),
                Err(panic) => ("handler-panic", panic_text(&*panic)),
            };
            let mut labels = labels();
            labels.push(("error_type", class.into()));
            shared
                .metrics
                .observe(metrics::PROCESS_DURATION, labels.clone(), started.elapsed());
            shared.metrics.inc(metrics::CONSUMER_ERRORS, labels.clone());
            let attempts = earlier + attempt;
            if class != "handler-retriable" {
                return dead_letter(shared, state, level, m, class, &text, attempts).await;
            }
            if attempt >= shared.retry.max_attempts {
                if level < shared.retry_delays.len() {
                    return forward_to_retry(shared, state, level, m, labels, &text, attempts)
                        .await;
                }
                let class = "handler-retries-exhausted";
                return dead_letter(shared, state, level, m, class, &text, attempts).await;
            }
            let backoff = shared.retry.backoff(attempt);
            tracing::info!(attempt, "handler failed, retrying in {backoff:?}: {text}");
            labels.push(("retry_level", "0".into()));
            shared.metrics.inc(metrics::CONSUMER_RETRIES, labels);
            if !pause_before_retry(shared, state, backoff).await {
                return Outcome::Abandoned;
            }
        }
    }
    .instrument(span)
    .await
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("handler panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("handler panicked: {s}")
    } else {
        "handler panicked".into()
    }
}

/// Where a record was first read: the record itself on the source topic; on a retry topic,
/// what its `retry-original-*` headers say.
struct Origin {
    topic: String,
    partition: String,
    offset: String,
    timestamp: Option<String>,
}

impl Origin {
    fn of(topic: &str, level: usize, m: &OwnedMessage) -> Origin {
        let h = m.headers();
        if level > 0
            && let (Some(topic), Some(partition), Some(offset)) = (
                headers::get(h, headers::RETRY_ORIGINAL_TOPIC),
                headers::get(h, headers::RETRY_ORIGINAL_PARTITION),
                headers::get(h, headers::RETRY_ORIGINAL_OFFSET),
            )
        {
            return Origin {
                topic: topic.into(),
                partition: partition.into(),
                offset: offset.into(),
                timestamp: headers::get(h, headers::RETRY_ORIGINAL_TIMESTAMP).map(str::to_owned),
            };
        }
        Origin {
            topic: topic.into(),
            partition: m.partition().to_string(),
            offset: m.offset().to_string(),
            timestamp: m.timestamp().to_millis().map(|t| t.to_string()),
        }
    }
}

/// Appends the headers whose value is present.
fn with_headers(mut hdrs: OwnedHeaders, extra: &[(&str, Option<&str>)]) -> OwnedHeaders {
    for (key, value) in extra {
        if let Some(value) = value {
            hdrs = hdrs.insert(Header {
                key,
                value: Some(*value),
            });
        }
    }
    hdrs
}

/// Sends the record to the next retry topic, due after that topic's delay, with `retry-*`
/// headers replacing any it had.
#[allow(clippy::too_many_arguments)]
async fn forward_to_retry<T: Topic>(
    shared: &Shared<T>,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
    mut labels: Labels,
    text: &str,
    attempts: u32,
) -> Outcome {
    let next = level + 1;
    let target = &shared.topics[next];
    let delay = shared.retry_delays[level];
    let due = (now_ms() + delay.as_millis() as i64).to_string();
    tracing::info!(
        attempts,
        "handler failed, retrying through {target} in {delay:?}: {text}"
    );
    let origin = Origin::of(&shared.topics[level], level, m);
    let mut hdrs = OwnedHeaders::new();
    if let Some(h) = m.headers() {
        for h in h
            .iter()
            .filter(|h| !h.key.starts_with(headers::RETRY_PREFIX))
        {
            hdrs = hdrs.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    let attempts = attempts.to_string();
    let hdrs = with_headers(
        hdrs,
        &[
            (headers::RETRY_ATTEMPTS, Some(&attempts)),
            (headers::RETRY_DUE, Some(&due)),
            (headers::RETRY_CONSUMER_GROUP, Some(&shared.group)),
            (headers::RETRY_ORIGINAL_TOPIC, Some(&origin.topic)),
            (headers::RETRY_ORIGINAL_PARTITION, Some(&origin.partition)),
            (headers::RETRY_ORIGINAL_OFFSET, Some(&origin.offset)),
            (
                headers::RETRY_ORIGINAL_TIMESTAMP,
                origin.timestamp.as_deref(),
            ),
            (headers::RETRY_ERROR_MESSAGE, Some(text)),
        ],
    );
    if !produce_until_acked(shared, state, m, target, hdrs).await {
        return Outcome::Abandoned;
    }
    labels.push(("retry_level", next.to_string()));
    shared.metrics.inc(metrics::CONSUMER_RETRIES, labels);
    Outcome::Forwarded
}

/// Sends the record, unchanged, to the dead-letter topic with headers saying where it was first
/// read and why it failed.
async fn dead_letter<T: Topic>(
    shared: &Shared<T>,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
    class: &str,
    text: &str,
    attempts: u32,
) -> Outcome {
    let topic = &shared.topics[level];
    tracing::warn!(
        topic = %topic,
        partition = m.partition(),
        offset = m.offset(),
        error_class = class,
        "dead-lettering to {}: {text}",
        shared.dead_letter_topic
    );
    let origin = Origin::of(topic, level, m);
    let attempts = attempts.to_string();
    let hdrs = with_headers(
        m.headers().cloned().unwrap_or_default(),
        &[
            (headers::DLT_ORIGINAL_TOPIC, Some(&origin.topic)),
            (headers::DLT_ORIGINAL_PARTITION, Some(&origin.partition)),
            (headers::DLT_ORIGINAL_OFFSET, Some(&origin.offset)),
            (headers::DLT_ORIGINAL_TIMESTAMP, origin.timestamp.as_deref()),
            (headers::DLT_CONSUMER_GROUP, Some(&shared.group)),
            (headers::DLT_ERROR_CLASS, Some(class)),
            (headers::DLT_ERROR_MESSAGE, Some(text)),
            (headers::DLT_ATTEMPTS, Some(&attempts)),
        ],
    );
    if !produce_until_acked(shared, state, m, &shared.dead_letter_topic, hdrs).await {
        return Outcome::Abandoned;
    }
    let labels: Labels = vec![
        ("messaging_system", "kafka".into()),
        ("messaging_destination_name", topic.clone()),
        ("messaging_consumer_group_name", shared.group.clone()),
        ("error_type", class.into()),
    ];
    shared.metrics.inc(metrics::DEAD_LETTERED, labels);
    Outcome::DeadLettered
}

/// Writes the record's key and value with `hdrs` to `target`, retrying until the broker
/// acknowledges it, because the record's offset may only be stored after that; `false` when the
/// consumer stops or the partition is revoked first.
async fn produce_until_acked<T: Topic>(
    shared: &Shared<T>,
    state: &PartitionState,
    m: &OwnedMessage,
    target: &str,
    hdrs: OwnedHeaders,
) -> bool {
    let mut try_no = 0;
    loop {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(target).headers(hdrs.clone());
        if let Some(key) = m.key() {
            record = record.key(key);
        }
        if let Some(value) = m.payload() {
            record = record.payload(value);
        }
        match shared.forwarder.send(record, Timeout::Never).await {
            Ok(_) => return true,
            Err((e, _)) => {
                try_no += 1;
                let backoff = shared.retry.backoff(try_no);
                tracing::error!("cannot write to {target}, retrying in {backoff:?}: {e}");
                if !pause_before_retry(shared, state, backoff).await {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            multiplier: 2.0,
        };
        let got: Vec<_> = (1..=5).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn the_runtime_owns_offset_storing_whatever_the_pass_through_says() {
        let c = ConsumerConfig::new("127.0.0.1:9092", "g")
            .set("enable.auto.offset.store", "true")
            .set("auto.offset.reset", "latest");
        let cc = c.consumer_config();
        assert_eq!(cc.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(cc.get("auto.offset.reset"), Some("latest"));
        assert_eq!(c.producer_config().get("auto.offset.reset"), None);
    }
}
