//! The notification service's SQLite store: who ordered, and every message with its delivery.

use std::path::Path;

use rusqlite::params;
use shop_service_kit::db::Db;
use shop_service_kit::now_ms;

use crate::domain::{Kind, Mail, Notice};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS customers (
    order_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL
);
-- One row per (order, step): the primary key is the dedupe of events, so a redelivered event
-- inserts nothing. Confirmed and rejected share step 1.
CREATE TABLE IF NOT EXISTS messages (
    order_id        TEXT    NOT NULL,
    step            INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    recorded_at_ms  INTEGER NOT NULL,
    delivered_at_ms INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    PRIMARY KEY (order_id, step)
);
CREATE INDEX IF NOT EXISTS messages_undelivered ON messages(recorded_at_ms) WHERE delivered_at_ms IS NULL;
";

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
    pub fn open(path: &Path) -> Result<Self> {
        Ok(NotificationStore {
            db: Db::open(path, SCHEMA)?,
        })
    }

    pub fn open_in_memory() -> Result<Self> {
        Ok(NotificationStore {
            db: Db::open_in_memory(SCHEMA)?,
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Records a notice once; returns whether it was new (false: seen before, nothing changed).
    pub fn record(&self, notice: &Notice) -> Result<bool> {
        self.db.transaction(|tx| {
            if let Some(customer) = &notice.customer {
                tx.execute(
                    "INSERT OR IGNORE INTO customers (order_id, customer) VALUES (?1, ?2)",
                    params![notice.order_id, customer],
                )?;
            }
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO messages (order_id, step, kind, detail, recorded_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    notice.order_id,
                    notice.kind.step(),
                    notice.kind.as_str(),
                    notice.detail,
                    now_ms()
                ],
            )?;
            Ok(inserted == 1)
        })
    }

    /// Messages that may go out now, oldest first: the customer is known and every earlier
    /// step of the order was delivered.
    pub fn deliverable(&self, limit: usize) -> Result<Vec<Mail>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT m.order_id, m.kind, c.customer, m.detail
             FROM messages m JOIN customers c ON c.order_id = m.order_id
             WHERE m.delivered_at_ms IS NULL
               AND (SELECT COUNT(*) FROM messages p
                    WHERE p.order_id = m.order_id AND p.step < m.step
                      AND p.delivered_at_ms IS NOT NULL) = m.step
             ORDER BY m.recorded_at_ms, m.order_id, m.step
             LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                let order_id: String = r.get(0)?;
                let kind: String = r.get(1)?;
                let customer: String = r.get(2)?;
                let detail: String = r.get(3)?;
                Ok((order_id, kind, customer, detail))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(order_id, kind, customer, detail)| {
                Some(Mail::new(
                    &order_id,
                    Kind::parse(&kind)?,
                    &customer,
                    &detail,
                ))
            })
            .collect())
    }

    pub fn mark_delivered(&self, mail: &Mail) -> Result<()> {
        self.db.lock().execute(
            "UPDATE messages SET delivered_at_ms = ?3, attempts = attempts + 1, last_error = NULL
             WHERE order_id = ?1 AND step = ?2",
            params![mail.order_id, mail.kind.step(), now_ms()],
        )?;
        Ok(())
    }

    pub fn mark_failed(&self, mail: &Mail, error: &str) -> Result<()> {
        self.db.lock().execute(
            "UPDATE messages SET attempts = attempts + 1, last_error = ?3
             WHERE order_id = ?1 AND step = ?2",
            params![mail.order_id, mail.kind.step(), error],
        )?;
        Ok(())
    }

    /// Every message of an order, in sequence.
    pub fn for_order(&self, order_id: &str) -> Result<Vec<Record>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT m.order_id, m.kind, m.detail, m.delivered_at_ms, m.attempts, m.last_error,
                    c.customer
             FROM messages m LEFT JOIN customers c ON c.order_id = m.order_id
             WHERE m.order_id = ?1 ORDER BY m.step",
        )?;
        let rows = stmt
            .query_map([order_id], |r| {
                let kind: String = r.get(1)?;
                Ok(Record {
                    order_id: r.get(0)?,
                    kind: Kind::parse(&kind).unwrap_or(Kind::Received),
                    recipient: r.get(6)?,
                    detail: r.get(2)?,
                    delivered_at_ms: r.get(3)?,
                    attempts: r.get(4)?,
                    last_error: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// How many messages wait for delivery (including those waiting for an earlier step).
    pub fn undelivered_count(&self) -> Result<u64> {
        let n: i64 = self.db.lock().query_row(
            "SELECT COUNT(*) FROM messages WHERE delivered_at_ms IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }
}
