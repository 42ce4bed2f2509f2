//! Where schema ids come from: the seam between the Kafka runtime and a schema registry.
//!
//! A producer needs the registry's id for the schema it writes (once per process); a consumer
//! needs the schema behind every id it reads (once per id). [`SchemaSource`] is those two
//! questions and nothing else, so the runtime links no HTTP client and no schema parser; the
//! registry client (`contracts-registry-client`) implements it, and tests may bring their own.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::{Format, SchemaId, SchemaInfo};

/// A boxed future, so that [`SchemaSource`] can be used as `dyn SchemaSource`. Its calls happen
/// once per schema, so the allocation does not matter.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A schema as a registry holds it under an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub format: Format,
    /// The schema text as the registry returns it.
    pub text: String,
    /// Every subject the id is registered under (they tell which event of a topic it is when
    /// the text alone does not, as for Protobuf).
    pub subjects: Vec<String>,
}

/// Resolves schema ids; implemented by the registry client.
pub trait SchemaSource: Send + Sync + fmt::Debug {
    /// The id of `schema` in its subject. With `register`, registers it (after its
    /// dependencies) when it is missing, as development setups do; without, only looks it up
    /// and answers [`SourceError::NotRegistered`] when it is missing, as production setups
    /// with auto-registration off do.
    fn schema_id<'a>(
        &'a self,
        schema: &'static SchemaInfo,
        register: bool,
    ) -> BoxFuture<'a, Result<SchemaId, SourceError>>;

    /// The schema registered with `id`.
    fn schema_by_id(&self, id: SchemaId) -> BoxFuture<'_, Result<RegisteredSchema, SourceError>>;
}

/// Why a schema id could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// No schema has this id: the record was written against another registry, or corrupted.
    #[error("schema id {0} is unknown to the registry")]
    UnknownId(SchemaId),
    /// The schema is not in its subject and registration is off.
    #[error(
        "{name} v{version} is not registered under subject \"{subject}\" and auto-registration is off; register it first (contracts register)"
    )]
    NotRegistered {
        subject: String,
        name: String,
        version: u32,
    },
    /// The registry refused the request (an incompatible schema, bad credentials, ...);
    /// asking again will not help.
    #[error("the registry refused the request: {0}")]
    Rejected(Box<dyn StdError + Send + Sync + 'static>),
    /// The registry could not be reached or answered with a temporary error.
    #[error("the registry is unavailable: {0}")]
    Unavailable(Box<dyn StdError + Send + Sync + 'static>),
}

impl SourceError {
    /// Whether asking again later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, SourceError::Unavailable(_))
    }
}
