//! An in-memory schema source: ids assigned on registration, like a registry would.

use std::collections::HashMap;
use std::sync::Mutex;

use contracts_core::source::{BoxFuture, RegisteredSchema, SchemaSource, SourceError};
use contracts_core::{Format, SchemaId, SchemaInfo};

#[derive(Debug, Default)]
pub struct MemorySource {
    inner: Mutex<Schemas>,
}

#[derive(Debug, Default)]
struct Schemas {
    by_id: HashMap<u32, RegisteredSchema>,
    /// (subject, text) → id
    ids: HashMap<(String, String), u32>,
    next: u32,
    pub unavailable: bool,
}

impl MemorySource {
    pub fn new() -> Self {
        MemorySource::default()
    }

    /// Registers `info` as a registry would and returns its id.
    pub fn register(&self, info: &SchemaInfo) -> SchemaId {
        self.register_text(info.subject, info.format, info.schema)
    }

    /// Registers any schema text under `subject`, as another producer would.
    pub fn register_text(&self, subject: &str, format: Format, text: &str) -> SchemaId {
        let mut inner = self.inner.lock().unwrap();
        let key = (subject.to_string(), text.to_string());
        if let Some(id) = inner.ids.get(&key) {
            return SchemaId(*id);
        }
        inner.next += 1;
        let id = inner.next + 100;
        inner.ids.insert(key, id);
        inner.by_id.insert(
            id,
            RegisteredSchema {
                format,
                text: text.to_string(),
                subjects: vec![subject.to_string()],
            },
        );
        SchemaId(id)
    }

    /// Makes every call fail as if the registry were down (or brings it back).
    pub fn set_unavailable(&self, down: bool) {
        self.inner.lock().unwrap().unavailable = down;
    }
}

impl SchemaSource for MemorySource {
    fn schema_id<'a>(
        &'a self,
        schema: &'static SchemaInfo,
        register: bool,
    ) -> BoxFuture<'a, Result<SchemaId, SourceError>> {
        Box::pin(async move {
            if self.inner.lock().unwrap().unavailable {
                return Err(SourceError::Unavailable("registry down".into()));
            }
            let known = {
                let inner = self.inner.lock().unwrap();
                inner
                    .ids
                    .get(&(schema.subject.to_string(), schema.schema.to_string()))
                    .copied()
            };
            match known {
                Some(id) => Ok(SchemaId(id)),
                None if register => Ok(self.register(schema)),
                None => Err(SourceError::NotRegistered {
                    subject: schema.subject.into(),
                    name: schema.name.into(),
                    version: schema.version,
                }),
            }
        })
    }

    fn schema_by_id(&self, id: SchemaId) -> BoxFuture<'_, Result<RegisteredSchema, SourceError>> {
        Box::pin(async move {
            let inner = self.inner.lock().unwrap();
            if inner.unavailable {
                return Err(SourceError::Unavailable("registry down".into()));
            }
            inner
                .by_id
                .get(&id.0)
                .cloned()
                .ok_or(SourceError::UnknownId(id))
        })
    }
}
