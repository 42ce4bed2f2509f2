//! The runtime vocabulary of Event Contracts.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate is the
//! bottom of the runtime side: generated code, the runtime, the registry client and the services
//! link it, and it links no schema parser, code generator or Kafka client.
//!
//! Generated event types (from `contracts-build`) implement [`Event`]; every event belongs to one
//! [`Topic`], whose [`TopicMessage`] enum lists everything that may appear on it. The Kafka
//! runtime (`contracts-runtime`) moves events as Confluent-framed records ([`wire`]). Nothing in
//! this crate parses `.proto` files or generates code: it is what running services link.
//!
//! [`avro`] holds the one Avro schema graph, its canonical form and fingerprints, and the
//! resolution planner: the schema model (`contracts-model`) lowers to that graph and the code
//! generator (`contracts-build`) renders that planner's plans, so build time and run time
//! agree on fingerprints and on how another version's bytes are read.

pub mod avro;
mod error;
mod event;
pub mod secret;
mod service;
pub mod source;
mod topic_spec;
pub mod wire;

pub use error::{DecodeError, HandlerError};
pub use event::{
    Event, EventKey, Format, Handle, Publish, RecordMeta, SchemaDependency, SchemaId, SchemaInfo,
    Topic, TopicMessage, WriterSchema,
};
pub use service::{ProducedEvent, ServiceInfo};
pub use topic_spec::{TopicSpec, dead_letter_topic_name, retry_topic_name};

/// The well-known types that Avro logical types map to, re-exported so that generated code
/// and its users need no dependencies of their own.
pub mod types {
    pub use chrono::{self, DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
    pub use rust_decimal::{self, Decimal};
    pub use uuid::{self, Uuid};
}
