//! notification-service: tells customers about their orders, exactly once per event.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this is a
//! service: it links the `events` types, the runtime and the shop's kit, never a schema parser.
//!
//! - [`domain`]: notices (converted from the wire's events) and the words customers read;
//! - [`store`]: SQLite; a notice is recorded once per (order, kind): the primary key is the
//!   dedupe, written in the same transaction as the message, so a redelivered event changes
//!   nothing;
//! - [`postman`]: delivers recorded messages in order per order (received → confirmed or
//!   rejected → paid → shipped), whatever order the two topics arrive in;
//! - [`transport`]: where messages go: SMTP when configured, otherwise a mailbox directory;
//! - [`messaging`]: the generated `OrdersHandler` and `InventoryHandler`.

pub mod admin;
pub mod domain;
pub mod messaging;
pub mod postman;
pub mod store;
pub mod transport;
