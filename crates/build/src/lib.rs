//! Code generation for Event Contracts, driven from `build.rs` (the prost-build model).

pub mod avro;
