//! The gRPC admin API every Event Contracts service serves.
//!
//! - `contracts.admin.v1.AdminService`, in every process: the contracts it produces and
//!   consumes (event, version, subject, schema id, fingerprint), its consumers and their lag per
//!   group and partition, its dead-letter records (list with their error headers, replay after
//!   re-validation against the current contract, drop), pause and resume of a consumer.
//! - One domain service per shop service: `OrderAdminService` (orders by id and by status),
//!   `InventoryAdminService` (stock per product, set stock), `NotificationAdminService`
//!   (notifications sent per order).
//! - `grpc.health.v1.Health` and server reflection (v1 and v1alpha), so `grpcurl` and
//!   `grpc_health_probe` work without the proto file.
//! - Optional bearer-token authentication and TLS (rustls).
//!
//! A process implements [`AdminBackend`] (and its domain trait: [`OrderBackend`],
//! [`InventoryBackend`] or [`NotificationBackend`]) over plain Rust types ([`model`]) and
//! serves them with [`AdminServer`]; the server validates requests, so a backend sees only
//! well-formed calls. [`AdminClient`] is the typed client that `contracts admin` uses.
//!
//! The API is defined in `proto/contracts/admin/v1/admin.proto` (buf STANDARD lint clean) and
//! compiled at build time with protox, so no `protoc` is needed.

mod auth;
mod backend;
mod client;
mod convert;
mod error;
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

pub use auth::BearerAuth;
pub use backend::{
    AdminBackend, BackendError, BackendResult, InventoryBackend, NotificationBackend, OrderBackend,
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
