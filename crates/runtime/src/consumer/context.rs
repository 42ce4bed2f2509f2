//! The librdkafka callbacks of a consumer (its `ConsumerContext`): rebalances, offset commits
//! and statistics (consumer lag).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::watch;

use super::level_of;
use super::state::{PartitionKey, PartitionState};
use crate::metrics::{self, Metrics};

/// librdkafka callbacks: rebalances and statistics.
pub(super) struct Callbacks {
    /// The source topic, then the retry topics in order: a topic's index is its level.
    pub(super) topics: Vec<String>,
    pub(super) group: String,
    pub(super) metrics: Metrics,
    pub(super) partitions: Mutex<HashMap<PartitionKey, Arc<PartitionState>>>,
    pub(super) paused: watch::Receiver<bool>,
    /// Since when this member owns no partition of the topic (`None` while it owns some).
    pub(super) unassigned_since: Mutex<Option<Instant>>,
}

impl Callbacks {
    fn set_unassigned(&self, unassigned: bool) {
        let mut since = self
            .unassigned_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *since = match (unassigned, *since) {
            (false, _) => None,
            (true, Some(t)) => Some(t),
            (true, None) => Some(Instant::now()),
        };
    }

    pub(super) fn unassigned_for(&self) -> Option<Duration> {
        let since = *self
            .unassigned_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        since.map(|t| t.elapsed())
    }
}

impl ClientContext for Callbacks {
    fn stats(&self, stats: Statistics) {
        for name in &self.topics {
            let Some(topic) = stats.topics.get(name) else {
                continue;
            };
            let scope = vec![
                ("messaging_destination_name", name.clone()),
                ("messaging_consumer_group_name", self.group.clone()),
            ];
            let lag = topic
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.desired && p.hi_offset >= 0)
                .map(|p| {
                    let from = if p.committed_offset >= 0 {
                        p.committed_offset
                    } else {
                        p.lo_offset.max(0)
                    };
                    let mut labels = scope.clone();
                    labels.push((
                        "messaging_destination_partition_id",
                        p.partition.to_string(),
                    ));
                    (labels, (p.hi_offset - from).max(0))
                });
            self.metrics.set_gauges(metrics::CONSUMER_LAG, &scope, lag);
        }
        self.metrics.record_statistics(stats, Some(&self.group));
    }
}

impl ConsumerContext for Callbacks {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            for e in tpl.elements() {
                let Some(level) = level_of(&self.topics, e.topic()) else {
                    continue;
                };
                if let Some(state) = partitions.remove(&(level, e.partition())) {
                    state.revoked.store(true, Ordering::SeqCst);
                }
            }
            tracing::info!(topic = %self.topics[0], group = %self.group, revoked = tpl.count(), "partitions revoked");
            self.set_unassigned(true);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            tracing::info!(topic = %self.topics[0], group = %self.group, assigned = tpl.count(), "partitions assigned");
            // Owning only retry-topic partitions is owning nothing of the source topic.
            self.set_unassigned(tpl.elements_for_topic(&self.topics[0]).is_empty());
            if *self.paused.borrow()
                && let Err(e) = consumer.pause(tpl)
            {
                tracing::warn!("pausing newly assigned partitions: {e}");
            }
        }
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(topic = %self.topics[0], group = %self.group, "offset commit failed: {e}")
            }
        }
    }
}
