//! Creating the dead-letter and retry topics at start, or once the broker answers.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};

use super::ConsumerConfig;
use super::context::Callbacks;
use crate::{Error, Result, topics};

/// Whether the broker answers a metadata request for `topic` within a few seconds.
pub(super) async fn broker_answers(consumer: &Arc<StreamConsumer<Callbacks>>, topic: &str) -> bool {
    let consumer = consumer.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// Creates `topics` once the broker answers, retrying every few seconds.
pub(super) async fn create_when_answered(
    config: ConsumerConfig,
    consumer: Arc<StreamConsumer<Callbacks>>,
    source_topic: String,
    mut topics: Vec<String>,
    replication: i32,
) {
    loop {
        if broker_answers(&consumer, &source_topic).await {
            let mut left = Vec::new();
            for topic in topics {
                if let Err(e) =
                    ensure_topic(&config, &consumer, &source_topic, &topic, replication).await
                {
                    tracing::warn!(%topic, "creating the topic failed, retrying: {e}");
                    left.push(topic);
                }
            }
            topics = left;
            if topics.is_empty() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Creates `topic` with `source_topic`'s partition count unless it exists (an existing one is
/// kept as it is).
pub(super) async fn ensure_topic(
    config: &ConsumerConfig,
    consumer: &StreamConsumer<Callbacks>,
    source_topic: &str,
    topic: &str,
    replication: i32,
) -> Result<()> {
    let partitions = consumer
        .fetch_metadata(Some(source_topic), Duration::from_secs(10))
        .ok()
        .and_then(|md| md.topics().first().map(|t| t.partitions().len() as i32))
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let mut admin_config = config.producer_config();
    admin_config.remove("enable.idempotence");
    admin_config.remove("acks");
    let admin: AdminClient<DefaultClientContext> = admin_config.create().map_err(Error::Config)?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    if !topics::create_missing(&admin, &[new], Duration::from_secs(30))
        .await?
        .is_empty()
    {
        tracing::info!(topic, partitions, "created topic");
    }
    Ok(())
}
