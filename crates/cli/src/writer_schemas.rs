//! The schemas records were written with, fetched from the registry by the id in each record,
//! and the contract versions of the manifest they are, for `consume`; the ids of the manifest's
//! versions, for `produce`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use contracts_core::{Format, wire};
use contracts_model::manifest::{Event, Manifest, SchemaVersion};
use contracts_model::protobuf::ProtoSchema;
use contracts_registry_client::api::SchemaType;
use contracts_registry_client::client::Client;
use prost_reflect::DescriptorPool;
use serde_json::Value as Json;

use crate::avro_json::AvroCodec;
use crate::proto_json;
use crate::remote;

/// A writer schema, ready to decode.
#[derive(Debug)]
pub enum Writer {
    Avro(AvroCodec),
    /// The descriptors of the schema's files; `entry` is the schema's own file.
    Protobuf {
        pool: DescriptorPool,
        entry: String,
    },
}

/// A record value decoded.
#[derive(Debug)]
pub struct Decoded {
    pub schema_id: u32,
    /// The record or message name (`shop.orders.OrderCreated`).
    pub name: String,
    pub value: Json,
}

/// Why a record value could not be decoded, with the schema id when the header had one.
#[derive(Debug)]
pub struct Undecodable {
    pub schema_id: Option<u32>,
    pub reason: String,
}

/// Writer schemas by id, each fetched once.
#[derive(Debug)]
pub struct WriterSchemas {
    client: Client,
    cache: HashMap<u32, Result<Arc<Writer>, String>>,
}

