//! Kafka and registry settings shared by the three binaries, and the runtime objects built
//! from them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use contracts_admin::kafka::{KafkaAdmin, KafkaAdminBuilder};
use contracts_core::source::SchemaSource;
use contracts_registry_client::client::{Client, ClientBuilder, Error as RegistryError};
use contracts_runtime::client_config::{ClientSettings, KafkaClientArgs, Origin, Scope};
use contracts_runtime::probe::{ConnectError, probe_cluster};
use contracts_runtime::{ConsumerConfig, Metrics, ProducerConfig, Publisher, SchemaRegistration};

/// The bootstrap servers when neither the flag nor a properties file names them.
pub const DEFAULT_BOOTSTRAP_SERVERS: &str = "127.0.0.1:9092";

/// Where the broker and the registry are, and the Kafka clients' settings.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, `host:port[,host:port...]` [default: bootstrap.servers of
    /// --kafka-properties, else 127.0.0.1:9092].
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,
    /// Schema registry URL (Confluent REST API); credentials may be given in it
    /// (`https://user:secret@registry:8081`).
    #[arg(
        long = "registry",
        visible_alias = "registry-url",
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081",
        value_name = "URL"
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
    #[command(flatten)]
    pub client: KafkaClientArgs,
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
    /// How often librdkafka reports its statistics, exported on /metrics as `librdkafka_*`
    /// (broker round trips and connection state, request and message queues, per-partition fetch
    /// state and lag) for every producer and consumer; 0 turns them off. Unset: consumers
    /// report every 5000 ms (their lag), producers never. librdkafka's statistics.interval.ms.
    #[arg(long, env = "KAFKA_STATISTICS_INTERVAL_MS", value_name = "MS")]
    pub statistics_interval_ms: Option<u64>,
}

impl KafkaArgs {
    /// Loads the client settings (properties files, `-X`, secrets from the environment) and
    /// checks the connection once: a refused SASL login or an untrusted broker certificate is an
    /// error, before anything is consumed or published; a cluster that does not answer is
    /// logged, and the clients keep trying.
    pub async fn connect(&self) -> anyhow::Result<Kafka> {
        let mut settings = self.client.load()?;
        if let Some(ms) = self.statistics_interval_ms {
            settings.set(
                Scope::All,
                "statistics.interval.ms",
                &ms.to_string(),
                Origin::flag("--kafka-statistics-interval-ms/KAFKA_STATISTICS_INTERVAL_MS"),
            )?;
        }
        let bootstrap = settings
            .bootstrap_servers(
                self.bootstrap_servers.as_deref(),
                Some(DEFAULT_BOOTSTRAP_SERVERS),
            )
            .context("--bootstrap-servers")?;
        if !settings.describe().is_empty() {
            tracing::info!(settings = %settings.describe(), "Kafka client settings");
        }
        let timeout = self.client.connect_timeout();
        // Producers and consumers may log in differently; check each way once.
        let mut probes = vec![settings.client_config(Scope::Producer, &bootstrap)];
        let consumer = settings.client_config(Scope::Consumer, &bootstrap);
        if settings.consumer() != settings.producer() {
            probes.push(consumer);
        }
        for config in &probes {
            check(config, timeout, &bootstrap).await?;
        }
        Ok(Kafka {
            args: self.clone(),
            bootstrap,
            settings,
        })
    }
}

/// One connection check: fatal errors stop the start, an unreachable cluster is logged.
async fn check(
    config: &rdkafka::ClientConfig,
    timeout: Duration,
    bootstrap: &str,
) -> anyhow::Result<()> {
    match probe_cluster(config, timeout).await {
        Ok(cluster) => {
            tracing::info!(bootstrap, brokers = ?cluster.brokers, "connected to Kafka");
            Ok(())
        }
        Err(e @ ConnectError::Unreachable { .. }) => {
            tracing::warn!(error = %e, "Kafka is not reachable yet; starting anyway, the clients keep trying");
            Ok(())
        }
        Err(e) => Err(e).context("checking the Kafka connection"),
    }
}

