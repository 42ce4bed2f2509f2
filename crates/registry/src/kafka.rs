//! The registry's log in a Kafka topic: one partition, `cleanup.policy=compact`, created at start
//! if missing (as Confluent does) and read from the beginning by every instance.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
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
        return check(n);
    }
    let brokers = admin
        .inner()
        .fetch_metadata(None, timeout)
        .map_err(kafka("reading cluster metadata"))?
        .brokers()
        .len()
        .clamp(1, 3);
    let new = NewTopic::new(
        &topic,
        1,
        TopicReplication::Fixed(i32::try_from(brokers).unwrap_or(1)),
    )
    .set("cleanup.policy", "compact");
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
            return check(n);
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
            let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(&self.config.topic)
                .partition(0)
                .key(&key);
            if let Some(v) = &value {
                record = record.payload(v);
            }
            let delivery = self
                .producer
                .send(record, self.config.timeout)
                .await
                .map_err(|(e, _)| kafka("writing to the registry topic")(e))?;
            Ok(delivery.offset)
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
