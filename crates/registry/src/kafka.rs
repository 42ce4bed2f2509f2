//! The registry's log in a Kafka topic: one partition, `cleanup.policy=compact`, created at start
//! if missing (as Confluent does) and read from the beginning by every instance.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, info, warn};

use crate::error::{Error, Result};
use crate::store::{BoxFuture, Log, LogRead, LogRecord};

/// Where the log lives.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    /// The registry topic (`_schemas` by default).
    pub topic: String,
    /// librdkafka settings passed to every client (security.protocol, sasl.*, ssl.*, ...).
    pub client_settings: Vec<(String, String)>,
    /// Settings of the producer only, over `client_settings`.
    pub producer_settings: Vec<(String, String)>,
    /// Settings of the reader (a consumer) only, over `client_settings`.
    pub consumer_settings: Vec<(String, String)>,
    /// How long a read or write of the log may take before the request fails.
    pub timeout: Duration,
    /// Replication factor of the topic when the registry creates it; `None`: the number of
    /// brokers, at most 3.
    pub replication_factor: Option<i32>,
    /// `min.insync.replicas` of the topic when the registry creates it; `None`: one less than
    /// the replication factor, at least 1 (1 on a one-broker cluster, 2 with 3 replicas).
    pub min_insync_replicas: Option<i32>,
    /// Refuse a topic whose `cleanup.policy` is not `compact` (true by default). Off only for
    /// brokers that cannot describe topic configs, such as librdkafka's mock cluster.
    pub check_cleanup_policy: bool,
}

impl KafkaConfig {
    pub fn new(bootstrap_servers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            topic: topic.into(),
            client_settings: Vec::new(),
            producer_settings: Vec::new(),
            consumer_settings: Vec::new(),
            timeout: Duration::from_secs(30),
            replication_factor: None,
            min_insync_replicas: None,
            check_cleanup_policy: true,
        }
    }

    fn client(&self) -> ClientConfig {
        self.client_with(&[])
    }

    fn client_with(&self, own: &[(String, String)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in self.client_settings.iter().chain(own) {
            c.set(k, v);
        }
        c
    }
}

fn kafka(context: impl Into<String>) -> impl FnOnce(KafkaError) -> Error {
    let context = context.into();
    move |source| Error::Kafka { context, source }
}

struct Reader {
    consumer: BaseConsumer,
    /// The offset of the next record the consumer delivers.
    position: i64,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("position", &self.position)
            .finish()
    }
}

/// A [`Log`] in a compacted single-partition Kafka topic.
pub struct KafkaLog {
    config: KafkaConfig,
    producer: FutureProducer,
    reader: Arc<Mutex<Reader>>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("bootstrap_servers", &self.config.bootstrap_servers)
            .field("topic", &self.config.topic)
            .finish()
    }
}

impl KafkaLog {
    /// Creates the topic if needed, checks it has one partition, and connects a producer
    /// (idempotent, `acks=all`) and a reader positioned at the start of the topic.
    pub async fn connect(config: KafkaConfig) -> Result<Self> {
        ensure_topic(&config).await?;
        let producer: FutureProducer = contracts_runtime::without_consumer_only(
            &config.client_with(&config.producer_settings),
        )
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("message.timeout.ms", config.timeout.as_millis().to_string())
        .create()
        .map_err(kafka("creating the registry's producer"))?;
        let consumer: BaseConsumer = config
            .client_with(&config.consumer_settings)
            // No group membership or commits: every instance reads the whole topic itself.
            .set("group.id", "contracts-registry-reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "10")
            .create()
            .map_err(kafka("creating the registry's reader"))?;
        assign(&consumer, &config.topic, 0)?;
        Ok(KafkaLog {
            config,
            producer,
            reader: Arc::new(Mutex::new(Reader {
                consumer,
                position: 0,
            })),
        })
    }

    pub fn topic(&self) -> &str {
        &self.config.topic
    }
}

fn assign(consumer: &BaseConsumer, topic: &str, offset: i64) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .map_err(kafka("positioning the registry's reader"))?;
    consumer
        .assign(&tpl)
        .map_err(kafka("assigning the registry topic"))
}

/// The partition count of `topic`, `None` while it does not exist.
fn partitions(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<usize>> {
    let md = admin
        .inner()
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka("reading topic metadata"))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len()))
}

