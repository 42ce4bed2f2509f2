//! The registry's view of our subjects, fetched live or read from the committed snapshot in
//! `schemas/.registry/` (one JSON file per subject), like sqlx's `.sqlx/` query cache.
//!
//! A subject's file holds its own compatibility level, every live version (number, id, type,
//! references, schema text) and, for an event's subject, which local schema files the registry
//! already holds (file, SHA-256 of what was sent, version, id). With that, `contracts check
//! --offline-snapshot` gives the verdicts `contracts check --registry` gives, without a registry:
//! a local file whose hash is recorded is registered; any other is new and is checked against the
//! recorded history.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use contracts_registry::api::{RegisterSchemaRequest, SchemaReference};
use contracts_registry::client::Client;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::remote::{self, Local};

/// The snapshot's directory, inside the manifest's directory.
pub const DIR: &str = ".registry";

/// Characters kept as they are in a snapshot file name; others (`/` in import paths) are
/// percent-encoded.
const FILE_NAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// One subject as the registry has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectSnapshot {
    pub subject: String,
    /// The subject's own compatibility level; `null` when it follows the registry's global one.
    pub compatibility: Option<String>,
    /// The live versions, oldest first.
    pub versions: Vec<VersionSnapshot>,
    /// Local schema files the registry holds under this subject (events' subjects only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local: Vec<LocalMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSnapshot {
    pub version: i32,
    pub id: i32,
    #[serde(rename = "schemaType")]
    pub schema_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    pub schema: String,
}

/// A local file found registered by a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalMatch {
    /// Relative to the manifest's directory.
    pub file: String,
    pub sha256: String,
    pub version: i32,
    pub id: i32,
}

/// Every subject of ours, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub subjects: BTreeMap<String, SubjectSnapshot>,
}

impl Snapshot {
    /// The snapshot directory of a manifest.
    pub fn dir_of(manifest: &Path) -> PathBuf {
        manifest.parent().unwrap_or(Path::new("")).join(DIR)
    }

    /// The file contents, by file name: pretty JSON with a final newline, so diffs stay small.
    pub fn render(&self) -> BTreeMap<String, String> {
        self.subjects
            .values()
            .map(|s| {
                let mut text =
                    serde_json::to_string_pretty(s).expect("snapshot types serialize to JSON");
                text.push('\n');
                (file_name(&s.subject), text)
            })
            .collect()
    }

    /// Reads a committed snapshot.
    pub fn read(dir: &Path) -> anyhow::Result<Snapshot> {
        let entries = std::fs::read_dir(dir).with_context(|| {
            format!(
                "no registry snapshot in {}: run `contracts prepare --registry URL` to take one",
                dir.display()
            )
        })?;
        let mut subjects = BTreeMap::new();
        let mut names: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", dir.display()))?
                .path();
            if path.extension().is_some_and(|e| e == "json") {
                names.push(path);
            }
        }
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let subject: SubjectSnapshot = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a registry snapshot file; run `contracts prepare` to rewrite it",
                    path.display()
                )
            })?;
            subjects.insert(subject.subject.clone(), subject);
        }
        Ok(Snapshot { subjects })
    }

    /// Writes the snapshot, removing files of subjects that are no longer ours. Returns the file
    /// names written or removed.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let wanted = self.render();
        let mut changed = Vec::new();
        for (name, text) in &wanted {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                changed.push(name.clone());
            }
        }
        for name in existing_files(dir)? {
            if !wanted.contains_key(&name) {
                let path = dir.join(&name);
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                changed.push(name);
            }
        }
        Ok(changed)
    }

    /// How the files in `dir` differ from this snapshot, one line per subject.
    pub fn drift(&self, dir: &Path) -> anyhow::Result<Vec<String>> {
        let on_disk = if dir.is_dir() {
            Snapshot::read(dir)?
        } else {
            Snapshot::default()
        };
        let mut lines = Vec::new();
        let names: BTreeSet<&String> = self
            .subjects
            .keys()
            .chain(on_disk.subjects.keys())
            .collect();
        for name in names {
            match (on_disk.subjects.get(name), self.subjects.get(name)) {
                (None, Some(_)) => lines.push(format!("subject \"{name}\" is not in the snapshot")),
                (Some(_), None) => lines.push(format!(
                    "subject \"{name}\" is in the snapshot but no longer one of ours"
                )),
                (Some(old), Some(new)) if old != new => {
                    lines.push(format!(
                        "subject \"{name}\" drifted: {}",
                        describe(old, new)
                    ));
                }
                _ => {}
            }
        }
        // Same content, different bytes (hand edits, other formatting): still stale.
        if lines.is_empty() && dir.is_dir() {
            let wanted = self.render();
            for name in existing_files(dir)? {
                let text = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
                if wanted.get(&name) != Some(&text) {
                    lines.push(format!(
                        "{name} is not in the form `contracts prepare` writes"
                    ));
                }
            }
        }
        Ok(lines)
    }
}

/// What changed in one subject, in words.
fn describe(old: &SubjectSnapshot, new: &SubjectSnapshot) -> String {
    let mut parts = Vec::new();
    if old.compatibility != new.compatibility {
        parts.push(format!(
            "level {} → {}",
            old.compatibility.as_deref().unwrap_or("(global)"),
            new.compatibility.as_deref().unwrap_or("(global)")
        ));
    }
    let numbers = |s: &SubjectSnapshot| s.versions.iter().map(|v| v.version).collect::<Vec<_>>();
    if numbers(old) != numbers(new) {
        parts.push(format!(
            "versions {:?} in the snapshot, {:?} in the registry",
            numbers(old),
            numbers(new)
        ));
    } else if old.versions != new.versions {
        parts.push("a version's schema or id differs".to_string());
    }
    if old.local != new.local {
        parts.push("local schema files changed or were registered since".to_string());
    }
    parts.join("; ")
}

