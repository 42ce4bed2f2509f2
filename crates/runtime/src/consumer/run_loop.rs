//! The consumer's loop: polls librdkafka, hands each record to its partition's task, pauses a
//! partition whose task falls behind (backpressure) and resumes it once drained, pauses and
//! resumes on request, and shuts down gracefully.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use contracts_core::{Handle, Topic};
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message as _, OwnedMessage};
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::context::Callbacks;
use super::partition::partition_task;
use super::provision::create_when_answered;
use super::state::{PartitionKey, PartitionState, record_size};
use super::{Consumer, level_of};
use crate::metrics::{self, Counter};
use crate::{Error, Result};

pub(super) struct Worker {
    state: Arc<PartitionState>,
    tx: mpsc::UnboundedSender<OwnedMessage>,
    task: JoinHandle<()>,
    /// This partition's consumed-records series.
    consumed: Counter,
    /// Paused because its buffer is full.
    backpressured: bool,
}

impl<T: Topic> Consumer<T> {
    /// Consumes until [`ConsumerControl::shutdown`], then shuts down gracefully: stops fetching,
    /// lets in-flight handlers finish (up to `shutdown_timeout`), commits what was handled and
    /// leaves the group.
    pub async fn run<H>(self, handler: H) -> Result<()>
    where
        H: Handle<T::Message> + 'static,
    {
        let handler = Arc::new(handler);
        let pipeline = &self.pipeline;
        let consumer = &pipeline.consumer;
        let mut workers: HashMap<PartitionKey, Worker> = HashMap::new();
        let mut stop = self.control.stop.subscribe();
        let mut paused = self.control.paused.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let high = (
            self.config.max_buffered_per_partition.max(1),
            self.config.max_buffered_bytes_per_partition.max(1),
        );
        let low = (high.0 / 2, high.1 / 2);
        tracing::info!(topic = %pipeline.source_topic(), group = %pipeline.group, "consumer started");
        let setup = match (
            self.config.create_dead_letter_topic,
            &self.deferred_topics[..],
        ) {
            (Some(replication), [_, ..]) => Some(tokio::spawn(create_when_answered(
                self.config.clone(),
                pipeline.consumer.clone(),
                pipeline.source_topic().to_owned(),
                self.deferred_topics.clone(),
                replication,
            ))),
            _ => None,
        };
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                Ok(()) = paused.changed() => {
                    let pause = *paused.borrow_and_update();
                    set_paused(consumer, &pipeline.topics, &workers, pause);
                }
                _ = tick.tick() => {
                    if !*paused.borrow() {
                        resume_drained(consumer, &pipeline.topics, &mut workers, low);
                    }
                    self.rejoin_if_unassigned();
                }
                received = consumer.recv() => match received {
                    Ok(m) => {
                        let m = m.detach();
                        self.dispatch(m, &mut workers, &handler, high);
                    }
                    Err(e) => tracing::warn!(topic = %pipeline.source_topic(), group = %pipeline.group, "consume error: {e}"),
                },
            }
        }
        if let Some(task) = setup {
            task.abort();
        }
        self.shutdown(workers).await
    }

    fn rejoin_if_unassigned(&self) {
        let Some(after) = self.config.rejoin_when_unassigned else {
            return;
        };
        let callbacks = self.pipeline.consumer.context();
        let Some(idle) = callbacks.unassigned_for().filter(|idle| *idle >= after) else {
            return;
        };
        let topic = self.pipeline.source_topic();
        tracing::warn!(%topic, group = %self.pipeline.group, "no partition assigned for {idle:?}; leaving and rejoining the group");
        // Restart the clock: a rejoin takes a rebalance to show its result.
        *callbacks
            .unassigned_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.pipeline.consumer.unsubscribe();
        // The retry topics too: they are part of this consumer's subscription.
        let subscription: Vec<&str> = self.pipeline.topics.iter().map(String::as_str).collect();
        if let Err(e) = self.pipeline.consumer.subscribe(&subscription) {
            tracing::warn!(%topic, "resubscribing: {e}");
        }
    }

    fn dispatch<H>(
        &self,
        m: OwnedMessage,
        workers: &mut HashMap<PartitionKey, Worker>,
        handler: &Arc<H>,
        high: (usize, usize),
    ) where
        H: Handle<T::Message> + 'static,
    {
        let pipeline = &self.pipeline;
        let partition = m.partition();
        let Some(level) = level_of(&pipeline.topics, m.topic()) else {
            tracing::warn!(topic = m.topic(), "a record of a topic not subscribed to");
            return;
        };
        let topic = &pipeline.topics[level];
        let key = (level, partition);
        let stale = workers
            .get(&key)
            .is_none_or(|w| w.state.revoked.load(Ordering::SeqCst) || w.tx.is_closed());
        if stale {
            // A partition newly (re)assigned: a new task, which waits for the previous one to
            // finish its record so that one partition never runs two handlers at once.
            let previous = workers.remove(&key).map(|w| w.task);
            let state = Arc::new(PartitionState::default());
            self.pipeline
                .consumer
                .context()
                .partitions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, state.clone());
            let (tx, rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(partition_task(
                self.pipeline.clone(),
                handler.clone(),
                state.clone(),
                level,
                rx,
                previous,
            ));
            let consumed = pipeline.metrics.counter(
                metrics::CONSUMED_MESSAGES,
                vec![
                    ("messaging_system", "kafka".into()),
                    ("messaging_destination_name", topic.clone()),
                    ("messaging_consumer_group_name", pipeline.group.clone()),
                    ("messaging_destination_partition_id", partition.to_string()),
                ],
            );
            workers.insert(
                key,
                Worker {
                    state,
                    tx,
                    task,
                    consumed,
                    backpressured: false,
                },
            );
        }
        let worker = workers.get_mut(&key).expect("inserted above");
        worker.consumed.inc();
        let size = record_size(&m);
        let buffered = worker.state.buffered.fetch_add(1, Ordering::SeqCst) + 1;
        let bytes = worker
            .state
            .buffered_bytes
            .fetch_add(size, Ordering::SeqCst)
            + size;
        if worker.tx.send(m).is_err() {
            worker.state.buffered.fetch_sub(1, Ordering::SeqCst);
            worker
                .state
                .buffered_bytes
                .fetch_sub(size, Ordering::SeqCst);
        }
        if (buffered >= high.0 || bytes >= high.1) && !worker.backpressured {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, partition);
            match pipeline.consumer.pause(&tpl) {
                Ok(()) => worker.backpressured = true,
                Err(e) => {
                    tracing::warn!(topic = %topic, partition, "pausing a busy partition: {e}")
                }
            }
        }
    }

    async fn shutdown(self, workers: HashMap<PartitionKey, Worker>) -> Result<()> {
        let pipeline = self.pipeline;
        tracing::info!(topic = %pipeline.source_topic(), group = %pipeline.group, "consumer shutting down");
        let tasks: Vec<_> = workers
            .into_values()
            .map(|w| {
                drop(w.tx);
                w.task
            })
            .collect();
        let finished = tokio::time::timeout(self.config.shutdown_timeout, async {
            for task in tasks {
                let _ = task.await;
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                topic = %pipeline.source_topic(),
                "handlers still running after {:?}; their records will be delivered again",
                self.config.shutdown_timeout
            );
        }
        let consumer = pipeline.consumer.clone();
        drop(pipeline);
        tokio::task::spawn_blocking(move || {
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => tracing::warn!("final offset commit failed: {e}"),
            }
            consumer.unsubscribe();
            // Dropping the last handle closes the consumer, which leaves the group.
            drop(consumer);
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
        tracing::info!(topic = T::NAME, "consumer stopped");
        Ok(())
    }
}

pub(super) fn set_paused(
    consumer: &StreamConsumer<Callbacks>,
    topics: &[String],
    workers: &HashMap<PartitionKey, Worker>,
    pause: bool,
) {
    let assignment = match consumer.assignment() {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("reading the assignment to pause or resume: {e}");
            return;
        }
    };
    let result = if pause {
        consumer.pause(&assignment)
    } else {
        // Partitions paused for backpressure stay paused until their task catches up.
        let mut tpl = TopicPartitionList::new();
        for e in assignment.elements() {
            let backpressured = level_of(topics, e.topic())
                .and_then(|level| workers.get(&(level, e.partition())))
                .is_some_and(|w| w.backpressured || w.state.stopped.load(Ordering::SeqCst));
            if !backpressured {
                tpl.add_partition(e.topic(), e.partition());
            }
        }
        consumer.resume(&tpl)
    };
    match result {
        Ok(()) => tracing::info!(paused = pause, "consumer pause state changed"),
        Err(e) => tracing::warn!("pause/resume failed: {e}"),
    }
}

/// What a buffered record counts against `max_buffered_bytes_per_partition`.
pub(super) fn resume_drained(
    consumer: &StreamConsumer<Callbacks>,
    topics: &[String],
    workers: &mut HashMap<PartitionKey, Worker>,
    low: (usize, usize),
) {
    for ((level, partition), w) in workers.iter_mut() {
        if w.backpressured
            && !w.state.stopped.load(Ordering::SeqCst)
            && w.state.buffered.load(Ordering::SeqCst) <= low.0
            && w.state.buffered_bytes.load(Ordering::SeqCst) <= low.1
        {
            let topic = &topics[*level];
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, *partition);
            match consumer.resume(&tpl) {
                Ok(()) => w.backpressured = false,
                Err(e) => {
                    tracing::warn!(topic = %topic, partition, "resuming a drained partition: {e}")
                }
            }
        }
    }
}
