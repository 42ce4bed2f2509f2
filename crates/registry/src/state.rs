//! The in-memory view of the log: subjects, versions, schemas by id, levels and modes.
//!
//! Every instance builds it by applying the log's valid records in order ([`State::apply`]), so
//! instances that have read the same prefix hold the same state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use contracts_model::Level;
use contracts_model::avro::Validation;
use tracing::warn;

use crate::error::ApiError;
use crate::record::{Change, Key};
use crate::schema::{self, Parsed, References, Resolved};
use contracts_registry_client::api::{Mode, SchemaReference, SchemaType, codes};

/// A schema by id.
#[derive(Debug)]
pub struct StoredSchema {
    pub id: i32,
    pub schema_type: SchemaType,
    pub schema: String,
    pub references: Vec<SchemaReference>,
    /// Parsed leniently on first use (stored schemas are trusted as written).
    parsed: OnceLock<Result<Arc<Parsed>, String>>,
}

/// One version of a subject.
impl StoredSchema {
    /// Parses it with its resolved references unless it was parsed before.
    pub fn parse_with(&self, refs: Result<References, String>) -> Option<Arc<Parsed>> {
        self.parsed
            .get_or_init(|| {
                let refs = refs?;
                schema::parse(&self.schema_type, &self.schema, &refs, Validation::Lenient)
                    .map(Arc::new)
                    .inspect_err(
                        |e| warn!(schema_id = self.id, error = %e, "stored schema does not parse"),
                    )
            })
            .as_ref()
            .ok()
            .cloned()
    }

    /// Parsed already (successfully or not).
    pub fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }
}

#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub id: i32,
    pub deleted: bool,
    /// Log keys of the records that wrote this version, tombstoned on permanent delete.
    pub keys: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub versions: BTreeMap<i32, VersionEntry>,
    pub level: Option<Level>,
    pub mode: Option<Mode>,
}

impl Subject {
    pub fn live(&self) -> impl DoubleEndedIterator<Item = (&i32, &VersionEntry)> {
        self.versions.iter().filter(|(_, v)| !v.deleted)
    }

    pub fn has_live(&self) -> bool {
        self.live().next().is_some()
    }

    pub fn max_version(&self) -> i32 {
        self.versions.keys().next_back().copied().unwrap_or(0)
    }
}

/// What makes two registrations the same schema: the schema's identity and its references.
pub fn identity_key(identity: &str, references: &[SchemaReference]) -> String {
    let refs: Vec<String> = references
        .iter()
        .map(|r| format!("{}={}/{}", r.name, r.subject, r.version))
        .collect();
    format!("{identity}\u{0}{}", refs.join("\u{0}"))
}

/// References deeper than this are refused (and recursion stays shallow).
const MAX_REFERENCE_DEPTH: usize = 32;

/// How much one request may resolve through its references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceLimits {
    /// References a schema may list, and distinct schemas (subject and version) its references
    /// may reach, directly or not.
    pub max_references: usize,
    /// Total bytes of the distinct schemas its references reach.
    pub max_resolved_bytes: usize,
}

impl ReferenceLimits {
    /// For schemas already stored.
    pub const UNLIMITED: ReferenceLimits = ReferenceLimits {
        max_references: usize::MAX,
        max_resolved_bytes: usize::MAX,
    };
}

impl Default for ReferenceLimits {
    /// 1000 references and 1 MiB: far above real schemas (a Protobuf file with a few dozen
    /// imports), and what one request body may hold, whose costliest shapes take under a second
    /// of CPU.
    fn default() -> Self {
        ReferenceLimits {
            max_references: 1000,
            max_resolved_bytes: 1024 * 1024,
        }
    }
}

/// The state of one resolution.
#[derive(Debug, Default)]
struct Walk {
    limits: ReferenceLimits,
    schemas: Vec<Resolved>,
    /// (subject, version) of each resolved schema, by index.
    keys: Vec<(String, i32)>,
    index: HashMap<(String, i32), usize>,
    /// The schemas being resolved, outermost first: a reference back into it is a loop.
    stack: Vec<(String, i32)>,
    /// Which schema each reference name denotes.
    names: HashMap<String, usize>,
    bytes: usize,
}

