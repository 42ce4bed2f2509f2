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
//! A row that can never be sent (a permanent Kafka error such as a record larger than the
//! producer's or the broker's `message.max.bytes`, a refused topic, denied authorization; or a
//! row this version cannot decode) is **set aside**: `failed_at_ms` and `last_error` say when
//! and why, `shop_outbox_set_aside` counts such rows on `/metrics`, and the admin API lists them
//! (`OutboxAdminService.ListSetAsideOutboxRows`, `contracts admin outbox`). Later rows of other
//! keys go on. Later rows with the **same key** (the same order, the same product) are set aside
//! behind it, with a reason naming the row they wait behind, so a consumer never sees an
//! order's later event (paid, shipped) without the one it could not be sent. A transient error
//! (the broker down, a timeout) keeps the row and every later one waiting, in order, retried
//! with exponential backoff. An operator who fixed the cause can send set-aside rows again by
//! clearing their mark: `UPDATE outbox SET failed_at_ms = NULL WHERE failed_at_ms IS NOT NULL`
//! (oldest first, as always).
//!
//! Rows hold the event encoded with its own generated codec plus its contract's name and
//! version, so the relay rebuilds the typed event and sends it through the service's generated
//! producer set: the topic, key and subject still come from the contract.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder as _;
use contracts_core::{DecodeError, Event, EventKey, Publish};
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
    Ok(pending_with_holds(db, limit)?
        .into_iter()
        .map(|(row, _)| row)
        .collect())
}

