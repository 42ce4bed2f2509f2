//! The gate as users meet it: `cargo build` on a crate whose build.rs calls contracts-build,
//! next to a copy of the shop's schemas/.
//!
//! Each test copies `tests/probe` and `schemas/` to a temporary directory, edits a schema and
//! runs `cargo build --offline`. The probes share one target directory under the workspace's
//! (`target/tmp/gate-probe`), so only the first run compiles the dependencies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::copy_dir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A probe crate in a temporary directory, with its own copy of schemas/.
struct Probe {
    dir: tempfile::TempDir,
}

impl Probe {
    /// `name` is the package's: cargo keys build outputs by package name and workspace-relative
    /// path, so probes that build at once need distinct names.
    fn new(name: &str) -> Probe {
        let probe = Probe::with_snapshot(name);
        // These tests edit released versions to see the history check's diagnostics; with the
        // committed registry snapshot the gate would report the edit itself (see below).
        std::fs::remove_dir_all(probe.path("schemas/.registry")).unwrap();
        probe
    }

    /// With the shop's committed registry snapshot, `schemas/.registry/`.
    fn with_snapshot(name: &str) -> Probe {
        let dir = tempfile::tempdir().unwrap();
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let template = here.join("tests/probe");
        let manifest = std::fs::read_to_string(template.join("Cargo.toml.in"))
            .unwrap()
            .replace("@CORE@", &repo().join("crates/core").display().to_string())
            .replace("@BUILD@", &here.display().to_string())
            .replace("@NAME@", name);
        std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        copy_dir(&template.join("src"), &dir.path().join("src"));
        std::fs::copy(template.join("build.rs"), dir.path().join("build.rs")).unwrap();
        // The workspace's lock file and toolchain: the same dependency versions, offline.
        std::fs::copy(repo().join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
        std::fs::copy(
            repo().join("rust-toolchain.toml"),
            dir.path().join("rust-toolchain.toml"),
        )
        .unwrap();
        copy_dir(&repo().join("schemas"), &dir.path().join("schemas"));
        Probe { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Replaces `from` by `to` in a file of the copy; the text must be there.
    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.path(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    fn cargo_build(&self, gate: Option<&str>) -> Output {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build", "--offline", "-v"])
            .current_dir(self.dir.path())
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("gate-probe"),
            )
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CONTRACTS_GATE");
        if let Some(gate) = gate {
            command.env("CONTRACTS_GATE", gate);
        }
        command.output().unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// v3 of OrderCreated without the default on customer_id: v3 can no longer read v1 data, which
// FULL_TRANSITIVE requires.
const V3: &str = "schemas/shop/orders/order_created/v3.avsc";
const CUSTOMER_ID_DEFAULT: &str = "\"type\": [\"null\", \"string\"],\n      \"default\": null,";
const CUSTOMER_ID_NO_DEFAULT: &str = "\"type\": [\"null\", \"string\"],";

#[test]
fn an_incompatible_edit_fails_cargo_build_with_the_diagnostic_and_warn_mode_builds() {
    let probe = Probe::new("gate-probe-incompatible");
    probe.edit(V3, CUSTOMER_ID_DEFAULT, CUSTOMER_ID_NO_DEFAULT);
    let out = probe.cargo_build(None);
    let log = text(&out);
    assert!(!out.status.success(), "the build passed:\n{log}");
    // file:line:col of the field, the rule, the versions, the fix and who breaks
    assert!(
        log.contains("--> schemas/shop/orders/order_created/v3.avsc:18:5"),
        "{log}"
    );
    assert!(
        log.contains("field: shop.orders.OrderCreated.customer_id"),
        "{log}"
    );
    assert!(
        log.contains("rule: READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{log}"
    );
    assert!(log.contains("change: v1 → v3"), "{log}");
    assert!(
        log.contains("help: Add a default to \"customer_id\""),
        "{log}"
    );
    assert!(
        log.contains("consumed by inventory, notification: these services would break"),
        "{log}"
    );
    // through build-print, which cargo shows as the build script's warnings
    assert!(
        log.contains("gate-probe-incompatible@0.0.0: \r   error: incompatible change to"),
        "{log}"
    );

    let out = probe.cargo_build(Some("warn"));
    let log = text(&out);
    assert!(out.status.success(), "warning mode failed:\n{log}");
    assert!(log.contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{log}");
    assert!(log.contains("building anyway"), "{log}");

    // A mistyped mode is refused rather than read as either.
    let out = probe.cargo_build(Some("warning"));
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("CONTRACTS_GATE=\"warning\" is not a gate mode"),
        "{log}"
    );
}

#[test]
fn an_in_place_edit_of_a_released_schema_fails_cargo_build_against_the_committed_snapshot() {
    let probe = Probe::with_snapshot("gate-probe-snapshot");
    // Compatible with every version, but made to the released v3 instead of as a v4.
    probe.edit(
        V3,
        "\"fields\": [",
        "\"fields\": [\n    {\"name\": \"channel\", \"type\": [\"null\", \"string\"], \"default\": null},",
    );
    let out = probe.cargo_build(None);
    let log = text(&out);
    assert!(!out.status.success(), "the build passed:\n{log}");
    assert!(
        log.contains(
            "shop.orders.OrderCreated v3 (shop/orders/order_created/v3.avsc) was edited after the \
             registry registered it as version 3"
        ),
        "{log}"
    );
    assert!(log.contains("add the change as a new version"), "{log}");
}

#[test]
fn a_compatible_edit_builds_schema_changes_rerun_the_generator_and_new_consumers_must_handle() {
    let probe = Probe::new("gate-probe-compatible");
    // A new optional field with a default: compatible both ways with every version.
    probe.edit(
        V3,
        "\"fields\": [",
        "\"fields\": [\n    {\"name\": \"channel\", \"type\": [\"null\", \"string\"], \"default\": null},",
    );
    let out = probe.cargo_build(None);
    assert!(out.status.success(), "{}", text(&out));
    let generated =
        std::fs::read_dir(Path::new(env!("CARGO_TARGET_TMPDIR")).join("gate-probe/debug/build"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("out/events.rs")).ok())
            .any(|code| code.contains("\"channel\""));
    assert!(generated, "no generated events.rs holds the new field");

    // Nothing changed: the build script does not run again.
    let out = probe.cargo_build(None);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Fresh gate-probe-compatible"), "{log}");
    assert!(!log.contains("build-script-build`"), "{log}");

    // A file the schemas do not use: still fresh.
    std::fs::write(probe.path("schemas/NOTES.md"), "not a schema\n").unwrap();
    let log = text(&probe.cargo_build(None));
    assert!(log.contains("Fresh gate-probe-compatible"), "{log}");

    // An imported Protobuf file changed: the generator runs again.
    probe.edit(
        "schemas/shop/common/v1/money.proto",
        "message Money {",
        "// edited\nmessage Money {",
    );
    let log = text(&probe.cargo_build(None));
    assert!(
        log.contains("Dirty gate-probe-compatible") && log.contains("money.proto"),
        "{log}"
    );

    // The manifest makes inventory a consumer of OrderPaid: the service code no longer compiles
    // until it handles it.
    probe.edit(
        "schemas/contracts.toml",
        "consumers = [\"notification\"]",
        "consumers = [\"notification\", \"inventory\"]",
    );
    let out = probe.cargo_build(None);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("not all trait items implemented, missing: `order_paid`"),
        "{log}"
    );
}
