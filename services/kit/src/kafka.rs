//! Kafka and registry settings shared by the three binaries, and the runtime objects built
//! from them.

use std::sync::Arc;
use std::time::Duration;

use contracts_admin::kafka::{KafkaAdmin, KafkaAdminBuilder};
use contracts_core::source::SchemaSource;
use contracts_runtime::{ConsumerConfig, Metrics, ProducerConfig, Publisher, SchemaRegistration};

/// Where the broker and the registry are, and librdkafka settings passed through.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_servers: String,
    /// Schema registry URL (Confluent REST API); credentials may be given in it
    /// (`https://user:secret@registry:8081`).
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub registry_url: String,
    /// A librdkafka setting, `-X key=value`, repeatable; from the environment as a
    /// comma-separated list. For example `-X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN`.
    #[arg(short = 'X', long = "kafka-config", env = "KAFKA_CONFIG", value_delimiter = ',',
          value_parser = parse_setting, value_name = "KEY=VALUE")]
    pub settings: Vec<(String, String)>,
    /// Put before every topic name (`staging.` reads and writes `staging.orders`).
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Only look schemas up in the registry instead of registering missing ones (production,
    /// where CI registers with `contracts register`).
    #[arg(long, env = "SCHEMA_LOOKUP_ONLY")]
    pub lookup_only: bool,
    /// Rejoin the consumer group after owning no partition for this many seconds; 0 never
    /// does. Gets a restarted instance going on brokers (Tansu 0.6) that can leave it without
    /// partitions after an instance was killed. Set 0 when running more instances of a
    /// service than its topics have partitions, where idle instances are normal.
    #[arg(long, env = "KAFKA_REJOIN_UNASSIGNED_SECS", default_value_t = 20)]
    pub rejoin_unassigned_secs: u64,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("{s:?}: expected key=value, such as linger.ms=5")),
    }
}

impl KafkaArgs {
    /// The registry as the runtime's schema source.
    pub fn schema_source(&self) -> anyhow::Result<Arc<dyn SchemaSource>> {
        let client = contracts_registry_client::client::Client::new(&self.registry_url)
            .map_err(|e| anyhow::anyhow!("--registry-url {}: {e}", self.registry_url))?;
        Ok(Arc::new(client))
    }

    pub fn producer_config(&self) -> ProducerConfig {
        let mut config = ProducerConfig::new(&self.bootstrap_servers)
            .topic_prefix(&self.topic_prefix)
            .registration(if self.lookup_only {
                SchemaRegistration::LookupOnly
            } else {
                SchemaRegistration::Register
            });
        for (k, v) in &self.settings {
            config = config.set(k, v);
        }
        config
    }

    pub fn consumer_config(&self, group: &str) -> ConsumerConfig {
        let rejoin = (self.rejoin_unassigned_secs > 0)
            .then(|| Duration::from_secs(self.rejoin_unassigned_secs));
        let mut config = ConsumerConfig::new(&self.bootstrap_servers, group)
            .topic_prefix(&self.topic_prefix)
            .rejoin_when_unassigned(rejoin);
        for (k, v) in &self.settings {
            config = config.set(k, v);
        }
        config
    }

    /// The admin API's view of the process's Kafka side; add what it produces and consumes,
    /// then `build()`.
    pub fn admin(&self, source: Arc<dyn SchemaSource>) -> KafkaAdminBuilder {
        let mut client = rdkafka::ClientConfig::new();
        client.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in &self.settings {
            client.set(k, v);
        }
        KafkaAdmin::builder(client, &self.topic_prefix, source)
    }

    /// A publisher for the process.
    pub fn publisher(
        &self,
        source: Arc<dyn SchemaSource>,
        metrics: &Metrics,
    ) -> anyhow::Result<Publisher> {
        Publisher::new(&self.producer_config(), source, metrics.clone()).map_err(|e| {
            anyhow::anyhow!(
                "creating the Kafka producer for {}: {e}",
                self.bootstrap_servers
            )
        })
    }
}
