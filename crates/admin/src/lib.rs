#![doc = include_str!("../README.md")]

mod auth;
mod backend;
mod client;
mod convert;
mod error;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod memory;
pub mod model;
mod server;
mod service;

/// The generated protobuf types and tonic stubs of `contracts.admin.v1`.
#[allow(clippy::all, missing_docs, missing_debug_implementations)]
pub mod pb {
    tonic::include_proto!("contracts.admin.v1");
}

/// The encoded `FileDescriptorSet` of admin.proto and its imports (served by reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/admin_descriptor.bin"));

pub use auth::{AdminAuth, DiscoveryPolicy, RPC_SCOPES, Scope};
pub use backend::{
    AdminBackend, BackendError, BackendResult, InventoryBackend, NotificationBackend, OrderBackend,
    OutboxBackend,
};
pub use client::{AdminClient, ClientConfig};
pub use convert::WireError;
pub use error::{Error, Result};
pub use model::*;
pub use server::{AdminConfig, AdminServer, TlsIdentity};
pub use service::{DEFAULT_LIMIT, MAX_LIMIT};
/// gRPC status codes, as [`Error::code`] gives them.
pub use tonic::Code;
pub use tonic_health::server::HealthReporter;
