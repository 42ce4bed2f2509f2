//! End-to-end tests of the shop live in `tests/`: `in_process.rs` runs the three services'
//! handlers, stores and outboxes together over an in-memory log with redeliveries and
//! re-published outbox rows.
