//! `contracts registry serve`: the flags of a registry process, shared by the `contracts` CLI
//! and the `contracts-registry` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use contracts_model::Level;
use contracts_runtime::client_config::{KafkaClientArgs, Scope};
use contracts_runtime::probe::probe_cluster;

use crate::kafka::KafkaConfig;
use crate::{
    Auth, Error, ReferenceLimits, RegistryConfig, RouterOptions, Server, ServerConfig, TlsFiles,
};

/// Run a Confluent-compatible schema registry that keeps its state in a Kafka topic.
///
/// Any number of instances may run against one cluster and topic; each rebuilds its state from
/// the topic on start and answers `/health` with 200 once it has caught up.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "REGISTRY_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// Kafka bootstrap servers of the cluster that holds the registry topic (or
    /// bootstrap.servers in --kafka-properties).
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,

    /// The registry topic: one partition, compacted; created if missing.
    #[arg(long, env = "REGISTRY_TOPIC", default_value = "_schemas")]
    pub topic: String,

    /// Keep the state in memory instead of Kafka (a throwaway registry for demos).
    #[arg(long, conflicts_with = "bootstrap_servers")]
    pub in_memory: bool,

    /// Compatibility level of subjects without their own, until one is set with PUT /config.
    #[arg(long, env = "REGISTRY_COMPATIBILITY", default_value = "BACKWARD", value_parser = parse_level)]
    pub compatibility: Level,

    /// Users, their password hashes, tokens and permissions (JSON; see the crate's README).
    /// Without it every client may do everything.
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "REGISTRY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "REGISTRY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificates that sign client certificates (mTLS, with --tls-cert). A client
    /// certificate authenticates as the auth file's user named by its CN or a SAN.
    #[arg(
        long,
        env = "REGISTRY_TLS_CLIENT_CA",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    pub tls_client_ca: Option<PathBuf>,

    /// With --tls-client-ca: `required` refuses connections without a client certificate;
    /// `optional` lets clients log in with a password or token instead.
    #[arg(long, env = "REGISTRY_TLS_CLIENT_AUTH", default_value = "required",
          value_parser = ["required", "optional"], requires = "tls_client_ca")]
    pub tls_client_auth: String,

    /// Largest request body accepted; larger ones get 413. A schema must also fit in one record
    /// of the registry topic (1 MB by Kafka's default).
    #[arg(long, env = "REGISTRY_MAX_BODY_BYTES", default_value_t = crate::server::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// References one schema may list, and distinct schemas its references may reach
    /// (directly or through other schemas); more is answered with 422 (42201).
    #[arg(long, env = "REGISTRY_MAX_REFERENCES", default_value_t = ReferenceLimits::default().max_references)]
    pub max_references: usize,

    /// Total bytes of the schemas one request's references may reach; more is answered with
    /// 422 (42209).
    #[arg(long, env = "REGISTRY_MAX_RESOLVED_BYTES", default_value_t = ReferenceLimits::default().max_resolved_bytes)]
    pub max_resolved_bytes: usize,

    /// Replication factor of the registry topic when the registry creates it (default: the
    /// number of brokers, at most 3). Production: 3.
    #[arg(long, env = "REGISTRY_TOPIC_REPLICATION_FACTOR", value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_replication_factor: Option<i32>,

    /// min.insync.replicas of the registry topic when the registry creates it (default: one
    /// less than the replication factor, at least 1). Production: 2 with 3 replicas, so a
    /// write survives the loss of a broker.
    #[arg(long, env = "REGISTRY_TOPIC_MIN_INSYNC_REPLICAS", value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_min_insync_replicas: Option<i32>,

    /// The Kafka clients' settings: properties files, -X, producer- and consumer-only ones,
    /// secrets from the environment.
    #[command(flatten)]
    pub kafka: KafkaClientArgs,

    /// Log lines on stderr as `text` or `json` [default: text]; filter with RUST_LOG (default
    /// `info`). The name every binary reads; REGISTRY_LOG_FORMAT, its earlier name, is still read
    /// when LOG_FORMAT is not set.
    #[arg(long, env = "LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

