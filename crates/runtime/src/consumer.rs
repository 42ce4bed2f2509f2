//! Typed consumers: [`Consumer<T>`] reads topic `T` in a consumer group and drives a handler.
//!
//! Delivery is at least once. Each partition has its own task, which handles its records one
//! after another; partitions run concurrently. An offset is stored for commit only after its
//! record was handled or dead-lettered, so a commit (periodic, on rebalance, on shutdown) never
//! covers a record still in flight, and a crash redelivers what was not finished.
//!
//! Per record: the schema id selects the writer schema (fetched once per id), the payload is
//! decoded into the topic's message enum, and the handler runs. A record that cannot be decoded
//! goes to the dead-letter topic at once; a retriable handler error is retried with exponential
//! backoff, then dead-lettered; a permanent one (or a panic) is dead-lettered at once. The
//! dead-letter record keeps the original key, value and headers and adds `dlt-*` headers
//! ([`crate::headers`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
use rdkafka::message::{Header, Message as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::util::Timeout;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument as _, field};

use crate::metrics::{self, Labels, Metrics};
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
    /// Creates the dead-letter topic at start when it is missing, with the source topic's
    /// partition count and this replication factor (`-1`: the broker's default). `None` leaves
    /// creating it to the operator.
    pub create_dead_letter_topic: Option<i32>,
    pub retry: RetryPolicy,
    /// How long a shutdown waits for in-flight handlers before it commits and leaves.
    pub shutdown_timeout: Duration,
    /// Records buffered per partition before the partition is paused until its task catches up.
    pub max_buffered_per_partition: usize,
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
            shutdown_timeout: Duration::from_secs(30),
            max_buffered_per_partition: 1000,
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
    /// Records handed to the task and not yet taken.
    buffered: AtomicUsize,
}

struct Worker {
    state: Arc<PartitionState>,
    tx: mpsc::UnboundedSender<OwnedMessage>,
    task: JoinHandle<()>,
    /// Paused because its buffer is full.
    backpressured: bool,
}

/// librdkafka callbacks: rebalances and statistics.
struct Callbacks {
    topic: String,
    group: String,
    metrics: Metrics,
    partitions: Mutex<HashMap<i32, Arc<PartitionState>>>,
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
        let Some(topic) = stats.topics.get(&self.topic) else {
            return;
        };
        let scope = vec![
            ("messaging_destination_name", self.topic.to_string()),
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

impl ConsumerContext for Callbacks {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            for e in tpl.elements_for_topic(&self.topic) {
                if let Some(state) = partitions.remove(&e.partition()) {
                    state.revoked.store(true, Ordering::SeqCst);
                }
            }
            tracing::info!(topic = %self.topic, group = %self.group, revoked = tpl.count(), "partitions revoked");
            self.set_unassigned(true);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            tracing::info!(topic = %self.topic, group = %self.group, assigned = tpl.count(), "partitions assigned");
            self.set_unassigned(tpl.elements_for_topic(&self.topic).is_empty());
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
                tracing::warn!(topic = %self.topic, group = %self.group, "offset commit failed: {e}")
            }
        }
    }
}

/// What a partition task needs to handle records.
struct Shared<T: Topic> {
    topic: String,
    group: String,
    dead_letter_topic: String,
    retry: RetryPolicy,
    writers: WriterCache,
    dlt: FutureProducer,
    consumer: Arc<StreamConsumer<Callbacks>>,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
    paused: watch::Receiver<bool>,
    _topic: PhantomData<fn() -> T>,
}

/// Reads topic `T` in a consumer group and hands every record, decoded into `T::Message`, to a
/// handler (for example a generated `services::<svc>::<Topic>Dispatcher`).
pub struct Consumer<T: Topic> {
    shared: Arc<Shared<T>>,
    config: ConsumerConfig,
    control: ConsumerControl,
}

impl<T: Topic> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("topic", &T::NAME)
            .field("group", &self.config.group_id)
            .field("dead_letter_topic", &self.shared.dead_letter_topic)
            .finish_non_exhaustive()
    }
}

/// What became of a record.
enum Outcome {
    Handled,
    DeadLettered,
    /// Given up because of shutdown or revocation; not stored, so it is delivered again.
    Abandoned,
}

