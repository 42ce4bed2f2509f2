//! The marks topic beside each dead-letter topic, `<dlt>.dropped`: compacted, keyed by
//! `partition:offset`, it remembers which dead letters were dropped or replayed, for every
//! instance of the service and across restarts.

use std::collections::HashSet;

use contracts_runtime::{topics, without_consumer_only};
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::FutureRecord;

use super::scan::scan;
use super::{BROKER_TIMEOUT, KafkaAdmin, blocking, kafka_unavailable};
use crate::{BackendError, BackendResult, DeadLetterId};

/// The suffix of the topic that remembers dropped and replayed dead letters.
pub const DROPPED_SUFFIX: &str = ".dropped";

impl KafkaAdmin {
    /// Creates the `<dlt>.dropped` topics that are missing (once per process).
    pub(super) async fn ensure_marks_topics(&self) -> BackendResult<()> {
        self.state
            .marks_ready
            .get_or_try_init(|| async {
                let admin: AdminClient<DefaultClientContext> =
                    without_consumer_only(&self.state.client)
                        .create()
                        .map_err(|e| kafka_unavailable("creating an admin client", e))?;
                let names: Vec<String> = self
                    .dead_letter_topics()
                    .keys()
                    .map(|t| format!("{t}{DROPPED_SUFFIX}"))
                    .collect();
                let new: Vec<NewTopic<'_>> = names
                    .iter()
                    .map(|n| {
                        NewTopic::new(n, 1, TopicReplication::Fixed(-1))
                            .set("cleanup.policy", "compact")
                    })
                    .collect();
                let created = topics::create_missing(&admin, &new, BROKER_TIMEOUT)
                    .await
                    .map_err(|e| {
                        tracing::warn!("{e}");
                        BackendError::unavailable(e.to_string())
                    })?;
                for topic in created {
                    tracing::info!(topic, "created dropped-records topic");
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// The ids of `dlt` already dropped or replayed, as `(partition, offset)`.
    pub(super) async fn marks(&self, dlt: &str) -> BackendResult<HashSet<(i32, i64)>> {
        self.ensure_marks_topics().await?;
        let client = self.state.client.clone();
        let topic = format!("{dlt}{DROPPED_SUFFIX}");
        blocking(move || {
            let mut marks = HashSet::new();
            scan(&client, &topic, |r| {
                if let Some(id) = r
                    .key
                    .as_deref()
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .and_then(|k| k.split_once(':'))
                    .and_then(|(p, o)| Some((p.parse().ok()?, o.parse().ok()?)))
                {
                    marks.insert(id);
                }
            })?;
            Ok(marks)
        })
        .await
    }

    pub(super) async fn mark(&self, id: &DeadLetterId, what: &str) -> BackendResult<()> {
        let topic = format!("{}{DROPPED_SUFFIX}", id.topic);
        let key = format!("{}:{}", id.partition, id.offset);
        self.state
            .producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(what),
                BROKER_TIMEOUT,
            )
            .await
            .map_err(|(e, _)| kafka_unavailable(&format!("recording {id} as {what}"), e))?;
        Ok(())
    }
}
