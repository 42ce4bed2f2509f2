//! What `register`, `check --registry` and `prepare` share: how to reach the registry, and the
//! local side of the comparison (each subject of the manifest with its versions, their schema
//! text and Protobuf imports, ready to send).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use contracts_model::avro::Validation;
use contracts_model::manifest::{Event, Manifest, SchemaVersion};
use contracts_model::{Diagnostic, Format, Level, Schema};
use contracts_registry::api::{RegisterSchemaRequest, SchemaReference, SchemaType};
use contracts_registry::client::Client;
use sha2::Digest;

/// Where the registry is, for commands that always talk to one.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// The schema registry's base URL (Confluent's REST API; credentials may be given as
    /// http://user:password@host:port)
    #[arg(
        long = "registry",
        env = "CONTRACTS_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081",
        value_name = "URL"
    )]
    pub url: String,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// HTTP basic auth for the registry, from the environment only (not the command line, where
/// other users could read it).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Basic auth as USER:PASSWORD, for registries that require it
    #[arg(
        long = "registry-auth",
        env = "CONTRACTS_REGISTRY_AUTH",
        hide_env_values = true,
        value_name = "USER:PASSWORD",
        hide = true
    )]
    pub basic: Option<String>,
}

/// A client for `url`, with the credentials of `auth`.
pub fn client(url: &str, auth: &AuthArgs) -> anyhow::Result<Client> {
    let mut builder = Client::builder(url);
    if let Some(basic) = &auth.basic {
        let (user, password) = basic.split_once(':').context(
            "CONTRACTS_REGISTRY_AUTH must be USER:PASSWORD (a colon between user and password)",
        )?;
        builder = builder.basic_auth(user, password);
    }
    Ok(builder.build()?)
}

/// Runs one async command on a small runtime: the CLI is otherwise synchronous.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// One subject of the manifest: an event's versions that share a subject, oldest first.
#[derive(Debug)]
pub struct LocalSubject<'m> {
    pub event: &'m Event,
    pub subject: String,
    pub level: Level,
    pub versions: Vec<LocalVersion<'m>>,
}

/// One schema version as the registry receives it.
#[derive(Debug)]
pub struct LocalVersion<'m> {
    pub meta: &'m SchemaVersion,
    /// The file relative to the manifest's directory, with `/`: the snapshot's key for it.
    pub file: String,
    /// SHA-256 of the text sent to the registry (for Protobuf with every import's text): tells
    /// whether the file changed since a snapshot was taken.
    pub sha256: String,
    /// The parsed schema, or why it does not parse.
    pub schema: Result<Schema, Diagnostic>,
    /// The text registered (the file as written).
    pub text: String,
    /// Protobuf: the imports this file names directly (without the built-in google/protobuf
    /// ones, which registries know), registered as references.
    pub imports: Vec<String>,
}

/// A Protobuf file imported by some version, registered under its import path as subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    pub name: String,
    pub text: String,
    /// Its own imports, again without the built-in ones.
    pub imports: Vec<String>,
}

/// The manifest's side: every subject, plus every Protobuf file they import (by import path).
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

/// The schema type to register a format as.
pub fn schema_type(format: Format) -> SchemaType {
    match format {
        Format::Avro => SchemaType::Avro,
        Format::Protobuf => SchemaType::Protobuf,
    }
}

