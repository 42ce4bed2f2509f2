//! The transactional outbox.
//!
//! A service that changes its state and must tell the world writes the event into the `outbox`
//! table (which every store has: [`Db::connect`] creates it) in the same transaction as the
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

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder as _;
use contracts_core::{DecodeError, Event, EventKey, Publish};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use sqlx::{AnyConnection, Row as _};
use tokio::sync::Notify;
use tracing::Instrument as _;

use crate::db::{Backend, Db, Lease, Location};
use crate::shutdown::Shutdown;
use crate::{Result, now_ms};

/// The PostgreSQL channel an enqueue notifies at commit, so the relay of whichever replica
/// holds the outbox wakes at once.
const CHANNEL: &str = "shop_outbox";

/// Writes `event` into the outbox as part of the transaction `tx`; returns the row id. The row
/// keeps the current trace context (span `outbox insert`), which the relay's publish continues.
pub async fn enqueue<E: Event>(tx: &mut AnyConnection, event: &E) -> sqlx::Result<i64> {
    let span = tracing::info_span!(
        "outbox insert",
        otel.name = %format_args!("outbox insert {}", E::SCHEMA.name),
        event_type = E::SCHEMA.name,
        outbox_id = tracing::field::Empty,
    );
    async move {
        let mut key = Vec::new();
        event.key().write_key(&mut key);
        let mut payload = Vec::new();
        event.encode(&mut payload);
        let trace = encode_trace(&contracts_runtime::headers::current_trace_fields());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (event, version, event_key, payload, created_at_ms, trace_context)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(E::SCHEMA.name)
        .bind(i64::from(E::SCHEMA.version))
        .bind(key)
        .bind(payload)
        .bind(now_ms())
        .bind(trace)
        .fetch_one(&mut *tx)
        .await?;
        tracing::Span::current().record("outbox_id", id);
        if tx.backend_name() == "PostgreSQL" {
            sqlx::query("SELECT pg_notify('shop_outbox', '')")
                .execute(&mut *tx)
                .await?;
        }
        Ok(id)
    }
    .instrument(span)
    .await
}

/// A propagator's fields as stored in a `trace_context` column: `name=value` lines (names hold
/// no `=`, values no line break); `None` when there is no trace.
pub fn encode_trace(fields: &[(String, String)]) -> Option<String> {
    (!fields.is_empty()).then(|| {
        fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// The fields [`encode_trace`] stored.
pub fn decode_trace(text: Option<&str>) -> Vec<(String, String)> {
    text.unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A span continuing the trace stored with a row (`trace_context`), or a new trace without one.
pub fn continued_span(span: tracing::Span, trace_context: Option<&str>) -> tracing::Span {
    use contracts_runtime::headers::{context_from_fields, continue_trace};
    continue_trace(&span, context_from_fields(&decode_trace(trace_context)));
    span
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
    /// The trace the row was written in ([`encode_trace`]), continued when it is published.
    pub trace_context: Option<String>,
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

fn row(r: &sqlx::any::AnyRow) -> sqlx::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.try_get(0)?,
        event: r.try_get(1)?,
        version: u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(u32::MAX),
        key: r.try_get(3)?,
        payload: r.try_get(4)?,
        sent: r.try_get::<Option<i64>, _>(5)?.is_some(),
        trace_context: r.try_get("trace_context")?,
    })
}

/// Rows not yet sent (nor given up on), oldest first.
pub async fn pending(db: &Db, limit: usize) -> Result<Vec<OutboxRow>> {
    Ok(pending_with_holds(db, limit)
        .await?
        .into_iter()
        .map(|(row, _)| row)
        .collect())
}

/// Pending rows, oldest first, each with the earliest set-aside row of the same key, if any.
async fn pending_with_holds(db: &Db, limit: usize) -> Result<Vec<(OutboxRow, Option<i64>)>> {
    let rows = sqlx::query(
        // The set-aside keys are aggregated once per batch, not looked up per row: a planner
        // without statistics (a fresh PostgreSQL table) scans the table per row otherwise.
        "SELECT o.id, o.event, o.version, o.event_key, o.payload, o.sent_at_ms, h.first_aside,
                o.trace_context
           FROM outbox o
           LEFT JOIN (SELECT event_key, MIN(id) AS first_aside FROM outbox
                       WHERE failed_at_ms IS NOT NULL GROUP BY event_key) h
             ON h.event_key = o.event_key AND h.first_aside < o.id
          WHERE o.sent_at_ms IS NULL AND o.failed_at_ms IS NULL
          ORDER BY o.id LIMIT $1",
    )
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    let rows = rows
        .iter()
        .map(|r| Ok((row(r)?, r.try_get::<Option<i64>, _>(6)?)))
        .collect::<sqlx::Result<_>>()?;
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
pub async fn set_aside(db: &Db, limit: usize) -> Result<(Vec<SetAside>, bool)> {
    let rows = sqlx::query(
        "SELECT id, event, version, event_key, payload, sent_at_ms,
                attempts, last_error, created_at_ms, failed_at_ms, trace_context FROM outbox
          WHERE failed_at_ms IS NOT NULL ORDER BY id LIMIT $1",
    )
    .bind(limit as i64 + 1)
    .fetch_all(db.pool())
    .await?;
    let mut rows: Vec<SetAside> = rows
        .iter()
        .map(|r| {
            Ok(SetAside {
                row: row(r)?,
                attempts: u32::try_from(r.try_get::<i64, _>(6)?).unwrap_or(u32::MAX),
                reason: r.try_get::<Option<String>, _>(7)?.unwrap_or_default(),
                created_at_ms: r.try_get(8)?,
                set_aside_at_ms: r.try_get(9)?,
            })
        })
        .collect::<sqlx::Result<_>>()?;
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    Ok((rows, truncated))
}

/// How many rows are set aside.
pub async fn set_aside_count(db: &Db) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE failed_at_ms IS NOT NULL")
        .fetch_one(db.pool())
        .await?;
    Ok(n as u64)
}

/// Every row, oldest first (tests, admin).
pub async fn all(db: &Db) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, event, version, event_key, payload, sent_at_ms, trace_context
           FROM outbox ORDER BY id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(row).collect::<sqlx::Result<_>>()?)
}