/// Checks the registry topic, creating it first if it does not exist. It must have exactly one
/// partition: the offsets of one partition are what orders every write.
async fn ensure_topic(config: &KafkaConfig) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = config
        .client()
        // A metadata request must not create the topic with the broker's defaults.
        .set("allow.auto.create.topics", "false")
        .create()
        .map_err(kafka("creating an admin client"))?;
    let topic = config.topic.clone();
    let timeout = config.timeout;
    let check = |n: usize| {
        if n == 1 {
            Ok(())
        } else {
            Err(Error::Topic {
                topic: topic.clone(),
                reason: format!(
                    "it has {n} partitions; the registry needs exactly 1 (delete it or pick another --topic)"
                ),
            })
        }
    };
    if let Some(n) = partitions(&admin, &topic, timeout)? {
        debug!(topic = %topic, "registry topic exists");
        check(n)?;
        if !config.check_cleanup_policy {
            return Ok(());
        }
        return check_compacted(&admin, &topic, timeout).await;
    }
    let replication = match config.replication_factor {
        Some(n) => n,
        None => {
            let brokers = admin
                .inner()
                .fetch_metadata(None, timeout)
                .map_err(kafka("reading cluster metadata"))?
                .brokers()
                .len()
                .clamp(1, 3);
            i32::try_from(brokers).unwrap_or(1)
        }
    };
    let min_insync = config
        .min_insync_replicas
        .unwrap_or((replication - 1).max(1))
        .to_string();
    let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(replication))
        .set("cleanup.policy", "compact")
        .set("min.insync.replicas", &min_insync);
    // A failure is only logged: another instance may be creating it; the metadata decides.
    match contracts_runtime::topics::create_missing(&admin, &[new], timeout).await {
        Ok(created) => {
            for t in created {
                info!(topic = %t, "created the registry topic");
            }
        }
        Err(e) => warn!(topic = %topic, error = %e, "could not create the registry topic"),
    }
    // Another instance may have created it meanwhile; the metadata decides.
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(n) = partitions(&admin, &topic, timeout)? {
            check(n)?;
            if !config.check_cleanup_policy {
                return Ok(());
            }
            return check_compacted(&admin, &topic, timeout).await;
        }
        if Instant::now() > deadline {
            return Err(Error::Topic {
                topic,
                reason: format!(
                    "it does not exist and could not be created within {timeout:?}; create it with 1 partition and cleanup.policy=compact"
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Refuses a registry topic whose records could expire: with `delete` in its `cleanup.policy`
/// (`delete` or `compact,delete`), old schemas would be removed after the retention time and
/// their ids reused, breaking every record written with them. Real Kafka reports the policy
/// of every topic (its default, `delete`, too); a broker that reports none for the topic
/// (Tansu reports only settings made explicitly) gets the same refusal, since its
/// default is unknown.
async fn check_compacted(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    timeout: Duration,
) -> Result<()> {
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .map_err(kafka("reading the registry topic's configuration"))?;
    let policy = described
        .into_iter()
        .next()
        .and_then(|r| r.ok())
        .and_then(|r| r.get("cleanup.policy").and_then(|e| e.value.clone()));
    let refuse = |reason: String| Error::Topic {
        topic: topic.to_string(),
        reason,
    };
    match policy {
        Some(p) if cleanup_policy_is_compact_only(&p) => Ok(()),
        Some(p) => Err(refuse(format!(
            "its cleanup.policy is \"{p}\": records would expire and schema ids be reused; \
             set cleanup.policy=compact on it (kafka-configs --alter --entity-type topics \
             --entity-name {topic} --add-config cleanup.policy=compact) or pick another --topic"
        ))),
        None => Err(refuse(
            "the broker does not report its cleanup.policy (Kafka's default is delete, which \
             would expire schemas and let ids be reused); create it with \
             cleanup.policy=compact, or pick a --topic that does not exist yet and the \
             registry creates it compacted"
                .to_string(),
        )),
    }
}

/// `compact` alone: any `delete` among the policies lets records expire.
fn cleanup_policy_is_compact_only(policy: &str) -> bool {
    let parts: Vec<String> = policy
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    !parts.is_empty() && parts.iter().all(|p| p == "compact")
}

fn read_blocking(
    reader: &Mutex<Reader>,
    topic: &str,
    from: i64,
    timeout: Duration,
) -> Result<LogRead> {
    let mut r = reader.lock().unwrap_or_else(|p| p.into_inner());
    let (_, high) = r
        .consumer
        .fetch_watermarks(topic, 0, timeout)
        .map_err(kafka("reading the registry topic's end offset"))?;
    if from < r.position {
        // Only a fresh reader rewinds; afterwards reads continue where the last one stopped.
        assign(&r.consumer, topic, from)?;
        r.position = from;
    }
    let mut records = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    while r.position < high {
        if Instant::now() > deadline {
            return Err(match last_error {
                Some(e) => kafka(format!(
                    "reading the registry topic (stuck for {timeout:?})"
                ))(e),
                None => Error::Timeout(timeout),
            });
        }
        let polled = r.consumer.poll(Duration::from_millis(100));
        match polled {
            Some(Ok(m)) => {
                let offset = m.offset();
                if offset >= from {
                    records.push(LogRecord {
                        offset,
                        key: m.key().unwrap_or_default().to_vec(),
                        value: m.payload().map(<[u8]>::to_vec),
                    });
                }
                r.position = r.position.max(offset + 1);
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                // The fetch position at the end may pass offsets that compaction removed.
                if let Ok(tpl) = r.consumer.position()
                    && let Some(p) = tpl.find_partition(topic, 0)
                    && let Offset::Offset(o) = p.offset()
                {
                    r.position = r.position.max(o);
                }
            }
            // Connection errors are reported as events while librdkafka reconnects on its own
            // (e.g. after a broker restart); only the deadline ends the read.
            Some(Err(e)) => {
                debug!(error = %e, "the registry topic's reader reported an error; retrying");
                last_error = Some(e);
                std::thread::sleep(Duration::from_millis(20));
            }
            None => {}
        }
    }
    Ok(LogRead {
        records,
        end: r.position.max(from),
    })
}

impl Log for KafkaLog {
    fn read(&self, from: i64) -> BoxFuture<'_, Result<LogRead>> {
        let reader = self.reader.clone();
        let topic = self.config.topic.clone();
        let timeout = self.config.timeout;
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read_blocking(&reader, &topic, from, timeout))
                .await
                .map_err(|_| Error::Closed)?
        })
    }

    fn append(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            let send = || async {
                let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(&self.config.topic)
                    .partition(0)
                    .key(&key);
                if let Some(v) = &value {
                    record = record.payload(v);
                }
                self.producer
                    .send(record, self.config.timeout)
                    .await
                    .map(|delivery| delivery.offset)
                    .map_err(|(e, _)| e)
            };
            // librdkafka retries within `message.timeout.ms` already; what still fails
            // transiently gets a few more tries here. A duplicate that lands is harmless: it
            // misses its expected offset and is ignored (see `crate::record`).
            send.retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(2))
                    .with_max_times(3)
                    .with_jitter(),
            )
            .when(|e| !is_permanent(e))
            .notify(|e, pause| {
                warn!(error = %e, ?pause, "writing to the registry topic failed; retrying");
            })
            .await
            .map_err(|e| {
                let context = "writing to the registry topic".to_string();
                if is_permanent(&e) {
                    Error::KafkaRejected { context, source: e }
                } else {
                    Error::Kafka { context, source: e }
                }
            })
        })
    }

    fn end(&self) -> BoxFuture<'_, Result<i64>> {
        let reader = self.reader.clone();
        let topic = self.config.topic.clone();
        let timeout = self.config.timeout;
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let r = reader.lock().unwrap_or_else(|p| p.into_inner());
                r.consumer
                    .fetch_watermarks(&topic, 0, timeout)
                    .map(|(_, high)| high)
                    .map_err(kafka("reading the registry topic's end offset"))
            })
            .await
            .map_err(|_| Error::Closed)?
        })
    }
}

