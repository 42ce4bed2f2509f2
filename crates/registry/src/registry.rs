//! The registry's operations, independent of HTTP: what each REST call reads and decides.
//!
//! Reads are served from the in-memory [`State`]; writes follow the optimistic scheme described
//! in [`crate::record`]: catch up with the log, decide, append one record at the expected offset,
//! and retry when another instance got there first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use contracts_compat::{Finding, Version};
use contracts_model::Level;
use contracts_model::avro::Validation;
use rand::Rng;
use tracing::{debug, info, warn};

use contracts_registry_client::api::{
    self, CompatibilityCheckResponse, Config, ConfigUpdateRequest, Mode, RegisterSchemaRequest,
    RegisterSchemaResponse, SchemaString, SubjectVersion, codes,
};
use crate::error::ApiError;
use crate::record::{
    Change, ClearSubjectValue, ConfigValue, DeleteSubjectValue, ModeValue, SchemaValue,
};
use crate::schema::{self, Parsed};
use crate::state::State;
use crate::store::Log;

/// How many times a write is re-decided after losing a race before the client gets a 50001.
const MAX_ATTEMPTS: u32 = 12;

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
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            default_level: Level::Backward,
            node_id: random_node_id(),
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
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        for r in &read.records {
            if r.offset >= st.next_offset {
                st.apply(r.offset, &r.key, r.value.as_deref());
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
                .map_err(|e| {
                    warn!(error = %e, "writing to the registry log failed");
                    ApiError::store(format!("Error while writing to the schema store: {e}"))
                })?;
            if offset == seq {
                let _g = self.sync_lock.lock().await;
                {
                    let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
                    // A concurrent read may already have applied it from the log.
                    if st.next_offset == seq {
                        st.apply(seq, &key, Some(&value));
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

    fn parse_request(
        &self,
        st: &State,
        req: &RegisterSchemaRequest,
        validation: Validation,
    ) -> Result<Parsed, ApiError> {
        let refs = st
            .resolve(&req.references, 0)
            .map_err(ApiError::invalid_schema)?;
        schema::parse(&req.schema_type(), &req.schema, &refs, validation)
            .map_err(ApiError::invalid_schema)
    }

    // ---- schemas -------------------------------------------------------------------------

    /// `GET /schemas/ids/{id}`.
    pub async fn schema_by_id(
        &self,
        id: i32,
        serialized: bool,
        fetch_max_id: bool,
    ) -> Result<SchemaString, ApiError> {
        if !self.state().schemas.contains_key(&id) {
            // Another instance may have registered it moments ago.
            self.sync().await?;
        }
        let st = self.state();
        let s = st
            .schemas
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::schema_not_found(id))?;
        let text = if serialized {
            st.parsed(&s)
                .and_then(|p| schema::serialized(&p.schema))
                .unwrap_or_else(|| s.schema.clone())
        } else {
            s.schema.clone()
        };
        Ok(SchemaString {
            schema: text,
            schema_type: (!s.schema_type.is_avro()).then(|| s.schema_type.clone()),
            references: s.references.clone(),
            max_id: fetch_max_id.then_some(st.max_id),
        })
    }

    /// `GET /schemas/ids/{id}/versions`.
    pub async fn id_versions(
        &self,
        id: i32,
        deleted: bool,
    ) -> Result<Vec<SubjectVersion>, ApiError> {
        self.sync().await?;
        let st = self.state();
        if !st.schemas.contains_key(&id) {
            return Err(ApiError::schema_not_found(id));
        }
        Ok(st
            .subjects
            .iter()
            .flat_map(|(name, s)| {
                s.versions
                    .iter()
                    .filter(move |(_, v)| v.id == id && (deleted || !v.deleted))
                    .map(move |(n, _)| SubjectVersion {
                        subject: name.clone(),
                        version: *n,
                    })
            })
            .collect())
    }

    /// `GET /schemas/types`.
    pub fn schema_types(&self) -> Vec<&'static str> {
        vec!["AVRO", "PROTOBUF"]
    }

    /// `GET /schemas`.
    pub async fn schemas(
        &self,
        prefix: &str,
        deleted: bool,
        latest_only: bool,
    ) -> Result<Vec<api::Schema>, ApiError> {
        self.sync().await?;
        let st = self.state();
        let mut out = Vec::new();
        for (name, s) in st.subjects.range(prefix.to_string()..) {
            if !name.starts_with(prefix) {
                break;
            }
            let versions: Vec<(&i32, _)> = s
                .versions
                .iter()
                .filter(|(_, v)| deleted || !v.deleted)
                .collect();
            let chosen = if latest_only {
                versions.last().into_iter().copied().collect()
            } else {
                versions
            };
            for (n, v) in chosen {
                if let Some(schema) = self.schema_answer(&st, name, *n, v.id, v.deleted, false) {
                    out.push(schema);
                }
            }
        }
        Ok(out)
    }

    fn schema_answer(
        &self,
        st: &State,
        subject: &str,
        version: i32,
        id: i32,
        deleted: bool,
        serialized: bool,
    ) -> Option<api::Schema> {
        let s = st.schemas.get(&id)?;
        let text = if serialized {
            st.parsed(s)
                .and_then(|p| schema::serialized(&p.schema))
                .unwrap_or_else(|| s.schema.clone())
        } else {
            s.schema.clone()
        };
        Some(api::Schema {
            subject: subject.to_string(),
            version,
            id,
            schema_type: (!s.schema_type.is_avro()).then(|| s.schema_type.clone()),
            references: s.references.clone(),
            schema: text,
            deleted,
        })
    }

    // ---- subjects ------------------------------------------------------------------------

    /// `GET /subjects`.
    pub async fn subjects(&self, prefix: &str, opts: ListOptions) -> Result<Vec<String>, ApiError> {
        self.sync().await?;
        let st = self.state();
        Ok(st
            .subjects
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .filter(|(_, s)| {
                let live = s.has_live();
                let any_deleted = s.versions.values().any(|v| v.deleted);
                if opts.deleted_only {
                    any_deleted
                } else {
                    live || (opts.deleted && !s.versions.is_empty())
                }
            })
            .map(|(name, _)| name.clone())
            .collect())
    }

    /// `GET /subjects/{s}/versions`.
    pub async fn versions(&self, subject: &str, opts: ListOptions) -> Result<Vec<i32>, ApiError> {
        self.sync().await?;
        let st = self.state();
        let s = st
            .subjects
            .get(subject)
            .ok_or_else(|| ApiError::subject_not_found(subject))?;
        let versions: Vec<i32> = s
            .versions
            .iter()
            .filter(|(_, v)| {
                if opts.deleted_only {
                    v.deleted
                } else {
                    opts.deleted || !v.deleted
                }
            })
            .map(|(n, _)| *n)
            .collect();
        if versions.is_empty() && !opts.deleted_only {
            return Err(ApiError::subject_not_found(subject));
        }
        Ok(versions)
    }

    /// Finds a version: (number, id, deleted).
    fn find_version(
        st: &State,
        subject: &str,
        version: VersionId,
        deleted: bool,
    ) -> Result<(i32, i32, bool), ApiError> {
        let s = st
            .subjects
            .get(subject)
            .filter(|s| deleted || s.has_live())
            .ok_or_else(|| ApiError::subject_not_found(subject))?;
        let found = match version {
            VersionId::Latest => s.versions.iter().rev().find(|(_, v)| deleted || !v.deleted),
            VersionId::Number(n) => s
                .versions
                .get_key_value(&n)
                .filter(|(_, v)| deleted || !v.deleted),
        };
        let (n, v) = found.ok_or_else(|| match version {
            VersionId::Latest => ApiError::version_not_found("latest"),
            VersionId::Number(n) => ApiError::version_not_found(n),
        })?;
        Ok((*n, v.id, v.deleted))
    }

    /// `GET /subjects/{s}/versions/{v}`.
    pub async fn version(
        &self,
        subject: &str,
        version: VersionId,
        deleted: bool,
        serialized: bool,
    ) -> Result<api::Schema, ApiError> {
        self.sync().await?;
        let st = self.state();
        let (n, id, is_deleted) = Self::find_version(&st, subject, version, deleted)?;
        self.schema_answer(&st, subject, n, id, is_deleted, serialized)
            .ok_or_else(|| ApiError::schema_not_found(id))
    }

    /// `GET /subjects/{s}/versions/{v}/referencedby`.
    pub async fn referenced_by(
        &self,
        subject: &str,
        version: VersionId,
    ) -> Result<Vec<i32>, ApiError> {
        self.sync().await?;
        let st = self.state();
        let (n, _, _) = Self::find_version(&st, subject, version, false)?;
        Ok(st.referenced_by(subject, n))
    }

    /// `POST /subjects/{s}` (lookup): the version of `subject` holding this schema.
    pub async fn lookup(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        deleted: bool,
    ) -> Result<api::Schema, ApiError> {
        self.sync().await?;
        let st = self.state();
        let s = st
            .subjects
            .get(subject)
            .filter(|s| deleted || s.has_live())
            .ok_or_else(|| ApiError::subject_not_found(subject))?;
        let parsed = self.parse_request(&st, req, Validation::Lenient)?;
        let found = s
            .versions
            .iter()
            .rev()
            .filter(|(_, v)| deleted || !v.deleted)
            .find(|(_, v)| {
                st.schemas
                    .get(&v.id)
                    .is_some_and(|stored| same_schema(&st, stored, &parsed, &req.references))
            });
        let (n, v) =
            found.ok_or_else(|| ApiError::new(codes::SCHEMA_NOT_FOUND, "Schema not found"))?;
        self.schema_answer(&st, subject, *n, v.id, v.deleted, false)
            .ok_or_else(|| ApiError::schema_not_found(v.id))
    }

    /// `POST /subjects/{s}/versions` (register).
    pub async fn register(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<RegisterSchemaResponse, ApiError> {
        validate_subject(subject)?;
        let default_level = self.config.default_level;
        self.write(|st| {
            let mode = st.mode(Some(subject));
            match mode {
                Mode::ReadOnly | Mode::ReadOnlyOverride => {
                    return Err(ApiError::new(
                        codes::OPERATION_NOT_PERMITTED,
                        format!("Subject {subject} is in read-only mode"),
                    ));
                }
                Mode::ReadWrite | Mode::Forward if req.id.is_some() => {
                    return Err(ApiError::new(
                        codes::OPERATION_NOT_PERMITTED,
                        format!(
                            "Subject {subject} is not in import mode: a schema id may only be given in IMPORT mode"
                        ),
                    ));
                }
                _ => {}
            }
            let parsed = self.parse_request(st, req, Validation::Strict)?;
            let existing = st.subjects.get(subject);
            // Already registered (and live) under this subject: same id and version, no write.
            if let Some(s) = existing {
                for (n, v) in s.live().rev() {
                    if let Some(stored) = st.schemas.get(&v.id)
                        && same_schema(st, stored, &parsed, &req.references)
                    {
                        if let Some(id) = req.id.filter(|id| *id != v.id) {
                            return Err(ApiError::new(
                                codes::ID_DOES_NOT_MATCH,
                                format!(
                                    "Schema already registered with id {} instead of input id {id}",
                                    v.id
                                ),
                            ));
                        }
                        return Ok(Plan::Done(RegisterSchemaResponse {
                            id: v.id,
                            version: Some(*n),
                            subject: None,
                            schema_type: None,
                            schema: None,
                        }));
                    }
                }
            }
            if mode != Mode::Import {
                let level = st.level(subject, default_level);
                let history = live_history(st, subject);
                let findings = check(&history, &parsed, level);
                if !findings.is_empty() {
                    return Err(ApiError::new(
                        codes::INCOMPATIBLE_SCHEMA,
                        format!(
                            "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                            describe_findings(&findings).join(", ")
                        ),
                    ));
                }
            }
            let key = crate::state::identity_key(&parsed.identity, &req.references);
            let id = match (req.id, st.by_identity.get(&key)) {
                (Some(wanted), _) => {
                    if let Some(other) = st.schemas.get(&wanted) {
                        let same = same_schema(st, other, &parsed, &req.references);
                        if !same {
                            return Err(ApiError::new(
                                codes::ID_DOES_NOT_MATCH,
                                format!(
                                    "Overwrite new schema with id {wanted} is not permitted: id {wanted} holds another schema"
                                ),
                            ));
                        }
                    }
                    wanted
                }
                (None, Some(id)) => *id,
                _ => st.max_id + 1,
            };
            let max_version = existing.map_or(0, |s| s.max_version());
            let version = match req.version.filter(|_| mode == Mode::Import) {
                Some(v) if v <= max_version => {
                    return Err(ApiError::new(
                        codes::INVALID_VERSION,
                        format!(
                            "Version {v} of subject {subject} is not allowed: versions up to {max_version} exist"
                        ),
                    ));
                }
                Some(v) => v,
                None => max_version + 1,
            };
            // A Protobuf descriptor (what Confluent's serializers send) is stored as `.proto`
            // text, as Confluent stores it, so that every client can read it back.
            let is_descriptor = req.schema_type() == api::SchemaType::Protobuf
                && schema::decode_descriptor(&req.schema).is_some();
            let text = if normalize || is_descriptor {
                parsed.normalized.clone()
            } else {
                req.schema.clone()
            };
            let ty = req.schema_type();
            Ok(Plan::Write(
                Change::Schema(SchemaValue {
                    subject: subject.to_string(),
                    version,
                    id,
                    schema_type: (!ty.is_avro()).then_some(ty),
                    references: req.references.clone(),
                    schema: text,
                    deleted: false,
                }),
                RegisterSchemaResponse {
                    id,
                    version: Some(version),
                    subject: None,
                    schema_type: None,
                    schema: None,
                },
            ))
        })
        .await
        .inspect(|r| info!(subject, schema_id = r.id, version = r.version, "schema registered"))
    }

    fn check_writable(st: &State, subject: Option<&str>) -> Result<(), ApiError> {
        match st.mode(subject) {
            Mode::ReadOnly | Mode::ReadOnlyOverride => Err(ApiError::new(
                codes::OPERATION_NOT_PERMITTED,
                match subject {
                    Some(s) => format!("Subject {s} is in read-only mode"),
                    None => "The registry is in read-only mode".to_string(),
                },
            )),
            _ => Ok(()),
        }
    }

    /// `DELETE /subjects/{s}`: the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i32>, ApiError> {
        self.write(|st| {
            Self::check_writable(st, Some(subject))?;
            let s = st
                .subjects
                .get(subject)
                .filter(|s| !s.versions.is_empty())
                .ok_or_else(|| ApiError::subject_not_found(subject))?;
            for (n, _) in s.versions.iter() {
                if !st.referenced_by(subject, *n).is_empty() {
                    return Err(ApiError::new(
                        codes::REFERENCE_EXISTS,
                        format!(
                            "One or more references exist to the schema {{subject={subject},version={n}}}."
                        ),
                    ));
                }
            }
            if permanent {
                if s.has_live() {
                    return Err(ApiError::new(
                        codes::SUBJECT_NOT_SOFT_DELETED,
                        format!(
                            "Subject '{subject}' was not deleted first before being permanently deleted"
                        ),
                    ));
                }
                let versions: Vec<i32> = s.versions.keys().copied().collect();
                Ok(Plan::Write(
                    Change::ClearSubject(ClearSubjectValue {
                        subject: subject.to_string(),
                        versions: versions.clone(),
                        max_id: st.max_id,
                    }),
                    versions,
                ))
            } else {
                let live: Vec<i32> = s.live().map(|(n, _)| *n).collect();
                if live.is_empty() {
                    return Err(ApiError::new(
                        codes::SUBJECT_SOFT_DELETED,
                        format!(
                            "Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                        ),
                    ));
                }
                Ok(Plan::Write(
                    Change::DeleteSubject(DeleteSubjectValue {
                        subject: subject.to_string(),
                        version: s.max_version(),
                    }),
                    live,
                ))
            }
        })
        .await
    }

    /// `DELETE /subjects/{s}/versions/{v}`: the version deleted.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: VersionId,
        permanent: bool,
    ) -> Result<i32, ApiError> {
        self.write(|st| {
            Self::check_writable(st, Some(subject))?;
            let s = st
                .subjects
                .get(subject)
                .filter(|s| !s.versions.is_empty())
                .ok_or_else(|| ApiError::subject_not_found(subject))?;
            let (n, v) = match version {
                // `latest` means the latest live version, or with permanent the latest at all.
                VersionId::Latest if permanent => s.versions.iter().next_back(),
                VersionId::Latest => s.live().next_back(),
                VersionId::Number(n) => s.versions.get_key_value(&n),
            }
            .ok_or_else(|| match version {
                VersionId::Latest => ApiError::version_not_found("latest"),
                VersionId::Number(n) => ApiError::version_not_found(n),
            })?;
            let n = *n;
            if !st.referenced_by(subject, n).is_empty() {
                return Err(ApiError::new(
                    codes::REFERENCE_EXISTS,
                    format!(
                        "One or more references exist to the schema {{subject={subject},version={n}}}."
                    ),
                ));
            }
            if permanent {
                if !v.deleted {
                    return Err(ApiError::new(
                        codes::SCHEMA_VERSION_NOT_SOFT_DELETED,
                        format!(
                            "Subject '{subject}' Version {n} was not deleted first before being permanently deleted"
                        ),
                    ));
                }
                Ok(Plan::Write(
                    Change::ClearSubject(ClearSubjectValue {
                        subject: subject.to_string(),
                        versions: vec![n],
                        max_id: st.max_id,
                    }),
                    n,
                ))
            } else {
                if v.deleted {
                    return Err(ApiError::new(
                        codes::SCHEMA_VERSION_SOFT_DELETED,
                        format!(
                            "Subject '{subject}' Version {n} was soft deleted.Set permanent=true to delete permanently"
                        ),
                    ));
                }
                let stored = st
                    .schemas
                    .get(&v.id)
                    .ok_or_else(|| ApiError::schema_not_found(v.id))?;
                Ok(Plan::Write(
                    Change::Schema(SchemaValue {
                        subject: subject.to_string(),
                        version: n,
                        id: v.id,
                        schema_type: (!stored.schema_type.is_avro())
                            .then(|| stored.schema_type.clone()),
                        references: stored.references.clone(),
                        schema: stored.schema.clone(),
                        deleted: true,
                    }),
                    n,
                ))
            }
        })
        .await
    }

    // ---- compatibility -------------------------------------------------------------------

    /// `POST /compatibility/subjects/{s}/versions[/{v}]`: `version` `None` checks against every
    /// live version the subject's level selects.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        version: Option<VersionId>,
        req: &RegisterSchemaRequest,
        verbose: bool,
    ) -> Result<CompatibilityCheckResponse, ApiError> {
        self.sync().await?;
        let st = self.state();
        let parsed = match self.parse_request(&st, req, Validation::Strict) {
            Ok(p) => p,
            Err(e) if verbose && e.code == codes::INVALID_SCHEMA => {
                return Ok(CompatibilityCheckResponse {
                    is_compatible: false,
                    messages: vec![e.message],
                });
            }
            Err(e) => return Err(e),
        };
        let level = st.level(subject, self.config.default_level);
        let history = match version {
            None => live_history(&st, subject),
            Some(v) => {
                let has_live = st.subjects.get(subject).is_some_and(|s| s.has_live());
                if v == VersionId::Latest && !has_live {
                    Vec::new()
                } else {
                    let (_, id, _) = Self::find_version(&st, subject, v, false)?;
                    st.schemas
                        .get(&id)
                        .and_then(|s| st.parsed(s))
                        .map(|p| vec![(id.to_string(), p)])
                        .unwrap_or_default()
                }
            }
        };
        let findings = check(&history, &parsed, level);
        Ok(CompatibilityCheckResponse {
            is_compatible: findings.is_empty(),
            messages: if verbose {
                describe_findings(&findings)
            } else {
                Vec::new()
            },
        })
    }

    // ---- config and mode -----------------------------------------------------------------

    /// `GET /config` and `GET /config/{s}`.
    pub async fn get_config(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Config, ApiError> {
        self.sync().await?;
        let st = self.state();
        let level = match subject {
            None => st.level.unwrap_or(self.config.default_level),
            Some(s) => match st.subjects.get(s).and_then(|x| x.level) {
                Some(l) => l,
                None if default_to_global => st.level.unwrap_or(self.config.default_level),
                None => {
                    return Err(ApiError::new(
                        codes::SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED,
                        format!(
                            "Subject '{s}' does not have subject-level compatibility configured"
                        ),
                    ));
                }
            },
        };
        Ok(Config {
            compatibility_level: Some(level.as_str().to_string()),
            normalize: None,
        })
    }

    /// `PUT /config[/{s}]`.
    pub async fn set_config(
        &self,
        subject: Option<&str>,
        req: &ConfigUpdateRequest,
    ) -> Result<ConfigUpdateRequest, ApiError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let invalid = || {
            ApiError::new(
                codes::INVALID_COMPATIBILITY_LEVEL,
                "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive",
            )
        };
        let level: Level = req
            .compatibility
            .as_deref()
            .ok_or_else(invalid)?
            .parse()
            .map_err(|_| invalid())?;
        self.write(|st| {
            Self::check_writable(st, subject)?;
            let answer = ConfigUpdateRequest {
                compatibility: Some(level.as_str().to_string()),
                normalize: req.normalize,
            };
            let current = match subject {
                Some(s) => st.subjects.get(s).and_then(|x| x.level),
                None => st.level,
            };
            if current == Some(level) {
                return Ok(Plan::Done(answer));
            }
            Ok(Plan::Write(
                Change::Config(ConfigValue {
                    subject: subject.map(str::to_string),
                    compatibility_level: Some(level.as_str().to_string()),
                }),
                answer,
            ))
        })
        .await
    }

    /// `DELETE /config[/{s}]`: the level before.
    pub async fn delete_config(&self, subject: Option<&str>) -> Result<Config, ApiError> {
        let default = self.config.default_level;
        self.write(|st| {
            Self::check_writable(st, subject)?;
            let current = match subject {
                Some(s) => {
                    let x = st
                        .subjects
                        .get(s)
                        .ok_or_else(|| ApiError::subject_not_found(s))?;
                    x.level
                }
                None => st.level,
            };
            let answer = Config {
                compatibility_level: Some(
                    current
                        .unwrap_or_else(|| st.level.unwrap_or(default))
                        .as_str()
                        .to_string(),
                ),
                normalize: None,
            };
            if current.is_none() {
                return Ok(Plan::Done(answer));
            }
            Ok(Plan::Write(
                Change::Config(ConfigValue {
                    subject: subject.map(str::to_string),
                    compatibility_level: None,
                }),
                answer,
            ))
        })
        .await
    }

    /// `GET /mode` and `GET /mode/{s}`.
    pub async fn get_mode(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Mode, ApiError> {
        self.sync().await?;
        let st = self.state();
        match subject {
            None => Ok(st.mode.unwrap_or_default()),
            Some(s) => match st.subjects.get(s).and_then(|x| x.mode) {
                Some(m) => Ok(m),
                None if default_to_global => Ok(st.mode.unwrap_or_default()),
                None => Err(ApiError::new(
                    codes::SUBJECT_LEVEL_MODE_NOT_CONFIGURED,
                    format!("Subject '{s}' does not have subject-level mode configured"),
                )),
            },
        }
    }

    /// `PUT /mode[/{s}]`.
    pub async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: &str,
        force: bool,
    ) -> Result<Mode, ApiError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let mode: Mode = mode
            .parse()
            .map_err(|e: String| ApiError::new(codes::INVALID_MODE, e))?;
        self.write(|st| {
            if mode == Mode::Import && !force {
                let has_schemas = match subject {
                    Some(s) => st.subjects.get(s).is_some_and(|x| !x.versions.is_empty()),
                    None => st.subjects.values().any(|x| !x.versions.is_empty()),
                };
                if has_schemas {
                    return Err(ApiError::new(
                        codes::OPERATION_NOT_PERMITTED,
                        "Cannot import since found existing subjects",
                    ));
                }
            }
            let current = match subject {
                Some(s) => st.subjects.get(s).and_then(|x| x.mode),
                None => st.mode,
            };
            if current == Some(mode) {
                return Ok(Plan::Done(mode));
            }
            Ok(Plan::Write(
                Change::Mode(ModeValue {
                    subject: subject.map(str::to_string),
                    mode: Some(mode.as_str().to_string()),
                }),
                mode,
            ))
        })
        .await
    }

    /// `DELETE /mode[/{s}]`: the mode before.
    pub async fn delete_mode(&self, subject: Option<&str>) -> Result<Mode, ApiError> {
        self.write(|st| {
            let current = match subject {
                Some(s) => {
                    st.subjects
                        .get(s)
                        .ok_or_else(|| ApiError::subject_not_found(s))?
                        .mode
                }
                None => st.mode,
            };
            let Some(current) = current else {
                return Ok(Plan::Done(st.mode.unwrap_or_default()));
            };
            Ok(Plan::Write(
                Change::Mode(ModeValue {
                    subject: subject.map(str::to_string),
                    mode: None,
                }),
                current,
            ))
        })
        .await
    }
}

