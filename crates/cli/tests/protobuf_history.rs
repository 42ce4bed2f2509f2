//! The shop's Protobuf subjects hold several versions of one package (older ones under
//! schemas/history/, each in its own import root), and `contracts check` compares them at the
//! subject's level as it does Avro versions.

mod common;

use common::{contracts, copy_dir, repo, text};

/// A copy of the shop's schemas/ with `from` replaced by `to` in `file` (relative to schemas/).
/// Without the registry snapshot: these tests are about the manifest's own history.
fn shop_with(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("schemas"), &copy.path().join("schemas"));
    let _ = std::fs::remove_dir_all(copy.path().join("schemas/.registry"));
    let path = copy.path().join("schemas").join(file);
    let before = std::fs::read_to_string(&path).unwrap();
    assert!(before.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&path, before.replacen(from, to, 1)).unwrap();
    copy
}

/// The finding line of `rule`, `file:line:column: RULE …`.
fn finding<'o>(stdout: &'o str, rule: &str) -> &'o str {
    stdout
        .lines()
        .find(|l| l.contains(rule))
        .unwrap_or_else(|| panic!("no {rule} finding in:\n{stdout}"))
}

#[test]
fn the_shops_protobuf_subjects_hold_several_versions_and_pass_their_check() {
    let out = contracts(&["check"], &repo());
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (versions, subject) in [
        ("v1 → v2", "subject order-created-pb-value"),
        (
            "v2 → v3",
            "subject inventory-shop.inventory.v2.InventoryRejected",
        ),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(versions) && l.ends_with(subject)),
            "{subject} ({versions}) is not reported as checked:\n{stdout}"
        );
    }
}

#[test]
fn a_field_type_changed_in_a_newer_version_of_a_package_is_a_finding_at_its_line() {
    // InventoryRejected v3 is the second version of shop.inventory.v2; v2 is under history/.
    let copy = shop_with(
        "shop/inventory/v2/inventory_rejected.proto",
        "string detail = 5;",
        "int64 detail = 5;",
    );
    let out = contracts(&["check"], copy.path());
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = finding(&stdout, "FIELD_SCALAR_KIND_CHANGED");
    assert!(
        line.starts_with("schemas/shop/inventory/v2/inventory_rejected.proto:22:"),
        "{line}"
    );
    assert!(line.ends_with("[v2 → v3, BACKWARD]"), "{line}");
}

#[test]
fn a_field_number_reused_by_a_newer_version_breaks_the_transitive_history() {
    // OrderCreated v2 drops created_at and gives its number to total: BACKWARD_TRANSITIVE
    // compares v2 with v1, whose text is under history/.
    let copy = shop_with(
        "shop/orders/v1/order_created.proto",
        "  google.protobuf.Timestamp created_at = 4;\n",
        "",
    );
    let path = copy
        .path()
        .join("schemas/shop/orders/v1/order_created.proto");
    let edited =
        std::fs::read_to_string(&path)
            .unwrap()
            .replacen("Money total = 5;", "Money total = 4;", 1);
    std::fs::write(&path, edited).unwrap();
    let out = contracts(&["check"], copy.path());
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = finding(&stdout, "FIELD_NAMED_TYPE_CHANGED");
    assert!(
        line.starts_with("schemas/shop/orders/v1/order_created.proto:24:"),
        "{line}"
    );
    assert!(line.ends_with("[v1 → v2, BACKWARD_TRANSITIVE]"), "{line}");
}
