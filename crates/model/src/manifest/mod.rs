//! The contracts manifest, `schemas/contracts.toml`.
//!
//! The manifest says which events the services exchange: for each event its schema format, its
//! versions (one complete schema file per version), the topic it travels on and the field its
//! Kafka key is taken from, the registry subject it is registered under, the compatibility level
//! every new version must pass, and which services produce and consume it.
//!
//! ```toml
//! [defaults]
//! compatibility = "BACKWARD"
//! subject_strategy = "TopicNameStrategy"
//!
//! [services.order]
//! description = "Takes orders"
//!
//! [topics.orders]
//! key = "order_id"
//!
//! [[events]]
//! name = "shop.orders.OrderCreated"
//! format = "avro"
//! topic = "orders"
//! producers = ["order"]
//! versions = [{ version = 1, file = "shop/orders/order_created/v1.avsc" }]
//! ```
//!
//! The manifest also describes the topics on the cluster, which `contracts topics plan|apply`
//! create and keep ([`Manifest::topic_specs`]): each `[topics.<name>]` takes `partitions`
//! (default 1), `replication_factor` and `min_insync_replicas` (both also under `[defaults]`;
//! default: the broker's), `cleanup_policy` (`delete`, `compact` or `compact,delete`),
//! `retention_ms` (-1: forever) and `retry_topics` (how many `<topic>.retry-<n>` its consumers
//! use, default 0). A topic with consumers also gets its dead-letter topic `<topic>.DLT`.
//!
//! The manifest only checks that schema files exist; parsing them is the job of the Avro and
//! Protobuf modules, which can cross-check the names declared here. Every problem found is
//! reported, each as a [`Diagnostic`](crate::Diagnostic) that points at `file:line:column` in
//! the manifest.
//!
//! The types of the model are in `model`; `reader` reads spanned TOML and names unknown keys
//! with the nearest allowed one; `validate` holds the manifest's rules and builds the model.

mod model;
mod reader;
#[cfg(test)]
mod test_support;
mod topics;
mod validate;

pub use model::{
    Defaults, Event, FILE_NAME, Manifest, MessagePart, SchemaVersion, Service, SubjectHistory,
    SubjectStrategy, Topic,
};
pub use topics::{DEFAULT_PARTITIONS, TopicOptions};
