//! `contracts check --registry URL` and `contracts check --offline-snapshot`: the CI gate.
//!
//! For each subject of the manifest, the local versions the registry does not hold yet (usually
//! just the newest) are checked, in order, against the versions the registry does hold, at the
//! manifest's level for the subject — what `contracts register` would then ask the registry to
//! accept. The verdicts come from `contracts-compat` run here on the registry's schemas rather
//! than from the registry's `?verbose=true` answer: the findings are then the offline check's
//! (same rules, messages, paths and `file:line` in the local files), they work the same against
//! Confluent, Karapace or Redpanda, whose verbose messages differ, and the same code checks
//! against a committed snapshot with no registry at all.
//!
//! Registry versions whose schema is a local file (the registry said so on lookup) are read from
//! that file, so findings point into it; versions only the registry has are parsed from its text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use contracts_compat::{Finding, Version};
use contracts_model::avro::{AvroSchema, Validation};
use contracts_model::protobuf::ProtoSchema;
use contracts_model::{Diagnostic, Location, Schema, SourceFile};

use crate::check::{self, Verdict};
use crate::remote::{self, AuthArgs, LocalSubject};
use crate::report::{ErrorFormat, Report};
use crate::snapshot::{Snapshot, SubjectSnapshot, VersionSnapshot};