fn existing_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The file a subject's snapshot is kept in.
pub fn file_name(subject: &str) -> String {
    format!("{}.json", utf8_percent_encode(subject, FILE_NAME))
}

/// Fetches the registry's view of every subject of ours: events' subjects, imported files, and
/// whatever their registered versions reference.
pub async fn fetch(client: &Client, local: &Local<'_>) -> anyhow::Result<Snapshot> {
    let mut subjects = BTreeMap::new();
    let mut queue: Vec<String> = local.subject_names();
    while let Some(subject) = queue.pop() {
        if subjects.contains_key(&subject) {
            continue;
        }
        let snap = fetch_subject(client, &subject).await?;
        for v in &snap.versions {
            queue.extend(v.references.iter().map(|r| r.subject.clone()));
        }
        subjects.insert(subject, snap);
    }
    // Which local files the registry holds: asked by lookup, so the registry decides identity.
    let mut import_versions: HashMap<String, Option<i32>> = HashMap::new();
    for import in remote::dependency_order(&local.imports) {
        let request = remote::request(
            &import.text,
            contracts_model::Format::Protobuf,
            &import.imports,
            |n| import_versions.get(n).copied().flatten(),
        );
        let found = match request {
            Some(r) => lookup(client, &import.name, &r).await?,
            None => None,
        };
        import_versions.insert(import.name.clone(), found.map(|(version, _)| version));
    }
    for s in &local.subjects {
        let mut matches = Vec::new();
        for v in &s.versions {
            let request = remote::request(&v.text, s.event.format, &v.imports, |n| {
                import_versions.get(n).copied().flatten()
            });
            if let Some(request) = request
                && let Some((version, id)) = lookup(client, &s.subject, &request).await?
            {
                matches.push(LocalMatch {
                    file: v.file.clone(),
                    sha256: v.sha256.clone(),
                    version,
                    id,
                });
            }
        }
        if let Some(snap) = subjects.get_mut(&s.subject) {
            snap.local = matches;
        }
    }
    Ok(Snapshot { subjects })
}

async fn lookup(
    client: &Client,
    subject: &str,
    request: &RegisterSchemaRequest,
) -> anyhow::Result<Option<(i32, i32)>> {
    let found = client.lookup(subject, request).await?;
    // A lookup may find a soft-deleted version; only live ones count.
    Ok(found.filter(|s| !s.deleted).map(|s| (s.version, s.id)))
}

async fn fetch_subject(client: &Client, subject: &str) -> anyhow::Result<SubjectSnapshot> {
    let compatibility = client
        .subject_config(subject)
        .await?
        .and_then(|c| c.compatibility_level);
    let numbers = match client.versions(subject).await {
        Ok(n) => n,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut versions = Vec::new();
    for n in numbers {
        let s = client.version(subject, n).await?;
        versions.push(VersionSnapshot {
            version: s.version,
            id: s.id,
            schema_type: s.schema_type().as_str().to_string(),
            references: s.references.clone(),
            schema: s.schema,
        });
    }
    versions.sort_by_key(|v| v.version);
    Ok(SubjectSnapshot {
        subject: subject.to_string(),
        compatibility,
        versions,
        local: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        let s = SubjectSnapshot {
            subject: "shop/common/v1/money.proto".into(),
            compatibility: None,
            versions: vec![VersionSnapshot {
                version: 1,
                id: 4,
                schema_type: "PROTOBUF".into(),
                references: vec![],
                schema: "syntax = \"proto3\";\n".into(),
            }],
            local: vec![],
        };
        Snapshot {
            subjects: [(s.subject.clone(), s)].into_iter().collect(),
        }
    }

    #[test]
    fn subjects_with_slashes_get_one_file_each() {
        assert_eq!(
            file_name("shop/common/v1/money.proto"),
            "shop%2Fcommon%2Fv1%2Fmoney.proto.json"
        );
        assert_eq!(file_name("orders-value"), "orders-value.json");
    }

    #[test]
    fn a_written_snapshot_reads_back_and_shows_no_drift() {
        let dir = tempfile::tempdir().unwrap();
        let snap = sample();
        assert_eq!(snap.write(dir.path()).unwrap().len(), 1);
        assert_eq!(Snapshot::read(dir.path()).unwrap(), snap);
        assert!(snap.drift(dir.path()).unwrap().is_empty());
        // Writing again changes nothing.
        assert!(snap.write(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn drift_names_the_subject_and_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let old = sample();
        old.write(dir.path()).unwrap();
        let mut new = old.clone();
        let s = new.subjects.values_mut().next().unwrap();
        s.compatibility = Some("FULL".into());
        let mut v2 = s.versions[0].clone();
        v2.version = 2;
        s.versions.push(v2);
        let drift = new.drift(dir.path()).unwrap();
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(
            drift[0].contains("\"shop/common/v1/money.proto\""),
            "{}",
            drift[0]
        );
        assert!(drift[0].contains("level (global) → FULL"), "{}", drift[0]);
        assert!(
            drift[0].contains("versions [1] in the snapshot, [1, 2]"),
            "{}",
            drift[0]
        );
    }

    #[test]
    fn subjects_added_or_gone_are_drift() {
        let dir = tempfile::tempdir().unwrap();
        sample().write(dir.path()).unwrap();
        let drift = Snapshot::default().drift(dir.path()).unwrap();
        assert!(drift[0].contains("no longer one of ours"), "{drift:?}");
        let empty = tempfile::tempdir().unwrap();
        let drift = sample().drift(empty.path()).unwrap();
        assert!(drift[0].contains("is not in the snapshot"), "{drift:?}");
    }
}
