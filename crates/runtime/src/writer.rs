//! Writer schemas by id: fetched from the [`SchemaSource`] once per id, then cached.
//!
//! Both caches are bounded (every record names a schema id, and a hostile or corrupt topic can
//! name millions): [`WRITER_CACHE_CAPACITY`] ids, least recently used evicted first (moka's
//! LRU with TinyLFU admission, so a flood of one-off ids does not evict the ids in steady
//! use). An id the registry does not know is remembered for [`UNKNOWN_ID_TTL`] only: long
//! enough that a burst of records naming it costs one registry lookup, short enough that an
//! id registered late (or a registry that answered wrongly) is asked again soon. A registry
//! that cannot answer is never cached: the partition retries the record with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts_core::source::{RegisteredSchema, SchemaSource, SourceError};
use contracts_core::{DecodeError, Format, SchemaId, SchemaInfo, WriterSchema, wire};

/// Why a record could not be turned into a writer schema and payload.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The bytes are wrong (framing, message indexes); dead-letter at once.
    Decode(DecodeError),
    /// The id is not in the registry; dead-letter at once.
    UnknownId(SchemaId),
    /// The registry could not answer now; try the same record again later. Shared with the
    /// other records that waited for the same lookup.
    Registry(Arc<SourceError>),
}

/// How many schema ids (and, separately, id and Protobuf message-index pairs) a consumer keeps.
pub(crate) const WRITER_CACHE_CAPACITY: u64 = 1024;

/// How long an id the registry does not know is answered from the cache.
pub(crate) const UNKNOWN_ID_TTL: Duration = Duration::from_secs(10);

/// What the registry answered for an id.
#[derive(Debug, Clone)]
enum Fetched {
    Found(Arc<RegisteredSchema>),
    /// Not in the registry, as of `at`.
    Unknown {
        at: Instant,
    },
}

/// The writer schemas of one consumer, per schema id (and Protobuf message indexes).
pub(crate) struct WriterCache {
    source: Arc<dyn SchemaSource>,
    /// The events the consumer's topic carries: they name what a writer schema holds.
    events: &'static [&'static SchemaInfo],
    /// Registry answers per id; concurrent lookups of one id share one request.
    fetched: moka::future::Cache<SchemaId, Fetched>,
    writers: moka::sync::Cache<(SchemaId, Vec<i32>), WriterSchema>,
    unknown_ttl: Duration,
}

impl std::fmt::Debug for WriterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterCache")
            .field("source", &self.source)
            .field("ids", &self.fetched.entry_count())
            .finish_non_exhaustive()
    }
}

