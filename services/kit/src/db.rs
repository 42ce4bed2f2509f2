//! A service's SQLite store: one connection behind a mutex.
//!
//! Why one connection and a lock: every write a service makes is a short transaction on a local
//! file (microseconds in WAL mode), and one writer at a time is what SQLite allows anyway. The
//! lock is never held across an `.await`.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::{Error, Result};

/// The table of the transactional outbox (the `outbox` module reads and writes it), created by
/// [`Db::open`] in every service's store, so any state change can enqueue its events in the same
/// transaction. It lives here so that the store does not depend on the outbox.
pub const OUTBOX_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    event         TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    event_key     BLOB    NOT NULL,
    payload       BLOB    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    sent_at_ms    INTEGER,
    failed_at_ms  INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(id) WHERE sent_at_ms IS NULL AND failed_at_ms IS NULL;
CREATE INDEX IF NOT EXISTS outbox_set_aside ON outbox(event_key) WHERE failed_at_ms IS NOT NULL;
";

/// A shared handle on a service's SQLite database.
#[derive(Debug, Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

/// So that a bare `Db` is a store the runner can start with.
impl AsRef<Db> for Db {
    fn as_ref(&self) -> &Db {
        self
    }
}

impl Db {
    /// Opens (creating it when missing) the database file at `path`, in WAL mode, then runs
    /// `schema` (idempotent `CREATE TABLE IF NOT EXISTS` statements) and the outbox's schema.
    pub fn open(path: &Path, schema: &str) -> Result<Db> {
        let conn = Connection::open(path).map_err(|source| Error::Open {
            path: path.display().to_string(),
            source,
        })?;
        // WAL + NORMAL: a commit survives a process crash (kill -9); only an OS crash may lose
        // the last commits, which the broker's redelivery and the outbox then repeat.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn, schema)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory(schema: &str) -> Result<Db> {
        Self::init(Connection::open_in_memory()?, schema)
    }

    fn init(conn: Connection, schema: &str) -> Result<Db> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(schema)?;
        conn.execute_batch(OUTBOX_SCHEMA)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The connection, for one short piece of synchronous work.
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock left no open transaction behind (rusqlite rolls back
        // on drop), so the connection is still usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in one transaction, committed when `f` returns `Ok`, rolled back otherwise.
    pub fn transaction<T, E>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// `SELECT 1`: whether the store answers, for `/health`.
    pub fn ping(&self) -> Result<()> {
        self.lock().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}
