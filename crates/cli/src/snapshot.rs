//! Fetching the registry's view of our subjects, for `contracts prepare` and `contracts check
//! --registry`. The snapshot's data model, its files in `schemas/.registry/` and the check against
//! it live in `contracts_model::snapshot` and `contracts_compat::manifest`, so that the build
//! (`contracts-build`) reads exactly what `contracts prepare` writes without an HTTP client.

use std::collections::{BTreeMap, HashMap};

use contracts_model::snapshot::{
    LocalMatch, Reference, Snapshot, SubjectSnapshot, VersionSnapshot,
};
use contracts_registry_client::api::RegisterSchemaRequest;
use contracts_registry_client::client::Client;

use crate::remote::{self, Local};

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
            references: s
                .references
                .iter()
                .map(|r| Reference {
                    name: r.name.clone(),
                    subject: r.subject.clone(),
                    version: r.version,
                })
                .collect(),
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
