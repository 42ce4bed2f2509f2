//! Dead-lettering: the record, unchanged, to the dead-letter topic with `dlt-*` headers.

use contracts_core::Topic;
use rdkafka::message::{Message as _, OwnedMessage};

use super::Pipeline;
use super::forward::{FirstRead, Unsent, produce_until_acked, with_headers};
use super::state::{Outcome, PartitionState};
use crate::headers;
use crate::metrics::{self, Labels};

/// Sends the record, unchanged, to the dead-letter topic with headers saying where it was first
/// read and why it failed.
pub(super) async fn dead_letter<T: Topic>(
    pipeline: &Pipeline<T>,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
    class: &str,
    text: &str,
    attempts: u32,
) -> Outcome {
    let topic = &pipeline.topics[level];
    tracing::warn!(
        topic = %topic,
        partition = m.partition(),
        offset = m.offset(),
        error_class = class,
        "dead-lettering to {}: {text}",
        pipeline.dead_letter_topic
    );
    let origin = FirstRead::of(topic, level, m);
    let attempts = attempts.to_string();
    let hdrs = with_headers(
        m.headers().cloned().unwrap_or_default(),
        &[
            (headers::DLT_ORIGINAL_TOPIC, Some(&origin.topic)),
            (headers::DLT_ORIGINAL_PARTITION, Some(&origin.partition)),
            (headers::DLT_ORIGINAL_OFFSET, Some(&origin.offset)),
            (headers::DLT_ORIGINAL_TIMESTAMP, origin.timestamp.as_deref()),
            (headers::DLT_CONSUMER_GROUP, Some(&pipeline.group)),
            (headers::DLT_ERROR_CLASS, Some(class)),
            (headers::DLT_ERROR_MESSAGE, Some(text)),
            (headers::DLT_ATTEMPTS, Some(&attempts)),
        ],
    );
    match produce_until_acked(pipeline, state, m, &pipeline.dead_letter_topic, hdrs).await {
        Ok(()) => {}
        Err(Unsent::Abandoned) => return Outcome::Abandoned,
        Err(Unsent::Refused(why)) => {
            return Outcome::Stopped(format!(
                "the record at offset {} ({class}: {text}) could not be dead-lettered: {why}",
                m.offset()
            ));
        }
    }
    let labels: Labels = vec![
        ("messaging_system", "kafka".into()),
        ("messaging_destination_name", topic.clone()),
        ("messaging_consumer_group_name", pipeline.group.clone()),
        ("error_type", class.into()),
    ];
    pipeline.metrics.inc(metrics::DEAD_LETTERED, labels);
    Outcome::DeadLettered
}
