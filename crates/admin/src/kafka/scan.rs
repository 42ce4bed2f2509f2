//! Reading every record a topic holds now, from the beginning, without joining a group.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use super::{BROKER_TIMEOUT, SCAN_TIMEOUT, kafka_unavailable};
use crate::{BackendError, DeadLetter, DeadLetterId};

/// One record as read from a topic.
pub(super) struct RawRecord {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Vec<u8>,
    pub(super) timestamp: Option<i64>,
    pub(super) headers: Vec<(String, Vec<u8>)>,
}

impl RawRecord {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    pub(super) fn dead_letter(&self, topic: &str) -> DeadLetter {
        DeadLetter::from_record(
            DeadLetterId {
                topic: topic.to_owned(),
                partition: self.partition,
                offset: self.offset,
            },
            self.key.as_deref(),
            self.value.len(),
            self.timestamp,
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
        )
    }
}

/// Reads every record of `topic` that is there now, from the beginning, calling `each`.
/// Blocking: run it with `spawn_blocking`.
pub(super) fn scan(
    client: &ClientConfig,
    topic: &str,
    mut each: impl FnMut(RawRecord),
) -> Result<(), BackendError> {
    let consumer: BaseConsumer = client
        .clone()
        // Never subscribes or commits: the group id is only required by librdkafka.
        .set("group.id", "contracts-admin-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| kafka_unavailable("creating a reader", e))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), BROKER_TIMEOUT)
        .map_err(|e| kafka_unavailable(&format!("reading the metadata of {topic}"), e))?;
    let Some(md) = metadata.topics().first() else {
        return Ok(());
    };
    if let Some(e) = md.error() {
        return Err(BackendError::unavailable(format!(
            "topic {topic}: {}",
            RDKafkaErrorCode::from(e)
        )));
    }
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in md.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, p.id(), BROKER_TIMEOUT)
            .map_err(|e| kafka_unavailable(&format!("reading the offsets of {topic}"), e))?;
        if high > low {
            assignment
                .add_partition_offset(topic, p.id(), Offset::Offset(low))
                .map_err(|e| kafka_unavailable("assigning partitions", e))?;
            ends.insert(p.id(), high);
        }
    }
    if ends.is_empty() {
        return Ok(());
    }
    consumer
        .assign(&assignment)
        .map_err(|e| kafka_unavailable(&format!("reading {topic}"), e))?;
    let deadline = Instant::now() + SCAN_TIMEOUT;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(BackendError::unavailable(format!(
                "reading {topic} took over {SCAN_TIMEOUT:?}; partitions {:?} are unfinished",
                ends.keys().collect::<Vec<_>>()
            )));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            // Only when `-X enable.partition.eof=true` was passed through: that partition is done.
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                ends.remove(&partition);
            }
            Some(Err(e)) => return Err(kafka_unavailable(&format!("reading {topic}"), e)),
            Some(Ok(m)) => {
                let partition = m.partition();
                if ends
                    .get(&partition)
                    .is_some_and(|end| m.offset() + 1 >= *end)
                {
                    ends.remove(&partition);
                }
                each(RawRecord {
                    partition,
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().unwrap_or_default().to_vec(),
                    timestamp: m.timestamp().to_millis(),
                    headers: m
                        .headers()
                        .map(|hs| {
                            hs.iter()
                                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}