/// Subject names Confluent rejects (42208): empty, or with control characters.
fn validate_subject(subject: &str) -> Result<(), ApiError> {
    if subject.trim().is_empty() || subject.chars().any(char::is_control) {
        return Err(ApiError::new(
            codes::INVALID_SUBJECT,
            format!("The specified subject '{subject}' is not a valid."),
        ));
    }
    Ok(())
}

/// Same schema text (by identity) and the same references.
fn same_schema(
    st: &State,
    stored: &crate::state::StoredSchema,
    parsed: &Parsed,
    refs: &[api::SchemaReference],
) -> bool {
    stored.references == refs
        && st
            .parsed(stored)
            .is_some_and(|p| p.identity == parsed.identity)
}

/// The subject's live versions, oldest first, labelled with their version numbers.
fn live_history(st: &State, subject: &str) -> Vec<(String, Arc<Parsed>)> {
    st.subjects
        .get(subject)
        .map(|s| {
            s.live()
                .filter_map(|(n, v)| {
                    let stored = st.schemas.get(&v.id)?;
                    Some((n.to_string(), st.parsed(stored)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The one compatibility decision: contracts-compat's.
fn check(history: &[(String, Arc<Parsed>)], candidate: &Parsed, level: Level) -> Vec<Finding> {
    let versions: Vec<Version<'_>> = history
        .iter()
        .map(|(label, p)| Version {
            label,
            schema: &p.schema,
        })
        .collect();
    contracts_compat::check(
        level,
        &versions,
        Version {
            label: "new",
            schema: &candidate.schema,
        },
    )
}

fn describe_findings(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let at = if f.path.is_empty() {
                String::new()
            } else {
                format!(" at {}", f.path)
            };
            format!(
                "{{errorType:'{}', description:'{}{at}', oldSchemaVersion: {}, compatibility: '{}'}}",
                f.rule, f.message, f.old_version, f.level
            )
        })
        .collect()
}
