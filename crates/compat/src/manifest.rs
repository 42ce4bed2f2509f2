//! Checking the subject histories a contracts manifest declares.
//!
//! `contracts check` and the build-time gate in `contracts-build` both load an event's versions
//! the way the registry would see them and check each subject history at its level; this is the
//! one place that does it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use contracts_model::avro::{AvroSchema, Kind, Validation};
use contracts_model::manifest::{Event, Manifest, SchemaVersion, SubjectHistory};
use contracts_model::protobuf::ProtoSchema;
use contracts_model::snapshot::{ImportFile, Reference, Sent, Snapshot, VersionSnapshot};
use contracts_model::{Diagnostic, Format, Level, Location, Schema, SchemaOnDisk, SourceFile};

use crate::{Finding, Version};

/// The outcome of checking one subject history.
#[derive(Debug, Clone)]
pub struct HistoryCheck<'m> {
    pub subject: String,
    pub level: contracts_model::Level,
    /// The versions, oldest first.
    pub versions: Vec<&'m SchemaVersion>,
    /// The parsed schema of each version, in the same order; empty when the newest version does
    /// not parse (see `invalid`).
    pub schemas: Vec<Schema>,
    /// The newest version does not parse: the registry would reject it as `INVALID_SCHEMA`.
    pub invalid: Option<Diagnostic>,
    /// Every incompatibility, as [`crate::check_history`] reports it.
    pub findings: Vec<Finding>,
}

impl HistoryCheck<'_> {
    /// No finding and a valid newest version.
    pub fn is_compatible(&self) -> bool {
        self.invalid.is_none() && self.findings.is_empty()
    }
}

/// Where a version's schema is read from: an Avro file, or a Protobuf file in its import root.
pub fn source_of(event: &Event, version: &SchemaVersion) -> SchemaOnDisk {
    match event.format {
        Format::Avro => SchemaOnDisk {
            path: version.path.clone(),
            entry: None,
        },
        Format::Protobuf => SchemaOnDisk {
            path: version.root.clone(),
            entry: Some(version.file.to_string_lossy().into_owned()),
        },
    }
}

/// Loads every version of `history` and checks it at its level.
///
/// As the registry does, the newest version is parsed strictly and the stored ones leniently.
/// `Err` holds problems that are not findings: an older version that does not parse, or a
/// schema that does not define what the manifest says (its name, its key field).
pub fn check_event_history<'m>(
    event: &'m Event,
    history: &SubjectHistory<'m>,
) -> Result<HistoryCheck<'m>, Vec<Diagnostic>> {
    let versions = &history.versions;
    let mut schemas = Vec::new();
    let mut problems = Vec::new();
    let mut invalid = None;
    let last = versions.len().saturating_sub(1);
    for (i, v) in versions.iter().enumerate() {
        let validation = if i == last {
            Validation::Strict
        } else {
            Validation::Lenient
        };
        match Schema::load(&source_of(event, v), Some(event.format), validation) {
            Ok(schema) => {
                problems.extend(lint_against_manifest(event, v, &schema));
                schemas.push(schema);
            }
            Err(d) if i == last => invalid = Some(d),
            Err(d) => problems.push(d),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let findings = if invalid.is_none() {
        let labelled: Vec<Version<'_>> = versions
            .iter()
            .zip(&schemas)
            .map(|(v, schema)| Version {
                label: &v.label,
                schema,
            })
            .collect();
        crate::check_history(history.level, &labelled)
    } else {
        schemas.clear();
        Vec::new()
    };
    Ok(HistoryCheck {
        subject: history.subject.clone(),
        level: history.level,
        versions: versions.clone(),
        schemas,
        invalid,
        findings,
    })
}

/// The schema must define what the manifest says: its full name and the key field.
pub fn lint_against_manifest(
    event: &Event,
    version: &SchemaVersion,
    schema: &Schema,
) -> Vec<Diagnostic> {
    // What the schema declares: whether it defines the listed name, and that type's field names.
    let (defines_name, fields): (bool, Vec<&str>) = match schema {
        Schema::Avro(avro) => {
            let fields = match &avro.node(avro.root()).kind {
                Kind::Record(r) => r.fields.iter().map(|f| f.name.as_str()).collect(),
                _ => Vec::new(),
            };
            (
                avro.full_name().as_deref() == Some(version.full_name.as_str()),
                fields,
            )
        }
        Schema::Protobuf(proto) => match proto.message(&version.full_name) {
            Some(m) => (true, m.descriptor.field.iter().map(|f| f.name()).collect()),
            None => (false, Vec::new()),
        },
    };
    let at = |d: Diagnostic| d.at_location(version.location.clone());
    let (label, file) = (&version.label, version.path.display());
    if !defines_name {
        return vec![at(Diagnostic::new(format!(
            "{} {label} is listed as \"{}\" but {file} does not define it",
            event.name, version.full_name
        ))
        .with_help(
            "the event's `name` (or the version's `name`) is the full name of the schema's type: \
             Avro namespace.name, Protobuf package.Message",
        ))];
    }
    if !fields.contains(&event.key.as_str()) {
        return vec![at(Diagnostic::new(format!(
            "{} {label} has no field \"{}\" to take the Kafka key from",
            event.name, event.key
        ))
        .with_help(
            "add the field to the schema, or name an existing field as the event's `key`",
        ))];
    }
    Vec::new()
}

/// One schema version as the registry receives it.
#[derive(Debug)]
pub struct LocalVersion<'m> {
    pub meta: &'m SchemaVersion,
    /// The file relative to the manifest's directory, with `/`: the snapshot's key for it.
    pub file: String,
    /// [`Sent::sha256`] of what registering the version sends: tells whether the file changed
    /// since a snapshot was taken.
    pub sha256: String,
    /// The parsed schema, or why it does not parse.
    pub schema: Result<Schema, Diagnostic>,
    /// The text registered (the file as written).
    pub text: String,
    /// Protobuf: the imports this file names directly (without the built-in google/protobuf
    /// ones, which registries know), registered as references.
    pub imports: Vec<String>,
}