/// Where `contracts check` takes the registry's side from, when not from the manifest alone.
#[derive(Debug, clap::Args)]
pub struct RemoteArgs {
    /// Check against this schema registry's history of each subject (the CI gate) instead of
    /// the manifest's own history
    #[arg(long, env = "CONTRACTS_REGISTRY_URL", value_name = "URL")]
    registry: Option<String>,
    /// Check against the snapshot `contracts prepare` committed in schemas/.registry/, with no
    /// registry (takes precedence over --registry)
    #[arg(long)]
    offline_snapshot: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

impl RemoteArgs {
    pub fn is_set(&self) -> bool {
        self.registry.is_some() || self.offline_snapshot
    }
}

/// Marks a file name as the registry's text of a version, not a local file.
const REGISTRY_FILE: &str = "registry:";

pub fn run(
    manifest_path: &Path,
    error_format: ErrorFormat,
    opts: &RemoteArgs,
) -> anyhow::Result<ExitCode> {
    let manifest = match contracts_model::manifest::Manifest::load(manifest_path) {
        Ok(m) => m,
        Err(diagnostics) => return Ok(check::report_problems(&diagnostics)),
    };
    let (local, problems) = remote::load(&manifest);
    if !problems.is_empty() {
        return Ok(check::report_problems(&problems));
    }
    let (snapshot, source) = if opts.offline_snapshot {
        let dir = Snapshot::dir_of(manifest_path);
        (Snapshot::read(&dir)?, format!("snapshot {}", dir.display()))
    } else {
        let url = opts.registry.as_deref().unwrap_or_default();
        let client = remote::client(url, &opts.auth)?;
        let snapshot = remote::block_on(crate::snapshot::fetch(&client, &local))??;
        (snapshot, format!("registry {}", client.url()))
    };
    let mut verdicts = Vec::new();
    let mut problems = Vec::new();
    for subject in &local.subjects {
        match check_subject(subject, snapshot.subjects.get(&subject.subject), &snapshot) {
            Ok(v) => verdicts.push(v),
            Err(mut d) => problems.append(&mut d),
        }
    }
    if !problems.is_empty() {
        return Ok(check::report_problems(&problems));
    }
    let heading = format!(
        "{}: {} events, {} subjects, against the {source}",
        manifest_path.display(),
        manifest.events.len(),
        verdicts.len()
    );
    check::print_verdicts(&heading, &verdicts, error_format)
}

/// One history entry: a label and the schema.
struct Entry {
    label: String,
    schema: Schema,
}

fn check_subject(
    local: &LocalSubject<'_>,
    held: Option<&SubjectSnapshot>,
    snapshot: &Snapshot,
) -> Result<Verdict, Vec<Diagnostic>> {
    let event = local.event;
    let empty = Vec::new();
    let registered = held.map_or(&empty, |r| &r.local);
    // The local version each registry version is, when it is one.
    let local_of = |version: i32| {
        registered
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
        match local_of(rv.version).map(|v| &v.schema) {
            Some(Ok(schema)) => history.push(Entry {
                label: format!(
                    "registry v{} ({})",
                    rv.version,
                    local_label(local, rv.version, registered)
                ),
                schema: schema.clone(),
            }),
            _ => match parse_registry_version(&local.subject, rv, snapshot) {
                Ok(schema) => history.push(Entry {
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
    let is_registered = |v: &remote::LocalVersion<'_>| {
        registered
            .iter()
            .any(|m| m.file == v.file && m.sha256 == v.sha256)
    };
    let mut reports = Vec::new();
    let mut pending = Vec::new();
    for v in local.versions.iter().filter(|v| !is_registered(v)) {
        pending.push(v.meta.label.clone());
        let schema = match &v.schema {
            Ok(schema) => schema,
            Err(d) => {
                reports.push(Report::invalid_schema(
                    d,
                    local.level,
                    &v.meta.label,
                    Some(&event.name),
                ));
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
        let findings = contracts_compat::check(local.level, &versions, candidate);
        if !findings.is_empty() {
            // The registry would refuse this version, and so everything after it.
            reports.extend(findings.iter().map(|f| {
                Report::from_finding(&at_local_file(f, schema, v.meta), Some(&event.name))
            }));
            break;
        }
        history.push(Entry {
            label: v.meta.label.clone(),
            schema: schema.clone(),
        });
    }
    let numbers: Vec<String> = held
        .map(|r| r.versions.iter().map(|v| v.version.to_string()).collect())
        .unwrap_or_default();
    let state = match (numbers.is_empty(), pending.is_empty()) {
        (true, _) => format!("new: {}", pending.join(" → ")),
        (false, true) => format!("registered [{}]", numbers.join(",")),
        (false, false) => format!("[{}] + {}", numbers.join(","), pending.join(" → ")),
    };
    let mut line = format!(
        "{:<40} {:<8} {:<19} {:<22} subject {}",
        event.name, event.format, local.level, state, local.subject
    );
    let remote_level = held.and_then(|r| r.compatibility.as_deref());
    if held.is_some_and(|r| !r.versions.is_empty())
        && remote_level != Some(local.level.to_string().as_str())
    {
        line.push_str(&format!(
            " (registry level {}; `contracts register` sets {})",
            remote_level.unwrap_or("global"),
            local.level
        ));
    }
    let mark = if reports.is_empty() { "ok  " } else { "FAIL" };
    Ok(Verdict {
        line: format!("{mark}  {line}"),
        reports,
    })
}

/// The local label (`v2`) of a registry version that is a local file.
fn local_label(
    local: &LocalSubject<'_>,
    version: i32,
    registered: &[crate::snapshot::LocalMatch],
) -> String {
    registered
        .iter()
        .filter(|m| m.version == version)
        .find_map(|m| local.versions.iter().find(|v| v.file == m.file))
        .map_or_else(String::new, |v| v.meta.label.clone())
}

/// A finding located in a registry-only version (FORWARD checks point into the old schema)
/// moves to the same place in the local candidate, so that every finding names a local file.
fn at_local_file(
    f: &Finding,
    candidate: &Schema,
    meta: &contracts_model::manifest::SchemaVersion,
) -> Finding {
    let in_registry = f
        .location
        .as_ref()
        .is_none_or(|l| l.file.to_string_lossy().starts_with(REGISTRY_FILE));
    if !in_registry {
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
    references: &[contracts_registry::api::SchemaReference],
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
            .and_then(|s| s.versions.iter().find(|v| v.version == r.version))
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
