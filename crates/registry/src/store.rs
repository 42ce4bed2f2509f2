//! Where the registry's records live: a log with offsets, written with optimistic concurrency
//! (see [`crate::record`]). [`MemoryLog`] keeps it in memory (tests, a throwaway registry);
//! [`crate::kafka::KafkaLog`] keeps it in a compacted single-partition topic.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::error::Result;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A record as read from the log.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub offset: i64,
    pub key: Vec<u8>,
    /// `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// What a read returned: the records from the requested offset up to `end`, the log end seen
/// when the read started (records past it may or may not be included).
#[derive(Debug, Clone, Default)]
pub struct LogRead {
    pub records: Vec<LogRecord>,
    pub end: i64,
}

/// An append-only log of keyed records with offsets: the registry's only storage.
pub trait Log: Send + Sync + std::fmt::Debug + 'static {
    /// Every record at offset `from` or later, up to the end of the log as of this call.
    fn read(&self, from: i64) -> BoxFuture<'_, Result<LogRead>>;

    /// Appends one record and returns the offset it landed at. Returns only once the record is
    /// durable (for Kafka: acknowledged by all in-sync replicas).
    fn append(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> BoxFuture<'_, Result<i64>>;

    /// The offset the next record would get (the high watermark).
    fn end(&self) -> BoxFuture<'_, Result<i64>>;
}

/// A log in memory. Several registries sharing one `Arc<MemoryLog>` behave like instances
/// sharing one topic.
#[derive(Debug, Default)]
pub struct MemoryLog {
    records: Mutex<Vec<Entry>>,
    /// Added to every read and append, like a broker's round trip.
    latency: std::time::Duration,
}

/// A key and its value (`None`: tombstone).
type Entry = (Vec<u8>, Option<Vec<u8>>);

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A log whose reads and appends each take `latency` first, as a broker round trip does;
    /// this opens the window in which concurrent writers race.
    pub fn with_latency(latency: std::time::Duration) -> Self {
        MemoryLog {
            latency,
            ..Self::default()
        }
    }

    async fn delay(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panic while pushing cannot leave the vector half-written.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Log for MemoryLog {
    fn read(&self, from: i64) -> BoxFuture<'_, Result<LogRead>> {
        Box::pin(async move {
            self.delay().await;
            Ok(self.read_now(from))
        })
    }

    fn append(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            self.delay().await;
            let mut records = self.lock();
            records.push((key, value));
            Ok(records.len() as i64 - 1)
        })
    }

    fn end(&self) -> BoxFuture<'_, Result<i64>> {
        let end = self.lock().len() as i64;
        Box::pin(std::future::ready(Ok(end)))
    }
}

impl MemoryLog {
    fn read_now(&self, from: i64) -> LogRead {
        let records = self.lock();
        let start = usize::try_from(from.max(0)).unwrap_or(usize::MAX);
        LogRead {
            records: records
                .iter()
                .enumerate()
                .skip(start)
                .map(|(i, (k, v))| LogRecord {
                    offset: i as i64,
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            end: records.len() as i64,
        }
    }
}