impl WriterCache {
    pub(crate) fn new(
        source: Arc<dyn SchemaSource>,
        events: &'static [&'static SchemaInfo],
    ) -> Self {
        Self::with_limits(source, events, WRITER_CACHE_CAPACITY, UNKNOWN_ID_TTL)
    }

    fn with_limits(
        source: Arc<dyn SchemaSource>,
        events: &'static [&'static SchemaInfo],
        capacity: u64,
        unknown_ttl: Duration,
    ) -> Self {
        WriterCache {
            source,
            events,
            fetched: moka::future::Cache::new(capacity),
            writers: moka::sync::Cache::new(capacity),
            unknown_ttl,
        }
    }

    /// Splits a record value into the schema it was written with and its payload.
    pub(crate) async fn read<'v>(
        &self,
        value: &'v [u8],
    ) -> Result<(WriterSchema, &'v [u8]), ReadError> {
        let (id, rest) = wire::read_header(value).map_err(ReadError::Decode)?;
        let registered = self.fetch(id).await?;
        let (indexes, payload) = match registered.format {
            Format::Avro => (Vec::new(), rest),
            Format::Protobuf => wire::read_message_indexes(rest).map_err(ReadError::Decode)?,
        };
        let key = (id, indexes);
        let writer = self.writers.get_with_by_ref(&key, || {
            let name = writer_name(&registered, &key.1, self.events);
            if name.is_none() {
                tracing::warn!(schema_id = %id, "cannot tell which event schema {id} holds");
            }
            WriterSchema::new(
                id,
                registered.format,
                registered.text.as_str(),
                name,
                key.1.clone(),
            )
        });
        Ok((writer, payload))
    }

    async fn fetch(&self, id: SchemaId) -> Result<Arc<RegisteredSchema>, ReadError> {
        match self.fetched.get(&id).await {
            Some(Fetched::Found(s)) => return Ok(s),
            Some(Fetched::Unknown { at }) if at.elapsed() < self.unknown_ttl => {
                return Err(ReadError::UnknownId(id));
            }
            // Stale: ask the registry again.
            Some(Fetched::Unknown { .. }) => self.fetched.invalidate(&id).await,
            None => {}
        }
        let fetched = self
            .fetched
            .try_get_with(id, async {
                match self.source.schema_by_id(id).await {
                    Ok(s) => {
                        tracing::debug!(schema_id = %id, subjects = ?s.subjects, "fetched writer schema");
                        Ok(Fetched::Found(Arc::new(s)))
                    }
                    Err(SourceError::UnknownId(_)) => Ok(Fetched::Unknown { at: Instant::now() }),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(ReadError::Registry)?;
        match fetched {
            Fetched::Found(s) => Ok(s),
            Fetched::Unknown { .. } => Err(ReadError::UnknownId(id)),
        }
    }
}

/// The fully-qualified name of the record or message a writer schema holds, which selects the
/// variant of the topic's message enum. Avro says it in the schema text; for Protobuf the
/// subject the schema is registered under says which of the topic's events it is.
fn writer_name(
    registered: &RegisteredSchema,
    indexes: &[i32],
    events: &[&'static SchemaInfo],
) -> Option<String> {
    if registered.format == Format::Avro
        && let Some(name) = avro_full_name(&registered.text)
    {
        return Some(name);
    }
    let same_message = |info: &&&SchemaInfo| {
        info.format == registered.format
            && (registered.format == Format::Avro || info.message_indexes == indexes)
    };
    events
        .iter()
        .filter(same_message)
        .find(|info| {
            registered.subjects.iter().any(|s| s == info.subject) || info.schema == registered.text
        })
        .map(|info| info.name.to_string())
}

/// The full name of an Avro schema whose top level is a named type.
fn avro_full_name(text: &str) -> Option<String> {
    let schema = contracts_core::avro::Schema::parse(text).ok()?;
    schema.node(schema.root()).name().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &'static str, subject: &'static str, format: Format) -> &'static SchemaInfo {
        Box::leak(Box::new(SchemaInfo {
            name,
            version: 1,
            format,
            subject,
            schema: "",
            fingerprint: [0; 32],
            message_indexes: if format == Format::Protobuf {
                &[0]
            } else {
                &[]
            },
            dependencies: &[],
        }))
    }

    #[test]
    fn avro_names_come_from_the_schema_text() {
        let reg = |text: &str| RegisteredSchema {
            format: Format::Avro,
            text: text.into(),
            subjects: vec![],
        };
        let events = [];
        assert_eq!(
            writer_name(
                &reg(r#"{"type":"record","name":"A","namespace":"x.y","fields":[]}"#),
                &[],
                &events
            )
            .as_deref(),
            Some("x.y.A")
        );
        assert_eq!(
            writer_name(
                &reg(r#"{"type":"record","name":"p.q.B","namespace":"x.y","fields":[]}"#),
                &[],
                &events
            )
            .as_deref(),
            Some("p.q.B")
        );
        assert_eq!(writer_name(&reg(r#""string""#), &[], &events), None);
    }

    #[test]
    fn protobuf_names_come_from_the_subject_the_id_is_registered_under() {
        let events = [
            info(
                "shop.inventory.v1.Reserved",
                "inventory-shop.inventory.v1.Reserved",
                Format::Protobuf,
            ),
            info(
                "shop.inventory.v2.Reserved",
                "inventory-shop.inventory.v2.Reserved",
                Format::Protobuf,
            ),
        ];
        let reg = RegisteredSchema {
            format: Format::Protobuf,
            text: "syntax = \"proto3\";".into(),
            subjects: vec!["inventory-shop.inventory.v2.Reserved".into()],
        };
        assert_eq!(
            writer_name(&reg, &[0], &events).as_deref(),
            Some("shop.inventory.v2.Reserved")
        );
        assert_eq!(
            writer_name(&reg, &[1], &events),
            None,
            "another message of the file"
        );
    }

    /// A registry that knows the ids below `known`, counts its lookups, and can be down.
    #[derive(Debug, Default)]
    struct Counting {
        known: u32,
        lookups: std::sync::atomic::AtomicU32,
        down: std::sync::atomic::AtomicBool,
    }

    impl SchemaSource for Counting {
        fn schema_id<'a>(
            &'a self,
            _: &'static SchemaInfo,
            _: bool,
        ) -> futures_util::future::BoxFuture<'a, Result<SchemaId, SourceError>> {
            unreachable!("consumers only look ids up")
        }

        fn schema_by_id(
            &self,
            id: SchemaId,
        ) -> futures_util::future::BoxFuture<'_, Result<RegisteredSchema, SourceError>> {
            use std::sync::atomic::Ordering::SeqCst;
            self.lookups.fetch_add(1, SeqCst);
            let answer = if self.down.load(SeqCst) {
                Err(SourceError::Unavailable("connection refused".into()))
            } else if id.0 < self.known {
                Ok(RegisteredSchema {
                    format: Format::Avro,
                    text: r#"{"type":"record","name":"A","fields":[]}"#.into(),
                    subjects: vec![],
                })
            } else {
                Err(SourceError::UnknownId(id))
            };
            Box::pin(async move { answer })
        }
    }

    fn record(id: u32) -> Vec<u8> {
        let mut v = vec![0];
        v.extend_from_slice(&id.to_be_bytes());
        v
    }

    fn cache(source: &Arc<Counting>, capacity: u64, ttl: Duration) -> WriterCache {
        WriterCache::with_limits(source.clone(), &[], capacity, ttl)
    }

    fn lookups(source: &Counting) -> u32 {
        source.lookups.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn more_ids_than_the_capacity_keep_the_cache_at_its_capacity() {
        let source = Arc::new(Counting {
            known: 500,
            ..Counting::default()
        });
        let cache = cache(&source, 16, UNKNOWN_ID_TTL);
        // Known and unknown ids alike, each seen once.
        for id in 0..1000 {
            let _ = cache.read(&record(id)).await;
        }
        cache.fetched.run_pending_tasks().await;
        cache.writers.run_pending_tasks();
        assert!(
            cache.fetched.entry_count() <= 16,
            "{} ids cached",
            cache.fetched.entry_count()
        );
        assert!(
            cache.writers.entry_count() <= 16,
            "{} writers cached",
            cache.writers.entry_count()
        );
        assert_eq!(lookups(&source), 1000);
    }

    #[tokio::test]
    async fn a_known_id_is_looked_up_once() {
        let source = Arc::new(Counting {
            known: 10,
            ..Counting::default()
        });
        let cache = cache(&source, 16, UNKNOWN_ID_TTL);
        let value = record(3);
        for _ in 0..5 {
            let (w, payload) = cache.read(&value).await.unwrap();
            assert_eq!((w.id(), payload), (SchemaId(3), &[][..]));
        }
        assert_eq!(lookups(&source), 1);
    }

    #[tokio::test]
    async fn an_unknown_id_is_cached_until_its_ttl_then_asked_again() {
        let source = Arc::new(Counting::default());
        let long = cache(&source, 16, Duration::from_secs(3600));
        for _ in 0..3 {
            assert!(matches!(
                long.read(&record(7)).await,
                Err(ReadError::UnknownId(SchemaId(7)))
            ));
        }
        assert_eq!(lookups(&source), 1, "within the TTL the answer is cached");

        let source = Arc::new(Counting::default());
        let short = cache(&source, 16, Duration::from_millis(20));
        assert!(short.read(&record(7)).await.is_err());
        assert_eq!(lookups(&source), 1);
        // Sleeping past the TTL: the next read asks the registry again.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(short.read(&record(7)).await.is_err());
        assert_eq!(
            lookups(&source),
            2,
            "after the TTL the registry is asked again"
        );
    }

    #[tokio::test]
    async fn a_registry_outage_is_not_cached() {
        let source = Arc::new(Counting {
            known: 10,
            ..Counting::default()
        });
        let cache = cache(&source, 16, UNKNOWN_ID_TTL);
        source.down.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(matches!(
            cache.read(&record(1)).await,
            Err(ReadError::Registry(_))
        ));
        source
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(cache.read(&record(1)).await.is_ok());
        assert_eq!(lookups(&source), 2);
    }
}
