//! `contracts registry serve`: the flags of a registry process, shared by the `contracts` CLI
//! and the `contracts-registry` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use contracts_model::Level;

use crate::kafka::KafkaConfig;
use crate::{
    BasicAuth, Error, ReferenceLimits, RegistryConfig, RouterOptions, Server, ServerConfig,
    TlsFiles,
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

    /// Kafka bootstrap servers of the cluster that holds the registry topic.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        required_unless_present = "in_memory"
    )]
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

    /// Require HTTP basic auth with this user (and --basic-auth-password).
    #[arg(
        long,
        env = "REGISTRY_BASIC_AUTH_USER",
        requires = "basic_auth_password"
    )]
    pub basic_auth_user: Option<String>,

    /// The basic-auth password.
    #[arg(
        long,
        env = "REGISTRY_BASIC_AUTH_PASSWORD",
        requires = "basic_auth_user",
        hide_env_values = true
    )]
    pub basic_auth_password: Option<String>,

    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "REGISTRY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "REGISTRY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Largest request body accepted; larger ones get 413.
    #[arg(long, env = "REGISTRY_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
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

    /// A librdkafka setting for every Kafka client, e.g. -X security.protocol=SASL_SSL
    /// (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub kafka_settings: Vec<(String, String)>,

    /// Log format on stderr.
    #[arg(long, env = "REGISTRY_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "\"{s}\" is not KEY=VALUE (e.g. -X security.protocol=SSL)"
        )),
    }
}

impl ServeArgs {
    /// The server settings these flags describe.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            listen: self.listen,
            router: RouterOptions {
                max_body_bytes: self.max_body_bytes,
                basic_auth: match (&self.basic_auth_user, &self.basic_auth_password) {
                    (Some(user), Some(password)) => Some(BasicAuth {
                        user: user.clone(),
                        password: password.clone(),
                    }),
                    _ => None,
                },
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
                }),
                _ => None,
            },
        }
    }

    /// Starts the registry and serves until SIGINT or SIGTERM.
    pub async fn run(&self) -> Result<(), Error> {
        let config = self.server_config();
        let server = match &self.bootstrap_servers {
            Some(bootstrap) if !self.in_memory => {
                let mut kafka = KafkaConfig::new(bootstrap, &self.topic);
                kafka.client_settings = self.kafka_settings.clone();
                kafka.replication_factor = self.topic_replication_factor;
                kafka.min_insync_replicas = self.topic_min_insync_replicas;
                let log = Arc::new(crate::kafka::KafkaLog::connect(kafka).await?);
                Server::start(log, config).await?
            }
            _ => Server::start(Arc::new(crate::store::MemoryLog::new()), config).await?,
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

/// Installs the process's log subscriber (stderr; `RUST_LOG` filters, default `info`) in the
/// format `--log-format` names. For binaries only: call it once from `main`.
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
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
