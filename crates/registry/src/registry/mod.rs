//! The registry's operations, independent of HTTP: what each REST call reads and decides.
//!
//! Reads are served from the in-memory [`State`]; writes follow the optimistic scheme described
//! in [`crate::record`]: catch up with the log, decide, append one record at the expected offset,
//! and retry when another instance got there first.
//!
//! One file per Confluent resource: `schemas.rs` (by id), `subjects.rs` (subjects and their
//! versions: register, lookup, list, delete), `compatibility.rs`, `config.rs` and `mode.rs`;
//! this module holds the [`Registry`] itself, its reads of the log and the optimistic write path.

mod compatibility;
mod config;
mod mode;
mod schemas;
mod subjects;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use contracts_model::Level;
use contracts_model::avro::Validation;
use contracts_registry_client::api::{RegisterSchemaRequest, codes};

use rand::Rng;
use tracing::{debug, info, warn};

use crate::error::ApiError;
use crate::record::Change;
use crate::schema::{self, Parsed, References};
use crate::state::{ReferenceLimits, State, StoredSchema};
use crate::store::Log;

/// How many times a write is re-decided after losing a race before the client gets a 50001.
const MAX_ATTEMPTS: u32 = 12;

/// The answer to a write the log refused. A record the broker finds too large is the schema's
/// fault (42209, not worth retrying); other refusals are store errors whose message names the
/// cause.
fn write_error(e: &crate::Error, bytes: usize) -> ApiError {
    warn!(error = %e, "writing to the registry log failed");
    if let crate::Error::KafkaRejected { source, .. } = e
        && source.rdkafka_error_code()
            == Some(rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge)
    {
        return ApiError::new(
            codes::SCHEMA_TOO_LARGE,
            format!(
                "Schema too large: its record ({bytes} bytes) is larger than the registry topic accepts (the producer's message.max.bytes or the topic's max.message.bytes); register a smaller schema or raise those limits"
            ),
        );
    }
    ApiError::store(format!("Error while writing to the schema store: {e}"))
}

/// A version in a path: `latest` or a number ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionId {
    Latest,
    Number(i32),
}

impl VersionId {
    /// Parses as Confluent's `VersionId` does; anything else is a 42202.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("latest") {
            return Ok(VersionId::Latest);
        }
        match t.parse::<i32>() {
            Ok(-1) => Ok(VersionId::Latest),
            Ok(n) if n >= 1 => Ok(VersionId::Number(n)),
            _ => Err(ApiError::new(
                codes::INVALID_VERSION,
                format!(
                    "The specified version '{s}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
                ),
            )),
        }
    }
}

/// Settings of one registry instance.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The level of subjects with none of their own while no global level is stored.
    pub default_level: Level,
    /// Names this instance in the keys it writes (diagnostics only; uniqueness comes from `seq`).
    pub node_id: String,
    /// How much one request may resolve through its references.
    pub references: ReferenceLimits,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            default_level: Level::Backward,
            node_id: random_node_id(),
            references: ReferenceLimits::default(),
        }
    }
}

fn random_node_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// Options of reads that list or fetch versions.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListOptions {
    pub deleted: bool,
    pub deleted_only: bool,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WriteStats {
    pub writes: AtomicU64,
    pub conflicts: AtomicU64,
}

/// One registry instance: its view of the log and the operations on it.
#[derive(Debug)]
pub struct Registry {
    log: Arc<dyn Log>,
    state: RwLock<State>,
    sync_lock: tokio::sync::Mutex<()>,
    write_lock: tokio::sync::Mutex<()>,
    /// Parsing and compatibility checks run on blocking threads, this many at once: the async
    /// workers stay free for `/health` and every other request.
    parse_permits: Arc<tokio::sync::Semaphore>,
    config: RegistryConfig,
    attempt: AtomicU64,
    ready: AtomicBool,
    /// The log end seen by the last read, for the lag metric.
    last_end: AtomicU64,
    pub stats: WriteStats,
}

/// The outcome a write operation decided on the current state.
enum Plan<T> {
    /// Nothing to write (e.g. the schema is already registered).
    Done(T),
    /// Write this change; answer `T` once it is acknowledged.
    Write(Change, T),
}

