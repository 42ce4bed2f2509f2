//! The notification service's store (SQLite or PostgreSQL): who ordered, and every message with its delivery.

use shop_service_kit::db::{Db, Migration};
use shop_service_kit::{now_ms, outbox};
use sqlx::Row as _;

use crate::domain::{Kind, Mail, Notice};

/// The notification store's schema, version by version (the kit's outbox comes first).
pub const MIGRATIONS: &[Migration] = &[
    Migration::both(
        100,
        "customers and messages",
        "
CREATE TABLE IF NOT EXISTS customers (
    order_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL
);
-- One row per (order, step): the primary key is the dedupe of events, so a redelivered event
-- inserts nothing. Confirmed and rejected share step 1.
CREATE TABLE IF NOT EXISTS messages (
    order_id        TEXT    NOT NULL,
    step            BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    recorded_at_ms  BIGINT  NOT NULL,
    delivered_at_ms BIGINT,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT,
    PRIMARY KEY (order_id, step)
);
CREATE INDEX IF NOT EXISTS messages_undelivered ON messages(recorded_at_ms) WHERE delivered_at_ms IS NULL;
",
    ),
    Migration::both(
        101,
        "delivered messages by age, for pruning",
        "CREATE INDEX IF NOT EXISTS messages_delivered ON messages(delivered_at_ms) WHERE delivered_at_ms IS NOT NULL;",
    ),
    // The trace of the event that caused the message, continued by its delivery.
    Migration::both(
        102,
        "message trace context",
        "ALTER TABLE messages ADD COLUMN trace_context TEXT;",
    ),
];

/// Deletes delivered messages past the retention (`$1`: the cutoff), a chunk at a time. A
/// message row is also the record that its event was handled, so the retention must outlast
/// any redelivery of that event.
pub const PRUNE_DELIVERED: &str = "DELETE FROM messages WHERE delivered_at_ms < $1
    AND order_id IN (SELECT order_id FROM messages WHERE delivered_at_ms < $1 LIMIT 5000)";

pub use shop_service_kit::Error;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A recorded message and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub order_id: String,
    pub kind: Kind,
    /// The customer's address, once known.
    pub recipient: Option<String>,
    pub detail: String,
    pub delivered_at_ms: Option<i64>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Messages and their delivery.
#[derive(Debug, Clone)]
pub struct NotificationStore {
    db: Db,
}

/// The runner pings the database for `/health` and relays its outbox.
impl AsRef<Db> for NotificationStore {
    fn as_ref(&self) -> &Db {
        &self.db
    }
}

impl NotificationStore {
    /// The store on `db`, whose schema [`MIGRATIONS`] brought up to date.
    pub fn new(db: Db) -> Self {
        NotificationStore { db }
    }

    /// The SQLite store in the file at `path` (created when missing), for tools and tests that
    /// read a service's file.
    pub async fn open(path: &std::path::Path) -> Result<Self> {
        Ok(NotificationStore::new(Db::open(path, MIGRATIONS).await?))
    }

    /// A private in-memory SQLite store, for tests.
    pub async fn open_in_memory() -> Result<Self> {
        Ok(NotificationStore::new(
            Db::open_in_memory(MIGRATIONS).await?,
        ))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Records a notice once; returns whether it was new (false: seen before, nothing changed).
    pub async fn record(&self, notice: &Notice) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        if let Some(customer) = &notice.customer {
            sqlx::query(
                "INSERT INTO customers (order_id, customer) VALUES ($1, $2)
                 ON CONFLICT (order_id) DO NOTHING",
            )
            .bind(&notice.order_id)
            .bind(customer)
            .execute(&mut *tx)
            .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO messages (order_id, step, kind, detail, recorded_at_ms, trace_context)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, step) DO NOTHING",
        )
        .bind(&notice.order_id)
        .bind(i64::from(notice.kind.step()))
        .bind(notice.kind.as_str())
        .bind(&notice.detail)
        .bind(now_ms())
        .bind(outbox::encode_trace(
            &contracts_runtime::headers::current_trace_fields(),
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    /// Messages that may go out now, oldest first: the customer is known and every earlier
    /// step of the order was delivered.
    pub async fn deliverable(&self, limit: usize) -> Result<Vec<Mail>> {
        Ok(self
            .deliverable_traced(limit)
            .await?
            .into_iter()
            .map(|(mail, _)| mail)
            .collect())
    }

    /// [`Self::deliverable`], each message with the trace of the event that caused it
    /// (`outbox::encode_trace`), which its delivery continues.
    pub async fn deliverable_traced(&self, limit: usize) -> Result<Vec<(Mail, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT m.order_id, m.kind, c.customer, m.detail, m.trace_context
             FROM messages m JOIN customers c ON c.order_id = m.order_id
             WHERE m.delivered_at_ms IS NULL
               AND (SELECT COUNT(*) FROM messages p
                    WHERE p.order_id = m.order_id AND p.step < m.step
                      AND p.delivered_at_ms IS NOT NULL) = m.step
             ORDER BY m.recorded_at_ms, m.order_id, m.step
             LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(self.db.pool())
        .await?;
        let mut mails = Vec::with_capacity(rows.len());
        for r in &rows {
            let order_id: String = r.try_get(0)?;
            let kind: String = r.try_get(1)?;
            let customer: String = r.try_get(2)?;
            let detail: String = r.try_get(3)?;
            let trace: Option<String> = r.try_get(4)?;
            if let Some(kind) = Kind::parse(&kind) {
                mails.push((Mail::new(&order_id, kind, &customer, &detail), trace));
            }
        }
        Ok(mails)
    }

    pub async fn mark_delivered(&self, mail: &Mail) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET delivered_at_ms = $3, attempts = attempts + 1, last_error = NULL
             WHERE order_id = $1 AND step = $2",
        )
        .bind(&mail.order_id)
        .bind(i64::from(mail.kind.step()))
        .bind(now_ms())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub async fn mark_failed(&self, mail: &Mail, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET attempts = attempts + 1, last_error = $3
             WHERE order_id = $1 AND step = $2",
        )
        .bind(&mail.order_id)
        .bind(i64::from(mail.kind.step()))
        .bind(error)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Every message of an order, in sequence.
    pub async fn for_order(&self, order_id: &str) -> Result<Vec<Record>> {
        let rows = sqlx::query(
            "SELECT m.order_id, m.kind, m.detail, m.delivered_at_ms, m.attempts, m.last_error,
                    c.customer
             FROM messages m LEFT JOIN customers c ON c.order_id = m.order_id
             WHERE m.order_id = $1 ORDER BY m.step",
        )
        .bind(order_id)
        .fetch_all(self.db.pool())
        .await?;
        let mut records = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind: String = r.try_get(1)?;
            records.push(Record {
                order_id: r.try_get(0)?,
                kind: Kind::parse(&kind).unwrap_or(Kind::Received),
                recipient: r.try_get(6)?,
                detail: r.try_get(2)?,
                delivered_at_ms: r.try_get(3)?,
                attempts: u32::try_from(r.try_get::<i64, _>(4)?).unwrap_or(u32::MAX),
                last_error: r.try_get(5)?,
            });
        }
        Ok(records)
    }

    /// How many messages wait for delivery (including those waiting for an earlier step).
    pub async fn undelivered_count(&self) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE delivered_at_ms IS NULL")
                .fetch_one(self.db.pool())
                .await?;
        Ok(n as u64)
    }
}
