//! `contracts check --against <git-ref>`: the schemas at a git ref are the released history, as
//! `buf breaking --against` takes them.
//!
//! The manifest and every schema file at the ref are read with git into a temporary directory
//! and loaded as the manifest of that commit. Then, subject by subject:
//! - a version present at the ref whose schema differs now is `RELEASED_VERSION_EDITED`;
//! - a version present at the ref and gone now is `RELEASED_VERSION_REMOVED`;
//! - each version that is new since the ref is checked, in order, against the versions at the
//!   ref (and the new ones before it) at the subject's level, with the same engine and rules as
//!   `contracts check`, stopping at the first the registry would refuse.
//!
//! "Differs" means what the schema registry means by it: two texts are the same version when
//! the registry would give them the same id. For Avro that is the JSON with its layout and key
//! order ignored (docs, defaults and aliases count); for Protobuf the file's descriptor, without
//! its layout and comments, for the version's file and every file it imports. Reformatting a
//! released file therefore passes, while any change a consumer could observe is a finding: the
//! registry would register it as a new schema, so producers of the "same" version would write
//! data under two ids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use contracts_compat::manifest::{
    Local, LocalSubject, LocalVersion, load_local, locate_in_candidate, source_of,
};
use contracts_compat::{Finding, Version};
use contracts_model::avro::Validation;
use contracts_model::manifest::Manifest;
use contracts_model::snapshot::Sent;
use contracts_model::{Diagnostic, Level, Schema};
use prost::Message;

use crate::git::Repo;
use crate::report::{self, ErrorFormat, Report, Verdict};

/// A released version edited in place.
pub const EDITED: &str = "RELEASED_VERSION_EDITED";
/// A released version no longer in the manifest.
pub const REMOVED: &str = "RELEASED_VERSION_REMOVED";

/// The schemas as they were at a git ref, in a temporary directory.
struct Released {
    /// What the user called it (`main`, `origin/main`, `v1.2.0`).
    name: String,
    commit: String,
    /// Removed when dropped.
    dir: tempfile::TempDir,
    /// The manifest at the ref; `None` when it did not exist yet (everything is new).
    manifest: Option<Manifest>,
}

impl Released {
    fn read(manifest_path: &Path, reference: &str) -> anyhow::Result<Result<Released, ExitCode>> {
        let manifest_dir = manifest_path.parent().unwrap_or(Path::new(""));
        let repo = Repo::discover(manifest_dir)?;
        let commit = repo.resolve(reference)?;
        let file_name = manifest_path
            .file_name()
            .context("--manifest names no file")?
            .to_string_lossy();
        let manifest_in_repo = repo.path_in_repo(&file_name);
        let schema_dir = repo.path_in_repo("");
        // The manifest's directory, and schema files anywhere (a version's `root` may be
        // outside it).
        let blobs = repo.files(&commit, |path| {
            path == manifest_in_repo
                || path.ends_with(".avsc")
                || path.ends_with(".proto")
                || (path.starts_with(&schema_dir) && !path.contains("/.registry/"))
        })?;
        let dir = tempfile::Builder::new()
            .prefix("contracts-against-")
            .tempdir()
            .context("cannot create a temporary directory for the schemas at the ref")?;
        repo.write_blobs(&blobs, dir.path())?;
        let old_path = dir.path().join(&manifest_in_repo);
        let manifest = if old_path.is_file() {
            match Manifest::load(&old_path) {
                Ok(m) => Some(m),
                Err(diagnostics) => {
                    eprintln!(
                        "error: the manifest at {reference} ({manifest_in_repo}) does not load:"
                    );
                    return Ok(Err(report::print_problems(&diagnostics)));
                }
            }
        } else {
            None
        };
        Ok(Ok(Released {
            name: reference.to_string(),
            commit,
            dir,
            manifest,
        }))
    }

    fn short_commit(&self) -> &str {
        &self.commit[..self.commit.len().min(12)]
    }

    /// Whether a file is one of the ref's copies rather than the user's.
    fn holds(&self, file: &Path) -> bool {
        file.starts_with(self.dir.path())
    }
}

