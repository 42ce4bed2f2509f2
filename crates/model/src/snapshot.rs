//! The committed snapshot of a schema registry's view of our subjects: `schemas/.registry/`, one
//! JSON file per subject, as sqlx keeps its query cache in `.sqlx/`.
//!
//! `contracts prepare` fetches and writes it; `contracts check --offline-snapshot` and the
//! build-time gate of `contracts-build` read it, so that CI and builds give the registry's
//! verdicts without a network. A subject's file holds its own compatibility level, every live
//! version (number, id, type, references, schema text) and, for an event's subject, which local
//! schema files the registry already holds (file, SHA-256 of the text that was sent, version,
//! id): a local file whose hash is recorded is registered, any other is new.
//!
//! The files are pretty JSON with fields in a fixed order and a final newline, so that a registry change is a
//! small, readable diff in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::Schema;

/// The snapshot's directory, inside the manifest's directory.
pub const DIR: &str = ".registry";

/// Why a snapshot cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The directory is missing or cannot be listed.
    #[error(
        "no registry snapshot in {}: {source}; run `contracts prepare --registry URL` to take one",
        dir.display()
    )]
    Missing {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// A file cannot be read, written or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file is not a subject snapshot.
    #[error(
        "{} is not a registry snapshot file (line {}, column {}: {source}); run `contracts prepare` to rewrite it",
        path.display(), source.line(), source.column()
    )]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

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

/// One registered version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSnapshot {
    pub version: i32,
    pub id: i32,
    /// `AVRO` or `PROTOBUF`, as the registry names it.
    #[serde(rename = "schemaType")]
    pub schema_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// The schema text as the registry returns it.
    pub schema: String,
}

/// A schema reference, as the registry's API spells it (a Protobuf import, by default under its
/// import path as subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A local file the registry was found to hold (by lookup, when the snapshot was taken).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalMatch {
    /// Relative to the manifest's directory, with `/`.
    pub file: String,
    /// [`sha256`] of the text sent to the registry.
    pub sha256: String,
    pub version: i32,
    pub id: i32,
}

impl SubjectSnapshot {
    /// The registration of this exact local file content, if the registry holds it.
    pub fn registered(&self, file: &str, sha256: &str) -> Option<&LocalMatch> {
        self.local
            .iter()
            .find(|m| m.file == file && m.sha256 == sha256)
    }

    /// The registration recorded for a local file, whatever its content is now.
    pub fn registered_file(&self, file: &str) -> Option<&LocalMatch> {
        self.local.iter().find(|m| m.file == file)
    }

    /// A registered version by number.
    pub fn version(&self, version: i32) -> Option<&VersionSnapshot> {
        self.versions.iter().find(|v| v.version == version)
    }
}

/// Every subject of ours, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub subjects: BTreeMap<String, SubjectSnapshot>,
}

impl Snapshot {
    /// The snapshot directory of a manifest: `.registry/` beside it.
    pub fn dir_of(manifest: &Path) -> PathBuf {
        manifest.parent().unwrap_or(Path::new("")).join(DIR)
    }

    /// The file contents, by file name: pretty JSON with a final newline, so diffs stay small.
    pub fn render(&self) -> BTreeMap<String, String> {
        self.subjects
            .values()
            .map(|s| {
                // Plain structs of strings and numbers: serializing cannot fail.
                let mut text = serde_json::to_string_pretty(s).unwrap_or_default();
                text.push('\n');
                (file_name(&s.subject), text)
            })
            .collect()
    }

    /// Reads a committed snapshot.
    pub fn read(dir: &Path) -> Result<Snapshot, SnapshotError> {
        let mut subjects = BTreeMap::new();
        for name in json_files(dir)? {
            let path = dir.join(&name);
            let text = std::fs::read_to_string(&path).map_err(|source| SnapshotError::Io {
                action: "read",
                path: path.clone(),
                source,
            })?;
            let subject: SubjectSnapshot = serde_json::from_str(&text)
                .map_err(|source| SnapshotError::Parse { path, source })?;
            subjects.insert(subject.subject.clone(), subject);
        }
        Ok(Snapshot { subjects })
    }

    /// The snapshot's files: what a build reruns on.
    pub fn files(dir: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
        Ok(json_files(dir)?.into_iter().map(|n| dir.join(n)).collect())
    }