impl ServeArgs {
    /// `--log-format`, else LOG_FORMAT, else the deprecated REGISTRY_LOG_FORMAT, else `text`.
    pub fn log_format(&self) -> String {
        if let Some(format) = &self.log_format {
            return format.clone();
        }
        match std::env::var("REGISTRY_LOG_FORMAT") {
            Ok(format) if format == "text" || format == "json" => {
                eprintln!("warning: REGISTRY_LOG_FORMAT is deprecated; set LOG_FORMAT instead");
                format
            }
            _ => "text".to_owned(),
        }
    }

    /// The server settings these flags describe; reads and checks the auth file.
    pub fn server_config(&self) -> Result<ServerConfig, Error> {
        let auth = match &self.auth_file {
            Some(path) => Some(Arc::new(Auth::load(path)?)),
            None => None,
        };
        Ok(ServerConfig {
            listen: self.listen,
            router: RouterOptions {
                max_body_bytes: self.max_body_bytes,
                auth,
            },
            registry: RegistryConfig {
                default_level: self.compatibility,
                references: ReferenceLimits {
                    max_references: self.max_references,
                    max_resolved_bytes: self.max_resolved_bytes,
                },
                ..RegistryConfig::default()
            },
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                    client_cert_required: self.tls_client_auth == "required",
                }),
                _ => None,
            },
        })
    }

    /// Starts the registry and serves until SIGINT or SIGTERM.
    pub async fn run(&self) -> Result<(), Error> {
        let config = self.server_config()?;
        if config.router.auth.is_none() {
            tracing::warn!("no --auth-file: every client may register, change and delete schemas");
        }
        let server = if self.in_memory {
            Server::start(Arc::new(crate::store::MemoryLog::new()), config).await?
        } else {
            let kafka = self.kafka_config().await?;
            let log = Arc::new(crate::kafka::KafkaLog::connect(kafka).await?);
            Server::start(log, config).await?
        };
        tracing::info!(url = %server.url(), topic = %self.topic, "serving the schema registry");
        shutdown_signal().await;
        tracing::info!("shutting down");
        tokio::time::timeout(Duration::from_secs(5), server.shutdown())
            .await
            .ok();
        Ok(())
    }
}

impl ServeArgs {
    /// The registry topic's Kafka settings: loaded, checked by librdkafka, and the connection
    /// checked once, so that a refused SASL login or an untrusted broker certificate stops the
    /// registry before it reads or writes the topic. A cluster that does not answer is logged;
    /// connecting to the topic then tries as before.
    async fn kafka_config(&self) -> Result<KafkaConfig, Error> {
        let kafka_error = |e: &dyn std::fmt::Display| Error::KafkaSettings(e.to_string());
        let settings = self.kafka.load().map_err(|e| kafka_error(&e))?;
        let bootstrap = settings
            .bootstrap_servers(self.bootstrap_servers.as_deref(), None)
            .map_err(|e| kafka_error(&e))?;
        if !settings.describe().is_empty() {
            tracing::info!(settings = %settings.describe(), "Kafka client settings");
        }
        let mut probes = vec![settings.client_config(Scope::Producer, &bootstrap)];
        if settings.consumer() != settings.producer() {
            probes.push(settings.client_config(Scope::Consumer, &bootstrap));
        }
        for probe in &probes {
            match probe_cluster(probe, self.kafka.connect_timeout()).await {
                Ok(cluster) => {
                    tracing::info!(bootstrap, brokers = ?cluster.brokers, "connected to Kafka")
                }
                Err(e) if e.is_unreachable() => {
                    tracing::warn!(error = %e, "Kafka is not reachable yet")
                }
                Err(e) => return Err(kafka_error(&e)),
            }
        }
        let mut kafka = KafkaConfig::new(bootstrap, &self.topic);
        kafka.client_settings = settings.common().into_iter().collect();
        kafka.producer_settings = settings.producer().into_iter().collect();
        kafka.consumer_settings = settings.consumer().into_iter().collect();
        kafka.replication_factor = self.topic_replication_factor;
        kafka.min_insync_replicas = self.topic_min_insync_replicas;
        Ok(kafka)
    }
}

/// Installs the process's log subscriber (stderr; `RUST_LOG` filters, default `info`) in the
/// format `--log-format` names: the same text or flat JSON lines as the services write. For
/// binaries only: call it once from `main`.
pub fn init_logging(format: &str) {
    contracts_runtime::telemetry::init_logging(format == "json");
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
