//! How a consumer connects and behaves: [`ConsumerConfig`], [`RetryPolicy`], and the
//! librdkafka settings of its Kafka clients.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;

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
    /// The same delays as [`RetryPolicy::backoff`], without a limit on attempts, for `backon`:
    /// what writing a record on to a retry or dead-letter topic waits between transient failures.
    pub(crate) fn exponential(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_factor(self.multiplier as f32)
            .without_max_times()
    }

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
    /// producer gets the same settings (security, SASL, TLS) unless `producer_client` is set.
    pub client: BTreeMap<String, String>,
    /// librdkafka settings of the consumer's producer (dead letters, retry topics) when they
    /// differ from the consumer's: a process's producer settings (`compression.type`, another
    /// login). `None`: `client` without the [`CONSUMER_ONLY_SETTINGS`].
    pub producer_client: Option<BTreeMap<String, String>>,
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
            producer_client: None,
        }
    }

    /// Sets a librdkafka setting.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client.insert(key.into(), value.into());
        self
    }

    /// The settings of the consumer's producer (see
    /// [`ConsumerConfig::producer_client`](ConsumerConfig#structfield.producer_client)).
    pub fn producer_settings(mut self, settings: BTreeMap<String, String>) -> Self {
        self.producer_client = Some(settings);
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

    pub(super) fn consumer_config(&self) -> ClientConfig {
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

    pub(super) fn producer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all");
        for (k, v) in self.producer_client.as_ref().unwrap_or(&self.client) {
            if !CONSUMER_ONLY_SETTINGS.contains(&k.as_str()) {
                c.set(k, v);
            }
        }
        c
    }
}

/// librdkafka settings only a consumer takes (marked `C` in librdkafka's CONFIGURATION.md):
/// a producer or an admin client given one warns about it. Settings passed through to every
/// Kafka client of a process reach its producers and admin clients without these.
pub const CONSUMER_ONLY_SETTINGS: &[&str] = &[
    "group.id",
    "group.instance.id",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "group.protocol.type",
    "group.protocol",
    "group.remote.assignor",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "offset.store.method",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    // Topic-level consumer settings, also accepted in the global configuration.
    "auto.commit.enable",
    "auto.offset.reset",
    "offset.store.path",
    "offset.store.sync.interval.ms",
    "consume.callback.max.messages",
];

/// `config` without the [`CONSUMER_ONLY_SETTINGS`]: for a producer or an admin client.
pub fn without_consumer_only(config: &ClientConfig) -> ClientConfig {
    let mut out = config.clone();
    for key in CONSUMER_ONLY_SETTINGS {
        out.remove(key);
    }
    out
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

    #[test]
    fn the_dead_letter_producer_takes_the_producer_settings_when_given() {
        let c = ConsumerConfig::new("127.0.0.1:9092", "g")
            .set("fetch.wait.max.ms", "50")
            .set("client.id", "consumer")
            .producer_settings(BTreeMap::from([
                ("compression.type".to_owned(), "zstd".to_owned()),
                ("client.id".to_owned(), "producer".to_owned()),
            ]));
        let p = c.producer_config();
        assert_eq!(p.get("compression.type"), Some("zstd"));
        assert_eq!(p.get("client.id"), Some("producer"));
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(c.consumer_config().get("client.id"), Some("consumer"));
    }

    #[test]
    fn producers_and_admin_clients_get_the_pass_through_settings_without_the_consumer_only_ones() {
        let mut c = ClientConfig::new();
        c.set("security.protocol", "SASL_SSL")
            .set("group.instance.id", "a")
            .set("fetch.message.max.bytes", "1048576")
            .set("auto.offset.reset", "latest");
        let p = without_consumer_only(&c);
        assert_eq!(p.get("security.protocol"), Some("SASL_SSL"));
        for key in [
            "group.instance.id",
            "fetch.message.max.bytes",
            "auto.offset.reset",
        ] {
            assert_eq!(p.get(key), None, "{key}");
        }
    }
}
