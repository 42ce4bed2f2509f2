//! The contracts manifest, `schemas/contracts.toml`.
// The manifest helper owns this file.
