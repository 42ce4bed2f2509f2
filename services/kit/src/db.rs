//! A service's store: a SQLite file (the embedded default: one node, nothing to install) or a
//! PostgreSQL database (shared by any number of replicas), behind one sqlx `Any` pool.
//!
//! Every service writes its SQL once, with `$1`-style parameters and types both databases
//! share (`BIGINT`, `TEXT`, `BYTEA`); only its migrations may differ per database, and
//! [`Backend::for_update`] adds row locks where PostgreSQL needs them. Migrations are
//! versioned and recorded in `_sqlx_migrations`; on PostgreSQL, replicas starting together
//! take turns (sqlx holds an advisory lock while migrating).
//!
//! SQLite gets one connection: it allows one writer at a time anyway, and one connection
//! cannot deadlock upgrading a read to a write. WAL mode with `synchronous=NORMAL`: a commit
//! survives a process crash (kill -9); only an OS crash may lose the last commits, which the
//! broker's redelivery and the outbox then repeat.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use contracts_core::secret::{self, Secret};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration as SqlxMigration, MigrationType, Migrator};
use sqlx::{AnyPool, ConnectOptions as _, Executor as _};

use crate::{Error, Result};

/// A transaction on a service's store.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// ` FOR UPDATE` on PostgreSQL, where concurrent replicas must lock the rows they read
    /// before changing them; nothing on SQLite, whose single writer holds the whole database.
    pub fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// One versioned schema change, in each database's dialect. Versions below 100 belong to the
/// service kit (the outbox); a service numbers its own from 100.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Migration {
    /// The same statements on both databases.
    pub const fn both(version: i64, description: &'static str, sql: &'static str) -> Migration {
        Migration {
            version,
            description,
            sqlite: sql,
            postgres: sql,
        }
    }
}

/// Where a store lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// A SQLite file, created (with its directory) when missing.
    File(PathBuf),
    /// A private in-memory SQLite database, for tests.
    Memory,
    /// A database URL: `postgres://user:password@host:5432/db` (or `sqlite://path`).
    Url(Secret),
}

impl Location {
    /// How logs and errors name it: the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::File(path) => path.display().to_string(),
            Location::Memory => "an in-memory SQLite database".to_owned(),
            Location::Url(url) => secret::redact_url(url.expose()),
        }
    }
}

/// The flags every service shares for its store, beside its own `--db` file.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// A PostgreSQL database instead of the SQLite file, so that several replicas of the
    /// service share one state: `postgres://user@host:5432/db` (`?sslmode=require` for TLS).
    /// Give the password in the URL only through DATABASE_URL or the file DATABASE_URL_FILE
    /// names (a mounted secret), never as a flag value.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The connection pool's size on PostgreSQL (SQLite always uses one connection).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
    /// Sent outbox rows and processed event ids are deleted once older than this many hours;
    /// keep it longer than the longest time a record can be redelivered (consumer lag, a
    /// replay from a dead-letter topic), or a redelivered event is handled again.
    #[arg(long, env = "RETENTION_HOURS", default_value_t = 7 * 24)]
    pub retention_hours: u64,
}

impl DatabaseArgs {
    /// The PostgreSQL URL from `--database-url` / DATABASE_URL / DATABASE_URL_FILE, else the
    /// SQLite file `db`.
    pub fn location(&self, db: &Path) -> Result<Location> {
        let file = std::env::var_os("DATABASE_URL_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let url = secret::resolve(
            self.database_url.as_deref(),
            file.as_deref(),
            "DATABASE_URL",
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        Ok(match url {
            Some(url) => {
                secret::register_url_password(url.expose());
                Location::Url(url)
            }
            None => Location::File(db.to_owned()),
        })
    }

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_hours.saturating_mul(3600))
    }
}

/// A shared handle on a service's store.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    location: Arc<Location>,
}

/// So that a bare `Db` is a store the runner can start with.
impl AsRef<Db> for Db {
    fn as_ref(&self) -> &Db {
        self
    }
}

/// The kit's own migrations: the transactional outbox every store has.
pub const KIT_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "outbox",
        sqlite: "
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
",
        postgres: "
CREATE TABLE IF NOT EXISTS outbox (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event         TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    event_key     BYTEA   NOT NULL,
    payload       BYTEA   NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    sent_at_ms    BIGINT,
    failed_at_ms  BIGINT,
    attempts      BIGINT  NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(id) WHERE sent_at_ms IS NULL AND failed_at_ms IS NULL;
CREATE INDEX IF NOT EXISTS outbox_set_aside ON outbox(event_key) WHERE failed_at_ms IS NOT NULL;
",
    },
    Migration::both(
        2,
        "outbox pruning",
        "CREATE INDEX IF NOT EXISTS outbox_sent ON outbox(sent_at_ms) WHERE sent_at_ms IS NOT NULL;",
    ),
    // The trace the row was written in (the propagator's fields, one `name=value` a line), so
    // the relay's publish continues it instead of starting a trace of its own.
    Migration::both(
        3,
        "outbox trace context",
        "ALTER TABLE outbox ADD COLUMN trace_context TEXT;",
    ),
];

