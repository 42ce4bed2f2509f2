//! Helpers shared by the CLI's integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
#[allow(dead_code)] // not every test file reads the repository
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs the `contracts` binary in `dir`, without the settings a developer's or CI's environment
/// may hold (output format, manifest, registry), so each test sees the defaults it states.
#[allow(dead_code)] // some test files run the binary their own way (async, with stdin)
pub fn contracts(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(args)
        .current_dir(dir)
        .env_remove("CONTRACTS_ERROR_FORMAT")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CONTRACTS_MANIFEST")
        .env_remove("SCHEMA_REGISTRY_URL")
        .env_remove("CONTRACTS_REGISTRY_URL")
        .output()
        .expect("run contracts")
}

/// Copies a directory tree (a copy of `schemas/` that a test may edit).
#[allow(dead_code)] // tests/init.rs writes its files from scratch
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A command's exit code and output, for assertion messages.
#[allow(dead_code)] // not every test file asserts on a command's output
pub fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
