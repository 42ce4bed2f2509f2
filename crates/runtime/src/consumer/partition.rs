//! One partition's task: handles the partition's records in order (decode, handler, retries in
//! place), then stores the offset for commit.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use contracts_core::{Handle, RecordMeta, Topic, TopicMessage};
use futures_util::FutureExt as _;
use rdkafka::consumer::Consumer as _;
use rdkafka::message::{Message as _, OwnedMessage};
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{Instrument as _, field};

use super::dead_letters::dead_letter;
use super::retry_topics::{forward_to_retry, wait_until_due};
use super::state::{Outcome, PartitionState, pause_before_retry, record_size};
use super::{Pipeline, StoppedPartition};
use crate::headers;
use crate::metrics::{self, HistogramHandle, Labels};
use crate::writer::ReadError;

/// Handles one partition's records in order until the partition is revoked or the consumer stops.
pub(super) async fn partition_task<T, H>(
    pipeline: Arc<Pipeline<T>>,
    handler: Arc<H>,
    state: Arc<PartitionState>,
    level: usize,
    mut rx: mpsc::UnboundedReceiver<OwnedMessage>,
    previous: Option<JoinHandle<()>>,
) where
    T: Topic,
    H: Handle<T::Message> + 'static,
{
    if let Some(previous) = previous {
        let _ = previous.await;
    }
    let mut stop = pipeline.stop.clone();
    let mut paused = pipeline.paused.clone();
    // Process-duration and record-latency series of handled records, per event type.
    let mut handled: HashMap<String, [HistogramHandle; 2]> = HashMap::new();
    loop {
        let m = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            m = rx.recv() => match m { Some(m) => m, None => return },
        };
        state.buffered.fetch_sub(1, Ordering::SeqCst);
        state
            .buffered_bytes
            .fetch_sub(record_size(&m), Ordering::SeqCst);
        if state.revoked.load(Ordering::SeqCst) {
            return;
        }
        // Another group's retry or replay: not ours to handle, only to step over.
        let owner = if level > 0 {
            headers::RETRY_CONSUMER_GROUP
        } else {
            headers::REPLAY_CONSUMER_GROUP
        };
        if headers::get(m.headers(), owner).is_some_and(|g| g != pipeline.group) {
            if !store_offset(&pipeline, &state, level, &m) {
                return;
            }
            continue;
        }
        if level > 0 {
            // Sleeping here holds back only this retry partition, whose records were all
            // delayed by the same amount and so fall due in order.
            let due = headers::get(m.headers(), headers::RETRY_DUE).and_then(|d| d.parse().ok());
            if !wait_until_due(&pipeline, &state, due.unwrap_or(0)).await {
                return;
            }
        }
        if *paused.borrow() {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = paused.wait_for(|p| !*p) => {}
            }
        }
        match process(&pipeline, &*handler, &state, level, &m, &mut handled).await {
            Outcome::Handled | Outcome::DeadLettered | Outcome::Forwarded => {
                if !store_offset(&pipeline, &state, level, &m) {
                    return;
                }
            }
            Outcome::Abandoned => return,
            Outcome::Stopped(reason) => {
                stopped(&pipeline, &state, level, &m, reason, rx).await;
                return;
            }
        }
    }
}

