//! The shop's event contracts.
//!
//! Typed events generated from `schemas/` arrive here with the code generation; until then this
//! crate holds the schemas and their manifest.