impl Walk {
    fn name(&mut self, name: &str, index: usize) -> Result<(), ApiError> {
        match self.names.get(name) {
            Some(i) if *i != index => {
                let (a, b) = (&self.keys[*i], &self.keys[index]);
                Err(ApiError::invalid_schema(format!(
                    "Invalid schema: reference name \"{name}\" denotes two schemas: subject \"{}\" version {} and subject \"{}\" version {}",
                    a.0, a.1, b.0, b.1
                )))
            }
            Some(_) => Ok(()),
            None => {
                self.names.insert(name.to_string(), index);
                Ok(())
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct State {
    /// The offset of the next record to read.
    pub next_offset: i64,
    pub subjects: BTreeMap<String, Subject>,
    pub schemas: HashMap<i32, Arc<StoredSchema>>,
    /// Schema identity and references ([`identity_key`]) → id, for "same schema → same id".
    pub by_identity: HashMap<String, i32>,
    pub max_id: i32,
    pub level: Option<Level>,
    pub mode: Option<Mode>,
    /// Records skipped because another instance won their offset (for metrics).
    pub void_records: u64,
}

impl State {
    /// Applies the record read at `offset`. Records whose `seq` is not their offset lost a write
    /// race and are skipped, as are tombstones and foreign bytes.
    pub fn apply(&mut self, offset: i64, key: &[u8], value: Option<&[u8]>) {
        self.apply_with(offset, key, value, &mut HashMap::new());
    }

    /// [`State::apply`], taking the parse of a new schema id from `parsed` when it is there
    /// (parsed beforehand off the async workers), so that applying it does not parse.
    pub fn apply_with(
        &mut self,
        offset: i64,
        key: &[u8],
        value: Option<&[u8]>,
        parsed: &mut HashMap<i32, Arc<Parsed>>,
    ) {
        self.next_offset = self.next_offset.max(offset + 1);
        let (k, change) = match Change::decode(key, value) {
            Ok(Some(kc)) => kc,
            Ok(None) => return,
            Err(e) => {
                warn!(offset, error = %e, "skipping a log record this registry did not write");
                return;
            }
        };
        if k.seq != offset {
            self.void_records += 1;
            return;
        }
        self.apply_change(&k, key, change, parsed);
    }

    /// The schemas that records at `offset` and later would add, with their references
    /// resolved, to parse before applying them ([`State::apply_with`]). Schemas whose
    /// references are among the records themselves are left to be parsed as they are applied.
    pub fn new_schemas(
        &self,
        records: &[crate::store::LogRecord],
    ) -> Vec<(i32, SchemaType, String, References)> {
        let mut seen = HashSet::new();
        records
            .iter()
            .filter(|r| r.offset >= self.next_offset)
            .filter_map(|r| match Change::decode(&r.key, r.value.as_deref()) {
                Ok(Some((k, Change::Schema(v)))) if k.seq == r.offset => Some(v),
                _ => None,
            })
            .filter(|v| !self.schemas.contains_key(&v.id) && seen.insert(v.id))
            .filter_map(|v| {
                let refs = self
                    .resolve(&v.references, ReferenceLimits::UNLIMITED)
                    .ok()?;
                Some((v.id, v.schema_type.unwrap_or_default(), v.schema, refs))
            })
            .collect()
    }

    fn apply_change(
        &mut self,
        _k: &Key,
        raw_key: &[u8],
        change: Change,
        parsed: &mut HashMap<i32, Arc<Parsed>>,
    ) {
        match change {
            Change::Schema(v) => {
                let stored = self.schemas.entry(v.id).or_insert_with(|| {
                    Arc::new(StoredSchema {
                        id: v.id,
                        schema_type: v.schema_type.clone().unwrap_or_default(),
                        schema: v.schema.clone(),
                        references: v.references.clone(),
                        parsed: match parsed.remove(&v.id) {
                            Some(p) => OnceLock::from(Ok(p)),
                            None => OnceLock::new(),
                        },
                    })
                });
                let stored = stored.clone();
                self.max_id = self.max_id.max(v.id);
                let subject = self.subjects.entry(v.subject.clone()).or_default();
                let entry = subject.versions.entry(v.version).or_insert(VersionEntry {
                    id: v.id,
                    deleted: v.deleted,
                    keys: Vec::new(),
                });
                entry.id = v.id;
                entry.deleted = v.deleted;
                entry.keys.push(raw_key.to_vec());
                if let Some(p) = self.parsed(&stored) {
                    self.by_identity
                        .entry(identity_key(&p.identity, &stored.references))
                        .or_insert(v.id);
                }
            }
            Change::Config(c) => {
                let level = c.compatibility_level.and_then(|l| l.parse::<Level>().ok());
                match c.subject {
                    Some(s) => self.subjects.entry(s).or_default().level = level,
                    None => self.level = level,
                }
            }
            Change::Mode(m) => {
                let mode = m.mode.and_then(|l| l.parse::<Mode>().ok());
                match m.subject {
                    Some(s) => self.subjects.entry(s).or_default().mode = mode,
                    None => self.mode = mode,
                }
            }
            Change::DeleteSubject(d) => {
                if let Some(s) = self.subjects.get_mut(&d.subject) {
                    for (_, v) in s.versions.range_mut(..=d.version) {
                        v.deleted = true;
                    }
                }
            }
            Change::ClearSubject(c) => {
                self.max_id = self.max_id.max(c.max_id);
                if let Some(s) = self.subjects.get_mut(&c.subject) {
                    for v in &c.versions {
                        s.versions.remove(v);
                    }
                    if s.versions.is_empty() {
                        // Confluent drops a permanently deleted subject's level and mode too.
                        self.subjects.remove(&c.subject);
                    }
                }
                self.drop_orphan_schemas();
            }
        }
    }

    /// Schemas no version refers to any more are gone, as they are once compaction has removed
    /// their records: an instance that rebuilds from the log must answer the same.
    fn drop_orphan_schemas(&mut self) {
        let used: std::collections::HashSet<i32> = self
            .subjects
            .values()
            .flat_map(|s| s.versions.values().map(|v| v.id))
            .collect();
        self.schemas.retain(|id, _| used.contains(id));
        self.by_identity.retain(|_, id| used.contains(id));
    }

    /// The stored schema, parsed leniently with its references (cached after the first time).
    pub fn parsed(&self, s: &StoredSchema) -> Option<Arc<Parsed>> {
        if let Some(done) = s.parsed.get() {
            return done.as_ref().ok().cloned();
        }
        s.parse_with(self.stored_references(s))
    }

    /// The references of a stored schema, resolved without limits: it was admitted under the
    /// limits of its time, and rebuilding must not drop it when they are lowered.
    pub fn stored_references(&self, s: &StoredSchema) -> Result<References, String> {
        self.resolve(&s.references, ReferenceLimits::UNLIMITED)
            .map_err(|e| e.message)
    }

    /// Resolves references to the schemas they reach, each subject and version once however
    /// often it is referenced, within `limits`. References that loop, names that denote two
    /// schemas and references to versions that do not exist are 42201s; too much referenced
    /// text is a 42209.
    pub fn resolve(
        &self,
        refs: &[SchemaReference],
        limits: ReferenceLimits,
    ) -> Result<References, ApiError> {
        if refs.len() > limits.max_references {
            return Err(ApiError::invalid_schema(format!(
                "Invalid schema: the schema lists {} references; this registry resolves at most {} per request (--max-references)",
                refs.len(),
                limits.max_references
            )));
        }
        let mut walk = Walk {
            limits,
            ..Walk::default()
        };
        let mut seen = HashSet::new();
        let mut root = Vec::new();
        for r in refs {
            let i = self.visit(&mut walk, r)?;
            walk.name(&r.name, i)?;
            if seen.insert((r.name.as_str(), i)) {
                root.push((r.name.clone(), i));
            }
        }
        Ok(References {
            schemas: walk.schemas,
            root,
        })
    }

    fn visit(&self, walk: &mut Walk, r: &SchemaReference) -> Result<usize, ApiError> {
        let found = self.subjects.get(&r.subject).and_then(|s| {
            if r.version == -1 {
                s.live().next_back().map(|(n, v)| (*n, v))
            } else {
                s.versions.get(&r.version).map(|v| (r.version, v))
            }
        });
        let Some((version, stored)) = found.and_then(|(n, v)| Some((n, self.schemas.get(&v.id)?)))
        else {
            return Err(ApiError::invalid_schema(format!(
                "Invalid schema: reference \"{}\" points at subject \"{}\" version {}, which is not registered",
                r.name, r.subject, r.version
            )));
        };
        let key = (r.subject.clone(), version);
        if let Some(i) = walk.index.get(&key) {
            return Ok(*i);
        }
        if let Some(at) = walk.stack.iter().position(|k| *k == key) {
            let path: Vec<String> = walk.stack[at..]
                .iter()
                .chain(std::iter::once(&key))
                .map(|(s, v)| format!("{s} version {v}"))
                .collect();
            return Err(ApiError::invalid_schema(format!(
                "Invalid schema: references loop: {}",
                path.join(" -> ")
            )));
        }
        if walk.stack.len() >= MAX_REFERENCE_DEPTH {
            return Err(ApiError::invalid_schema(format!(
                "Invalid schema: references nest deeper than {MAX_REFERENCE_DEPTH} levels"
            )));
        }
        if walk.schemas.len() + walk.stack.len() + 1 > walk.limits.max_references {
            return Err(ApiError::invalid_schema(format!(
                "Invalid schema: the references reach more than {} schemas; this registry resolves at most {} per request (--max-references)",
                walk.limits.max_references, walk.limits.max_references
            )));
        }
        walk.bytes += stored.schema.len();
        if walk.bytes > walk.limits.max_resolved_bytes {
            return Err(ApiError::new(
                codes::SCHEMA_TOO_LARGE,
                format!(
                    "Schema too large: the schemas its references reach hold more than {} bytes; this registry resolves at most that per request (--max-resolved-bytes)",
                    walk.limits.max_resolved_bytes
                ),
            ));
        }
        walk.stack.push(key);
        let mut seen = HashSet::new();
        let mut own = Vec::new();
        for child in &stored.references {
            let i = self.visit(walk, child)?;
            walk.name(&child.name, i)?;
            if seen.insert((child.name.as_str(), i)) {
                own.push((child.name.clone(), i));
            }
        }
        let key = walk.stack.pop().expect("pushed above");
        let i = walk.schemas.len();
        walk.schemas.push(Resolved {
            schema_type: stored.schema_type.clone(),
            text: Arc::from(stored.schema.as_str()),
            references: own,
        });
        walk.keys.push(key.clone());
        walk.index.insert(key, i);
        Ok(i)
    }

    /// The subject's own level, else the global one, else `default`.
    pub fn level(&self, subject: &str, default: Level) -> Level {
        self.subjects
            .get(subject)
            .and_then(|s| s.level)
            .or(self.level)
            .unwrap_or(default)
    }

    /// The subject's own mode, else the global one.
    pub fn mode(&self, subject: Option<&str>) -> Mode {
        subject
            .and_then(|s| self.subjects.get(s))
            .and_then(|s| s.mode)
            .or(self.mode)
            .unwrap_or_default()
    }

    /// Ids of live schemas that reference `subject` at `version`.
    pub fn referenced_by(&self, subject: &str, version: i32) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .subjects
            .values()
            .flat_map(|s| s.live().map(|(_, v)| v.id))
            .filter_map(|id| self.schemas.get(&id))
            .filter(|s| {
                s.references
                    .iter()
                    .any(|r| r.subject == subject && r.version == version)
            })
            .map(|s| s.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ConfigValue, SchemaValue};

    fn schema_change(subject: &str, version: i32, id: i32) -> Change {
        Change::Schema(SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema_type: None,
            references: vec![],
            schema: format!("{{\"type\":\"fixed\",\"name\":\"F{id}\",\"size\":{id}}}"),
            deleted: false,
        })
    }

    #[test]
    fn records_that_lost_their_offset_are_skipped() {
        let mut st = State::default();
        let (k, v) = schema_change("s", 1, 1).encode(0, "a", 0);
        st.apply(0, &k, Some(&v));
        // Written by another instance that expected offset 0 too; it landed at 1.
        let (k, v) = schema_change("s", 1, 2).encode(0, "b", 0);
        st.apply(1, &k, Some(&v));
        assert_eq!(st.subjects["s"].versions[&1].id, 1);
        assert_eq!(st.max_id, 1);
        assert_eq!(st.void_records, 1);
        assert_eq!(st.next_offset, 2);
    }

    #[test]
    fn tombstones_and_foreign_records_change_nothing() {
        let mut st = State::default();
        let (k, v) = Change::Config(ConfigValue {
            subject: None,
            compatibility_level: Some("FULL".into()),
        })
        .encode(0, "a", 0);
        st.apply(0, &k, Some(&v));
        st.apply(1, &k, None);
        st.apply(
            2,
            b"{\"keytype\":\"SCHEMA\",\"subject\":\"x\",\"magic\":1}",
            Some(b"{}"),
        );
        st.apply(3, b"garbage", Some(b"garbage"));
        assert_eq!(st.level, Some(Level::Full));
        assert!(st.subjects.is_empty());
        assert_eq!(st.next_offset, 4);
    }
}
