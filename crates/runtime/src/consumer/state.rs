//! What a partition's task shares with the dispatcher, the rebalance callback and the retry and
//! dead-letter paths: its state, its key, what became of a record.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use contracts_core::Topic;
use rdkafka::message::{Message as _, OwnedMessage};

use super::Pipeline;

/// One partition's task and what the dispatcher and the rebalance callback share with it.
#[derive(Debug, Default)]
pub(super) struct PartitionState {
    /// Set when the partition was revoked: the task finishes its record and stores nothing more.
    pub(super) revoked: AtomicBool,
    /// Records handed to the task and not yet taken, and their bytes.
    pub(super) buffered: AtomicUsize,
    pub(super) buffered_bytes: AtomicUsize,
    /// Set when a record could not be written on (dead letter, retry topic) for a permanent
    /// reason: the partition is paused, nothing after the record is handled or stored, and it
    /// stays so until the partition is revoked or the process restarts.
    pub(super) stopped: AtomicBool,
}

/// A partition of the source topic (level 0) or of retry topic `level`.
pub(super) type PartitionKey = (usize, i32);

/// What became of a record.
pub(super) enum Outcome {
    Handled,
    DeadLettered,
    /// Written to the next retry topic and acknowledged there.
    Forwarded,
    /// Given up because of shutdown or revocation; not stored, so it is delivered again.
    Abandoned,
    /// Could not be written to the dead-letter or retry topic for a permanent reason (the
    /// message): not stored, and the partition stops behind it.
    Stopped(String),
}

/// Sleeps for `backoff` unless the consumer stops or the partition is revoked first (`false`).
pub(super) async fn pause_before_retry<T: Topic>(
    pipeline: &Pipeline<T>,
    state: &PartitionState,
    backoff: Duration,
) -> bool {
    let mut stop = pipeline.stop.clone();
    tokio::select! {
        _ = stop.wait_for(|s| *s) => false,
        _ = tokio::time::sleep(backoff) => !state.revoked.load(Ordering::SeqCst),
    }
}

pub(super) fn record_size(m: &OwnedMessage) -> usize {
    m.payload().map_or(0, <[u8]>::len) + m.key().map_or(0, <[u8]>::len)
}