/// Pending rows, oldest first, each with the earliest set-aside row of the same key, if any.
fn pending_with_holds(db: &Db, limit: usize) -> Result<Vec<(OutboxRow, Option<i64>)>> {
    let conn = db.lock();
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.event, o.version, o.event_key, o.payload, o.sent_at_ms,
                (SELECT MIN(f.id) FROM outbox f
                  WHERE f.event_key = o.event_key AND f.failed_at_ms IS NOT NULL AND f.id < o.id)
           FROM outbox o WHERE o.sent_at_ms IS NULL AND o.failed_at_ms IS NULL
          ORDER BY o.id LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit as i64], |r| {
            Ok((row(r)?, r.get::<_, Option<i64>>(6)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// A row the relay set aside because it can never be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    pub row: OutboxRow,
    pub attempts: u32,
    /// The error, or the earlier set-aside row of the same key this one waits behind.
    pub reason: String,
    pub created_at_ms: i64,
    pub set_aside_at_ms: i64,
}

/// Up to `limit` set-aside rows, oldest first, and whether there are more.
pub fn set_aside(db: &Db, limit: usize) -> Result<(Vec<SetAside>, bool)> {
    let conn = db.lock();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, attempts, last_error, created_at_ms, failed_at_ms FROM outbox
          WHERE failed_at_ms IS NOT NULL ORDER BY id LIMIT ?1"
    ))?;
    let mut rows: Vec<SetAside> = stmt
        .query_map([limit as i64 + 1], |r| {
            Ok(SetAside {
                row: row(r)?,
                attempts: r.get(6)?,
                reason: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                created_at_ms: r.get(8)?,
                set_aside_at_ms: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, truncated))
}

/// How many rows are set aside.
pub fn set_aside_count(db: &Db) -> Result<u64> {
    let n: i64 = db.lock().query_row(
        "SELECT COUNT(*) FROM outbox WHERE failed_at_ms IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// Every row, oldest first (tests, admin).
pub fn all(db: &Db) -> Result<Vec<OutboxRow>> {
    let conn = db.lock();
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id"))?;
    let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Sets the `shop_outbox_pending` and `shop_outbox_set_aside` gauges for a `/metrics` scrape;
/// a failed count leaves a gauge as it was.
pub fn report_pending(db: &Db, counters: &crate::ops::Counters) {
    if let Ok(n) = pending_count(db) {
        counters.set(
            "shop_outbox_pending",
            "Outbox rows waiting to be published.",
            &[],
            n as f64,
        );
    }
    if let Ok(n) = set_aside_count(db) {
        counters.set(
            "shop_outbox_set_aside",
            "Outbox rows set aside because they can never be published (see the admin API's ListSetAsideOutboxRows).",
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

fn mark_attempt(db: &Db, id: i64, error: &str) -> Result<()> {
    db.lock().execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
        params![id, error],
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

    /// A failed publish through `P`, classified by `P` ([`Classify`]).
    pub fn of<P: Classify, E: Event>(error: P::Error<E>) -> Self {
        PublishFailure {
            retriable: P::is_retriable(&error),
            message: error.to_string(),
        }
    }
}

/// A [`Publish`] whose errors say whether publishing again may succeed, so the relay can tell a
/// row that waits for the broker from one that can never be sent.
pub trait Classify: Publish {
    fn is_retriable<E: Event>(error: &Self::Error<E>) -> bool;
}

/// The runtime's classification: [`contracts_runtime::Retry`] for Kafka errors, the registry
/// client's for schema lookups.
impl Classify for contracts_runtime::Publisher {
    fn is_retriable<E: Event>(error: &contracts_runtime::SendError<E>) -> bool {
        error.is_retriable()
    }
}

/// A recorder that is down stands for a broker that is down: transient.
impl Classify for crate::testing::Recorder {
    fn is_retriable<E: Event>(_: &crate::testing::Down) -> bool {
        true
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
    /// The first pause after a transient failure; each further one doubles, up to
    /// `max_retry_after`. Also how often an idle relay looks for rows nobody woke it for.
    pub retry_after: Duration,
    pub max_retry_after: Duration,
    pub batch: usize,
    /// How long a publish in flight may still take once shutdown is requested.
    pub shutdown_grace: Duration,
}

/// What one pass of the relay ended with.
struct Pass {
    sent: usize,
    /// Stopped at a row that failed transiently: later rows wait for it.
    blocked: bool,
}

impl Relay {
    pub fn new(db: Db) -> Relay {
        Relay {
            db,
            wake: Arc::new(Notify::new()),
            retry_after: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
            batch: 256,
            shutdown_grace: Duration::from_secs(5),
        }
    }

    /// A handle that wakes the relay at once (call it after committing an outbox row).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Publishes pending rows in order until none is left or one fails transiently (later rows
    /// wait, so one order's events never overtake each other). A row that fails permanently is
    /// set aside, and so is every later row of its key; the others go on. Returns how many rows
    /// were sent.
    pub async fn run_once<S: Sink>(&self, sink: &S) -> Result<usize> {
        Ok(self.pass(sink).await?.sent)
    }

    async fn pass<S: Sink>(&self, sink: &S) -> Result<Pass> {
        let mut sent = 0;
        loop {
            let rows = pending_with_holds(&self.db, self.batch)?;
            if rows.is_empty() {
                return Ok(Pass {
                    sent,
                    blocked: false,
                });
            }
            // Keys set aside in this batch, which the query above could not know yet.
            let mut aside: HashMap<&[u8], i64> = HashMap::new();
            for (row, held_by) in &rows {
                if let Some(first) = held_by.or_else(|| aside.get(row.key.as_slice()).copied()) {
                    let reason = format!(
                        "held behind outbox row {first} with the same key, which was set aside: \
                         sending this one first would put the key's events out of order"
                    );
                    tracing::error!(outbox_id = row.id, event_type = %row.event, held_by = first, "outbox row set aside behind an earlier row of its key");
                    set_aside_row(&self.db, row.id, &reason, false)?;
                    aside.entry(&row.key).or_insert(first);
                    continue;
                }
                match sink.publish(row).await {
                    Ok(()) => {
                        mark_sent(&self.db, row.id)?;
                        sent += 1;
                    }
                    Err(failure) if failure.retriable => {
                        tracing::warn!(outbox_id = row.id, event_type = %row.event, error = %failure.message, "publish failed; will retry");
                        mark_attempt(&self.db, row.id, &failure.message)?;
                        return Ok(Pass {
                            sent,
                            blocked: true,
                        });
                    }
                    Err(failure) => {
                        // A row that can never be sent must not block every later one.
                        tracing::error!(outbox_id = row.id, event_type = %row.event, error = %failure.message, "outbox row cannot be published; set aside (later rows of its key too); the admin API lists it");
                        set_aside_row(&self.db, row.id, &failure.message, true)?;
                        aside.entry(&row.key).or_insert(row.id);
                    }
                }
            }
        }
    }

    /// Runs until `shutdown`: publishes whenever woken, and every `retry_after` regardless.
    /// After a transient failure it waits with exponential backoff (through `backon`) and is
    /// not woken early, so a broker outage is not hammered by every new row.
    pub async fn run<S: Sink>(&self, sink: S, shutdown: Shutdown) {
        let backoff = || {
            backon::ExponentialBuilder::default()
                .with_min_delay(self.retry_after)
                .with_max_delay(self.max_retry_after)
                .with_jitter()
                .without_max_times()
                .build()
        };
        let mut delays = backoff();
        while !shutdown.is_triggered() {
            // A publish can wait for the broker up to the producer's message timeout (minutes
            // when Kafka is down or a topic is missing); a stopping process gives it a grace
            // period, then leaves its rows unsent for the next start (at least once, never lost).
            let pass = self.pass(&sink);
            let grace = async {
                shutdown.wait().await;
                tokio::time::sleep(self.shutdown_grace).await;
            };
            let outcome = tokio::select! {
                outcome = pass => outcome,
                _ = grace => {
                    tracing::warn!(
                        grace = ?self.shutdown_grace,
                        "outbox relay: stopping with a publish in flight; its rows stay in the outbox and are sent after the restart"
                    );
                    return;
                }
            };
            let blocked = match outcome {
                Ok(pass) => pass.blocked,
                Err(error) => {
                    tracing::error!(%error, "outbox relay: store error");
                    true
                }
            };
            if blocked {
                let delay = delays.next().unwrap_or(self.max_retry_after);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => {}
                }
            } else {
                delays = backoff();
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.retry_after) => {}
                    _ = shutdown.wait() => {}
                }
            }
        }
    }
}

fn set_aside_row(db: &Db, id: i64, reason: &str, attempted: bool) -> Result<()> {
    db.lock().execute(
        "UPDATE outbox SET attempts = attempts + ?3, last_error = ?2, failed_at_ms = ?4 WHERE id = ?1",
        params![id, reason, i64::from(attempted), now_ms()],
    )?;
    Ok(())
}

/// The admin API's view of a store's outbox.
#[derive(Debug, Clone)]
pub struct OutboxAdmin {
    db: Db,
}

impl OutboxAdmin {
    pub fn new(db: Db) -> Self {
        OutboxAdmin { db }
    }
}

impl contracts_admin::OutboxBackend for OutboxAdmin {
    async fn set_aside(
        &self,
        limit: usize,
    ) -> contracts_admin::BackendResult<contracts_admin::SetAsideOutboxPage> {
        let (rows, truncated) =
            set_aside(&self.db, limit).map_err(contracts_admin::BackendError::internal)?;
        Ok(contracts_admin::SetAsideOutboxPage {
            rows: rows
                .into_iter()
                .map(|r| contracts_admin::SetAsideOutboxRow {
                    id: r.row.id,
                    event: r.row.event,
                    version: r.row.version,
                    key: String::from_utf8_lossy(&r.row.key).into_owned(),
                    attempts: r.attempts,
                    reason: r.reason,
                    created_at: chrono_ms(r.created_at_ms),
                    set_aside_at: chrono_ms(r.set_aside_at_ms),
                })
                .collect(),
            truncated,
        })
    }
}

fn chrono_ms(ms: i64) -> Option<contracts_admin::Timestamp> {
    contracts_admin::Timestamp::from_timestamp_millis(ms)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Publishes every row except those whose payload says how to fail.
    #[derive(Default)]
    struct Script {
        sent: Mutex<Vec<i64>>,
    }

    impl Sink for Script {
        async fn publish(&self, row: &OutboxRow) -> Result<(), PublishFailure> {
            match row.payload.as_slice() {
                b"too-large" => Err(PublishFailure::permanent(
                    "Message production error: MessageSizeTooLarge",
                )),
                b"broker-down" => Err(PublishFailure::retriable("AllBrokersDown")),
                _ => {
                    self.sent.lock().unwrap().push(row.id);
                    Ok(())
                }
            }
        }
    }

    fn add(db: &Db, key: &str, payload: &str) -> i64 {
        let conn = db.lock();
        conn.execute(
            "INSERT INTO outbox (event, version, event_key, payload, created_at_ms)
             VALUES ('shop.Event', 1, ?1, ?2, 0)",
            params![key.as_bytes(), payload.as_bytes()],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    #[tokio::test]
    async fn a_row_that_can_never_be_sent_is_set_aside_with_the_later_rows_of_its_key_and_other_keys_go_on()
     {
        let db = Db::open_in_memory("").unwrap();
        let a1 = add(&db, "order-a", "too-large");
        let b1 = add(&db, "order-b", "ok");
        let a2 = add(&db, "order-a", "ok");
        let b2 = add(&db, "order-b", "ok");
        let relay = Relay::new(db.clone());
        let sink = Script::default();
        assert_eq!(relay.run_once(&sink).await.unwrap(), 2);
        assert_eq!(*sink.sent.lock().unwrap(), [b1, b2]);
        let (aside, truncated) = set_aside(&db, 10).unwrap();
        assert!(!truncated);
        let ids: Vec<i64> = aside.iter().map(|r| r.row.id).collect();
        assert_eq!(ids, [a1, a2]);
        assert!(aside[0].reason.contains("MessageSizeTooLarge"));
        assert_eq!(aside[0].attempts, 1);
        assert!(
            aside[1]
                .reason
                .starts_with(&format!("held behind outbox row {a1} ")),
            "{}",
            aside[1].reason
        );
        assert_eq!(aside[1].attempts, 0, "the held row was never tried");
        assert_eq!(pending_count(&db).unwrap(), 0);
        assert_eq!(set_aside_count(&db).unwrap(), 2);

        // A row of the same key written later waits behind it too.
        let a3 = add(&db, "order-a", "ok");
        assert_eq!(relay.run_once(&sink).await.unwrap(), 0);
        assert_eq!(set_aside(&db, 10).unwrap().0.last().unwrap().row.id, a3);

        let (first, truncated) = set_aside(&db, 1).unwrap();
        assert_eq!((first.len(), truncated), (1, true));
    }

    /// A sink whose broker never answers.
    struct Hanging;

    impl Sink for Hanging {
        async fn publish(&self, _row: &OutboxRow) -> Result<(), PublishFailure> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_a_relay_whose_publish_hangs_and_keeps_the_row_unsent() {
        let db = Db::open_in_memory("").unwrap();
        add(&db, "order-a", "ok");
        let relay = Relay::new(db.clone());
        let shutdown = Shutdown::new();
        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { relay.run(Hanging, shutdown).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!running.is_finished(), "the relay waits for the broker");
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("the relay stops within its grace period")
            .unwrap();
        assert_eq!(pending_count(&db).unwrap(), 1);
    }

    #[tokio::test]
    async fn a_transient_failure_keeps_the_row_and_every_later_one_waiting_in_order() {
        let db = Db::open_in_memory("").unwrap();
        let down = add(&db, "order-a", "broker-down");
        add(&db, "order-b", "ok");
        let relay = Relay::new(db.clone());
        let sink = Script::default();
        assert_eq!(relay.run_once(&sink).await.unwrap(), 0);
        assert!(sink.sent.lock().unwrap().is_empty());
        assert_eq!(pending_count(&db).unwrap(), 2);
        assert_eq!(set_aside_count(&db).unwrap(), 0);
        assert_eq!(
            last_error(&db, down).unwrap().as_deref(),
            Some("AllBrokersDown")
        );
    }

    #[tokio::test]
    async fn a_database_made_before_set_aside_rows_existed_gets_the_index_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                &crate::db::OUTBOX_SCHEMA
                    .replace("CREATE INDEX IF NOT EXISTS outbox_set_aside ON outbox(event_key) WHERE failed_at_ms IS NOT NULL;", ""),
            )
            .unwrap();
        }
        let db = Db::open(&path, "").unwrap();
        let n: i64 = db
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'outbox_set_aside'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}