    /// Writes the snapshot, removing files of subjects that are no longer ours. Returns the file
    /// names written or removed.
    pub fn write(&self, dir: &Path) -> Result<Vec<String>, SnapshotError> {
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| SnapshotError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let wanted = self.render();
        let mut changed = Vec::new();
        for (name, text) in &wanted {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                std::fs::write(&path, text).map_err(io("write", &path))?;
                changed.push(name.clone());
            }
        }
        for name in json_files(dir)? {
            if !wanted.contains_key(&name) {
                let path = dir.join(&name);
                std::fs::remove_file(&path).map_err(io("remove", &path))?;
                changed.push(name);
            }
        }
        Ok(changed)
    }

    /// How the files in `dir` differ from this snapshot, one line per subject.
    pub fn drift(&self, dir: &Path) -> Result<Vec<String>, SnapshotError> {
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
            for name in json_files(dir)? {
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

/// The `*.json` file names in `dir`, sorted.
fn json_files(dir: &Path) -> Result<Vec<String>, SnapshotError> {
    let missing = |source| SnapshotError::Missing {
        dir: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(missing)? {
        let name = entry.map_err(missing)?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".json") {
            names.push(name.into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The file a subject's snapshot is kept in: the subject with every byte other than ASCII
/// letters, digits, `-`, `.` and `_` percent-encoded (`/` in import paths becomes `%2F`).
pub fn file_name(subject: &str) -> String {
    let mut name = String::with_capacity(subject.len() + 5);
    for b in subject.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".json");
    name
}

/// A Protobuf file imported by a version, registered under its import path as subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    pub name: String,
    pub text: String,
    /// Its own imports, without the built-in `google/protobuf/*` ones.
    pub imports: Vec<String>,
}

/// What registering a schema version sends: its text, its direct imports (Protobuf), and every
/// file it imports, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub text: String,
    pub imports: Vec<String>,
    pub closure: Vec<ImportFile>,
}

impl Sent {
    /// What registering `schema` sends.
    pub fn of(schema: &Schema) -> Sent {
        match schema {
            Schema::Avro(avro) => Sent::text(avro.source().text()),
            Schema::Protobuf(proto) => protobuf_parts(proto),
        }
    }

    /// A schema with no imports, sent as it is written.
    pub fn text(text: &str) -> Sent {
        Sent {
            text: text.to_string(),
            imports: Vec::new(),
            closure: Vec::new(),
        }
    }

    /// The SHA-256 (hex) of the text and of every imported file: what a snapshot records to tell
    /// whether a local file changed since the registry was asked about it.
    pub fn sha256(&self) -> String {
        let mut hasher = sha2::Sha256::new();
        hasher.update(self.text.as_bytes());
        for import in &self.closure {
            hasher.update([0]);
            hasher.update(import.name.as_bytes());
            hasher.update([0]);
            hasher.update(import.text.as_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn protobuf_parts(proto: &crate::protobuf::ProtoSchema) -> Sent {
    let own_imports = |name: &str| -> Vec<String> {
        proto
            .file(name)
            .map(|f| {
                f.dependency
                    .iter()
                    .filter(|d| proto.source(d).is_some() && !is_builtin(d))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let entry = proto.entry_name().to_string();
    let mut closure = BTreeMap::new();
    let mut stack = own_imports(&entry);
    while let Some(name) = stack.pop() {
        if closure.contains_key(&name) {
            continue;
        }
        let text = proto
            .source(&name)
            .map(|s| s.text().to_string())
            .unwrap_or_default();
        let imports = own_imports(&name);
        stack.extend(imports.iter().cloned());
        closure.insert(
            name.clone(),
            ImportFile {
                name,
                text,
                imports,
            },
        );
    }
    Sent {
        text: proto.entry_text().to_string(),
        imports: own_imports(&entry),
        closure: closure.into_values().collect(),
    }
}

/// The well-known types every registry and client carries (`google/protobuf/timestamp.proto`):
/// Confluent's serializers do not register them as references.
fn is_builtin(import: &str) -> bool {
    import.starts_with("google/protobuf/")
}

/// `path` relative to `base`, with `/`: how a snapshot names local files.
pub fn relative_file(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
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
        assert_eq!(file_name("a b:ü"), "a%20b%3A%C3%BC.json");
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
    fn the_file_format_is_stable_pretty_json() {
        let rendered = sample().render();
        let text = &rendered["shop%2Fcommon%2Fv1%2Fmoney.proto.json"];
        assert_eq!(
            text,
            "{\n  \"subject\": \"shop/common/v1/money.proto\",\n  \"compatibility\": null,\n  \
             \"versions\": [\n    {\n      \"version\": 1,\n      \"id\": 4,\n      \
             \"schemaType\": \"PROTOBUF\",\n      \"schema\": \"syntax = \\\"proto3\\\";\\n\"\n    \
             }\n  ]\n}\n"
        );
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

    #[test]
    fn a_missing_or_broken_snapshot_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Snapshot::read(&dir.path().join("nope")).unwrap_err();
        assert!(
            missing.to_string().contains("contracts prepare"),
            "{missing}"
        );
        std::fs::write(dir.path().join("x.json"), "{\n  \"subject\": 3\n}\n").unwrap();
        let broken = Snapshot::read(dir.path()).unwrap_err().to_string();
        assert!(broken.contains("x.json"), "{broken}");
        assert!(broken.contains("line 2"), "{broken}");
    }

    #[test]
    fn the_hash_covers_imported_files() {
        let plain = Sent::text("syntax = \"proto3\";");
        let mut with_import = plain.clone();
        with_import.closure.push(ImportFile {
            name: "a.proto".into(),
            text: "x".into(),
            imports: vec![],
        });
        assert_ne!(plain.sha256(), with_import.sha256());
        assert_eq!(plain.sha256().len(), 64);
    }
}