impl<T: Topic> Consumer<T> {
    /// Connects (lazily: librdkafka connects in the background) and subscribes to `T::NAME`.
    /// Creates the dead-letter topic when configured to.
    pub async fn new(
        config: ConsumerConfig,
        source: Arc<dyn SchemaSource>,
        metrics: Metrics,
    ) -> Result<Self> {
        let control = ConsumerControl::new();
        let topic = format!("{}{}", config.topic_prefix, T::NAME);
        let callbacks = Callbacks {
            topic: topic.clone(),
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
        let dlt: FutureProducer = config.producer_config().create().map_err(Error::Config)?;
        let dead_letter_topic = config
            .dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{topic}.DLT"));
        let consumer = Arc::new(consumer);
        if let Some(replication) = config.create_dead_letter_topic {
            ensure_topic(&config, &consumer, &topic, &dead_letter_topic, replication).await?;
        }
        consumer
            .subscribe(&[&topic])
            .map_err(|source| Error::Kafka {
                what: format!("subscribing to {topic}"),
                source,
            })?;
        let shared = Arc::new(Shared {
            topic,
            group: config.group_id.clone(),
            dead_letter_topic,
            retry: config.retry.clone(),
            writers: WriterCache::new(source, <T::Message as TopicMessage>::EVENTS),
            dlt,
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
        })
    }

    /// Pause, resume and shutdown for this consumer.
    pub fn control(&self) -> ConsumerControl {
        self.control.clone()
    }

    pub fn dead_letter_topic(&self) -> &str {
        &self.shared.dead_letter_topic
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
        let mut workers: HashMap<i32, Worker> = HashMap::new();
        let mut stop = self.control.stop.subscribe();
        let mut paused = self.control.paused.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let high = self.config.max_buffered_per_partition.max(1);
        let low = high / 2;
        tracing::info!(topic = %shared.topic, group = %shared.group, "consumer started");
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                Ok(()) = paused.changed() => {
                    let pause = *paused.borrow_and_update();
                    set_paused(consumer, &workers, pause);
                }
                _ = tick.tick() => {
                    if !*paused.borrow() {
                        resume_drained(consumer, &shared.topic, &mut workers, low);
                    }
                    self.rejoin_if_unassigned();
                }
                received = consumer.recv() => match received {
                    Ok(m) => {
                        let m = m.detach();
                        self.dispatch(m, &mut workers, &handler, high);
                    }
                    Err(e) => tracing::warn!(topic = %shared.topic, group = %shared.group, "consume error: {e}"),
                },
            }
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
        let topic = &self.shared.topic;
        tracing::warn!(%topic, group = %self.shared.group, "no partition assigned for {idle:?}; leaving and rejoining the group");
        // Restart the clock first: a rejoin takes a rebalance to show its result.
        callbacks.set_unassigned(false);
        callbacks.set_unassigned(true);
        self.shared.consumer.unsubscribe();
        if let Err(e) = self.shared.consumer.subscribe(&[topic]) {
            tracing::warn!(%topic, "resubscribing: {e}");
        }
    }

    fn dispatch<H>(
        &self,
        m: OwnedMessage,
        workers: &mut HashMap<i32, Worker>,
        handler: &Arc<H>,
        high: usize,
    ) where
        H: Handle<T::Message> + 'static,
    {
        let shared = &self.shared;
        let partition = m.partition();
        shared.metrics.inc(
            metrics::CONSUMED_MESSAGES,
            vec![
                ("messaging_system", "kafka".into()),
                ("messaging_destination_name", shared.topic.clone()),
                ("messaging_consumer_group_name", shared.group.clone()),
                ("messaging_destination_partition_id", partition.to_string()),
            ],
        );
        let stale = workers
            .get(&partition)
            .is_none_or(|w| w.state.revoked.load(Ordering::SeqCst) || w.tx.is_closed());
        if stale {
            // A partition newly (re)assigned: a new task, which waits for the previous one to
            // finish its record so that one partition never runs two handlers at once.
            let previous = workers.remove(&partition).map(|w| w.task);
            let state = Arc::new(PartitionState::default());
            self.shared
                .consumer
                .context()
                .partitions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(partition, state.clone());
            let (tx, rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(partition_task(
                self.shared.clone(),
                handler.clone(),
                state.clone(),
                rx,
                previous,
            ));
            workers.insert(
                partition,
                Worker {
                    state,
                    tx,
                    task,
                    backpressured: false,
                },
            );
        }
        let worker = workers.get_mut(&partition).expect("inserted above");
        let buffered = worker.state.buffered.fetch_add(1, Ordering::SeqCst) + 1;
        if worker.tx.send(m).is_err() {
            worker.state.buffered.fetch_sub(1, Ordering::SeqCst);
        }
        if buffered >= high && !worker.backpressured {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&shared.topic, partition);
            match shared.consumer.pause(&tpl) {
                Ok(()) => worker.backpressured = true,
                Err(e) => {
                    tracing::warn!(topic = %shared.topic, partition, "pausing a busy partition: {e}")
                }
            }
        }
    }