/// A record could not be written on for a permanent reason: pauses the partition, shows it
/// (log, `contracts_consumer_stopped_partitions`, [`ConsumerControl::stopped_partitions`] for
/// `/health`) and stores nothing more, so no commit moves past the record. Records already
/// fetched are dropped unhandled (they are delivered again). Waits until the partition is
/// revoked or the consumer stops, then clears what it showed.
///
/// [`ConsumerControl::stopped_partitions`]: super::ConsumerControl::stopped_partitions
async fn stopped<T: Topic>(
    pipeline: &Pipeline<T>,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
    reason: String,
    mut rx: mpsc::UnboundedReceiver<OwnedMessage>,
) {
    let topic = &pipeline.topics[level];
    let partition = m.partition();
    state.stopped.store(true, Ordering::SeqCst);
    tracing::error!(
        topic = %topic,
        partition,
        offset = m.offset(),
        group = %pipeline.group,
        "partition stopped: {reason}. Nothing after this record is handled or committed until \
         the cause is fixed and the service restarted"
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    if let Err(e) = pipeline.consumer.pause(&tpl) {
        tracing::warn!(topic = %topic, partition, "pausing the stopped partition: {e}");
    }
    let labels = || -> Labels {
        vec![
            ("messaging_system", "kafka".into()),
            ("messaging_destination_name", topic.clone()),
            ("messaging_consumer_group_name", pipeline.group.clone()),
            ("messaging_destination_partition_id", partition.to_string()),
        ]
    };
    pipeline
        .metrics
        .set_gauge(metrics::CONSUMER_STOPPED_PARTITIONS, labels(), 1);
    let key = (topic.clone(), partition);
    pipeline.stopped.insert(StoppedPartition {
        topic: topic.clone(),
        partition,
        group: pipeline.group.clone(),
        offset: m.offset(),
        reason,
    });
    let mut stop = pipeline.stop.clone();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            m = rx.recv() => match m {
                Some(m) => {
                    state.buffered.fetch_sub(1, Ordering::SeqCst);
                    state.buffered_bytes.fetch_sub(record_size(&m), Ordering::SeqCst);
                    if state.revoked.load(Ordering::SeqCst) {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    pipeline.stopped.remove(&key);
    pipeline
        .metrics
        .set_gauge(metrics::CONSUMER_STOPPED_PARTITIONS, labels(), 0);
    if state.revoked.load(Ordering::SeqCst) {
        // Should the partition come back to this member, it starts unpaused and tries again.
        let _ = pipeline.consumer.resume(&tpl);
    }
}

/// Stores the offset after `m` for commit; `false` when the partition is no longer ours.
pub(super) fn store_offset<T: Topic>(
    pipeline: &Pipeline<T>,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
) -> bool {
    if state.revoked.load(Ordering::SeqCst) {
        return false;
    }
    let topic = &pipeline.topics[level];
    // Stores offset + 1: the next record to read.
    match pipeline
        .consumer
        .store_offset(topic, m.partition(), m.offset())
    {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(topic = %topic, partition = m.partition(), offset = m.offset(), "storing the offset failed (partition revoked?): {e}");
            false
        }
    }
}

pub(super) async fn process<T, H>(
    pipeline: &Pipeline<T>,
    handler: &H,
    state: &PartitionState,
    level: usize,
    m: &OwnedMessage,
    handled: &mut HashMap<String, [HistogramHandle; 2]>,
) -> Outcome
where
    T: Topic,
    H: Handle<T::Message>,
{
    let topic = &pipeline.topics[level];
    let value = m.payload().unwrap_or_default();
    // Handler calls made before this delivery, on the topics before this retry topic.
    let earlier: u32 = if level > 0 {
        headers::get(m.headers(), headers::RETRY_ATTEMPTS)
            .and_then(|a| a.parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {topic}"),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = %topic,
        messaging.destination.partition.id = m.partition(),
        messaging.kafka.offset = m.offset(),
        messaging.consumer.group.name = %pipeline.group,
        topic = %topic,
        partition = m.partition(),
        offset = m.offset(),
        retry_level = level,
        event_type = field::Empty,
        schema_id = field::Empty,
        attempts = field::Empty,
    );
    headers::continue_trace(&span, headers::context_from_headers(m.headers()));
    async move {
        let failed = |class: &str| -> Labels {
            vec![
                ("messaging_system", "kafka".into()),
                ("messaging_destination_name", topic.clone()),
                ("messaging_consumer_group_name", pipeline.group.clone()),
                ("error_type", class.into()),
            ]
        };
        // The writer schema: a registry outage is waited out, never dead-lettered.
        let mut registry_attempt = 0;
        let (writer, payload) = loop {
            match pipeline.writers.read(value).await {
                Ok(read) => break read,
                Err(ReadError::Decode(e)) => {
                    pipeline
                        .metrics
                        .inc(metrics::CONSUMER_ERRORS, failed("decode"));
                    let text = e.to_string();
                    return dead_letter(pipeline, state, level, m, "decode", &text, earlier).await;
                }
                Err(ReadError::UnknownId(id)) => {
                    pipeline
                        .metrics
                        .inc(metrics::CONSUMER_ERRORS, failed("unknown-schema"));
                    let text = format!("schema id {id} is not in the registry");
                    return dead_letter(
                        pipeline,
                        state,
                        level,
                        m,
                        "unknown-schema",
                        &text,
                        earlier,
                    )
                    .await;
                }
                Err(ReadError::Registry(e)) => {
                    registry_attempt += 1;
                    let backoff = pipeline.retry.backoff(registry_attempt);
                    tracing::warn!("cannot fetch the writer schema, retrying in {backoff:?}: {e}");
                    if !pause_before_retry(pipeline, state, backoff).await {
                        return Outcome::Abandoned;
                    }
                }
            }
        };
        let span = tracing::Span::current();
        span.record("schema_id", writer.id().0);
        if let Some(name) = writer.name() {
            span.record("event_type", name);
        }
        let mut meta = RecordMeta::new(topic.clone(), m.partition(), m.offset(), writer.id());
        meta.timestamp_ms = m.timestamp().to_millis();
        meta.key = m.key().map(<[u8]>::to_vec);
        meta.event_id = headers::get(m.headers(), headers::EVENT_ID).map(str::to_owned);
        let event_type = writer.name().unwrap_or("unknown");

        let mut attempt = 0;
        loop {
            // Decoded again per attempt: decoding is deterministic and cheap, and the handler
            // takes the message by value.
            let message = match <T::Message as TopicMessage>::decode_from(&writer, payload) {
                Ok(message) => message,
                Err(e) => {
                    if attempt == 0 {
                        pipeline
                            .metrics
                            .inc(metrics::CONSUMER_ERRORS, failed("decode"));
                    }
                    let text = e.to_string();
                    let attempts = earlier + attempt;
                    return dead_letter(pipeline, state, level, m, "decode", &text, attempts).await;
                }
            };
            attempt += 1;
            span.record("attempts", earlier + attempt);
            let started = Instant::now();
            // One span per handler call, so a trace shows each attempt and what it caused.
            let handle_span = tracing::info_span!(
                "handle",
                otel.name = %format_args!("handle {event_type}"),
                event_type,
                attempt = earlier + attempt,
            );
            let result = AssertUnwindSafe(handler.handle(message, &meta))
                .catch_unwind()
                .instrument(handle_span)
                .await;
            let labels = || -> Labels {
                vec![
                    ("messaging_system", "kafka".into()),
                    ("messaging_destination_name", topic.clone()),
                    ("messaging_consumer_group_name", pipeline.group.clone()),
                    ("event_type", event_type.into()),
                ]
            };
            let (class, text) = match result {
                Ok(Ok(())) => {
                    let took = started.elapsed();
                    // Per record: handles kept by the partition's task, so no label strings.
                    // Looked up before inserting, so a known event type allocates nothing.
                    if !handled.contains_key(event_type) {
                        let histogram = |name| pipeline.metrics.histogram(name, labels());
                        handled.insert(
                            event_type.to_string(),
                            [
                                histogram(metrics::PROCESS_DURATION),
                                histogram(metrics::RECORD_LATENCY),
                            ],
                        );
                    }
                    let [duration, latency] = &handled[event_type];
                    duration.observe(took);
                    if let Some(age) = record_age(m) {
                        latency.observe(age);
                    }
                    return Outcome::Handled;
                }
                Ok(Err(e)) if e.is_retriable() => ("handler-retriable", e.to_string()),
                Ok(Err(e)) => ("handler-permanent", e.to_string()),
                Err(panic) => ("handler-panic", panic_text(&*panic)),
            };
            let mut labels = labels();
            labels.push(("error_type", class.into()));
            pipeline
                .metrics
                .observe(metrics::PROCESS_DURATION, labels.clone(), started.elapsed());
            pipeline
                .metrics
                .inc(metrics::CONSUMER_ERRORS, labels.clone());
            let attempts = earlier + attempt;
            if class != "handler-retriable" {
                return dead_letter(pipeline, state, level, m, class, &text, attempts).await;
            }
            if attempt >= pipeline.retry.max_attempts {
                if level < pipeline.retry_delays.len() {
                    return forward_to_retry(pipeline, state, level, m, labels, &text, attempts)
                        .await;
                }
                let class = "handler-retries-exhausted";
                return dead_letter(pipeline, state, level, m, class, &text, attempts).await;
            }
            let backoff = pipeline.retry.backoff(attempt);
            tracing::info!(attempt, "handler failed, retrying in {backoff:?}: {text}");
            labels.push(("retry_level", "0".into()));
            pipeline.metrics.inc(metrics::CONSUMER_RETRIES, labels);
            if !pause_before_retry(pipeline, state, backoff).await {
                return Outcome::Abandoned;
            }
        }
    }
    .instrument(span)
    .await
}

pub(super) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("handler panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("handler panicked: {s}")
    } else {
        "handler panicked".into()
    }
}

/// Time from the record's timestamp (its producer's clock when it created the record, or the
/// broker's for a topic with `LogAppendTime`) to now; `None` without a timestamp or when the
/// clocks disagree so much that it lies in the future.
fn record_age(m: &OwnedMessage) -> Option<Duration> {
    let created = u64::try_from(m.timestamp().to_millis()?).ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    now.checked_sub(Duration::from_millis(created))
}
