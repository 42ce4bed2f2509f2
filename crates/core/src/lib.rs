//! The runtime vocabulary of Event Contracts.
//!
//! Generated event types (from `contracts-build`) implement [`Event`]; every event belongs to one
//! [`Topic`], whose [`TopicMessage`] enum lists everything that may appear on it. The Kafka
//! runtime (`contracts-runtime`) moves events as Confluent-framed records ([`wire`]). Nothing in
//! this crate parses `.proto` files or generates code: it is what running services link.

mod error;
mod event;
pub mod source;
pub mod wire;

pub use error::{DecodeError, HandlerError};
pub use event::{
    Event, EventKey, Format, Handle, Publish, RecordMeta, SchemaDependency, SchemaId, SchemaInfo,
    Topic, TopicMessage, WriterSchema,
};
