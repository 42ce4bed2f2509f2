//! One registry snapshot, two readers: `contracts check --offline-snapshot` and the build-time
//! gate of `contracts-build` must give the same verdict on the same `.registry/` directory (the
//! one `contracts prepare` writes), since CI runs the first and every build the second.

use std::path::{Path, PathBuf};
use std::process::Output;

use contracts_build::{Config, Error, Gate};

/// The fixture: a manifest whose registry holds v1 (the local file, by its SHA-256); v2 is new
/// and compatible.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/tests/fixtures/registered")
}

fn copy_dir(from: &Path, to: &Path) {
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

/// A project with the fixture as its `schemas/`, `edit` applied.
fn project(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), &dir.path().join("schemas"));
    edit(&dir.path().join("schemas"));
    dir
}

fn offline_check(dir: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(["check", "--offline-snapshot"])
        .current_dir(dir)
        .env_remove("CONTRACTS_REGISTRY_URL")
        .env_remove("CONTRACTS_MANIFEST")
        .env_remove("CONTRACTS_ERROR_FORMAT")
        .output()
        .expect("run contracts")
}

fn build(dir: &Path) -> Result<(), Error> {
    let mut config = Config::new();
    // The default snapshot, `.registry/` beside the manifest: what a build.rs gets.
    config.emit_cargo_instructions(false).gate(Gate::Fail);
    config
        .generate(dir.join("schemas/contracts.toml"))
        .map(|_| ())
}

fn edit_file(schemas: &Path, file: &str, from: &str, to: &str) {
    let path = schemas.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

const V1: &str = "acme/payments/payment_taken/v1.avsc";
const V2: &str = "acme/payments/payment_taken/v2.avsc";

#[test]
fn the_offline_check_and_the_build_agree_on_one_snapshot() {
    type Edit = fn(&Path);
    let cases: [(&str, Edit, bool, Option<&str>); 4] = [
        ("as prepared", |_| {}, true, None),
        (
            "a registered file edited in place",
            |s| edit_file(s, V1, "\"long\"", "\"int\""),
            false,
            Some("v1.avsc"),
        ),
        (
            "a new version incompatible with the registered one",
            |s| {
                edit_file(
                    s,
                    V2,
                    "{\"name\": \"note\", \"type\": \"string\", \"default\": \"\"}",
                    "{\"name\": \"note\", \"type\": \"string\"}",
                )
            },
            false,
            Some("v2.avsc:8:"),
        ),
        (
            "a compatible edit of the new version",
            |s| edit_file(s, V2, "\"default\": \"\"", "\"default\": \"none\""),
            true,
            None,
        ),
    ];
    for (case, edit, compatible, at) in cases {
        let dir = project(edit);
        let cli = offline_check(dir.path());
        let cli_text = format!(
            "{}{}",
            String::from_utf8_lossy(&cli.stdout),
            String::from_utf8_lossy(&cli.stderr)
        );
        let built = build(dir.path());
        let expected_code = if compatible { 0 } else { 100 };
        assert_eq!(
            cli.status.code(),
            Some(expected_code),
            "{case}: contracts check --offline-snapshot:\n{cli_text}"
        );
        assert!(
            against_snapshot(&cli_text),
            "{case}: the CLI did not read the snapshot:\n{cli_text}"
        );
        match (&built, compatible) {
            (Ok(()), true) => {}
            (Err(e), false) => {
                let at = at.unwrap();
                assert!(e.to_string().contains(at), "{case}: build: {e}");
                assert!(cli_text.contains(at), "{case}: CLI:\n{cli_text}");
            }
            (other, _) => panic!("{case}: the build says {other:?}, the CLI:\n{cli_text}"),
        }
    }
}

fn against_snapshot(text: &str) -> bool {
    text.contains("against the snapshot") && text.contains(".registry")
}