/// What to tell the user when the registry cannot be used as configured: its certificate is
/// not trusted, it refused the TLS handshake, or it refused the credentials. `None` for
/// failures that may pass (no answer, a registry still starting).
fn registry_refusal(e: &RegistryError, url: &str) -> Option<String> {
    match e {
        RegistryError::Transport { source, .. } => {
            let mut causes = Vec::new();
            let mut cause: Option<&dyn std::error::Error> = Some(source);
            while let Some(c) = cause {
                causes.push(c.to_string());
                cause = c.source();
            }
            let detail = causes.last().cloned().unwrap_or_default();
            let text = causes.join(": ");
            if text.contains("invalid peer certificate") {
                Some(format!(
                    "the schema registry's TLS certificate at {url} is not trusted ({detail}): \
                     set --registry-ca (SCHEMA_REGISTRY_CA) to the PEM file of the CA that signed it"
                ))
            } else if text.contains("received fatal alert") {
                Some(format!(
                    "the schema registry at {url} refused the TLS connection ({detail}): if it \
                     requires a client certificate, set --registry-cert and --registry-key \
                     (SCHEMA_REGISTRY_CERT, SCHEMA_REGISTRY_KEY)"
                ))
            } else {
                None
            }
        }
        RegistryError::Registry {
            status: 401,
            message,
            ..
        } => Some(format!(
            "the schema registry at {url} refused the credentials (401: {message}): set \
             SCHEMA_REGISTRY_AUTH (USER:PASSWORD) or SCHEMA_REGISTRY_TOKEN, or the files \
             SCHEMA_REGISTRY_AUTH_FILE / SCHEMA_REGISTRY_TOKEN_FILE name, to a user of its auth file"
        )),
        RegistryError::Registry {
            status: 403,
            message,
            ..
        } => Some(format!(
            "the schema registry at {url} does not let this user read (403: {message}): grant \
             it read on the service's subjects in the registry's auth file"
        )),
        _ => None,
    }
}

/// The process's Kafka side once its settings are loaded and checked.
#[derive(Debug, Clone)]
pub struct Kafka {
    args: KafkaArgs,
    bootstrap: String,
    settings: ClientSettings,
}

impl Kafka {
    /// The registry as the runtime's schema source.
    pub fn schema_source(&self) -> anyhow::Result<Arc<dyn SchemaSource>> {
        let url = contracts_core::secret::redact_url(&self.args.registry_url);
        let client = self
            .registry_builder()?
            .build()
            .map_err(|e| anyhow::anyhow!("--registry {url}: {e}"))?;
        Ok(Arc::new(client))
    }

    fn registry_builder(&self) -> anyhow::Result<ClientBuilder> {
        let mut builder = Client::builder(&self.args.registry_url)
            .credentials_from_env("SCHEMA_REGISTRY_AUTH", "SCHEMA_REGISTRY_TOKEN")?;
        if let Some(ca) = &self.args.registry_ca {
            builder = builder.ca_file(ca);
        }
        if let (Some(cert), Some(key)) = (&self.args.registry_cert, &self.args.registry_key) {
            builder = builder.client_cert_files(cert, key);
        }
        Ok(builder)
    }

    /// Asks the registry once which schema types it knows (any user it knows may): a registry
    /// certificate this process does not trust, or credentials the registry refuses, stop the
    /// start with what to change, before anything is consumed or published. A registry that
    /// does not answer is logged; schemas are then registered or looked up once it does.
    pub async fn check_registry(&self) -> anyhow::Result<()> {
        let url = contracts_core::secret::redact_url(&self.args.registry_url);
        let client = self.registry_probe(Duration::from_secs(10))?;
        match client.schema_types().await {
            Ok(_) => {
                tracing::info!(registry = %url, "connected to the schema registry");
                Ok(())
            }
            Err(e) => match registry_refusal(&e, &url) {
                Some(fatal) => Err(anyhow::anyhow!(fatal)),
                None => {
                    tracing::warn!(registry = %url, error = %e, "the schema registry does not answer yet; starting anyway");
                    Ok(())
                }
            },
        }
    }

