//! Writing a record on to another topic (a retry topic or the dead-letter topic) until the
//! broker acknowledges it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use backon::Retryable as _;
use contracts_core::Topic;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;

use super::Pipeline;
use super::state::PartitionState;
use crate::error::Retry;
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

/// Why a record was not written on.
pub(super) enum Unsent {
    /// The consumer stops or the partition was revoked first: nothing is stored, the record is
    /// delivered again.
    Abandoned,
    /// The broker or the client refused it for a reason that repeating will not change
    /// ([`Retry::Permanent`]): the message says which.
    Refused(String),
}

/// Writes the record's key and value with `hdrs` to `target` until the broker acknowledges it,
/// because the record's offset may only be stored after that. A transient error
/// ([`Retry::Transient`]: a broker restarting, a timeout) is repeated with exponential backoff
/// (the consumer's [`RetryPolicy`](super::RetryPolicy) delays, through `backon`); a permanent
/// one (the record too large for the producer or the broker, the topic refused, authorization
/// denied) is returned at once, since repeating it would spin forever.
pub(super) async fn produce_until_acked<T: Topic>(
    pipeline: &Pipeline<T>,
    state: &PartitionState,
    m: &OwnedMessage,
    target: &str,
    hdrs: OwnedHeaders,
) -> Result<(), Unsent> {
    let send = || async {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(target).headers(hdrs.clone());
        if let Some(key) = m.key() {
            record = record.key(key);
        }
        if let Some(value) = m.payload() {
            record = record.payload(value);
        }
        pipeline
            .forwarder
            .send(record, Timeout::Never)
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    };
    let revoked = || state.revoked.load(Ordering::SeqCst);
    let attempts = send
        .retry(pipeline.retry.exponential())
        .sleep(tokio::time::sleep)
        .when(|e: &KafkaError| Retry::of(e).is_transient() && !revoked())
        .notify(|e: &KafkaError, backoff: Duration| {
            tracing::error!(
                partition = m.partition(),
                offset = m.offset(),
                "cannot write to {target}, retrying in {backoff:?}: {e}"
            );
        });
    let mut stop = pipeline.stop.clone();
    tokio::select! {
        _ = stop.wait_for(|s| *s) => Err(Unsent::Abandoned),
        sent = attempts => match sent {
            Ok(()) => Ok(()),
            Err(_) if revoked() => Err(Unsent::Abandoned),
            Err(e) => Err(Unsent::Refused(format!("writing to {target} failed permanently: {e}"))),
        },
    }
}
