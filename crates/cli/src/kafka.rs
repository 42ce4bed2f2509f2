//! What the commands that read and write topics share: the Kafka flags (the same names and
//! environment variables as the services and `contracts registry serve`), the connection check,
//! and the topic's partitions.

use std::time::Duration;

use anyhow::{Context, bail};
use contracts_runtime::client_config::{ClientSettings, KafkaClientArgs, Scope};
use contracts_runtime::probe::probe_cluster;
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::client::Client;

/// The Kafka cluster to talk to and how.
#[derive(Debug, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, `host:port[,host:port...]` [default: bootstrap.servers of
    /// --kafka-properties, else 127.0.0.1:9092]
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,
    #[command(flatten)]
    pub client: KafkaClientArgs,
}

const DEFAULT_BOOTSTRAP_SERVERS: &str = "127.0.0.1:9092";

/// A checked connection's settings.
#[derive(Debug)]
pub struct Kafka {
    pub bootstrap: String,
    pub settings: ClientSettings,
    pub timeout: Duration,
}

impl KafkaArgs {
    /// Loads the settings and checks that the cluster answers: a command that reads or writes a
    /// topic has nothing to do without it, so unlike the services it does not wait.
    pub async fn connect(&self) -> anyhow::Result<Kafka> {
        let settings = self.client.load()?;
        let bootstrap = settings
            .bootstrap_servers(
                self.bootstrap_servers.as_deref(),
                Some(DEFAULT_BOOTSTRAP_SERVERS),
            )
            .context("--bootstrap-servers")?;
        let timeout = self.client.connect_timeout();
        probe_cluster(
            &settings.client_config(Scope::Producer, &bootstrap),
            timeout,
        )
        .await
        .with_context(|| format!("cannot connect to Kafka at {bootstrap}"))?;
        Ok(Kafka {
            bootstrap,
            settings,
            timeout,
        })
    }
}

impl Kafka {
    pub fn config(&self, scope: Scope) -> ClientConfig {
        self.settings.client_config(scope, &self.bootstrap)
    }

    /// The partitions of `topic`; a topic the cluster does not have is an error. Asks for the
    /// metadata of every topic, so that no broker creates the topic by being asked about it.
    pub fn partitions<C: ClientContext>(
        &self,
        client: &Client<C>,
        topic: &str,
    ) -> anyhow::Result<Vec<i32>> {
        let metadata = client
            .fetch_metadata(None, self.timeout)
            .context("cannot read the cluster's topics")?;
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            bail!(
                "topic \"{topic}\" does not exist on {} (list the topics with kafka-topics \
                 --list, or create it first)",
                self.bootstrap
            );
        };
        if let Some(e) = found.error() {
            bail!("topic \"{topic}\": the broker answered {e:?}");
        }
        let mut partitions: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
        partitions.sort_unstable();
        Ok(partitions)
    }
}
