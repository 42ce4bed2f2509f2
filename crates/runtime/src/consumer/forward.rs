//! Writing a record on to another topic (a retry topic or the dead-letter topic) until the
//! broker acknowledges it.

use contracts_core::Topic;
use rdkafka::message::{Header, Message as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;

use super::Pipeline;
use super::state::{PartitionState, pause_before_retry};
use crate::headers;

/// Where a record was first read: the record itself on the source topic; on a retry topic,
/// what its `retry-original-*` headers say.
pub(super) struct FirstRead {
    pub(super) topic: String,
    pub(super) partition: String,
    pub(super) offset: String,
    pub(super) timestamp: Option<String>,
}

impl FirstRead {
    pub(super) fn of(topic: &str, level: usize, m: &OwnedMessage) -> FirstRead {
        let h = m.headers();
        if level > 0
            && let (Some(topic), Some(partition), Some(offset)) = (
                headers::get(h, headers::RETRY_ORIGINAL_TOPIC),
                headers::get(h, headers::RETRY_ORIGINAL_PARTITION),
                headers::get(h, headers::RETRY_ORIGINAL_OFFSET),
            )
        {
            return FirstRead {
                topic: topic.into(),
                partition: partition.into(),
                offset: offset.into(),
                timestamp: headers::get(h, headers::RETRY_ORIGINAL_TIMESTAMP).map(str::to_owned),
            };
        }
        FirstRead {
            topic: topic.into(),
            partition: m.partition().to_string(),
            offset: m.offset().to_string(),
            timestamp: m.timestamp().to_millis().map(|t| t.to_string()),
        }
    }
}

/// Appends the headers whose value is present.
pub(super) fn with_headers(mut hdrs: OwnedHeaders, extra: &[(&str, Option<&str>)]) -> OwnedHeaders {
    for (key, value) in extra {
        if let Some(value) = value {
            hdrs = hdrs.insert(Header {
                key,
                value: Some(*value),
            });
        }
    }
    hdrs
}

/// Writes the record's key and value with `hdrs` to `target`, retrying until the broker
/// acknowledges it, because the record's offset may only be stored after that; `false` when the
/// consumer stops or the partition is revoked first.
pub(super) async fn produce_until_acked<T: Topic>(
    pipeline: &Pipeline<T>,
    state: &PartitionState,
    m: &OwnedMessage,
    target: &str,
    hdrs: OwnedHeaders,
) -> bool {
    let mut try_no = 0;
    loop {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(target).headers(hdrs.clone());
        if let Some(key) = m.key() {
            record = record.key(key);
        }
        if let Some(value) = m.payload() {
            record = record.payload(value);
        }
        match pipeline.forwarder.send(record, Timeout::Never).await {
            Ok(_) => return true,
            Err((e, _)) => {
                try_no += 1;
                let backoff = pipeline.retry.backoff(try_no);
                tracing::error!("cannot write to {target}, retrying in {backoff:?}: {e}");
                if !pause_before_retry(pipeline, state, backoff).await {
                    return false;
                }
            }
        }
    }
}
