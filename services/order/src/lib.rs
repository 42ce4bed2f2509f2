//! order-service: takes orders over HTTP and publishes what happens to them.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this is a
//! service: it links the `events` types, the runtime and the shop's kit, never a schema parser.
//!
//! - [`domain`]: orders, their state machine and request validation (no I/O);
//! - [`store`]: SQLite; every state change and its event commit in one transaction (outbox);
//! - [`http`]: the axum API (`POST /orders`, `GET /orders/{id}`, `POST /orders/{id}/pay`, `/ship`);
//! - [`messaging`]: publishing outbox rows through the generated producer set, and the handler of
//!   the inventory's answers.

pub mod admin;
pub mod domain;
pub mod http;
pub mod messaging;
pub mod store;
