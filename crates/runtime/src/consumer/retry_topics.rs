//! Non-blocking retries: forwarding a record to the next retry topic (`<topic>.retry-<n>`), and
//! waiting until a retried record is due.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contracts_core::Topic;
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders, OwnedMessage};

use super::Pipeline;
use super::forward::{FirstRead, Unsent, produce_until_acked, with_headers};
use super::state::{Outcome, PartitionState};
use crate::headers;
use crate::metrics::{self, Labels};

/// The name of retry topic `n` (from 1) of `topic`.
pub fn retry_topic_name(topic: &str, n: usize) -> String {
    contracts_core::retry_topic_name(topic, n)
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sleeps until `due_ms` (milliseconds since the epoch); `false` when the consumer stops or the
/// partition is revoked first.
pub(super) async fn wait_until_due<T: Topic>(
    pipeline: &Pipeline<T>,
    state: &PartitionState,
    due_ms: i64,
) -> bool {
    let mut stop = pipeline.stop.clone();
    loop {
        if state.revoked.load(Ordering::SeqCst) {
            return false;
        }
        // Past the due millisecond, not merely in it: the due time was truncated to the
        // millisecond, so this is what guarantees that the whole delay has passed.
        let left = due_ms.saturating_sub(now_ms());
        if left < 0 {
            return true;
        }
        // In slices, so that a revoked partition is handed over without waiting out the delay.
        let slice = Duration::from_millis(left.clamp(1, 100) as u64);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return false,
            _ = tokio::time::sleep(slice) => {}
        }
    }
}

/// Sends the record to the next retry topic, due after that topic's delay, with `retry-*`
/// headers replacing any it had.
#[allow(clippy::too_many_arguments)]
pub(super) async fn forward_to_retry<T: Topic>(
    pipeline: &Pipeline<T>,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
    mut labels: Labels,
    text: &str,
    attempts: u32,
) -> Outcome {
    let next = level + 1;
    let target = &pipeline.topics[next];
    let delay = pipeline.retry_delays[level];
    let due = (now_ms() + delay.as_millis() as i64).to_string();
    tracing::info!(
        attempts,
        "handler failed, retrying through {target} in {delay:?}: {text}"
    );
    let origin = FirstRead::of(&pipeline.topics[level], level, m);
    let mut hdrs = OwnedHeaders::new();
    if let Some(h) = m.headers() {
        for h in h
            .iter()
            .filter(|h| !h.key.starts_with(headers::RETRY_PREFIX))
        {
            hdrs = hdrs.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    let attempts = attempts.to_string();
    let hdrs = with_headers(
        hdrs,
        &[
            (headers::RETRY_ATTEMPTS, Some(&attempts)),
            (headers::RETRY_DUE, Some(&due)),
            (headers::RETRY_CONSUMER_GROUP, Some(&pipeline.group)),
            (headers::RETRY_ORIGINAL_TOPIC, Some(&origin.topic)),
            (headers::RETRY_ORIGINAL_PARTITION, Some(&origin.partition)),
            (headers::RETRY_ORIGINAL_OFFSET, Some(&origin.offset)),
            (
                headers::RETRY_ORIGINAL_TIMESTAMP,
                origin.timestamp.as_deref(),
            ),
            (headers::RETRY_ERROR_MESSAGE, Some(text)),
        ],
    );
    match produce_until_acked(pipeline, state, m, target, hdrs).await {
        Ok(()) => {}
        Err(Unsent::Abandoned) => return Outcome::Abandoned,
        Err(Unsent::Refused(why)) => {
            return Outcome::Stopped(format!(
                "the record at offset {} could not be forwarded for a retry: {why}",
                m.offset()
            ));
        }
    }
    labels.push(("retry_level", next.to_string()));
    pipeline.metrics.inc(metrics::CONSUMER_RETRIES, labels);
    Outcome::Forwarded
}