impl<'m> LocalVersion<'m> {
    /// A version loaded as `schema`; a version that does not parse is sent as its file's text.
    /// Also returns every file the version imports.
    pub fn new(
        base_dir: &Path,
        meta: &'m SchemaVersion,
        schema: Result<Schema, Diagnostic>,
    ) -> Result<(Self, Vec<ImportFile>), Diagnostic> {
        let sent = match &schema {
            Ok(schema) => Sent::of(schema),
            Err(_) => Sent::text(&std::fs::read_to_string(&meta.path).map_err(|e| {
                Diagnostic::new(format!("cannot read \"{}\": {e}", meta.path.display()))
            })?),
        };
        let version = LocalVersion {
            meta,
            file: contracts_model::snapshot::relative_file(base_dir, &meta.path),
            sha256: sent.sha256(),
            schema,
            text: sent.text,
            imports: sent.imports,
        };
        Ok((version, sent.closure))
    }
}

/// One subject of the manifest: an event's versions that share a subject, oldest first.
#[derive(Debug)]
pub struct LocalSubject<'m> {
    pub event: &'m Event,
    pub subject: String,
    pub level: Level,
    pub versions: Vec<LocalVersion<'m>>,
}

/// The manifest's side of a comparison with a registry: every subject, plus every Protobuf file
/// they import (by import path, which is also its subject).
#[derive(Debug)]
pub struct Local<'m> {
    pub subjects: Vec<LocalSubject<'m>>,
    pub imports: BTreeMap<String, ImportFile>,
}

impl Local<'_> {
    /// Every subject the registry holds for us: events' subjects and imported files.
    pub fn subject_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.subjects.iter().map(|s| s.subject.clone()).collect();
        names.extend(self.imports.keys().cloned());
        names
    }
}

/// Loads every version of every subject. The newest version of a subject is parsed strictly and
/// the others leniently, as the offline check and the registry do; manifest lints and schemas
/// that do not parse come back as diagnostics, except a newest version's parse error, which
/// stays in its [`LocalVersion::schema`] for the caller to report as a finding.
pub fn load_local(manifest: &Manifest) -> (Local<'_>, Vec<Diagnostic>) {
    let mut subjects = Vec::new();
    let mut imports = BTreeMap::new();
    let mut problems = Vec::new();
    for event in &manifest.events {
        for history in event.histories() {
            let last = history.versions.len().saturating_sub(1);
            let mut versions = Vec::new();
            for (i, meta) in history.versions.iter().copied().enumerate() {
                let validation = if i == last {
                    Validation::Strict
                } else {
                    Validation::Lenient
                };
                let loaded = Schema::load(&source_of(event, meta), Some(event.format), validation);
                match &loaded {
                    Ok(schema) => problems.extend(lint_against_manifest(event, meta, schema)),
                    Err(d) if i != last => problems.push(d.clone()),
                    Err(_) => {}
                }
                match LocalVersion::new(&manifest.base_dir, meta, loaded) {
                    Ok((version, closure)) => {
                        for import in closure {
                            imports.entry(import.name.clone()).or_insert(import);
                        }
                        versions.push(version);
                    }
                    Err(d) => problems.push(d),
                }
            }
            subjects.push(LocalSubject {
                event,
                subject: history.subject,
                level: history.level,
                versions,
            });
        }
    }
    (Local { subjects, imports }, problems)
}

/// Marks a file name as the registry's text of a version, not a local file.
pub const REGISTRY_FILE: &str = "registry:";

