//! The generator on fixture manifests: snapshots of the generated code and of the gate's
//! diagnostics, and the Config options a build script relies on.

use std::path::{Path, PathBuf};

use contracts_build::{Config, Error, Gate};

mod common;

fn fixture(name: &str) -> PathBuf {
    // Relative, as a build script names it, so that diagnostics in snapshots are stable.
    Path::new("tests/fixtures")
        .join(name)
        .join("contracts.toml")
}

fn quiet() -> Config {
    let mut config = Config::new();
    config.emit_cargo_instructions(false).gate(Gate::Fail);
    config
}

#[test]
fn generated_code_for_the_fixture_shop_matches_the_snapshot() {
    let generated = quiet().generate(fixture("shop")).unwrap();
    insta::assert_snapshot!("shop", generated.code);
    // The same code as a Rust file, compiled and exercised by tests/fixture_shop.rs.
    let golden = Path::new("tests/generated/fixture_shop.rs");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(golden, &generated.code).unwrap();
    }
    assert!(
        std::fs::read_to_string(golden).unwrap_or_default() == generated.code,
        "{} is stale: run UPDATE_GOLDEN=1 cargo test -p contracts-build --test generate",
        golden.display()
    );
}

#[test]
fn every_event_version_gets_a_type_in_its_topic_and_version_module() {
    let code = quiet().generate(fixture("shop")).unwrap().code;
    // topic module `payments`, versions 1 and 2; the Protobuf topic's hyphens become `_`.
    assert!(code.contains("pub mod payments {"), "{code}");
    assert!(code.contains("pub mod refunds_pb {"), "{code}");
    for (ty, subject) in [
        ("PaymentTaken", "acme.payments.PaymentTaken"),
        ("PaymentFailed", "acme.payments.PaymentFailed"),
        ("RefundIssued", "refunds-pb-value"),
    ] {
        assert!(
            code.contains(&format!("impl ::contracts_core::Event for {ty} {{")),
            "{ty} has no Event impl"
        );
        assert!(
            code.contains(&format!("subject: \"{subject}\"")),
            "{subject}"
        );
    }
    // the imported message is re-exported beside the event that uses it
    assert!(
        code.contains("pub use super::super::proto::acme::common::v1::Amount;"),
        "{code}"
    );
}

#[test]
fn a_breaking_change_fails_with_file_line_rule_fix_and_consumers() {
    let err = quiet().generate(fixture("breaking")).unwrap_err();
    let Error::Incompatible { count, report } = err else {
        panic!("expected an incompatibility, got {err}");
    };
    assert_eq!(count, 1);
    assert!(
        report.contains("--> tests/fixtures/breaking/acme/payments/payment_taken/v2.avsc:8:5"),
        "{report}"
    );
    assert!(
        report.contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{report}"
    );
    assert!(
        report.contains("acme.payments.PaymentTaken.customer_id"),
        "{report}"
    );
    assert!(report.contains("v1 → v2"), "{report}");
    assert!(
        report.contains("help: Add a default to \"customer_id\""),
        "{report}"
    );
    assert!(report.contains("consumed by mailer, ledger"), "{report}");
    insta::assert_snapshot!("breaking_diagnostic", report);
}

#[test]
fn warning_mode_generates_despite_a_breaking_change_and_reports_it() {
    let mut config = quiet();
    config.gate(Gate::Warn);
    let generated = config.generate(fixture("breaking")).unwrap();
    assert!(generated.code.contains("pub mod v2 {"));
    assert_eq!(generated.warnings.len(), 1);
    assert!(generated.warnings[0].contains("READER_FIELD_MISSING_DEFAULT_VALUE"));
}

#[test]
fn inputs_name_the_manifest_every_schema_and_every_import() {
    let generated = quiet().generate(fixture("shop")).unwrap();
    let base = Path::new("tests/fixtures/shop");
    for file in [
        "contracts.toml",
        "acme/payments/payment_taken/v1.avsc",
        "acme/payments/payment_taken/v2.avsc",
        "acme/payments/payment_failed/v1.avsc",
        "acme/refunds/v1/refund_issued.proto",
        "acme/common/v1/amount.proto",
    ] {
        assert!(
            generated.inputs.contains(&base.join(file)),
            "{file} missing from {:?}",
            generated.inputs
        );
    }
}

#[test]
fn the_events_option_generates_only_the_named_events() {
    let mut config = quiet();
    config.events(["acme.refunds.v1.RefundIssued"]);
    let code = config.generate(fixture("shop")).unwrap().code;
    assert!(code.contains("pub mod refunds_pb {"));
    assert!(!code.contains("pub mod payments {"), "{code}");
    assert!(!code.contains("PaymentTaken"), "{code}");
}

