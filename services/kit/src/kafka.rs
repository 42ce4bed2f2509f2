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
    /// PEM CA certificates to trust for the registry's HTTPS certificate (a private CA).
    /// Credentials come from SCHEMA_REGISTRY_AUTH (USER:PASSWORD) or SCHEMA_REGISTRY_TOKEN (a
    /// bearer token), or the files SCHEMA_REGISTRY_AUTH_FILE / SCHEMA_REGISTRY_TOKEN_FILE name.
    #[arg(long, env = "SCHEMA_REGISTRY_CA", value_name = "FILE")]
    pub registry_ca: Option<std::path::PathBuf>,
    /// PEM client certificate for a registry that requires one (mTLS; with --registry-key).
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_CERT",
        value_name = "FILE",
        requires = "registry_key"
    )]
    pub registry_cert: Option<std::path::PathBuf>,
    /// PEM private key of --registry-cert.
    #[arg(
        long,
        env = "SCHEMA_REGISTRY_KEY",
        value_name = "FILE",
        requires = "registry_cert"
    )]
    pub registry_key: Option<std::path::PathBuf>,
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
        let url = contracts_core::secret::redact_url(&self.registry_url);
        let mut builder = contracts_registry_client::client::Client::builder(&self.registry_url)
            .credentials_from_env("SCHEMA_REGISTRY_AUTH", "SCHEMA_REGISTRY_TOKEN")?;
        if let Some(ca) = &self.registry_ca {
            builder = builder.ca_file(ca);
        }
        if let (Some(cert), Some(key)) = (&self.registry_cert, &self.registry_key) {
            builder = builder.client_cert_files(cert, key);
        }
        let client = builder
            .build()
            .map_err(|e| anyhow::anyhow!("--registry-url {url}: {e}"))?;
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
