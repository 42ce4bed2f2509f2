//! The transactional outbox.
//!
//! A service that changes its state and must tell the world writes the event into the `outbox`
//! table (which every store has: [`Db::open`] creates it) in the same SQLite transaction as the
//! change ([`enqueue`]). Either both are stored or neither is, so no order exists without its
//! event. The [`Relay`] then publishes unsent rows in
//! the order they were written and marks each sent only after the broker acknowledged it. A
//! crash between publish and mark sends the row again after restart: consumers see it twice,
//! which is why every consumer of the shop is idempotent per event.
//!
//! Rows hold the event encoded with its own generated codec plus its contract's name and
//! version, so the relay rebuilds the typed event and sends it through the service's generated
//! producer set: the topic, key and subject still come from the contract.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use contracts_core::{DecodeError, Event, EventKey};
use rusqlite::{OptionalExtension, Transaction, params};
use tokio::sync::Notify;

use crate::db::Db;
use crate::shutdown::Shutdown;
use crate::{Result, now_ms};

/// Writes `event` into the outbox as part of `tx`; returns the row id.
pub fn enqueue<E: Event>(tx: &Transaction<'_>, event: &E) -> rusqlite::Result<i64> {
    let mut key = Vec::new();
    event.key().write_key(&mut key);
    let mut payload = Vec::new();
    event.encode(&mut payload);
    tx.execute(
        "INSERT INTO outbox (event, version, event_key, payload, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![E::SCHEMA.name, E::SCHEMA.version, key, payload, now_ms()],
    )?;
    Ok(tx.last_insert_rowid())
}

/// One event waiting in (or sent from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    /// The contract's fully-qualified name (`SchemaInfo::name`).
    pub event: String,
    pub version: u32,
    /// The Kafka key bytes, as the event's key field writes them.
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub sent: bool,
}

impl OutboxRow {
    /// Whether this row holds an `E`.
    pub fn is<E: Event>(&self) -> bool {
        self.event == E::SCHEMA.name && self.version == E::SCHEMA.version
    }

    /// The row's event, if it holds an `E`.
    pub fn decode<E: Event>(&self) -> Option<Result<E, DecodeError>> {
        self.is::<E>().then(|| E::decode(&self.payload))
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        event: r.get(1)?,
        version: r.get(2)?,
        key: r.get(3)?,
        payload: r.get(4)?,
        sent: r.get::<_, Option<i64>>(5)?.is_some(),
    })
}

const COLUMNS: &str = "id, event, version, event_key, payload, sent_at_ms";

/// Rows not yet sent (nor given up on), oldest first.
pub fn pending(db: &Db, limit: usize) -> Result<Vec<OutboxRow>> {
    let conn = db.lock();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE sent_at_ms IS NULL AND failed_at_ms IS NULL
         ORDER BY id LIMIT ?1"
    ))?;
    let rows = stmt
        .query_map([limit as i64], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Every row, oldest first (tests, admin).
pub fn all(db: &Db) -> Result<Vec<OutboxRow>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id"))?;
    let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Sets the `shop_outbox_pending` gauge for a `/metrics` scrape; a failed count leaves it as is.
pub fn report_pending(db: &Db, counters: &crate::ops::Counters) {
    if let Ok(n) = pending_count(db) {
        counters.set(
            "shop_outbox_pending",
            "Outbox rows waiting to be published.",
            &[],
            n as f64,
        );
    }
}

/// How many rows wait to be sent.
pub fn pending_count(db: &Db) -> Result<u64> {
    let n: i64 = db.lock().query_row(
        "SELECT COUNT(*) FROM outbox WHERE sent_at_ms IS NULL AND failed_at_ms IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

fn mark_sent(db: &Db, id: i64) -> Result<()> {
    db.lock().execute(
        "UPDATE outbox SET sent_at_ms = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
        params![id, now_ms()],
    )?;
    Ok(())
}

fn mark_attempt(db: &Db, id: i64, error: &str, give_up: bool) -> Result<()> {
    let failed = give_up.then(now_ms);
    db.lock().execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, failed_at_ms = ?3 WHERE id = ?1",
        params![id, error, failed],
    )?;
    Ok(())
}

/// The last error recorded for a row, if any.
pub fn last_error(db: &Db, id: i64) -> Result<Option<String>> {
    Ok(db
        .lock()
        .query_row("SELECT last_error FROM outbox WHERE id = ?1", [id], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()?
        .flatten())
}

/// Why a row could not be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishFailure {
    /// Worth trying again later (broker unreachable, timeout); otherwise the row is set aside.
    pub retriable: bool,
    pub message: String,
}

impl PublishFailure {
    pub fn retriable(message: impl std::fmt::Display) -> Self {
        PublishFailure {
            retriable: true,
            message: message.to_string(),
        }
    }

    pub fn permanent(message: impl std::fmt::Display) -> Self {
        PublishFailure {
            retriable: false,
            message: message.to_string(),
        }
    }
}

/// Sends one outbox row: a service decodes the row into its typed event and calls its generated
/// producer set.
pub trait Sink: Send + Sync {
    fn publish(&self, row: &OutboxRow) -> impl Future<Output = Result<(), PublishFailure>> + Send;
}

/// Publishes outbox rows, oldest first.
#[derive(Debug, Clone)]
pub struct Relay {
    db: Db,
    wake: Arc<Notify>,
    /// How long to wait before retrying after a failed publish, and between idle polls.
    pub retry_after: Duration,
    pub batch: usize,
}

impl Relay {
    pub fn new(db: Db) -> Relay {
        Relay {
            db,
            wake: Arc::new(Notify::new()),
            retry_after: Duration::from_millis(500),
            batch: 256,
        }
    }

    /// A handle that wakes the relay at once (call it after committing an outbox row).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Publishes pending rows in order until none is left or one fails retriably (later rows
    /// wait, so one order's events never overtake each other). Returns how many were sent.
    pub async fn run_once<S: Sink>(&self, sink: &S) -> Result<usize> {
        let mut sent = 0;
        loop {
            let rows = pending(&self.db, self.batch)?;
            if rows.is_empty() {
                return Ok(sent);
            }
            for row in &rows {
                match sink.publish(row).await {
                    Ok(()) => {
                        mark_sent(&self.db, row.id)?;
                        sent += 1;
                    }
                    Err(failure) if failure.retriable => {
                        tracing::warn!(outbox_id = row.id, event_type = %row.event, error = %failure.message, "publish failed; will retry");
                        mark_attempt(&self.db, row.id, &failure.message, false)?;
                        return Ok(sent);
                    }
                    Err(failure) => {
                        // A row that can never be sent must not block every later one.
                        tracing::error!(outbox_id = row.id, event_type = %row.event, error = %failure.message, "outbox row cannot be published; set aside");
                        mark_attempt(&self.db, row.id, &failure.message, true)?;
                    }
                }
            }
        }
    }

    /// Runs until `shutdown`: publishes whenever woken, and every `retry_after` regardless.
    pub async fn run<S: Sink>(&self, sink: S, shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            if let Err(error) = self.run_once(&sink).await {
                tracing::error!(%error, "outbox relay: store error");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.retry_after) => {}
                _ = shutdown.wait() => {}
            }
        }
    }
}