#[test]
fn an_unknown_event_in_the_events_option_is_an_error_that_names_it() {
    let mut config = quiet();
    config.events(["acme.payments.Nope"]);
    let err = config.generate(fixture("shop")).unwrap_err().to_string();
    assert!(err.contains("\"acme.payments.Nope\""), "{err}");
}

#[test]
fn type_and_field_attributes_reach_the_generated_types() {
    let mut config = quiet();
    config
        .type_attribute(".", "#[doc(alias = \"every_type\")]")
        .field_attribute(
            "acme.refunds.v1.RefundIssued.refund_id",
            "#[doc(alias = \"rid\")]",
        );
    let code = config.generate(fixture("shop")).unwrap().code;
    // Avro records and enums, and prost messages
    assert!(
        code.matches("#[doc(alias = \"every_type\")]").count() >= 4,
        "{code}"
    );
    assert!(code.contains("#[doc(alias = \"rid\")]"), "{code}");
}

#[test]
fn a_missing_manifest_is_an_error_that_names_the_file() {
    let err = quiet()
        .generate("tests/fixtures/none/contracts.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("tests/fixtures/none/contracts.toml"), "{err}");
}

#[test]
fn compile_rewrites_events_rs_only_when_its_content_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = quiet();
    config.out_dir(dir.path());
    config.compile(fixture("shop")).unwrap();
    let path = dir.path().join(contracts_build::OUTPUT_FILE);
    let first = std::fs::metadata(&path).unwrap().modified().unwrap();
    // A timestamp in the past shows whether the second run touched the file.
    let past = first - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(past)
        .unwrap();
    config.compile(fixture("shop")).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), past);
}

/// A copy of the `registered` fixture (a manifest with the `.registry/` snapshot `contracts
/// prepare` writes), with `edit` applied to the copy's directory.
fn registered(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(Path::new("tests/fixtures/registered"), dir.path());
    edit(dir.path());
    dir
}

const V1: &str = "acme/payments/payment_taken/v1.avsc";
const V2: &str = "acme/payments/payment_taken/v2.avsc";

fn edit_file(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

#[test]
fn the_snapshot_beside_the_manifest_is_used_by_default_and_reruns_the_build() {
    let generated = quiet().generate(fixture("registered")).unwrap();
    let dir = Path::new("tests/fixtures/registered/.registry");
    assert!(
        generated.inputs.contains(&dir.to_path_buf()),
        "{:?}",
        generated.inputs
    );
    assert!(
        generated.inputs.contains(&dir.join("payments-value.json")),
        "{:?}",
        generated.inputs
    );
}

#[test]
fn a_registered_file_edited_in_place_fails_the_build() {
    let dir = registered(|d| edit_file(d, V1, "\"long\"", "\"int\""));
    let err = quiet()
        .generate(dir.path().join("contracts.toml"))
        .unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("expected an edited-in-place error, got {err}");
    };
    let text = problems
        .iter()
        .map(|d| d.render())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(
            "acme.payments.PaymentTaken v1 (acme/payments/payment_taken/v1.avsc) was edited after \
             the registry registered it as version 1 (id 1)"
        ),
        "{text}"
    );
    assert!(text.contains("contracts.toml:"), "{text}");
    assert!(text.contains("add the change as a new version"), "{text}");
}

#[test]
fn the_shops_committed_snapshot_fails_the_build_on_an_in_place_edit_of_a_released_schema() {
    // A copy of the shop's schemas/ with the registry snapshot it commits (`schemas/.registry/`,
    // regenerated by crates/cli/tests/shop_snapshot.rs).
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(Path::new("../../schemas"), dir.path());
    assert!(
        dir.path().join(".registry").is_dir(),
        "the shop commits its snapshot"
    );
    let manifest = dir.path().join("contracts.toml");
    quiet().generate(&manifest).unwrap();

    // Only a doc, a compatible change, but made to the released v1 instead of a new version.
    edit_file(
        dir.path(),
        "shop/orders/order_paid/v1.avsc",
        "\"doc\": \"The customer paid for an order.\"",
        "\"doc\": \"The customer paid for the order.\"",
    );
    let err = quiet().generate(&manifest).unwrap_err();
    let Error::Invalid(problems) = &err else {
        panic!("expected an edited-in-place error, got {err}");
    };
    let text = problems
        .iter()
        .map(|d| d.render())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(
            "shop.orders.OrderPaid v1 (shop/orders/order_paid/v1.avsc) was edited after the \
             registry registered it as version 1"
        ),
        "{text}"
    );
}

