//! Consumer lag as the broker sees it: a group's committed offsets (OffsetFetch) against each
//! partition's high watermark (ListOffsets), so it shows a group whose members are all down.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};

use super::{BROKER_TIMEOUT, kafka_unavailable};
use crate::{BackendError, PartitionLag};

/// Lag of `group` on every partition of `topic`. Blocking.
pub(super) fn group_lag(
    client: &ClientConfig,
    group: &str,
    topic: &str,
) -> Result<Vec<PartitionLag>, BackendError> {
    // Asking for the group's committed offsets does not join the group: no subscribe.
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| kafka_unavailable("creating a lag reader", e))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), BROKER_TIMEOUT)
        .map_err(|e| kafka_unavailable(&format!("reading the metadata of {topic}"), e))?;
    let Some(md) = metadata.topics().first() else {
        return Ok(Vec::new());
    };
    let mut tpl = TopicPartitionList::new();
    for p in md.partitions() {
        tpl.add_partition(topic, p.id());
    }
    let committed = consumer
        .committed_offsets(tpl, BROKER_TIMEOUT)
        .map_err(|e| kafka_unavailable(&format!("reading the offsets {group} committed"), e))?;
    let mut out = Vec::new();
    for e in committed.elements_for_topic(topic) {
        let (low, high) = consumer
            .fetch_watermarks(topic, e.partition(), BROKER_TIMEOUT)
            .map_err(|e| kafka_unavailable(&format!("reading the offsets of {topic}"), e))?;
        let committed_offset = match e.offset() {
            Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        };
        out.push(PartitionLag {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partition: e.partition(),
            committed_offset,
            high_watermark: high,
            lag: (high - committed_offset.unwrap_or(low)).max(0),
        });
    }
    out.sort_by_key(|l| l.partition);
    Ok(out)
}
