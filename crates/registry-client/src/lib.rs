//! A client for any Confluent-compatible schema registry (Confluent, Karapace, Redpanda, the
//! project's own `contracts-registry`).
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate is on
//! the runtime side: it is how producers and consumers learn schema ids, and how the CLI registers
//! and checks schemas. It links no schema parser and no server, so a service that reaches a
//! registry pulls in HTTP and JSON, nothing more.
//!
//! - [`api`]: the JSON bodies of the REST API as real clients send and read them, the error
//!   codes and the media type; the registry server answers with the same types, so both agree
//!   on every field name.
//! - [`client`]: the async HTTP client, with retries and a cache of schemas by id.
//! - [`source`]: the client as the runtime's [`contracts_core::source::SchemaSource`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), contracts_registry_client::client::Error> {
//! use contracts_registry_client::api::{RegisterSchemaRequest, SchemaType};
//! use contracts_registry_client::client::Client;
//!
//! let registry = Client::new("http://127.0.0.1:8081")?;
//! let request = RegisterSchemaRequest {
//!     schema: r#"{"type":"record","name":"Ping","fields":[]}"#.into(),
//!     schema_type: Some(SchemaType::Avro),
//!     ..Default::default()
//! };
//! let id = registry.register("ping-value", &request).await?.id;
//! println!("ping-value is schema {id}");
//! # Ok(()) }
//! ```

pub mod api;
pub mod client;
pub mod source;