/// Errors that the same write would meet again: the record is too large, the registry may
/// not write, the broker refuses the request. Everything else (timeouts, leader changes, full
/// queues, connections lost) may pass.
pub fn is_permanent(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::MessageBatchTooLarge
                | C::InvalidMessage
                | C::InvalidRecord
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::TransactionalIdAuthorizationFailed
                | C::SaslAuthenticationFailed
                | C::Authentication
                | C::PolicyViolation
                | C::InvalidRequiredAcks
                | C::InvalidTopic
                | C::UnsupportedVersion
                | C::UnsupportedForMessageFormat
                | C::InvalidArgument
                | C::Fatal
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_compact_alone_keeps_records_forever() {
        assert!(cleanup_policy_is_compact_only("compact"));
        assert!(cleanup_policy_is_compact_only(" Compact "));
        assert!(!cleanup_policy_is_compact_only("delete"));
        assert!(!cleanup_policy_is_compact_only("compact,delete"));
        assert!(!cleanup_policy_is_compact_only("delete, compact"));
        assert!(!cleanup_policy_is_compact_only(""));
    }

    #[test]
    fn size_and_authorization_errors_are_permanent_and_timeouts_are_not() {
        use rdkafka::types::RDKafkaErrorCode as C;
        let e = |c| KafkaError::MessageProduction(c);
        assert!(is_permanent(&e(C::MessageSizeTooLarge)));
        assert!(is_permanent(&e(C::TopicAuthorizationFailed)));
        assert!(!is_permanent(&e(C::MessageTimedOut)));
        assert!(!is_permanent(&e(C::NotEnoughReplicas)));
        assert!(!is_permanent(&e(C::LeaderNotAvailable)));
    }
}
