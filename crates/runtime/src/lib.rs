//! Typed Kafka producers and consumers for generated event contracts, on rdkafka.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate is the
//! Kafka half of the runtime side: it moves `contracts-core` events through rdkafka, learns schema
//! ids through a `SchemaSource` (the registry client) and provisions topics; the services and the
//! gRPC admin backend build on it. It links no schema parser and no code generator.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use contracts_core::{Event, Handle, Topic};
//! # use contracts_core::source::SchemaSource;
//! # async fn demo<E: Event, H: Handle<<E::Topic as Topic>::Message> + 'static>(
//! #     source: Arc<dyn SchemaSource>, event: E, handler: H,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use contracts_runtime::{Consumer, ConsumerConfig, Metrics, Publisher, ProducerConfig};
//!
//! let metrics = Metrics::new();
//! let publisher = Publisher::new(&ProducerConfig::new("127.0.0.1:9092"), source.clone(), metrics.clone())?;
//! let delivery = publisher.send(&event).await?; // topic, key and schema id from the contract
//!
//! let consumer = Consumer::<E::Topic>::new(
//!     ConsumerConfig::new("127.0.0.1:9092", "inventory-service"),
//!     source,
//!     metrics.clone(),
//! ).await?;
//! let control = consumer.control(); // pause, resume, shutdown
//! consumer.run(handler).await?;
//! # Ok(()) }
//! ```
//!
//! - [`Publisher`] / [`Producer<E>`]: encode with the generated codec, frame in the Confluent
//!   wire format with the schema id (resolved once per process through a
//!   [`SchemaSource`](contracts_core::source::SchemaSource)), key by the contract's key, add
//!   [`headers`], send idempotently with `acks=all`. A failed send returns the event.
//! - [`Consumer<T>`]: at-least-once consumption of topic `T` in a consumer group, partitions in
//!   parallel and records of a partition in order, with retries (in place, or non-blocking
//!   through retry topics: [`ConsumerConfig::retry_topics`]), a dead-letter topic, graceful
//!   shutdown, pause and resume. A partition whose record cannot be dead-lettered for a
//!   permanent reason stops there, visibly ([`ConsumerControl::stopped_partitions`]).
//! - [`Retry`]: the one classification of Kafka errors into transient (repeat with backoff)
//!   and permanent (set aside, stop), with its table.
//! - [`client_config`]: the librdkafka settings of a process's clients from a profile
//!   ([`client_config::Profile`]: `latency`, `throughput`), properties files, `-X` flags and
//!   secrets in the environment, with producer-only and consumer-only layers;
//!   [`probe`]: the start-up check that stops a process on a failed SASL login or an untrusted
//!   broker certificate before it consumes or publishes anything.
//! - [`Metrics`]: the process's Prometheus registry; `tracing` spans `publish`, `process` and
//!   `handle` carry the messaging attributes, and the producer's OpenTelemetry trace (with its
//!   `tracestate` and baggage) continues in the consumer through the globally installed
//!   propagator ([`headers`]).
//! - `telemetry` (features `logging`, `otlp`): the log subscriber every binary installs (text
//!   or flat JSON lines with trace ids) and the OpenTelemetry set-up from the `OTEL_*`
//!   variables, OTLP export over gRPC or HTTP included.
//! - [`statistics`]: librdkafka's statistics (broker round trips, queue depths, per-partition
//!   fetch state and lag) on the [`Metrics`] page, when `statistics.interval.ms` is set.

pub mod client_config;
mod consumer;
mod error;
pub mod headers;
pub mod metrics;
pub mod probe;
mod producer;
pub mod statistics;
#[cfg(feature = "logging")]
pub mod telemetry;
pub mod topics;
mod writer;

pub use consumer::{
    CONSUMER_ONLY_SETTINGS, Consumer, ConsumerConfig, ConsumerControl, RetryPolicy,
    StoppedPartition, dead_letter_topic_name, retry_topic_name, without_consumer_only,
};
pub use error::{Error, Result, Retry, is_retriable};
pub use metrics::Metrics;
pub use producer::{
    Delivery, Producer, ProducerConfig, Publisher, SchemaRegistration, SendError, SendErrorKind,
};
