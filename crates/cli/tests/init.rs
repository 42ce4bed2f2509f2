//! `contracts init` as someone new runs it: scaffold a crate, `cargo build` it, run its test that
//! uses the generated event, and `contracts check` it.

mod common;

use common::{contracts, repo, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `cargo <args>` in the scaffold, offline, with the workspace's target directory so that the
/// dependencies compiled for the workspace are reused.
fn cargo(args: &[&str], dir: &Path) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("CONTRACTS_GATE")
        .output()
        .unwrap()
}

/// Pins what the machine can build offline: the workspace's dependency versions and toolchain
/// (a user's first `cargo build` resolves its own).
fn pin_like_the_workspace(dir: &Path) {
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::copy(
        repo().join("rust-toolchain.toml"),
        dir.join("rust-toolchain.toml"),
    )
    .unwrap();
}

fn scaffold(name: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join(name);
    let repo = repo();
    let mut args = vec![
        "init",
        dir.to_str().unwrap(),
        "--contracts-path",
        repo.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = contracts(&args, parent.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    (parent, dir)
}

fn build_test_and_check(dir: &Path) {
    pin_like_the_workspace(dir);
    let built = cargo(&["build"], dir);
    assert!(built.status.success(), "cargo build: {}", text(&built));
    // The scaffold's own test builds an event of the generated type and reads it back.
    let tested = cargo(&["test"], dir);
    assert!(tested.status.success(), "cargo test: {}", text(&tested));
    assert!(
        String::from_utf8_lossy(&tested.stdout)
            .contains("test tests::an_event_reads_back_what_it_wrote ... ok"),
        "{}",
        text(&tested)
    );
    let checked = contracts(&["check"], dir);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked));
}

#[test]
fn an_avro_scaffold_builds_uses_its_event_and_passes_check_and_its_gate_is_live() {
    let (_parent, dir) = scaffold(
        "orders-events",
        &[
            "--event",
            "acme.orders.OrderPlaced",
            "--topic",
            "orders",
            "--key",
            "order_id",
        ],
    );
    for file in [
        "Cargo.toml",
        "build.rs",
        "src/lib.rs",
        "schemas/contracts.toml",
        "schemas/acme/orders/order_placed/v1.avsc",
        ".github/workflows/contracts.yml",
        "README.md",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains(&format!(
            "contracts-build = {{ path = \"{}\" }}",
            repo().join("crates/build").display()
        )),
        "{cargo_toml}"
    );
    // The repository's own CI template, as it is.
    assert_eq!(
        std::fs::read_to_string(dir.join(".github/workflows/contracts.yml")).unwrap(),
        std::fs::read_to_string(repo().join(".github/workflows/contracts.yml")).unwrap()
    );
    assert!(
        std::fs::read_to_string(dir.join("src/lib.rs"))
            .unwrap()
            .contains("use super::orders::v1::OrderPlaced;")
    );

    build_test_and_check(&dir);

    // A second v1 → v2 that breaks BACKWARD fails `contracts check` and `cargo build`.
    let v1 = std::fs::read_to_string(dir.join("schemas/acme/orders/order_placed/v1.avsc")).unwrap();
    let v2 = v1.replacen(
        "    {\"name\": \"message\"",
        "    {\"name\": \"amount\", \"type\": \"long\"},\n    {\"name\": \"message\"",
        1,
    );
    assert_ne!(v1, v2);
    std::fs::write(dir.join("schemas/acme/orders/order_placed/v2.avsc"), v2).unwrap();
    let manifest = dir.join("schemas/contracts.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    let entry = "    { version = 1, file = \"acme/orders/order_placed/v1.avsc\" },\n";
    assert!(toml.contains(entry), "{toml}");
    std::fs::write(
        &manifest,
        toml.replacen(
            entry,
            &format!(
                "{entry}    {{ version = 2, file = \"acme/orders/order_placed/v2.avsc\" }},\n"
            ),
            1,
        ),
    )
    .unwrap();
    let checked = contracts(&["check"], &dir);
    assert_eq!(checked.status.code(), Some(100), "{}", text(&checked));
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{}",
        text(&checked)
    );
    let built = cargo(&["build"], &dir);
    assert!(!built.status.success(), "{}", text(&built));
    assert!(
        text(&built).contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{}",
        text(&built)
    );
}

#[test]
fn a_protobuf_scaffold_builds_uses_its_event_and_passes_check() {
    let (_parent, dir) = scaffold("greetings-pb", &["--format", "protobuf"]);
    let schema = dir.join("schemas/example/events/v1/greeting.proto");
    assert!(
        std::fs::read_to_string(&schema)
            .unwrap()
            .contains("package example.events.v1;"),
        "{}",
        schema.display()
    );
    build_test_and_check(&dir);
}

#[test]
fn init_never_overwrites_and_prints_what_to_add_to_an_existing_crate() {
    let (parent, dir) = scaffold("greetings", &[]);
    let before = std::fs::read_to_string(dir.join("schemas/contracts.toml")).unwrap();
    let repo = repo();
    let again = contracts(
        &[
            "init",
            dir.to_str().unwrap(),
            "--contracts-path",
            repo.to_str().unwrap(),
            "--key",
            "other",
        ],
        parent.path(),
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("never overwrites"), "{stderr}");
    assert!(stderr.contains("schemas/contracts.toml"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("schemas/contracts.toml")).unwrap(),
        before
    );

    // An existing crate keeps its Cargo.toml, src/lib.rs and README; the lines to add are shown.
    let existing = parent.path().join("existing");
    std::fs::create_dir_all(existing.join("src")).unwrap();
    let own = "[package]\nname = \"existing\"\nversion = \"0.1.0\"\nedition = \"2024\"\n";
    std::fs::write(existing.join("Cargo.toml"), own).unwrap();
    std::fs::write(existing.join("src/lib.rs"), "pub fn mine() {}\n").unwrap();
    let out = contracts(
        &[
            "init",
            "existing",
            "--contracts-git",
            "https://example.com/event-contracts.git",
            "--contracts-rev",
            "v0.1.0",
        ],
        parent.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(existing.join("Cargo.toml")).unwrap(),
        own
    );
    assert_eq!(
        std::fs::read_to_string(existing.join("src/lib.rs")).unwrap(),
        "pub fn mine() {}\n"
    );
    assert!(existing.join("build.rs").is_file());
    assert!(existing.join("schemas/contracts.toml").is_file());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "contracts-build = { git = \"https://example.com/event-contracts.git\", rev = \"v0.1.0\" }"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("include!(concat!(env!(\"OUT_DIR\"), \"/events.rs\"));"),
        "{stdout}"
    );
}

#[test]
fn init_without_a_source_for_the_crates_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = contracts(&["init", "x"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--contracts-path") && stderr.contains("--contracts-git"),
        "{stderr}"
    );
    assert!(!dir.path().join("x").exists());
}

#[test]
fn init_refuses_names_the_schema_or_cargo_would_reject_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo();
    for (flag, value, says) in [
        ("--event", "Greeting", "needs a namespace"),
        (
            "--event",
            "acme.9orders.Placed",
            "\"9orders\" is not a name",
        ),
        ("--topic", "Orders", "--topic \"Orders\""),
        ("--key", "order-id", "--key \"order-id\""),
        ("--name", "9lives", "not a Cargo package name"),
    ] {
        let out = contracts(
            &[
                "init",
                "x",
                "--contracts-path",
                repo.to_str().unwrap(),
                flag,
                value,
            ],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(1), "{flag} {value}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
        assert!(!dir.path().join("x").exists(), "{flag} {value} wrote files");
    }
}