/// Sets the `shop_outbox_pending` and `shop_outbox_set_aside` gauges for a `/metrics` scrape;
/// a failed count leaves a gauge as it was.
pub async fn report_pending(db: &Db, counters: &crate::ops::Counters) {
    if let Ok(n) = pending_count(db).await {
        counters.set(
            "shop_outbox_pending",
            "Outbox rows waiting to be published.",
            &[],
            n as f64,
        );
    }
    if let Ok(n) = set_aside_count(db).await {
        counters.set(
            "shop_outbox_set_aside",
            "Outbox rows set aside because they can never be published (see the admin API's ListSetAsideOutboxRows).",
            &[],
            n as f64,
        );
    }
}

/// How many rows wait to be sent.
pub async fn pending_count(db: &Db) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE sent_at_ms IS NULL AND failed_at_ms IS NULL",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(n as u64)
}

/// The last error recorded for a row, if any.
pub async fn last_error(db: &Db, id: i64) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT last_error FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?
            .flatten(),
    )
}

/// Deletes sent rows older than `before_ms`, in chunks so no transaction grows large; returns
/// how many were deleted. Set-aside and pending rows are kept whatever their age.
pub async fn prune(db: &Db, before_ms: i64) -> Result<u64> {
    crate::db::delete_in_chunks(
        db,
        "DELETE FROM outbox WHERE id IN
           (SELECT id FROM outbox WHERE sent_at_ms IS NOT NULL AND sent_at_ms < $1 LIMIT 5000)",
        before_ms,
    )
    .await
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

/// Publishes outbox rows, oldest first, with many sends in flight.
///
/// Rows are read in batches. Within a batch up to `max_in_flight` sends (holding at most
/// `max_in_flight_bytes` of payload) wait for the broker at once; rows of one key go one after
/// the other, so a key's events reach its partition in the order they were written, and a
/// failed row never has a later row of its key already sent. The rows a batch sent are marked
/// in one transaction. A transient failure stops new sends: the failed row and every row not
/// yet sent wait for the next pass, in order.
///
/// On PostgreSQL, where several replicas share the outbox, one relay at a time holds it (a
/// session advisory lock, released by PostgreSQL when its process dies); the others stand by
/// and take over. Committed rows wake the holder through `NOTIFY`.
#[derive(Debug, Clone)]
pub struct Relay {
    db: Db,
    wake: Arc<Notify>,
    /// The first pause after a transient failure; each further one doubles, up to
    /// `max_retry_after`. Also how often an idle relay looks for rows nobody woke it for.
    pub retry_after: Duration,
    pub max_retry_after: Duration,
    /// Rows read from the store at a time.
    pub batch: usize,
    /// Sends waiting for the broker at once, at most.
    pub max_in_flight: usize,
    /// Payload bytes waiting for the broker at once, at most (one row may exceed it alone).
    pub max_in_flight_bytes: usize,
    /// How long a publish in flight may still take once shutdown is requested.
    pub shutdown_grace: Duration,
}

/// What one pass of the relay ended with.
struct Pass {
    sent: usize,
    /// Stopped at a row that failed transiently: later rows wait for it.
    blocked: bool,
}

/// What sending one batch did, to be recorded in one transaction.
#[derive(Default)]
struct Batch {
    sent: Vec<i64>,
    /// (row, reason, whether it was tried).
    aside: Vec<(i64, String, bool)>,
    /// The row that failed transiently, and why.
    retry: Option<(i64, String)>,
}

/// The outbox's lease key (an arbitrary constant: one outbox per database).
const LEASE: i64 = 0x5348_4f50_4f42_5831;

impl Relay {
    pub fn new(db: Db) -> Relay {
        Relay {
            db,
            wake: Arc::new(Notify::new()),
            retry_after: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
            batch: 2048,
            max_in_flight: 1024,
            max_in_flight_bytes: 16 << 20,
            shutdown_grace: Duration::from_secs(5),
        }
    }

    /// A handle that wakes the relay at once (call it after committing an outbox row).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Publishes pending rows until none is left or one fails transiently (later rows wait,
    /// so one order's events never overtake each other). A row that fails permanently is set
    /// aside, and so is every later row of its key; the others go on. Returns how many rows
    /// were sent.
    pub async fn run_once<S: Sink>(&self, sink: &S) -> Result<usize> {
        Ok(self.pass(sink).await?.sent)
    }

    async fn pass<S: Sink>(&self, sink: &S) -> Result<Pass> {
        let mut sent = 0;
        loop {
            let rows = pending_with_holds(&self.db, self.batch).await?;
            if rows.is_empty() {
                return Ok(Pass {
                    sent,
                    blocked: false,
                });
            }
            let batch = self.send(sink, &rows).await;
            self.record(&batch).await?;
            sent += batch.sent.len();
            if batch.retry.is_some() {
                return Ok(Pass {
                    sent,
                    blocked: true,
                });
            }
        }
    }

    async fn send<S: Sink>(&self, sink: &S, rows: &[(OutboxRow, Option<i64>)]) -> Batch {
        let mut batch = Batch::default();
        // Keys set aside (by this batch or before it), with the first row set aside.
        let mut aside: HashMap<&[u8], i64> = HashMap::new();
        let mut busy: HashSet<&[u8]> = HashSet::new();
        let mut waiting: HashMap<&[u8], VecDeque<usize>> = HashMap::new();
        let mut in_flight = FuturesUnordered::new();
        let launch = |i: usize| {
            let row = &rows[i].0;
            let span = continued_span(
                tracing::info_span!(
                    "relay publish",
                    otel.name = %format_args!("outbox relay {}", row.event),
                    outbox_id = row.id,
                    event_type = %row.event,
                ),
                row.trace_context.as_deref(),
            );
            async move { (i, sink.publish(row).await) }.instrument(span)
        };
        let mut bytes = 0usize;
        let mut next = 0;
        let hold = |batch: &mut Batch, row: &OutboxRow, first: i64| {
            let reason = format!(
                "held behind outbox row {first} with the same key, which was set aside: \
                 sending this one first would put the key's events out of order"
            );
            tracing::error!(outbox_id = row.id, event_type = %row.event, held_by = first, "outbox row set aside behind an earlier row of its key");
            batch.aside.push((row.id, reason, false));
        };
        loop {
            while batch.retry.is_none()
                && next < rows.len()
                && in_flight.len() < self.max_in_flight
                && (bytes < self.max_in_flight_bytes || in_flight.is_empty())
            {
                let i = next;
                next += 1;
                let (row, held_by) = &rows[i];
                let key = row.key.as_slice();
                if let Some(first) = held_by.or_else(|| aside.get(key).copied()) {
                    hold(&mut batch, row, first);
                    aside.entry(key).or_insert(first);
                } else if busy.contains(key) {
                    waiting.entry(key).or_default().push_back(i);
                } else {
                    busy.insert(key);
                    bytes += row.payload.len();
                    in_flight.push(launch(i));
                }
            }
            let Some((i, result)) = in_flight.next().await else {
                return batch;
            };
            let row = &rows[i].0;
            let key = row.key.as_slice();
            bytes -= row.payload.len();
            busy.remove(key);
            match result {
                Ok(()) => batch.sent.push(row.id),
                Err(failure) if failure.retriable => {
                    tracing::warn!(outbox_id = row.id, event_type = %row.event, error = %failure.message, "publish failed; will retry");
                    batch.retry.get_or_insert((row.id, failure.message));
                }
                Err(failure) => {
                    // A row that can never be sent must not block every later one.
                    tracing::error!(outbox_id = row.id, event_type = %row.event, error = %failure.message, "outbox row cannot be published; set aside (later rows of its key too); the admin API lists it");
                    batch.aside.push((row.id, failure.message, true));
                    aside.entry(key).or_insert(row.id);
                }
            }
            if batch.retry.is_some() {
                continue;
            }
            if let Some(queue) = waiting.get_mut(key) {
                if let Some(&first) = aside.get(key) {
                    for j in queue.drain(..) {
                        hold(&mut batch, &rows[j].0, first);
                    }
                } else if let Some(j) = queue.pop_front() {
                    busy.insert(key);
                    bytes += rows[j].0.payload.len();
                    in_flight.push(launch(j));
                }
            }
        }
    }

    /// Marks what a batch did, in one transaction.
    async fn record(&self, batch: &Batch) -> Result<()> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        for ids in batch.sent.chunks(500) {
            // Row ids are integers this process read from the store: safe to inline.
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let sql = format!(
                "UPDATE outbox SET sent_at_ms = $1, attempts = attempts + 1, last_error = NULL
                  WHERE id IN ({list})"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        for (id, reason, tried) in &batch.aside {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + $3, last_error = $2, failed_at_ms = $4
                  WHERE id = $1",
            )
            .bind(*id)
            .bind(reason.as_str())
            .bind(i64::from(*tried))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if let Some((id, error)) = &batch.retry {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
                .bind(*id)
                .bind(error.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs until `shutdown`: publishes whenever woken, and every `retry_after` regardless.
    /// After a transient failure it waits with exponential backoff (through `backon`) and is
    /// not woken early, so a broker outage is not hammered by every new row. On PostgreSQL it
    /// publishes only while it holds the outbox's lease, and stands by otherwise.
    pub async fn run<S: Sink>(&self, sink: S, shutdown: Shutdown) {
        let mut standing_by = false;
        while !shutdown.is_triggered() {
            match self.db.try_lease(LEASE).await {
                Ok(Some(lease)) => {
                    if self.db.backend() == Backend::Postgres {
                        tracing::info!("outbox relay: this replica publishes the outbox");
                    }
                    standing_by = false;
                    let listener = self.listen().await;
                    self.relay(&sink, &shutdown, lease, listener).await;
                }
                Ok(None) => {
                    if !standing_by {
                        tracing::info!(
                            "outbox relay: another replica publishes the outbox; standing by to take over"
                        );
                        standing_by = true;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "outbox relay: cannot take the outbox's lease")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.retry_after) => {}
                _ = shutdown.wait() => {}
            }
        }
    }

    /// A listener for the rows other replicas commit (PostgreSQL); `None` means polling.
    async fn listen(&self) -> Option<sqlx::postgres::PgListener> {
        let Location::Url(url) = self.db.location() else {
            return None;
        };
        if self.db.backend() != Backend::Postgres {
            return None;
        }
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect(url.expose()).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "outbox relay: LISTEN failed; polling for new rows instead");
                None
            }
        }
    }

    /// Relays while the lease holds.
    async fn relay<S: Sink>(
        &self,
        sink: &S,
        shutdown: &Shutdown,
        mut lease: Lease,
        mut listener: Option<sqlx::postgres::PgListener>,
    ) {
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
            if let Err(error) = lease.check().await {
                tracing::warn!(%error, "outbox relay: lost the outbox's lease with its database session; standing by");
                return;
            }
            // A publish can wait for the broker up to the producer's message timeout (minutes
            // when Kafka is down or a topic is missing); a stopping process gives it a grace
            // period, then leaves its rows unsent for the next start (at least once, never lost).
            let pass = self.pass(sink);
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
                let notified = async {
                    match listener.as_mut() {
                        Some(listener) => {
                            if listener.recv().await.is_ok() {
                                // One pass serves every row committed so far.
                                while listener.next_buffered().is_some() {}
                            }
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = notified => {}
                    _ = tokio::time::sleep(self.retry_after) => {}
                    _ = shutdown.wait() => {}
                }
            }
        }
    }
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
        let (rows, truncated) = set_aside(&self.db, limit)
            .await
            .map_err(contracts_admin::BackendError::internal)?;
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

    async fn add(db: &Db, key: &str, payload: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO outbox (event, version, event_key, payload, created_at_ms)
             VALUES ('shop.Event', 1, $1, $2, 0) RETURNING id",
        )
        .bind(key.as_bytes().to_vec())
        .bind(payload.as_bytes().to_vec())
        .fetch_one(db.pool())
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_row_that_can_never_be_sent_is_set_aside_with_the_later_rows_of_its_key_and_other_keys_go_on()
     {
        let db = Db::open_in_memory(&[]).await.unwrap();
        let a1 = add(&db, "order-a", "too-large").await;
        let b1 = add(&db, "order-b", "ok").await;
        let a2 = add(&db, "order-a", "ok").await;
        let b2 = add(&db, "order-b", "ok").await;
        let relay = Relay::new(db.clone());
        let sink = Script::default();
        assert_eq!(relay.run_once(&sink).await.unwrap(), 2);
        assert_eq!(*sink.sent.lock().unwrap(), [b1, b2]);
        let (aside, truncated) = set_aside(&db, 10).await.unwrap();
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
        assert_eq!(pending_count(&db).await.unwrap(), 0);
        assert_eq!(set_aside_count(&db).await.unwrap(), 2);

        // A row of the same key written later waits behind it too.
        let a3 = add(&db, "order-a", "ok").await;
        assert_eq!(relay.run_once(&sink).await.unwrap(), 0);
        assert_eq!(
            set_aside(&db, 10).await.unwrap().0.last().unwrap().row.id,
            a3
        );

        let (first, truncated) = set_aside(&db, 1).await.unwrap();
        assert_eq!((first.len(), truncated), (1, true));
    }

    /// Answers each send only when the test releases it, recording the order sends started.
    struct Gate {
        started: Mutex<Vec<i64>>,
        release: tokio::sync::Semaphore,
    }

    impl Default for Gate {
        fn default() -> Self {
            Gate {
                started: Mutex::default(),
                release: tokio::sync::Semaphore::new(0),
            }
        }
    }

    impl Sink for Gate {
        async fn publish(&self, row: &OutboxRow) -> Result<(), PublishFailure> {
            self.started.lock().unwrap().push(row.id);
            self.release.acquire().await.unwrap().forget();
            if row.payload == b"broker-down" {
                return Err(PublishFailure::retriable("AllBrokersDown"));
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn sends_of_different_keys_wait_for_the_broker_together_and_a_key_waits_for_its_previous_row()
     {
        let db = Db::open_in_memory(&[]).await.unwrap();
        let a1 = add(&db, "a", "ok").await;
        let a2 = add(&db, "a", "ok").await;
        let b1 = add(&db, "b", "ok").await;
        let c1 = add(&db, "c", "ok").await;
        let relay = Relay::new(db.clone());
        let gate = Arc::new(Gate::default());
        let running = tokio::spawn({
            let gate = gate.clone();
            async move { relay.run_once(&*gate).await.unwrap() }
        });
        while gate.started.lock().unwrap().len() < 3 {
            tokio::task::yield_now().await;
        }
        // a2 waits for a1's answer; b1 and c1 go out beside a1.
        assert_eq!(*gate.started.lock().unwrap(), [a1, b1, c1]);
        gate.release.add_permits(4);
        assert_eq!(running.await.unwrap(), 4);
        assert_eq!(*gate.started.lock().unwrap(), [a1, b1, c1, a2]);
        assert_eq!(pending_count(&db).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_transient_failure_among_sends_in_flight_holds_every_row_not_yet_sent() {
        let db = Db::open_in_memory(&[]).await.unwrap();
        let down = add(&db, "a", "broker-down").await;
        let b1 = add(&db, "b", "ok").await;
        let a2 = add(&db, "a", "ok").await;
        let mut relay = Relay::new(db.clone());
        relay.max_in_flight = 2;
        let c1 = add(&db, "c", "ok").await;
        let gate = Gate::default();
        gate.release.add_permits(10);
        assert_eq!(relay.run_once(&gate).await.unwrap(), 1);
        // b1 was in flight beside the failed row and is marked sent; a2 (behind it) and c1
        // (not yet started) wait, in order.
        assert_eq!(*gate.started.lock().unwrap(), [down, b1]);
        let waiting: Vec<i64> = pending(&db, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(waiting, [down, a2, c1]);
        assert_eq!(
            last_error(&db, down).await.unwrap().as_deref(),
            Some("AllBrokersDown")
        );
    }

    /// A sink whose broker never answers.
    struct Hanging;

    impl Sink for Hanging {
        async fn publish(&self, _row: &OutboxRow) -> Result<(), PublishFailure> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn shutdown_stops_a_relay_whose_publish_hangs_and_keeps_the_row_unsent() {
        let db = Db::open_in_memory(&[]).await.unwrap();
        add(&db, "order-a", "ok").await;
        let mut relay = Relay::new(db.clone());
        relay.shutdown_grace = Duration::from_millis(200);
        let shutdown = Shutdown::new();
        let running = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { relay.run(Hanging, shutdown).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!running.is_finished(), "the relay waits for the broker");
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("the relay stops within its grace period")
            .unwrap();
        assert_eq!(pending_count(&db).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_transient_failure_keeps_the_row_and_every_later_one_waiting_in_order() {
        let db = Db::open_in_memory(&[]).await.unwrap();
        let down = add(&db, "order-a", "broker-down").await;
        add(&db, "order-b", "ok").await;
        let mut relay = Relay::new(db.clone());
        relay.max_in_flight = 1;
        let sink = Script::default();
        assert_eq!(relay.run_once(&sink).await.unwrap(), 0);
        assert!(sink.sent.lock().unwrap().is_empty());
        assert_eq!(pending_count(&db).await.unwrap(), 2);
        assert_eq!(set_aside_count(&db).await.unwrap(), 0);
        assert_eq!(
            last_error(&db, down).await.unwrap().as_deref(),
            Some("AllBrokersDown")
        );
    }

    #[tokio::test]
    async fn pruning_deletes_sent_rows_older_than_the_cutoff_and_keeps_pending_and_set_aside_rows()
    {
        let db = Db::open_in_memory(&[]).await.unwrap();
        let old_sent = add(&db, "a", "ok").await;
        let new_sent = add(&db, "b", "ok").await;
        let aside = add(&db, "c", "too-large").await;
        Relay::new(db.clone())
            .run_once(&Script::default())
            .await
            .unwrap();
        let pending_row = add(&db, "d", "ok").await;
        sqlx::query("UPDATE outbox SET sent_at_ms = 1000, failed_at_ms = CASE WHEN failed_at_ms IS NULL THEN NULL ELSE 1000 END WHERE id IN ($1, $2)")
            .bind(old_sent)
            .bind(aside)
            .execute(db.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE outbox SET sent_at_ms = NULL WHERE id = $1")
            .bind(aside)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(prune(&db, 2000).await.unwrap(), 1);
        let left: Vec<i64> = all(&db).await.unwrap().iter().map(|r| r.id).collect();
        assert_eq!(left, [new_sent, aside, pending_row]);
    }
}