impl Db {
    /// Opens (creating it when missing) the store at `location` and brings its schema up to
    /// date: the kit's migrations and then `migrations`.
    pub async fn connect(
        location: &Location,
        max_connections: u32,
        migrations: &[Migration],
    ) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let open_error = |source: sqlx::Error| Error::Open {
            location: location.describe(),
            source,
        };
        let (options, backend) = match location {
            Location::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| Error::Open {
                        location: location.describe(),
                        source: sqlx::Error::Io(e),
                    })?;
                }
                let url = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .to_url_lossy();
                (
                    AnyConnectOptions::from_url(&url).map_err(open_error)?,
                    Backend::Sqlite,
                )
            }
            Location::Memory => (
                "sqlite::memory:"
                    .parse::<AnyConnectOptions>()
                    .map_err(open_error)?,
                Backend::Sqlite,
            ),
            Location::Url(url) => {
                let parsed = url::Url::parse(url.expose()).map_err(|e| {
                    Error::Config(format!(
                        "DATABASE_URL {}: not a URL ({e})",
                        location.describe()
                    ))
                })?;
                let backend = match parsed.scheme() {
                    "postgres" | "postgresql" => Backend::Postgres,
                    "sqlite" => Backend::Sqlite,
                    other => {
                        return Err(Error::Config(format!(
                            "DATABASE_URL {}: unsupported scheme `{other}`; use postgres:// (or sqlite://)",
                            location.describe()
                        )));
                    }
                };
                (
                    AnyConnectOptions::from_url(&parsed).map_err(open_error)?,
                    backend,
                )
            }
        };
        let options = options.disable_statement_logging();
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    // An in-memory database lives as long as its one connection.
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
            }
        }
        .map_err(open_error)?;
        let db = Db {
            pool,
            backend,
            location: Arc::new(location.clone()),
        };
        db.migrate(migrations).await?;
        Ok(db)
    }

    /// A SQLite file (created when missing).
    pub async fn open(path: &Path, migrations: &[Migration]) -> Result<Db> {
        Self::connect(&Location::File(path.to_owned()), 1, migrations).await
    }

    /// A private in-memory SQLite database, for tests.
    pub async fn open_in_memory(migrations: &[Migration]) -> Result<Db> {
        Self::connect(&Location::Memory, 1, migrations).await
    }

    async fn migrate(&self, migrations: &[Migration]) -> Result<()> {
        let mut all: Vec<SqlxMigration> = KIT_MIGRATIONS
            .iter()
            .chain(migrations)
            .map(|m| {
                let sql = match self.backend {
                    Backend::Sqlite => m.sqlite,
                    Backend::Postgres => m.postgres,
                };
                SqlxMigration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    MigrationType::Simple,
                    sqlx::SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        all.sort();
        Migrator::with_migrations(all)
            .run(&self.pool)
            .await
            .map_err(|source| Error::Migrate {
                location: self.location.describe(),
                source,
            })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Starts a transaction; it commits on `commit()` and rolls back when dropped.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    /// `SELECT 1`: whether the store answers, for `/health`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Rows in `table` (a name the service chose, never user input), for `/metrics`.
    pub async fn count(&self, table: &'static str) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }
}

/// Runs `delete` (a `DELETE` of at most a few thousand rows, with the cutoff as `$1`) until it
/// deletes nothing; returns how many rows it deleted. Chunks keep each transaction, and the
/// locks it holds, small.
pub async fn delete_in_chunks(db: &Db, delete: &'static str, cutoff_ms: i64) -> Result<u64> {
    let mut total = 0;
    loop {
        let n = sqlx::query(delete)
            .bind(cutoff_ms)
            .execute(db.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(total);
        }
        total += n;
        tokio::task::yield_now().await;
    }
}

/// The right to do work only one replica may do at a time (publish the outbox, deliver
/// mails): on PostgreSQL a session advisory lock, which PostgreSQL releases when the session
/// ends (the process died, the connection broke), so another replica takes over; on SQLite,
/// with one process per file, always granted.
#[derive(Debug)]
pub struct Lease {
    /// The session holding the lock (PostgreSQL only).
    session: Option<sqlx::AnyConnection>,
}

impl Db {
    /// Takes the lease named `key` unless another replica holds it.
    pub async fn try_lease(&self, key: i64) -> Result<Option<Lease>> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(Lease { session: None }));
        }
        let mut conn = self.pool.acquire().await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        // The lease lives as long as its session, so the holder keeps that connection out of
        // the pool; a standby's failed try holds nothing and gives its connection back (a new
        // connection per try cost PostgreSQL a backend process each time).
        Ok(taken.then(|| Lease {
            session: Some(conn.detach()),
        }))
    }
}

impl Lease {
    /// Whether the lease still holds: its session answers. Call it before each round of work.
    pub async fn check(&mut self) -> Result<()> {
        if let Some(session) = &mut self.session {
            sqlx::query("SELECT 1").execute(session).await?;
        }
        Ok(())
    }
}
