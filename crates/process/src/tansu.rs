//! Where the Tansu broker binary is.

use std::path::{Path, PathBuf};

use crate::{Error, Result, io};

/// The command that installs the Tansu version the project runs.
pub const TANSU_INSTALL: &str = "cargo install tansu --version 0.6.0 --locked --features libsql";

/// The Tansu broker binary: `$TANSU_BIN`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`.
pub fn tansu_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("TANSU_BIN") {
        return Ok(PathBuf::from(p));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let candidate = Path::new(&home).join(".cargo/bin/tansu");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::TansuMissing)
}

/// The index Tansu 0.6's SQLite schema lacks: its `header` table has none, so each record a fetch
/// returns finds its headers by scanning every header the broker holds, and a broker's CPU per
/// record grows with all the records it has ever stored (benches/README.md measures it).
const HEADER_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS contracts_header_record ON header (topition, offset_id)";

/// Adds the missing index on record headers to the SQLite database of a running Tansu broker
/// (`sqlite://broker.db` → `dir/broker.db`). Call it once the broker listens (it has created its
/// tables by then) and before clients connect; on a database that has the index it changes
/// nothing. Returns whether it created the index.
pub async fn index_record_headers(db: &Path) -> Result<bool> {
    use sqlx::ConnectOptions;
    use sqlx::Connection;
    use sqlx::sqlite::SqliteConnectOptions;

    let what = |e: sqlx::Error| Error::Storage {
        db: db.to_owned(),
        message: e.to_string(),
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .map_err(what)?;
    let present: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'contracts_header_record'",
    )
    .fetch_optional(&mut conn)
    .await
    .map_err(what)?;
    if present.is_none() {
        sqlx::query(HEADER_INDEX)
            .execute(&mut conn)
            .await
            .map_err(what)?;
    }
    conn.close().await.map_err(what)?;
    Ok(present.is_none())
}

/// [`index_record_headers`] for callers outside an async runtime (or inside one that must not
/// block): runs on its own thread with its own small runtime.
pub fn index_record_headers_blocking(db: &Path) -> Result<bool> {
    let db = db.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io("starting a runtime to index the broker's database"))?
            .block_on(index_record_headers(&db))
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
