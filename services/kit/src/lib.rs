//! What the shop's three services share, so each service's crate holds only its domain:
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate is the
//! services' shared shell: it builds on the runtime, the registry client and the gRPC admin API;
//! the domain stays in each service's crate.
//!
//! - [`admin`]: serving the gRPC admin API (token, TLS); its Kafka backend (lag, dead letters,
//!   pause/resume) is `contracts_admin::kafka`;
//! - [`db`]: a service's store, SQLite or PostgreSQL, with versioned migrations and a pool;
//! - [`outbox`]: the transactional outbox: events written in the same transaction as the
//!   state change that caused them, and a [`outbox::Relay`] that publishes them in order and
//!   marks a row sent only after the broker acknowledged it;
//! - [`health`]: readiness (store, Kafka, registry, outbox relay, stopped partitions) and
//!   liveness, checked in the background and cached for probes;
//! - [`ops`]: the `/health`, `/health/live` and `/metrics` HTTP endpoints and a small counter
//!   registry;
//! - [`runner`]: start-up (store, ports, relay, consumers, admin API, ops endpoints) and graceful
//!   shutdown, in one order for every service;
//! - [`telemetry`]: the `tracing` subscriber (text or JSON lines);
//! - [`shutdown`]: one shutdown signal for every task of a process (SIGTERM, Ctrl-C).
//! - [`testing`]: a recording `Publish` for tests without a broker.

pub mod admin;
pub mod db;
pub mod health;
pub mod kafka;
pub mod ops;
pub mod outbox;
pub mod runner;
pub mod shutdown;
pub mod telemetry;
pub mod testing;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("store {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("store {location}: bringing the schema up to date: {source}")]
    Migrate {
        location: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("{0}")]
    Config(String),
    #[error("store: {0}")]
    Db(#[from] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch, the unit every store keeps times in.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