#[test]
fn a_new_version_incompatible_with_the_registered_history_fails_with_a_located_diagnostic() {
    let dir = registered(|d| {
        edit_file(
            d,
            V2,
            "{\"name\": \"note\", \"type\": \"string\", \"default\": \"\"}",
            "{\"name\": \"note\", \"type\": \"string\"}",
        )
    });
    let err = quiet()
        .generate(dir.path().join("contracts.toml"))
        .unwrap_err();
    let Error::Incompatible { count, report } = err else {
        panic!("expected an incompatibility, got {err}");
    };
    assert_eq!(count, 1, "{report}");
    assert!(
        report.contains("v2 breaks BACKWARD compatibility with registry v1 (v1)"),
        "{report}"
    );
    assert!(report.contains(&format!("{V2}:8:")), "{report}");
    assert!(
        report.contains("field: acme.payments.PaymentTaken.note"),
        "{report}"
    );
    assert!(
        report.contains("subject \"payments-value\" is checked at BACKWARD"),
        "{report}"
    );
    assert!(report.contains("consumed by ledger"), "{report}");
}

#[test]
fn a_version_only_the_registry_holds_is_checked_from_its_text_via_an_explicit_snapshot() {
    // The registry's v1 has a boolean payment_id and was not found to be a local file: both local
    // versions are new to it, and neither can read its data. The snapshot is named explicitly.
    let dir = registered(|d| {
        let snapshot = d.join(".registry/payments-value.json");
        let text = std::fs::read_to_string(&snapshot).unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        doc["local"] = serde_json::json!([]);
        doc["versions"][0]["schema"] =
            serde_json::Value::String(doc["versions"][0]["schema"].as_str().unwrap().replace(
                "\"payment_id\", \"type\": \"string\"",
                "\"payment_id\", \"type\": \"boolean\"",
            ));
        std::fs::create_dir_all(d.join("elsewhere")).unwrap();
        std::fs::write(
            d.join("elsewhere/payments-value.json"),
            serde_json::to_string_pretty(&doc).unwrap(),
        )
        .unwrap();
        std::fs::remove_dir_all(d.join(".registry")).unwrap();
    });
    let without = quiet().generate(dir.path().join("contracts.toml"));
    assert!(
        without.is_ok(),
        "no snapshot: the manifest's history is compatible"
    );
    let mut config = quiet();
    config.registry_snapshot(dir.path().join("elsewhere"));
    let err = config
        .generate(dir.path().join("contracts.toml"))
        .unwrap_err();
    let Error::Incompatible { report, .. } = err else {
        panic!("expected an incompatibility, got {err}");
    };
    assert!(
        report.contains("v1 breaks BACKWARD compatibility with registry v1"),
        "{report}"
    );
    // The finding points into the local file, not the registry's text.
    assert!(report.contains(V1), "{report}");
    assert!(!report.contains("registry:payments-value"), "{report}");
}

#[test]
fn a_snapshot_that_is_not_json_is_a_clear_error() {
    let dir = registered(|d| {
        std::fs::write(d.join(".registry/payments-value.json"), "{ not json").unwrap();
    });
    let err = quiet()
        .generate(dir.path().join("contracts.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("payments-value.json"), "{err}");
    assert!(err.contains("contracts prepare"), "{err}");
}

#[test]
fn protobuf_events_carry_their_message_indexes_and_imports() {
    let code = quiet().generate(fixture("shop")).unwrap().code;
    // RefundIssued is the second message of its file; its file imports amount.proto.
    let at = code.find("name: \"acme.refunds.v1.RefundIssued\"").unwrap();
    let info = &code[at..];
    assert!(info.contains("message_indexes: &[1]"), "{info}");
    assert!(
        info.contains("name: \"acme/common/v1/amount.proto\""),
        "{info}"
    );
    assert!(
        info.contains("subject: \"acme/common/v1/amount.proto\""),
        "{info}"
    );
}

#[test]
fn a_breaking_protobuf_change_points_at_the_proto_field() {
    let err = quiet().generate(fixture("breaking-pb")).unwrap_err();
    let Error::Incompatible { report, .. } = err else {
        panic!("expected an incompatibility, got {err}");
    };
    assert!(
        report
            .contains("--> tests/fixtures/breaking-pb/next/acme/refunds/v1/refund_issued.proto:7:"),
        "{report}"
    );
    assert!(report.contains("int64 reason = 2;"), "{report}");
    assert!(
        report.contains("field: acme.refunds.v1.RefundIssued.reason"),
        "{report}"
    );
    assert!(
        report.contains("help: keep a type of the same group"),
        "{report}"
    );
    assert!(report.contains("consumed by checkout"), "{report}");
    insta::assert_snapshot!("breaking_protobuf_diagnostic", report);
}
