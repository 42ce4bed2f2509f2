//! inventory-service: reserves stock for new orders, exactly once per event.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this is a
//! service: it links the `events` types, the runtime and the shop's kit, never a schema parser.
//!
//! - [`domain`]: a reservation request (converted from the wire's `OrderCreated`) and the
//!   all-or-nothing decision, without I/O;
//! - [`store`]: SQLite; the stock change, the processed event id and the answer's outbox row
//!   commit in one transaction, so a redelivered `OrderCreated` changes nothing and a crash
//!   before publishing loses nothing;
//! - [`messaging`]: the generated `OrdersHandler` and the outbox sink for `InventoryReserved` /
//!   `InventoryRejected` (Protobuf, v2).

pub mod admin;
pub mod domain;
pub mod messaging;
pub mod store;