/// The registration body of a version or import, given the registered versions of its imports.
pub fn request(
    text: &str,
    format: Format,
    imports: &[String],
    version_of: impl Fn(&str) -> Option<i32>,
) -> Option<RegisterSchemaRequest> {
    let references = imports
        .iter()
        .map(|name| {
            Some(SchemaReference {
                name: name.clone(),
                // Confluent's default reference subject strategy: the import path.
                subject: name.clone(),
                version: version_of(name)?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(RegisterSchemaRequest {
        schema: text.to_string(),
        schema_type: Some(schema_type(format)),
        references,
        ..Default::default()
    })
}

/// Loads every version of every subject. The newest version of a subject is parsed strictly and
/// the others leniently, as the offline check and the registry do; manifest lints and schemas
/// that do not parse come back as diagnostics, except a newest version's parse error, which
/// stays in its [`LocalVersion::schema`] for the caller to report as a finding.
pub fn load(manifest: &Manifest) -> (Local<'_>, Vec<Diagnostic>) {
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
                let loaded = Schema::load(
                    &contracts_compat::manifest::source_of(event, meta),
                    Some(event.format),
                    validation,
                );
                match &loaded {
                    Ok(schema) => problems.extend(
                        contracts_compat::manifest::lint_against_manifest(event, meta, schema),
                    ),
                    Err(d) if i != last => problems.push(d.clone()),
                    Err(_) => {}
                }
                let (text, own_imports, closure) = match (&loaded, event.format) {
                    (Ok(Schema::Protobuf(proto)), _) => proto_parts(proto),
                    _ => match std::fs::read_to_string(&meta.path) {
                        Ok(text) => (text, Vec::new(), Vec::new()),
                        Err(e) => {
                            problems.push(Diagnostic::new(format!(
                                "cannot read \"{}\": {e}",
                                meta.path.display()
                            )));
                            continue;
                        }
                    },
                };
                let mut hasher = sha2::Sha256::new();
                hasher.update(text.as_bytes());
                for import in &closure {
                    hasher.update([0]);
                    hasher.update(import.name.as_bytes());
                    hasher.update([0]);
                    hasher.update(import.text.as_bytes());
                }
                let sha256 = hex(&hasher.finalize());
                for import in closure {
                    imports.entry(import.name.clone()).or_insert(import);
                }
                versions.push(LocalVersion {
                    meta,
                    file: relative(&manifest.base_dir, &meta.path),
                    sha256,
                    schema: loaded,
                    text,
                    imports: own_imports,
                });
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

/// A Protobuf version's entry text, its direct imports, and every imported file (sorted by name).
fn proto_parts(
    proto: &contracts_model::protobuf::ProtoSchema,
) -> (String, Vec<String>, Vec<ImportFile>) {
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
    (
        proto.entry_text().to_string(),
        own_imports(&entry),
        closure.into_values().collect(),
    )
}

/// The well-known types every registry and client carries (`google/protobuf/timestamp.proto`):
/// Confluent's serializers do not register them as references.
fn is_builtin(import: &str) -> bool {
    import.starts_with("google/protobuf/")
}

fn relative(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Imports in an order where each comes after the imports it needs.
pub fn dependency_order(imports: &BTreeMap<String, ImportFile>) -> Vec<&ImportFile> {
    fn visit<'a>(
        name: &str,
        imports: &'a BTreeMap<String, ImportFile>,
        seen: &mut std::collections::BTreeSet<String>,
        out: &mut Vec<&'a ImportFile>,
    ) {
        if !seen.insert(name.to_string()) {
            return;
        }
        if let Some(file) = imports.get(name) {
            for dep in &file.imports {
                visit(dep, imports, seen, out);
            }
            out.push(file);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for name in imports.keys() {
        visit(name, imports, &mut seen, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(name: &str, imports: &[&str]) -> (String, ImportFile) {
        (
            name.to_string(),
            ImportFile {
                name: name.to_string(),
                text: String::new(),
                imports: imports.iter().map(|s| s.to_string()).collect(),
            },
        )
    }

    #[test]
    fn imports_come_after_what_they_import() {
        let imports: BTreeMap<_, _> = [
            import("a/line_item.proto", &["z/money.proto"]),
            import("z/money.proto", &[]),
        ]
        .into_iter()
        .collect();
        let order: Vec<&str> = dependency_order(&imports)
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(order, ["z/money.proto", "a/line_item.proto"]);
    }

    #[test]
    fn references_name_the_import_path_as_subject() {
        let r = request(
            "syntax = \"proto3\";",
            Format::Protobuf,
            &["a/b.proto".into()],
            |_| Some(3),
        )
        .unwrap();
        assert_eq!(
            r.references,
            vec![SchemaReference {
                name: "a/b.proto".into(),
                subject: "a/b.proto".into(),
                version: 3
            }]
        );
        assert!(request("x", Format::Protobuf, &["a/b.proto".into()], |_| None).is_none());
    }
}