    /// A registry client that asks once (no retries) and waits at most `timeout`: for checks.
    pub fn registry_probe(&self, timeout: Duration) -> anyhow::Result<Client> {
        let url = contracts_core::secret::redact_url(&self.args.registry_url);
        self.registry_builder()?
            .retries(0)
            .timeout(timeout)
            .build()
            .map_err(|e| anyhow::anyhow!("--registry {url}: {e}"))
    }

    /// The registry's URL with any password in it hidden, for messages.
    pub fn registry_url(&self) -> String {
        contracts_core::secret::redact_url(&self.args.registry_url)
    }

    pub fn producer_config(&self) -> ProducerConfig {
        let mut config = ProducerConfig::new(&self.bootstrap)
            .topic_prefix(&self.args.topic_prefix)
            .registration(if self.args.lookup_only {
                SchemaRegistration::LookupOnly
            } else {
                SchemaRegistration::Register
            });
        config.client = self.settings.producer();
        config
    }

    pub fn consumer_config(&self, group: &str) -> ConsumerConfig {
        let rejoin = (self.args.rejoin_unassigned_secs > 0)
            .then(|| Duration::from_secs(self.args.rejoin_unassigned_secs));
        let mut config = ConsumerConfig::new(&self.bootstrap, group)
            .topic_prefix(&self.args.topic_prefix)
            .rejoin_when_unassigned(rejoin)
            .producer_settings(self.settings.producer());
        config.client = self.settings.consumer();
        config
    }

    /// The admin API's view of the process's Kafka side; add what it produces and consumes,
    /// then `build()`.
    pub fn admin(&self, source: Arc<dyn SchemaSource>) -> KafkaAdminBuilder {
        let client = self.settings.client_config(Scope::All, &self.bootstrap);
        KafkaAdmin::builder(client, &self.args.topic_prefix, source)
    }

    /// A publisher for the process.
    pub fn publisher(
        &self,
        source: Arc<dyn SchemaSource>,
        metrics: &Metrics,
    ) -> anyhow::Result<Publisher> {
        Publisher::new(&self.producer_config(), source, metrics.clone()).map_err(|e| {
            anyhow::anyhow!(
                "creating the Kafka producer for {}: {}",
                self.bootstrap,
                contracts_core::secret::redact(&e.to_string())
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Flags {
        #[command(flatten)]
        kafka: KafkaArgs,
    }

    #[tokio::test]
    async fn producers_and_consumers_get_their_own_settings_over_the_shared_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "bootstrap.servers=127.0.0.1:1\nlinger.ms=7\nclient.id=shop\n",
        )
        .unwrap();
        let flags = Flags::parse_from([
            "svc",
            "--kafka-properties",
            file.to_str().unwrap(),
            "-X",
            "client.id=shop-x",
            "--producer-config",
            "compression.type=zstd",
            "--consumer-config",
            "fetch.wait.max.ms=50",
            "--kafka-connect-timeout-secs",
            "1",
        ]);
        let kafka = flags.kafka.connect().await.unwrap();
        let producer = kafka.producer_config();
        assert_eq!(producer.bootstrap_servers, "127.0.0.1:1");
        assert_eq!(producer.client["compression.type"], "zstd");
        assert_eq!(producer.client["client.id"], "shop-x");
        assert_eq!(producer.client["linger.ms"], "7");
        assert!(!producer.client.contains_key("fetch.wait.max.ms"));
        let consumer = kafka.consumer_config("g");
        assert_eq!(consumer.client["fetch.wait.max.ms"], "50");
        assert!(!consumer.client.contains_key("compression.type"));
    }

    #[tokio::test]
    async fn a_setting_librdkafka_rejects_stops_the_start_naming_where_it_came_from() {
        let flags = Flags::parse_from(["svc", "-X", "ssl.truststore.location=/etc/t.jks"]);
        let err = flags.kafka.connect().await.unwrap_err();
        assert!(
            format!("{err:#}").starts_with(
                "-X/KAFKA_CONFIG: ssl.truststore.location: librdkafka reads CA certificates"
            ),
            "{err:#}"
        );
    }
}
