//! Creating topics, for every part of the framework that needs one (dead-letter and retry
//! topics, the registry's log, the admin API's marks topics, test brokers), and keeping a
//! cluster's topics as declared ([`describe`], [`plan`], [`apply`]: what `contracts topics
//! plan|apply` and the demo run on the manifest's topics).
//!
//! ```no_run
//! # async fn demo() -> contracts_runtime::Result<()> {
//! use std::time::Duration;
//! use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
//! use rdkafka::client::DefaultClientContext;
//! use rdkafka::ClientConfig;
//!
//! let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
//!     .set("bootstrap.servers", "127.0.0.1:9092")
//!     .create()
//!     .map_err(contracts_runtime::Error::Config)?;
//! let orders = NewTopic::new("orders", 3, TopicReplication::Fixed(-1));
//! let created = contracts_runtime::topics::create_missing(&admin, &[orders], Duration::from_secs(30)).await?;
//! // `created` is empty when `orders` was there already.
//! # Ok(()) }
//! ```

mod plan;

use std::time::Duration;

pub use plan::{Change, ClusterTopic, ConfigChange, Plan, Refusal, apply, describe, plan};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::{Error, Result};

/// Creates each of `topics` that does not exist and returns the names of those it created.
///
/// Idempotent: a topic that exists already (the broker answers `TOPIC_ALREADY_EXISTS`) counts
/// as success and is left exactly as it is, even when its partition count, replication factor
/// or topic settings (such as `cleanup.policy`) differ from the ones asked for; callers that
/// depend on them check the topic's metadata themselves. Any other refusal is an error naming
/// the first topic refused (topics before it in `topics` may have been created). `timeout` is
/// the broker-side operation timeout of the request.
pub async fn create_missing<C: ClientContext + 'static>(
    admin: &AdminClient<C>,
    topics: &[NewTopic<'_>],
    timeout: Duration,
) -> Result<Vec<String>> {
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let names = || topics.iter().map(|t| t.name).collect::<Vec<_>>().join(", ");
    let results = admin
        .create_topics(
            topics,
            &AdminOptions::new().operation_timeout(Some(timeout)),
        )
        .await
        .map_err(|source| Error::Kafka {
            what: format!("creating topic {}", names()),
            source,
        })?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(topic) => created.push(topic),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::Kafka {
                    what: format!("creating topic {topic}"),
                    source: KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(created)
}
