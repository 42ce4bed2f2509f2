//! The `contracts` binary as a user runs it: exit codes, output formats, the shop's schemas.

mod common;

use common::{contracts, copy_dir, repo};
use std::process::{Command, Output};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const V1: &str = r#"{
  "type": "record",
  "name": "OrderCreated",
  "namespace": "shop.orders",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "quantity", "type": "int"}
  ]
}"#;

const V2_BREAKING: &str = r#"{
  "type": "record",
  "name": "OrderCreated",
  "namespace": "shop.orders",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "quantity", "type": "int"},
    {"name": "customer_id", "type": "string"}
  ]
}"#;

const V2_COMPATIBLE: &str = r#"{
  "type": "record",
  "name": "OrderCreated",
  "namespace": "shop.orders",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "quantity", "type": "long"},
    {"name": "customer_id", "type": ["null", "string"], "default": null}
  ]
}"#;

fn write_versions(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn the_shops_contracts_pass_their_check() {
    let out = contracts(&["check"], &repo());
    assert!(
        out.status.success(),
        "contracts check failed:\n{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("ok    shop.orders.OrderCreated"));
}

#[test]
fn a_compatible_change_exits_zero() {
    let dir = write_versions(&[("v1.avsc", V1), ("v2.avsc", V2_COMPATIBLE)]);
    let out = contracts(
        &[
            "compat",
            "--level",
            "backward_transitive",
            "v1.avsc",
            "v2.avsc",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_breaking_change_exits_100_with_file_line_rule_and_fix() {
    let dir = write_versions(&[("v1.avsc", V1), ("v2.avsc", V2_BREAKING)]);
    let out = contracts(
        &["compat", "--level", "BACKWARD", "v1.avsc", "v2.avsc"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(100));
    let text = stdout(&out);
    assert!(
        text.starts_with("v2.avsc:8:5: READER_FIELD_MISSING_DEFAULT_VALUE: Field \"customer_id\""),
        "{text}"
    );
    assert!(text.contains("Add a default to \"customer_id\""), "{text}");
}

#[test]
fn forward_checks_the_old_schema_reading_new_data() {
    // Removing a field without a default breaks old readers, not the new one.
    let removed = V1.replace(",\n    {\"name\": \"quantity\", \"type\": \"int\"}", "");
    let dir = write_versions(&[("v1.avsc", V1), ("v2.avsc", &removed)]);
    let backward = contracts(
        &["compat", "--level", "BACKWARD", "v1.avsc", "v2.avsc"],
        dir.path(),
    );
    assert_eq!(backward.status.code(), Some(0));
    let forward = contracts(
        &[
            "compat",
            "--level",
            "FORWARD",
            "--error-format",
            "json",
            "v1.avsc",
            "v2.avsc",
        ],
        dir.path(),
    );
    assert_eq!(forward.status.code(), Some(100));
    let finding: serde_json::Value = serde_json::from_str(stdout(&forward).trim()).unwrap();
    assert_eq!(finding["rule"], "READER_FIELD_MISSING_DEFAULT_VALUE");
    assert_eq!(finding["path"], "/fields/1");
    assert_eq!(
        finding["file"], "v1.avsc",
        "the path points into the old schema, the reader"
    );
    assert_eq!(finding["line"], 7);
    assert_eq!(finding["old_version"], "v1.avsc");
    assert_eq!(finding["new_version"], "v2.avsc");
}

#[test]
fn transitive_levels_compare_with_every_earlier_version() {
    let v2 = V2_COMPATIBLE;
    // v3 drops customer_id's branch for null: reads v2 data? No: v2 may have written null.
    let v3 = V2_COMPATIBLE.replace(
        r#"["null", "string"], "default": null"#,
        r#""string", "default": """#,
    );
    let dir = write_versions(&[("v1.avsc", V1), ("v2.avsc", v2), ("v3.avsc", &v3)]);
    let out = contracts(
        &[
            "compat",
            "--level",
            "BACKWARD_TRANSITIVE",
            "v1.avsc",
            "v2.avsc",
            "v3.avsc",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(100));
    assert!(stdout(&out).contains("TYPE_MISMATCH"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("[v2.avsc → v3.avsc"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_invalid_new_schema_is_a_finding_but_an_invalid_old_one_is_an_error() {
    let bad = V1.replace(
        "\"quantity\", \"type\": \"int\"",
        "\"quantity\", \"type\": \"int\", \"default\": \"one\"",
    );
    let dir = write_versions(&[("v1.avsc", V1), ("bad.avsc", &bad)]);
    let out = contracts(
        &["compat", "--level", "BACKWARD", "v1.avsc", "bad.avsc"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(100));
    assert!(
        stdout(&out)
            .starts_with("bad.avsc:7:52: INVALID_SCHEMA: invalid default for field \"quantity\""),
        "{}",
        stdout(&out)
    );
    // The same file as an existing version is read leniently, as the registry reads what it stored.
    let out = contracts(
        &["compat", "--level", "BACKWARD", "bad.avsc", "v1.avsc"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0));
    let broken = write_versions(&[("v1.avsc", "{"), ("v2.avsc", V1)]);
    let out = contracts(
        &["compat", "--level", "BACKWARD", "v1.avsc", "v2.avsc"],
        broken.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("v1.avsc:1:2"));
}

#[test]
fn usage_and_io_errors_exit_one() {
    let dir = write_versions(&[("v1.avsc", V1)]);
    assert_eq!(
        contracts(&["compat", "--level", "SIDEWAYS", "v1.avsc"], dir.path())
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        contracts(&["compat", "--level", "NONE", "missing.avsc"], dir.path())
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        contracts(&["check", "--manifest", "nope.toml"], dir.path())
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn help_explains_every_level() {
    let out = contracts(&["compat", "--help"], &repo());
    assert!(out.status.success());
    let help = stdout(&out);
    for level in [
        "NONE",
        "BACKWARD_TRANSITIVE",
        "FORWARD_TRANSITIVE",
        "FULL_TRANSITIVE",
    ] {
        assert!(help.contains(level), "{level} missing from --help");
    }
}

#[test]
fn a_breaking_edit_to_the_shops_schemas_fails_check_with_the_manifest_context() {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("schemas"), &copy.path().join("schemas"));
    let v3 = copy
        .path()
        .join("schemas/shop/orders/order_created/v3.avsc");
    let text = std::fs::read_to_string(&v3).unwrap();
    std::fs::write(&v3, text.replacen("\"product_name\"", "\"product\"", 1)).unwrap();
    let out = contracts(&["check", "--error-format", "json"], copy.path());
    assert_eq!(
        out.status.code(),
        Some(100),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "READER_FIELD_MISSING_DEFAULT_VALUE"
                && f["event"] == "shop.orders.OrderCreated"
                && f["new_version"] == "v3"),
        "{findings:?}"
    );
}

#[test]
fn widening_a_type_passes_backward_but_not_full() {
    let dir = write_versions(&[("v1.avsc", V1), ("v2.avsc", V2_COMPATIBLE)]);
    let out = contracts(
        &["compat", "--level", "FULL", "v1.avsc", "v2.avsc"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(100));
    assert!(
        stdout(&out).starts_with("v1.avsc:7:34: TYPE_MISMATCH"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_protobuf_schemas_pass_buf_lint() {
    let buf = repo().join(".oracles/node/node_modules/.bin/buf");
    assert!(buf.exists(), "buf is missing: run .ci/install-oracles");
    let out = Command::new(buf)
        .arg("lint")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "buf lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_key_field_missing_from_the_schema_is_an_error_at_the_manifest_line() {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("schemas"), &copy.path().join("schemas"));
    let manifest = copy.path().join("schemas/contracts.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen("key = \"order_id\"", "key = \"order_ref\"", 1),
    )
    .unwrap();
    let out = contracts(&["check"], copy.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: shop.orders.OrderCreated v1 has no field \"order_ref\""),
        "{stderr}"
    );
    assert!(stderr.contains("--> schemas/contracts.toml:"), "{stderr}");
}

/// `deploy/` ships the ACL table and the Strimzi users that `contracts acls` derives from the
/// manifest; they must not drift from it.
#[test]
fn the_shipped_acl_table_and_strimzi_users_are_what_contracts_acls_prints() {
    let root = repo();
    let run = |format: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
            .current_dir(&root)
            .args(["acls", "--format", format])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let doc = std::fs::read_to_string(root.join("deploy/kafka-acls.md")).unwrap();
    let generated = doc
        .split_once("<!-- generated: contracts acls -->\n")
        .and_then(|(_, rest)| rest.split_once("<!-- end generated -->"))
        .map(|(table, _)| table)
        .expect("deploy/kafka-acls.md has the generated markers");
    assert_eq!(generated, run("table"), "regenerate deploy/kafka-acls.md");
    let users = std::fs::read_to_string(root.join("deploy/k8s/kafka-users.yaml")).unwrap();
    assert_eq!(
        users,
        run("strimzi"),
        "regenerate deploy/k8s/kafka-users.yaml"
    );
}

#[test]
fn each_service_may_read_only_what_it_consumes_and_write_only_what_it_publishes() {
    let root = repo();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .current_dir(&root)
        .args(["acls", "--topic-prefix", "prod.", "--retry-topics", "1"])
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let row = |principal: &str, name: &str| {
        table
            .lines()
            .find(|l| {
                l.starts_with(&format!("| {principal} |")) && l.contains(&format!("`{name}`"))
            })
            .map(str::to_owned)
    };
    // The order service publishes orders and reads only the inventory's answers.
    assert!(
        row("User:order", "prod.orders")
            .unwrap()
            .contains("| Describe, Write |")
    );
    assert!(
        row("User:order", "prod.inventory")
            .unwrap()
            .contains("Read")
    );
    assert!(row("User:order", "prod.orders.DLT").is_none(), "{table}");
    // The notification service never publishes events.
    let inventory = row("User:notification", "prod.inventory").unwrap();
    assert!(inventory.contains("Read"), "{inventory}");
    assert!(
        row("User:notification", "prod.inventory.retry-1").is_some(),
        "{table}"
    );
    assert!(
        row("User:notification", "notification")
            .unwrap()
            .contains("| Group |")
    );
    assert!(
        row("User:contracts-registry", "_schemas")
            .unwrap()
            .contains("DescribeConfigs")
    );
}