    async fn shutdown(self, workers: HashMap<i32, Worker>) -> Result<()> {
        let shared = self.shared;
        tracing::info!(topic = %shared.topic, group = %shared.group, "consumer shutting down");
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
                topic = %shared.topic,
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

fn set_paused(consumer: &StreamConsumer<Callbacks>, workers: &HashMap<i32, Worker>, pause: bool) {
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
            if !workers.get(&e.partition()).is_some_and(|w| w.backpressured) {
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

fn resume_drained(
    consumer: &StreamConsumer<Callbacks>,
    topic: &str,
    workers: &mut HashMap<i32, Worker>,
    low: usize,
) {
    for (partition, w) in workers.iter_mut() {
        if w.backpressured && w.state.buffered.load(Ordering::SeqCst) <= low {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, *partition);
            match consumer.resume(&tpl) {
                Ok(()) => w.backpressured = false,
                Err(e) => tracing::warn!(topic, partition, "resuming a drained partition: {e}"),
            }
        }
    }
}

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
            what: format!("creating dead-letter topic {topic}"),
            source,
        })?;
    for r in results {
        match r {
            Ok(_) => tracing::info!(topic, partitions, "created dead-letter topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(Error::Kafka {
                    what: format!("creating dead-letter topic {topic}"),
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
    loop {
        let m = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            m = rx.recv() => match m { Some(m) => m, None => return },
        };
        state.buffered.fetch_sub(1, Ordering::SeqCst);
        if state.revoked.load(Ordering::SeqCst) {
            return;
        }
        if *paused.borrow() {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = paused.wait_for(|p| !*p) => {}
            }
        }
        match process(&shared, &*handler, &state, &m).await {
            Outcome::Handled | Outcome::DeadLettered => {
                if state.revoked.load(Ordering::SeqCst) {
                    return;
                }
                // Stores offset + 1: the next record to read.
                if let Err(e) =
                    shared
                        .consumer
                        .store_offset(&shared.topic, m.partition(), m.offset())
                {
                    tracing::warn!(topic = %shared.topic, partition = m.partition(), offset = m.offset(), "storing the offset failed (partition revoked?): {e}");
                    return;
                }
            }
            Outcome::Abandoned => return,
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
    m: &OwnedMessage,
) -> Outcome
where
    T: Topic,
    H: Handle<T::Message>,
{
    let value = m.payload().unwrap_or_default();
    let traceparent = headers::get(m.headers(), headers::TRACEPARENT).map(str::to_owned);
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {}", shared.topic),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = %shared.topic,
        messaging.destination.partition.id = m.partition(),
        messaging.kafka.offset = m.offset(),
        messaging.consumer.group.name = %shared.group,
        topic = %shared.topic,
        partition = m.partition(),
        offset = m.offset(),
        event_type = field::Empty,
        schema_id = field::Empty,
        attempts = field::Empty,
    );
    headers::continue_trace(&span, traceparent.as_deref());
    async move {
        // The writer schema: a registry outage is waited out, never dead-lettered.
        let mut registry_attempt = 0;
        let (writer, payload) = loop {
            match shared.writers.read(value).await {
                Ok(read) => break read,
                Err(ReadError::Decode(e)) => {
                    return dead_letter(shared, state, m, "decode", &e.to_string(), 0).await;
                }
                Err(ReadError::UnknownId(id)) => {
                    let text = format!("schema id {id} is not in the registry");
                    return dead_letter(shared, state, m, "unknown-schema", &text, 0).await;
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
        let mut meta =
            RecordMeta::new(shared.topic.clone(), m.partition(), m.offset(), writer.id());
        meta.timestamp_ms = m.timestamp().to_millis();
        meta.key = m.key().map(<[u8]>::to_vec);
        meta.event_id = headers::get(m.headers(), headers::EVENT_ID).map(str::to_owned);
        let event_type = writer.name().unwrap_or("unknown").to_string();

        let mut attempt = 0;
        loop {
            // Decoded again per attempt: decoding is deterministic and cheap, and the handler
            // takes the message by value.
            let message = match <T::Message as TopicMessage>::decode_from(&writer, payload) {
                Ok(message) => message,
                Err(e) => {
                    return dead_letter(shared, state, m, "decode", &e.to_string(), attempt).await;
                }
            };
            attempt += 1;
            span.record("attempts", attempt);
            let started = Instant::now();
            let result = AssertUnwindSafe(handler.handle(message, &meta))
                .catch_unwind()
                .await;
            let mut labels: Labels = vec![
                ("messaging_system", "kafka".into()),
                ("messaging_destination_name", shared.topic.clone()),
                ("messaging_consumer_group_name", shared.group.clone()),
                ("event_type", event_type.clone()),
            ];
            let (class, text) = match result {
                Ok(Ok(())) => {
                    shared
                        .metrics
                        .observe(metrics::PROCESS_DURATION, labels, started.elapsed());
                    return Outcome::Handled;
                }
                Ok(Err(e)) if e.is_retriable() => ("handler-retriable", e.to_string()),
                Ok(Err(e)) => ("handler-permanent", e.to_string()),
                Err(panic) => ("handler-panic", panic_text(&*panic)),
            };
            labels.push(("error_type", class.into()));
            shared
                .metrics
                .observe(metrics::PROCESS_DURATION, labels.clone(), started.elapsed());
            shared.metrics.inc(metrics::CONSUMER_ERRORS, labels.clone());
            if class != "handler-retriable" {
                return dead_letter(shared, state, m, class, &text, attempt).await;
            }
            if attempt >= shared.retry.max_attempts {
                return dead_letter(
                    shared,
                    state,
                    m,
                    "handler-retries-exhausted",
                    &text,
                    attempt,
                )
                .await;
            }
            let backoff = shared.retry.backoff(attempt);
            tracing::info!(attempt, "handler failed, retrying in {backoff:?}: {text}");
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

/// Sends the record, unchanged, to the dead-letter topic with headers saying why; retries until
/// the broker acknowledges it, because its offset may only be committed after that.
async fn dead_letter<T: Topic>(
    shared: &Shared<T>,
    state: &PartitionState,
    m: &OwnedMessage,
    class: &str,
    text: &str,
    attempts: u32,
) -> Outcome {
    tracing::warn!(
        topic = %shared.topic,
        partition = m.partition(),
        offset = m.offset(),
        error_class = class,
        "dead-lettering to {}: {text}",
        shared.dead_letter_topic
    );
    let labels: Labels = vec![
        ("messaging_system", "kafka".into()),
        ("messaging_destination_name", shared.topic.clone()),
        ("messaging_consumer_group_name", shared.group.clone()),
        ("error_type", class.into()),
    ];
    if attempts == 0 {
        shared.metrics.inc(metrics::CONSUMER_ERRORS, labels.clone());
    }
    let partition = m.partition().to_string();
    let offset = m.offset().to_string();
    let timestamp = m.timestamp().to_millis().map(|t| t.to_string());
    let attempts = attempts.to_string();
    let mut try_no = 0;
    loop {
        let mut hdrs: OwnedHeaders = match m.headers() {
            Some(h) => h.clone(),
            None => OwnedHeaders::new(),
        };
        let extra: [(&str, Option<&str>); 8] = [
            (headers::DLT_ORIGINAL_TOPIC, Some(&shared.topic)),
            (headers::DLT_ORIGINAL_PARTITION, Some(&partition)),
            (headers::DLT_ORIGINAL_OFFSET, Some(&offset)),
            (headers::DLT_ORIGINAL_TIMESTAMP, timestamp.as_deref()),
            (headers::DLT_CONSUMER_GROUP, Some(&shared.group)),
            (headers::DLT_ERROR_CLASS, Some(class)),
            (headers::DLT_ERROR_MESSAGE, Some(text)),
            (headers::DLT_ATTEMPTS, Some(&attempts)),
        ];
        for (key, value) in extra {
            if let Some(value) = value {
                hdrs = hdrs.insert(Header {
                    key,
                    value: Some(value),
                });
            }
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&shared.dead_letter_topic).headers(hdrs);
        if let Some(key) = m.key() {
            record = record.key(key);
        }
        if let Some(value) = m.payload() {
            record = record.payload(value);
        }
        match shared.dlt.send(record, Timeout::Never).await {
            Ok(_) => {
                shared.metrics.inc(metrics::DEAD_LETTERED, labels);
                return Outcome::DeadLettered;
            }
            Err((e, _)) => {
                try_no += 1;
                let backoff = shared.retry.backoff(try_no);
                tracing::error!(
                    "cannot write to dead-letter topic {}, retrying in {backoff:?}: {e}",
                    shared.dead_letter_topic
                );
                if !pause_before_retry(shared, state, backoff).await {
                    return Outcome::Abandoned;
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