/// One entry of a subject's history as the registry would check against it.
#[derive(Debug, Clone)]
pub struct Registered {
    pub label: String,
    pub schema: Schema,
}

/// A local file the snapshot records as registered, whose content has changed since.
#[derive(Debug, Clone)]
pub struct EditedInPlace {
    /// The local version's label (`v1`).
    pub label: String,
    /// The registry's version number and id of the file as it was.
    pub version: i32,
    pub id: i32,
    /// What to tell the user, at the version's entry in the manifest.
    pub diagnostic: Diagnostic,
}

/// The outcome of checking one subject's local versions against the registry's view of it.
#[derive(Debug, Clone)]
pub struct RegistryCheck {
    pub subject: String,
    pub level: Level,
    /// The registry's version numbers, oldest first.
    pub registered: Vec<i32>,
    /// The subject's own level at the registry (`None`: the registry's global level).
    pub registry_level: Option<String>,
    /// Registered versions whose local file was edited in place: a registered schema never
    /// changes, so these fail.
    pub edited: Vec<EditedInPlace>,
    /// Labels of the local versions the registry does not hold, in order, up to the first that
    /// it would refuse.
    pub pending: Vec<String>,
    /// The first pending version does not parse: `(label, why)`.
    pub invalid: Option<(String, Diagnostic)>,
    /// Why the registry would refuse the first refused pending version; every finding names a
    /// local file.
    pub findings: Vec<Finding>,
    /// The history checked against: the registry's versions, then the accepted pending ones and
    /// the refused one, with their labels (for rendering findings).
    pub history: Vec<Registered>,
}

impl RegistryCheck {
    /// Nothing edited in place, and every pending version would be accepted.
    pub fn is_compatible(&self) -> bool {
        self.edited.is_empty() && self.invalid.is_none() && self.findings.is_empty()
    }
}

