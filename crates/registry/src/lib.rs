//! A Confluent-compatible schema registry.
//!
//! - [`api`]: the JSON bodies of the Confluent Schema Registry REST API as real clients send and
//!   read them, shared by the server and the client so both agree on every field name.

pub mod api;
pub mod client;
