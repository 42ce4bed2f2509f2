//! Where the Tansu broker binary is.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The command that installs the Tansu version the project runs.
pub const TANSU_INSTALL: &str = "cargo install tansu --version 0.6.0 --locked --features libsql";

/// The Tansu broker binary: `$TANSU_BIN`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`.
pub fn tansu_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("TANSU_BIN") {
        return Ok(PathBuf::from(p));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let candidate = Path::new(&home).join(".cargo/bin/tansu");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::TansuMissing)
}