/// Checks a subject's local versions against the registry's view of it (fetched live, or read
/// from the committed snapshot), as registering them would: the local versions the registry does
/// not hold yet (usually just the newest) are checked, in order, against the versions it does
/// hold, at the manifest's level. Registered versions whose schema is a local file (the snapshot
/// says so) are read from that file, so findings point into it; versions only the registry has
/// are parsed from its text. `Err` holds registry versions that do not parse here.
pub fn check_against_registry(
    local: &LocalSubject<'_>,
    snapshot: &Snapshot,
) -> Result<RegistryCheck, Vec<Diagnostic>> {
    let held = snapshot.subjects.get(&local.subject);
    let empty = Vec::new();
    let matches = held.map_or(&empty, |r| &r.local);
    // The unchanged local version each registry version is, when it is one.
    let local_of = |version: i32| {
        matches
            .iter()
            .filter(|m| m.version == version)
            .find_map(|m| {
                local
                    .versions
                    .iter()
                    .find(|v| v.file == m.file && v.sha256 == m.sha256)
            })
    };
    let mut history = Vec::new();
    let mut problems = Vec::new();
    for rv in held.map_or(&[][..], |r| &r.versions[..]) {
        match local_of(rv.version).map(|v| (v, &v.schema)) {
            Some((v, Ok(schema))) => history.push(Registered {
                label: format!("registry v{} ({})", rv.version, v.meta.label),
                schema: schema.clone(),
            }),
            _ => match parse_registry_version(&local.subject, rv, snapshot) {
                Ok(schema) => history.push(Registered {
                    label: format!("registry v{}", rv.version),
                    schema,
                }),
                Err(d) => problems.push(d),
            },
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut edited = Vec::new();
    for m in matches {
        let Some(v) = local
            .versions
            .iter()
            .find(|v| v.file == m.file && v.sha256 != m.sha256)
        else {
            continue;
        };
        let diagnostic = Diagnostic::new(format!(
            "{} {} ({}) was edited after the registry registered it as version {} (id {}) of \
             subject \"{}\"",
            local.event.name, v.meta.label, m.file, m.version, m.id, local.subject
        ))
        .at_location(v.meta.location.clone())
        .with_help(
            "a registered version never changes: restore the file, and add the change as a new \
             version (if the registry changed instead, run `contracts prepare` and commit \
             .registry/)",
        );
        edited.push(EditedInPlace {
            label: v.meta.label.clone(),
            version: m.version,
            id: m.id,
            diagnostic,
        });
    }
    let mut check = RegistryCheck {
        subject: local.subject.clone(),
        level: local.level,
        registered: held.map_or_else(Vec::new, |r| r.versions.iter().map(|v| v.version).collect()),
        registry_level: held.and_then(|r| r.compatibility.clone()),
        edited,
        pending: Vec::new(),
        invalid: None,
        findings: Vec::new(),
        history: Vec::new(),
    };
    let is_registered =
        |v: &LocalVersion<'_>| held.is_some_and(|r| r.registered(&v.file, &v.sha256).is_some());
    for v in local.versions.iter().filter(|v| !is_registered(v)) {
        check.pending.push(v.meta.label.clone());
        let schema = match &v.schema {
            Ok(schema) => schema,
            Err(d) => {
                check.invalid = Some((v.meta.label.clone(), d.clone()));
                break;
            }
        };
        let versions: Vec<Version<'_>> = history
            .iter()
            .map(|e| Version {
                label: &e.label,
                schema: &e.schema,
            })
            .collect();
        let candidate = Version {
            label: &v.meta.label,
            schema,
        };
        let findings = crate::check(local.level, &versions, candidate);
        history.push(Registered {
            label: v.meta.label.clone(),
            schema: schema.clone(),
        });
        if !findings.is_empty() {
            // The registry would refuse this version, and so everything after it.
            check.findings = findings
                .iter()
                .map(|f| at_local_file(f, schema, v.meta))
                .collect();
            break;
        }
    }
    check.history = history;
    Ok(check)
}

/// A finding located in a registry-only version (FORWARD checks point into the old schema)
/// moves to the same place in the local candidate, so that every finding names a local file.
fn at_local_file(f: &Finding, candidate: &Schema, meta: &SchemaVersion) -> Finding {
    locate_in_candidate(f, candidate, meta, |file| {
        file.to_string_lossy().starts_with(REGISTRY_FILE)
    })
}

/// A finding with no location, or located in a file `elsewhere` says is not one of the user's
/// (a registry's text, a file read from a git ref), moves to the same place in the candidate:
/// FORWARD checks point into the old schema, but the user edits the new one.
pub fn locate_in_candidate(
    f: &Finding,
    candidate: &Schema,
    meta: &SchemaVersion,
    elsewhere: impl Fn(&Path) -> bool,
) -> Finding {
    if f.location.as_ref().is_some_and(|l| !elsewhere(&l.file)) {
        return f.clone();
    }
    let location = match candidate {
        Schema::Avro(avro) => Some(avro.location(avro.span_of_path(&f.path))),
        Schema::Protobuf(proto) => proto
            .message(&meta.full_name)
            .and_then(|m| proto.location_of(m.file_name(), m.path)),
    }
    .or_else(|| {
        Some(Location {
            file: meta.path.clone(),
            line: 1,
            column: 1,
        })
    });
    Finding {
        location,
        ..f.clone()
    }
}

/// Parses a version as the registry holds it; Protobuf references come from the snapshot.
fn parse_registry_version(
    subject: &str,
    v: &VersionSnapshot,
    snapshot: &Snapshot,
) -> Result<Schema, Diagnostic> {
    let name = format!("{REGISTRY_FILE}{subject}/versions/{}", v.version);
    let fail = |d: Diagnostic| {
        Diagnostic::new(format!(
            "the registry's version {} of subject \"{subject}\" (id {}) does not parse here: {}",
            v.version,
            v.id,
            d.message()
        ))
        .with_help(
            "the registry holds a schema this tool cannot read; compare it with `GET \
             /subjects/{subject}/versions/{version}`",
        )
    };
    match v.schema_type.as_str() {
        "AVRO" => {
            if !v.references.is_empty() {
                return Err(fail(Diagnostic::new(
                    "Avro schemas with references are not supported",
                )));
            }
            AvroSchema::parse(
                SourceFile::new(PathBuf::from(&name), v.schema.clone()),
                Validation::Lenient,
            )
            .map(Schema::Avro)
            .map_err(fail)
        }
        "PROTOBUF" => {
            let entry = format!("{name}.proto");
            let mut files = BTreeMap::new();
            files.insert(entry.clone(), v.schema.clone());
            collect_references(&v.references, snapshot, &mut files).map_err(fail)?;
            ProtoSchema::parse_files(files, &entry)
                .map(Schema::Protobuf)
                .map_err(fail)
        }
        other => Err(fail(Diagnostic::new(format!(
            "schema type {other} is not one this tool checks"
        )))),
    }
}

fn collect_references(
    references: &[Reference],
    snapshot: &Snapshot,
    files: &mut BTreeMap<String, String>,
) -> Result<(), Diagnostic> {
    for r in references {
        if files.contains_key(&r.name) {
            continue;
        }
        let target = snapshot
            .subjects
            .get(&r.subject)
            .and_then(|s| s.version(r.version))
            .ok_or_else(|| {
                Diagnostic::new(format!(
                    "its reference \"{}\" (subject \"{}\" version {}) is not in the snapshot",
                    r.name, r.subject, r.version
                ))
            })?;
        files.insert(r.name.clone(), target.schema.clone());
        collect_references(&target.references, snapshot, files)?;
    }
    Ok(())
}