impl Registry {
    pub fn new(log: Arc<dyn Log>, config: RegistryConfig) -> Self {
        Registry {
            log,
            state: RwLock::new(State::default()),
            sync_lock: tokio::sync::Mutex::new(()),
            write_lock: tokio::sync::Mutex::new(()),
            parse_permits: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            config,
            attempt: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            last_end: AtomicU64::new(0),
            stats: WriteStats::default(),
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The state, for reading. Never held across an `.await`.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the log up to the end it has when called; then the instance is ready.
    pub async fn start(&self) -> crate::error::Result<()> {
        self.sync_inner().await?;
        self.ready.store(true, Ordering::Release);
        let st = self.state();
        info!(
            offset = st.next_offset,
            subjects = st.subjects.len(),
            schemas = st.schemas.len(),
            "registry caught up with its log"
        );
        Ok(())
    }

    /// Caught up with the log as it was at start.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Records written to the log but not yet applied here, as of the last read.
    pub fn lag(&self) -> i64 {
        let end = self.last_end.load(Ordering::Relaxed) as i64;
        (end - self.state().next_offset).max(0)
    }

    async fn sync_inner(&self) -> crate::error::Result<()> {
        let _g = self.sync_lock.lock().await;
        let from = self.state().next_offset;
        let read = self.log.read(from).await?;
        self.last_end
            .store(read.end.max(0) as u64, Ordering::Relaxed);
        // New schemas are parsed here, off the async workers and without the state lock, so
        // that applying them below does not parse.
        let jobs = self.state().new_schemas(&read.records);
        let mut parsed = HashMap::new();
        if !jobs.is_empty() {
            parsed = self
                .off_thread(move || {
                    jobs.into_iter()
                        .filter_map(|(id, ty, text, refs)| {
                            let p = schema::parse(&ty, &text, &refs, Validation::Lenient).ok()?;
                            Some((id, Arc::new(p)))
                        })
                        .collect()
                })
                .await
                .unwrap_or_default();
        }
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        for r in &read.records {
            if r.offset >= st.next_offset {
                st.apply_with(r.offset, &r.key, r.value.as_deref(), &mut parsed);
            }
        }
        // Compaction may leave the last offsets empty: the read still reached `end`.
        st.next_offset = st.next_offset.max(read.end);
        Ok(())
    }

    /// Catches up with the log (read-your-writes across instances).
    pub async fn sync(&self) -> Result<(), ApiError> {
        self.sync_inner().await.map_err(|e| {
            warn!(error = %e, "reading the registry log failed");
            ApiError::store(format!("Error while reading the schema store: {e}"))
        })
    }

    async fn write<T>(
        &self,
        decide: impl Fn(&State) -> Result<Plan<T>, ApiError>,
    ) -> Result<T, ApiError> {
        self.write_parsed(None, decide).await
    }

    /// [`Registry::write`] of a schema already parsed (`parsed`): applying it does not parse
    /// it again.
    async fn write_parsed<T>(
        &self,
        parsed: Option<Arc<Parsed>>,
        decide: impl Fn(&State) -> Result<Plan<T>, ApiError>,
    ) -> Result<T, ApiError> {
        let _w = self.write_lock.lock().await;
        for attempt in 0..MAX_ATTEMPTS {
            self.sync().await?;
            let (seq, change, answer) = {
                let st = self.state();
                match decide(&st)? {
                    Plan::Done(t) => return Ok(t),
                    Plan::Write(change, t) => (st.next_offset, change, t),
                }
            };
            // The records a permanent delete removes, to tombstone once it is acknowledged.
            let doomed: Vec<Vec<u8>> = match &change {
                Change::ClearSubject(c) => {
                    let st = self.state();
                    st.subjects
                        .get(&c.subject)
                        .map(|s| {
                            c.versions
                                .iter()
                                .filter_map(|v| s.versions.get(v))
                                .flat_map(|v| v.keys.iter().cloned())
                                .collect()
                        })
                        .unwrap_or_default()
                }
                _ => Vec::new(),
            };
            let n = self.attempt.fetch_add(1, Ordering::Relaxed);
            let (key, value) = change.encode(seq, &self.config.node_id, n);
            let offset = self
                .log
                .append(key.clone(), Some(value.clone()))
                .await
                .map_err(|e| write_error(&e, value.len()))?;
            if offset == seq {
                let _g = self.sync_lock.lock().await;
                {
                    let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
                    // A concurrent read may already have applied it from the log.
                    if st.next_offset == seq {
                        let mut prefill = HashMap::new();
                        if let (Change::Schema(v), Some(p)) = (&change, &parsed) {
                            prefill.insert(v.id, p.clone());
                        }
                        st.apply_with(seq, &key, Some(&value), &mut prefill);
                    }
                }
                self.stats.writes.fetch_add(1, Ordering::Relaxed);
                debug!(offset = seq, node = %self.config.node_id, "wrote a registry record");
                self.tombstone(doomed).await;
                return Ok(answer);
            }
            self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
            let cap = 5u64 << attempt.min(6);
            let pause = rand::rng().random_range(1..=cap);
            debug!(
                seq,
                offset,
                attempt,
                pause_ms = pause,
                "lost a write race; re-reading"
            );
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Err(ApiError::store(format!(
            "Could not write to the schema store: other registry instances won {MAX_ATTEMPTS} write races in a row; retry the request"
        )))
    }

    /// Tombstones the records of permanently deleted versions so compaction can drop them. The
    /// delete itself is already durable; a failure here only costs space.
    async fn tombstone(&self, keys: Vec<Vec<u8>>) {
        for key in keys {
            if let Err(e) = self.log.append(key, None).await {
                warn!(error = %e, "could not tombstone a permanently deleted version");
                return;
            }
        }
    }

    /// Runs `f` on a thread of its own once a parse permit is free. A plain thread rather than
    /// tokio's blocking pool: the runtime waits for its blocking tasks when it shuts down, and
    /// a process told to stop must not wait for a parse. The permit travels with the thread, so
    /// a request whose client went away still counts until its work ends.
    async fn off_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self
            .parse_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::new(codes::INTERNAL_SERVER_ERROR, "The registry is stopping"))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("registry-parse".into())
            .spawn(move || {
                let _permit = permit;
                let _ = tx.send(f());
            })
            .map_err(|e| {
                warn!(error = %e, "could not start a parse thread");
                ApiError::new(
                    codes::INTERNAL_SERVER_ERROR,
                    "The registry is out of threads",
                )
            })?;
        rx.await.map_err(|_| {
            warn!("a schema parse or check panicked");
            ApiError::new(
                codes::INTERNAL_SERVER_ERROR,
                "Internal error while parsing the schema",
            )
        })
    }

    /// Parses the request's schema and the stored versions `select` picks ((version, id),
    /// oldest first), off the async workers and without holding the state lock: the lock is
    /// held only to resolve references and pick the versions. When `select` fails, its error
    /// is returned after the schema parsed (an invalid schema is reported first).
    pub(super) async fn prepare(
        &self,
        req: &RegisterSchemaRequest,
        validation: Validation,
        select: impl FnOnce(&State) -> Result<Vec<(i32, i32)>, ApiError>,
    ) -> Result<Prepared, ApiError> {
        let (refs, selected) = {
            let st = self.state();
            let refs = st.resolve(&req.references, self.config.references)?;
            let selected = select(&st).map(|versions| {
                versions
                    .into_iter()
                    .filter_map(|(n, id)| {
                        let stored = st.schemas.get(&id)?.clone();
                        let refs = if stored.is_parsed() {
                            Ok(References::default())
                        } else {
                            st.stored_references(&stored)
                        };
                        Some((n, stored, refs))
                    })
                    .collect::<Vec<_>>()
            });
            (refs, selected)
        };
        let ty = req.schema_type();
        let text = req.schema.clone();
        self.off_thread(move || {
            let parsed =
                schema::parse(&ty, &text, &refs, validation).map_err(ApiError::invalid_schema)?;
            let selected = selected?;
            let versions = selected.iter().map(|(n, s, _)| (*n, s.id)).collect();
            let history = selected
                .into_iter()
                .filter_map(|(n, stored, refs)| {
                    let p = stored.parse_with(refs)?;
                    Some((n, stored, p))
                })
                .collect();
            Ok(Prepared {
                parsed: Arc::new(parsed),
                versions,
                history,
            })
        })
        .await?
    }

    /// The compatibility findings of `prepared` against its history at `level`, off the async
    /// workers.
    pub(super) async fn check_off_thread(
        &self,
        prepared: &Prepared,
        level: Level,
    ) -> Result<Vec<contracts_compat::Finding>, ApiError> {
        let history: Vec<(String, Arc<Parsed>)> = prepared
            .history
            .iter()
            .map(|(n, _, p)| (n.to_string(), p.clone()))
            .collect();
        let candidate = prepared.parsed.clone();
        self.off_thread(move || compatibility::check(&history, &candidate, level))
            .await
    }
}

/// A request's schema and the stored versions it is judged against, parsed.
pub(super) struct Prepared {
    pub parsed: Arc<Parsed>,
    /// (version, id) of every version selected, parsed or not.
    pub versions: Vec<(i32, i32)>,
    /// (version, stored schema, parsed) of the selected versions that parse, oldest first.
    pub history: Vec<(i32, Arc<StoredSchema>, Arc<Parsed>)>,
}