impl WriterSchemas {
    pub fn new(client: Client) -> Self {
        WriterSchemas {
            client,
            cache: HashMap::new(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Decodes a record value framed in the Confluent wire format.
    pub async fn decode(&mut self, value: &[u8]) -> Result<Decoded, Undecodable> {
        let (id, rest) = wire::read_header(value).map_err(|e| Undecodable {
            schema_id: None,
            reason: e.to_string(),
        })?;
        let schema_id = id.0;
        let fail = |reason: String| Undecodable {
            schema_id: Some(schema_id),
            reason,
        };
        let writer = self.writer(schema_id).await.map_err(fail)?;
        match &*writer {
            Writer::Avro(codec) => {
                let value = codec
                    .decode(rest)
                    .map_err(|e| fail(format!("not Avro of schema {schema_id}: {e:#}")))?;
                Ok(Decoded {
                    schema_id,
                    name: codec.name(),
                    value,
                })
            }
            Writer::Protobuf { pool, entry } => {
                let (indexes, payload) = wire::read_message_indexes(rest)
                    .map_err(|e| fail(format!("Protobuf message indexes: {e}")))?;
                let file = pool
                    .get_file_by_name(entry)
                    .ok_or_else(|| fail("the schema's file is missing".into()))?;
                let message = proto_json::message_at(&file, &indexes).ok_or_else(|| {
                    fail(format!(
                        "message indexes {indexes:?} name no message of schema {schema_id}"
                    ))
                })?;
                let name = message.full_name().to_owned();
                let value = proto_json::decode(message, payload).map_err(|e| {
                    fail(format!("not Protobuf {name} of schema {schema_id}: {e:#}"))
                })?;
                Ok(Decoded {
                    schema_id,
                    name,
                    value,
                })
            }
        }
    }

    async fn writer(&mut self, id: u32) -> Result<Arc<Writer>, String> {
        if let Some(known) = self.cache.get(&id) {
            return known.clone();
        }
        let fetched = fetch(&self.client, id)
            .await
            .map(Arc::new)
            .map_err(|e| format!("schema {id}: {e:#}"));
        // A registry that does not answer may answer for the next record; a missing or
        // unreadable schema stays so.
        if fetched.is_ok() || !fetched.as_ref().is_err_and(|e| e.contains("cannot reach")) {
            self.cache.insert(id, fetched.clone());
        }
        fetched
    }
}

async fn fetch(client: &Client, id: u32) -> anyhow::Result<Writer> {
    let id = i32::try_from(id).context("not a registry id")?;
    let schema = client
        .schema_by_id(id)
        .await
        .map_err(|e| registry_error(client, e))?;
    match schema.schema_type() {
        SchemaType::Avro => {
            if !schema.references.is_empty() {
                let mut texts = Vec::new();
                for r in &schema.references {
                    let referenced = client
                        .version(&r.subject, r.version)
                        .await
                        .map_err(|e| registry_error(client, e))?;
                    texts.push(referenced.schema);
                }
                let named = apache_avro::Schema::parse_str_with_list(&schema.schema, &texts)?;
                return Ok(Writer::Avro(AvroCodec::new(named.0)?));
            }
            Ok(Writer::Avro(AvroCodec::parse(&schema.schema)?))
        }
        SchemaType::Protobuf => {
            let entry = format!("registry-schema-{id}.proto");
            let mut files = BTreeMap::from([(entry.clone(), schema.schema.clone())]);
            let mut pending = schema.references.clone();
            while let Some(r) = pending.pop() {
                if files.contains_key(&r.name) {
                    continue;
                }
                let referenced = client
                    .version(&r.subject, r.version)
                    .await
                    .map_err(|e| registry_error(client, e))?;
                files.insert(r.name.clone(), referenced.schema);
                pending.extend(referenced.references);
            }
            let parsed =
                ProtoSchema::parse_files(files, &entry).map_err(|d| anyhow!("{}", d.message()))?;
            Ok(Writer::Protobuf {
                pool: proto_json::pool(&parsed)?,
                entry,
            })
        }
        other => bail!("{} schemas cannot be decoded here", other.as_str()),
    }
}

/// A registry error, saying "cannot reach" when the registry did not answer.
pub fn registry_error(
    client: &Client,
    e: contracts_registry_client::client::Error,
) -> anyhow::Error {
    if e.status().is_none() {
        anyhow!("cannot reach the schema registry at {}: {e}", client.url())
    } else {
        anyhow!("the schema registry at {} answered: {e}", client.url())
    }
}

/// The registry ids of the contract versions of `local` that `wanted` selects: each version's
/// text (and Protobuf imports) looked up under its subject; nothing is registered. A version the
/// registry does not hold is left out.
pub async fn registered_ids(
    client: &Client,
    local: &remote::Local<'_>,
    wanted: impl Fn(&Event, &SchemaVersion) -> bool,
) -> anyhow::Result<Vec<(String, u32, i32)>> {
    let mut import_versions: HashMap<String, i32> = HashMap::new();
    let needs_imports = local.subjects.iter().any(|s| {
        s.versions
            .iter()
            .any(|v| wanted(s.event, v.meta) && !v.imports.is_empty())
    });
    if needs_imports {
        for import in remote::dependency_order(&local.imports) {
            let Some(request) =
                remote::request(&import.text, Format::Protobuf, &import.imports, |n| {
                    import_versions.get(n).copied()
                })
            else {
                continue;
            };
            if let Some(found) = client
                .lookup(&import.name, &request)
                .await
                .map_err(|e| registry_error(client, e))?
            {
                import_versions.insert(import.name.clone(), found.version);
            }
        }
    }
    let mut out = Vec::new();
    for s in &local.subjects {
        for v in s.versions.iter().filter(|v| wanted(s.event, v.meta)) {
            let Some(request) = remote::request(&v.text, s.event.format, &v.imports, |n| {
                import_versions.get(n).copied()
            }) else {
                continue;
            };
            if let Some(found) = client
                .lookup(&s.subject, &request)
                .await
                .map_err(|e| registry_error(client, e))?
                .filter(|found| !found.deleted)
            {
                out.push((s.event.name.clone(), v.meta.number, found.id));
            }
        }
    }
    Ok(out)
}

/// The manifest's contract versions by registry id, for naming what a record is.
#[derive(Debug, Default)]
pub struct Versions {
    by_id: HashMap<u32, (String, u32)>,
    looked_up: bool,
}

impl Versions {
    /// The event and version of the manifest registered with `id`, looking every version of
    /// the manifest up in the registry the first time.
    pub async fn of(
        &mut self,
        client: &Client,
        manifest: Option<&Manifest>,
        id: u32,
    ) -> Option<(String, u32)> {
        if !self.looked_up
            && let Some(manifest) = manifest
        {
            self.looked_up = true;
            let (local, _) = remote::load(manifest);
            if let Ok(found) = registered_ids(client, &local, |_, _| true).await {
                for (event, version, id) in found {
                    if let Ok(id) = u32::try_from(id) {
                        self.by_id.insert(id, (event, version));
                    }
                }
            }
        }
        self.by_id.get(&id).cloned()
    }
}