pub fn run(
    manifest_path: &Path,
    error_format: ErrorFormat,
    reference: &str,
) -> anyhow::Result<ExitCode> {
    let manifest = match Manifest::load(manifest_path) {
        Ok(m) => m,
        Err(diagnostics) => return Ok(report::print_problems(&diagnostics)),
    };
    let (local, problems) = load_local(&manifest);
    if !problems.is_empty() {
        return Ok(report::print_problems(&problems));
    }
    let released = match Released::read(manifest_path, reference)? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    // Manifest lints at the ref do not matter here; a released version that does not parse is
    // reported when it is compared.
    let (old, _lints) = match &released.manifest {
        Some(m) => load_local(m),
        None => (
            Local {
                subjects: Vec::new(),
                imports: BTreeMap::new(),
            },
            Vec::new(),
        ),
    };
    let mut verdicts = Vec::new();
    let mut problems = Vec::new();
    for subject in &local.subjects {
        let before = old.subjects.iter().find(|s| s.subject == subject.subject);
        match check_subject(subject, before, &released, &manifest) {
            Ok(v) => verdicts.push(v),
            Err(mut d) => problems.append(&mut d),
        }
    }
    for gone in old
        .subjects
        .iter()
        .filter(|o| local.subjects.iter().all(|s| s.subject != o.subject))
    {
        verdicts.push(subject_gone(gone, &manifest, &released.name));
    }
    if !problems.is_empty() {
        return Ok(report::print_problems(&problems));
    }
    let heading = format!(
        "{}: {} events, {} subjects, against {} ({})",
        manifest_path.display(),
        manifest.events.len(),
        local.subjects.len(),
        released.name,
        released.short_commit()
    );
    report::print_verdicts(&heading, &verdicts, error_format)
}

/// A version as the registry holds it: its parsed schema, leniently parsed as stored versions
/// are.
fn released_schema(subject: &LocalSubject<'_>, v: &LocalVersion<'_>) -> Result<Schema, Diagnostic> {
    match &v.schema {
        Ok(schema) => Ok(schema.clone()),
        Err(_) => Schema::load(
            &source_of(subject.event, v.meta),
            Some(subject.event.format),
            Validation::Lenient,
        ),
    }
}

