//! Avro: Rust types and direct binary codecs for the versions of Avro events.
//!
//! Interface used by the rest of the generator (the versioned-module writer):
//!
//! ```ignore
//! pub(crate) struct ModuleEntry<'a> {
//!     /// Every version of the event's subject history, oldest first.
//!     pub history: &'a [HistoryVersion<'a>],
//!     /// Which of them this module holds.
//!     pub index: usize,
//! }
//! pub(crate) struct HistoryVersion<'a> { pub version: u32, pub schema: &'a AvroSchema }
//! /// Rust items (types, codec impls, resolving decoders for the other versions of each
//! /// entry's history) for one versioned module; named types shared by several entries are
//! /// emitted once, and two different definitions of one name are a Diagnostic.
//! pub(crate) fn generate_module(entries: &[ModuleEntry<'_>], options: &AvroOptions)
//!     -> Result<String, Diagnostic>;
//! ```