fn check_subject(
    now: &LocalSubject<'_>,
    before: Option<&LocalSubject<'_>>,
    released: &Released,
    manifest: &Manifest,
) -> Result<Verdict, Vec<Diagnostic>> {
    let event = now.event;
    let at = &released.name;
    let mut reports = Vec::new();
    let mut history: Vec<(String, Schema)> = Vec::new();
    let mut problems = Vec::new();
    let old_versions = before.map_or(&[][..], |b| &b.versions[..]);
    for (before, old) in before
        .into_iter()
        .flat_map(|b| b.versions.iter().map(move |v| (b, v)))
    {
        let schema = match released_schema(before, old) {
            Ok(s) => s,
            Err(d) => {
                problems.push(Diagnostic::new(format!(
                    "{} {} at {at} does not parse: {}",
                    event.name,
                    old.meta.label,
                    d.message()
                )));
                continue;
            }
        };
        match now.versions.iter().find(|v| v.meta.label == old.meta.label) {
            None => reports.push(removed(now, &old.meta.label, at, manifest)),
            Some(current) => {
                if let Some(r) = edited(now, current, &schema, at) {
                    reports.push(r);
                }
            }
        }
        history.push((format!("{} at {at}", old.meta.label), schema));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let released_count = history.len();
    let mut new_labels = Vec::new();
    for v in now
        .versions
        .iter()
        .filter(|v| old_versions.iter().all(|o| o.meta.label != v.meta.label))
    {
        new_labels.push(v.meta.label.clone());
        let schema = match &v.schema {
            Ok(s) => s,
            Err(d) => {
                reports.push(Report::invalid_schema(
                    d,
                    now.level,
                    &v.meta.label,
                    Some(&event.name),
                ));
                break;
            }
        };
        let versions: Vec<Version<'_>> = history
            .iter()
            .map(|(label, schema)| Version { label, schema })
            .collect();
        let candidate = Version {
            label: &v.meta.label,
            schema,
        };
        let findings: Vec<Finding> = contracts_compat::check(now.level, &versions, candidate)
            .iter()
            .map(|f| locate_in_candidate(f, schema, v.meta, |file| released.holds(file)))
            .collect();
        history.push((v.meta.label.clone(), schema.clone()));
        if !findings.is_empty() {
            // The registry would refuse this version, and so everything after it.
            reports.extend(
                findings
                    .iter()
                    .map(|f| Report::from_finding(f, Some(&event.name))),
            );
            break;
        }
    }
    let old_labels: Vec<&str> = old_versions.iter().map(|v| v.meta.label.as_str()).collect();
    let state = match (released_count, new_labels.is_empty()) {
        (0, _) => format!("new: {}", new_labels.join(" → ")),
        (_, true) => format!("released [{}]", old_labels.join(",")),
        (_, false) => format!("[{}] + {}", old_labels.join(","), new_labels.join(" → ")),
    };
    Ok(verdict(
        &event.name,
        &event.format.to_string(),
        now.level,
        &state,
        &now.subject,
        reports,
    ))
}

fn verdict(
    name: &str,
    format: &str,
    level: Level,
    state: &str,
    subject: &str,
    reports: Vec<Report>,
) -> Verdict {
    let mark = if reports.is_empty() { "ok  " } else { "FAIL" };
    Verdict {
        line: format!("{mark}  {name:<40} {format:<8} {level:<19} {state:<22} subject {subject}"),
        reports,
    }
}

/// A subject that had versions at the ref and has none now.
fn subject_gone(gone: &LocalSubject<'_>, manifest: &Manifest, at: &str) -> Verdict {
    let reports = gone
        .versions
        .iter()
        .map(|v| removed(gone, &v.meta.label, at, manifest))
        .collect();
    verdict(
        &gone.event.name,
        &gone.event.format.to_string(),
        gone.level,
        "gone",
        &gone.subject,
        reports,
    )
}

/// A released version that is gone: at the event's entry in the manifest, or at the top of the
/// manifest when the whole event is gone.
fn removed(subject: &LocalSubject<'_>, label: &str, at: &str, manifest: &Manifest) -> Report {
    let event = manifest.event(&subject.event.name);
    let (file, line, column) = match event {
        Some(e) => (
            e.location.file.display().to_string(),
            e.location.line,
            e.location.column,
        ),
        None => (manifest.path.display().to_string(), 1, 1),
    };
    // Still listed, but under another subject: the registry keeps the history where it was.
    let moved = event
        .and_then(|e| {
            e.versions
                .iter()
                .find(|v| v.label == label)
                .map(|v| e.subject_of(v))
        })
        .filter(|now| *now != subject.subject);
    let whereabouts = match moved {
        Some(now) => {
            format!("is now under subject \"{now}\"; consumers look it up where it was released")
        }
        None => "is no longer in the manifest".to_string(),
    };
    Report {
        rule: REMOVED.to_string(),
        level: subject.level.to_string(),
        direction: None,
        path: String::new(),
        file: Some(file),
        line: Some(line),
        column: Some(column),
        message: format!(
            "{} {label} (subject \"{}\") was released at {at} and {whereabouts}; data written \
             with it may still be read (help: restore its entry, file and subject: a released \
             version stays for as long as its data lives)",
            subject.event.name, subject.subject
        ),
        old_version: Some(format!("{label} at {at}")),
        new_version: label.to_string(),
        event: Some(subject.event.name.clone()),
    }
}

/// One file of a version as the registry identifies it, and its text to locate a change in.
struct Part {
    /// `None` for the version's own file, else the import path.
    import: Option<String>,
    identity: Vec<u8>,
    text: String,
}

/// The version's file and every file it imports, as the registry identifies each.
fn parts(schema: &Schema) -> Vec<Part> {
    match schema {
        Schema::Avro(avro) => {
            let text = avro.source().text().to_string();
            vec![Part {
                import: None,
                identity: avro_identity(&text).into_bytes(),
                text,
            }]
        }
        Schema::Protobuf(proto) => {
            let identity = |name: &str, keep_name: bool| {
                proto
                    .file(name)
                    .map(|d| {
                        let mut d = d.clone();
                        d.source_code_info = None;
                        if !keep_name {
                            d.name = None;
                        }
                        d.encode_to_vec()
                    })
                    .unwrap_or_default()
            };
            let entry = proto.entry_name().to_string();
            let mut out = vec![Part {
                import: None,
                identity: identity(&entry, false),
                text: proto.entry_text().to_string(),
            }];
            for import in Sent::of(schema).closure {
                out.push(Part {
                    identity: identity(&import.name, true),
                    import: Some(import.name),
                    text: import.text,
                });
            }
            out
        }
    }
}

/// The registry's identity of an Avro text: compact JSON with sorted keys.
fn avro_identity(text: &str) -> String {
    fn sorted(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(m) => {
                let b: BTreeMap<String, Value> =
                    m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(b.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    serde_json::from_str::<serde_json::Value>(text)
        .map(|v| sorted(v).to_string())
        .unwrap_or_else(|_| text.to_string())
}

/// A released version whose schema differs now: at the first line that differs in the first
/// file that differs (the version's own, or an import).
fn edited(
    now: &LocalSubject<'_>,
    current: &LocalVersion<'_>,
    released: &Schema,
    at: &str,
) -> Option<Report> {
    let current_schema = match &current.schema {
        Ok(s) => s,
        // The released text parsed; a version that no longer does was edited.
        Err(d) => {
            let location = d.location().cloned();
            return Some(edited_report(
                now,
                current,
                at,
                location.map(|l| (l.file, l.line)),
                None,
            ));
        }
    };
    let before = parts(released);
    let after = parts(current_schema);
    for part in &after {
        let old = before.iter().find(|p| p.import == part.import);
        if old.is_some_and(|o| o.identity == part.identity) {
            continue;
        }
        // A new import shows as a changed own file first (its import line), so `old` is
        // missing only for a file the old version did not import.
        let comments = matches!(current_schema, Schema::Protobuf(_));
        let line = old.map_or(1, |o| first_difference(&o.text, &part.text, comments));
        let file = match &part.import {
            None => current.meta.path.clone(),
            Some(name) => current.meta.root.join(name),
        };
        return Some(edited_report(
            now,
            current,
            at,
            Some((file, line)),
            part.import.as_deref(),
        ));
    }
    None
}

fn edited_report(
    now: &LocalSubject<'_>,
    current: &LocalVersion<'_>,
    at: &str,
    place: Option<(PathBuf, usize)>,
    import: Option<&str>,
) -> Report {
    let (file, line) = match place {
        Some((file, line)) => (file, line),
        None => (current.meta.path.clone(), 1),
    };
    let label = &current.meta.label;
    let what = match import {
        None => format!("{} {label} ({})", now.event.name, file.display()),
        Some(name) => format!(
            "{} {label} imports {name} ({}), which",
            now.event.name,
            file.display()
        ),
    };
    Report {
        rule: EDITED.to_string(),
        level: now.level.to_string(),
        direction: None,
        path: String::new(),
        file: Some(file.display().to_string()),
        line: Some(line),
        column: Some(1),
        message: format!(
            "{what} differs from its schema at {at}: a released version never changes, and the \
             registry would give the edited text a new id (help: restore it with `git checkout \
             {at} -- {}` and add the change as a new version)",
            file.display()
        ),
        old_version: Some(format!("{label} at {at}")),
        new_version: label.clone(),
        event: Some(now.event.name.clone()),
    }
}

/// The 1-based number of the first line of `new` that differs from `old`, skipping blank lines,
/// indentation and (in Protobuf) `//` comments, which the registry's identity ignores too.
fn first_difference(old: &str, new: &str, comments: bool) -> usize {
    let significant = |text: &str| -> Vec<(usize, String)> {
        text.lines()
            .enumerate()
            .filter_map(|(i, line)| {
                let code = match line.find("//") {
                    Some(at) if comments => &line[..at],
                    _ => line,
                };
                let code = code.trim();
                (!code.is_empty()).then(|| (i + 1, code.to_string()))
            })
            .collect()
    };
    let (old, new) = (significant(old), significant(new));
    for (i, (line, code)) in new.iter().enumerate() {
        if old.get(i).map(|(_, c)| c) != Some(code) {
            return *line;
        }
    }
    // `new` is what `old` starts with: the change is a removal at its end.
    new.last().map_or(1, |(line, _)| *line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_differing_line_skips_layout_and_protobuf_comments() {
        assert_eq!(first_difference("a\nb\nc", "a\nx\nc", false), 2);
        assert_eq!(first_difference("a", "b", false), 1);
        assert_eq!(first_difference("a\nb", "a\nb\nc", false), 3);
        assert_eq!(first_difference("a\nb\nc", "a\nb", false), 2);
        assert_eq!(first_difference("a\nb", "a\n\n  b\nc", false), 4);
        let old = "// x\nint32 a = 1;\n";
        let new = "// y\nint32 a = 1;\nint32 b = 2; // new\n";
        assert_eq!(first_difference(old, new, true), 3);
        assert_eq!(first_difference(old, new, false), 1);
    }

    #[test]
    fn avro_identity_is_the_registrys_for_layout_and_key_order() {
        let refs = contracts_registry::schema::References::default();
        let ty = contracts_registry_client::api::SchemaType::Avro;
        let identity = |text: &str| {
            contracts_registry::schema::parse(&ty, text, &refs, Validation::Lenient)
                .unwrap()
                .identity
        };
        let a = r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}"#;
        let b = "{\n  \"name\": \"A\",\n  \"type\": \"record\",\n  \"fields\": [ {\"type\": \"int\", \"name\": \"x\"} ]\n}";
        let c = r#"{"type":"record","name":"A","doc":"d","fields":[{"name":"x","type":"int"}]}"#;
        assert_eq!(avro_identity(a), avro_identity(b));
        assert_eq!(identity(a), identity(b));
        assert_ne!(avro_identity(a), avro_identity(c));
        assert_ne!(identity(a), identity(c));
    }
}
