//! `contracts register`, `contracts check --registry` / `--offline-snapshot` and `contracts
//! prepare` as CI runs them: the binary against a real registry on a real broker (testkit), on a
//! copy of the shop's schemas/.

mod common;

use common::copy_dir;
use std::path::{Path, PathBuf};
use std::process::Output;

use contracts_registry_client::api::{RegisterSchemaRequest, SchemaType};
use contracts_registry_client::client::Client;
use contracts_testkit::{TestRegistry, shared_broker};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A copy of the shop's schemas/ (without a snapshot) to edit.
fn shop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("schemas"), &dir.path().join("schemas"));
    let _ = std::fs::remove_dir_all(dir.path().join("schemas/.registry"));
    dir
}

async fn contracts(args: &[&str], dir: &Path) -> Output {
    contracts_with(args, dir, None).await
}

/// With `SCHEMA_REGISTRY_URL` set to `registry`, or unset.
async fn contracts_with(args: &[&str], dir: &Path, registry: Option<&str>) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"));
    match registry {
        Some(url) => command.env("SCHEMA_REGISTRY_URL", url),
        None => command.env_remove("SCHEMA_REGISTRY_URL"),
    };
    command
        .args(args)
        .current_dir(dir)
        .env_remove("SCHEMA_REGISTRY_AUTH")
        .env_remove("CONTRACTS_MANIFEST")
        .env_remove("CONTRACTS_ERROR_FORMAT")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .await
        .expect("run contracts")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn registry() -> TestRegistry {
    TestRegistry::start(shared_broker())
        .await
        .expect("start a registry")
}

/// OrderPaid v2 adds a field without a default: BACKWARD (its level) refuses it.
fn add_breaking_order_paid_v2(dir: &Path) -> PathBuf {
    let schemas = dir.join("schemas");
    let v1 = std::fs::read_to_string(schemas.join("shop/orders/order_paid/v1.avsc")).unwrap();
    let v2 = v1.replacen(
        "    {\"name\": \"payment_id\"",
        "    {\"name\": \"method\", \"type\": \"string\"},\n    {\"name\": \"payment_id\"",
        1,
    );
    assert_ne!(v1, v2);
    std::fs::write(schemas.join("shop/orders/order_paid/v2.avsc"), v2).unwrap();
    let manifest = schemas.join("contracts.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap();
    let edited = toml.replacen(
        "    { version = 1, file = \"shop/orders/order_paid/v1.avsc\" },\n",
        "    { version = 1, file = \"shop/orders/order_paid/v1.avsc\" },\n    { version = 2, file = \"shop/orders/order_paid/v2.avsc\" },\n",
        1,
    );
    assert_ne!(toml, edited);
    std::fs::write(manifest, edited).unwrap();
    // The line of the new field, as findings must name it.
    let line = std::fs::read_to_string(schemas.join("shop/orders/order_paid/v2.avsc"))
        .unwrap()
        .lines()
        .position(|l| l.contains("\"method\""))
        .unwrap()
        + 1;
    PathBuf::from(format!("shop/orders/order_paid/v2.avsc:{line}:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_puts_every_version_under_its_subject_and_level_and_a_rerun_is_a_no_op() {
    let registry = registry().await;
    let url = registry.url();
    let dir = shop();
    let out = contracts(&["register", "--registry", &url], dir.path()).await;
    assert!(out.status.success(), "{}", text(&out));

    let client = Client::new(&url).unwrap();
    let subject = "shop.orders.OrderCreated";
    assert_eq!(client.versions(subject).await.unwrap(), vec![1, 2, 3]);
    let level = client.subject_config(subject).await.unwrap().unwrap();
    assert_eq!(
        level.compatibility_level.as_deref(),
        Some("FULL_TRANSITIVE")
    );
    // Protobuf imports went first, under their import paths; the built-in timestamp did not.
    // The older versions under schemas/history/ import copies of the same files, which the
    // registry holds once.
    assert_eq!(
        client.versions("shop/common/v1/money.proto").await.unwrap(),
        vec![1]
    );
    // Several versions of one Protobuf package, accepted by the registry at their levels.
    assert_eq!(
        client.versions("order-created-pb-value").await.unwrap(),
        vec![1, 2]
    );
    let pb = client.latest("order-created-pb-value").await.unwrap();
    assert_eq!(pb.schema_type(), SchemaType::Protobuf);
    let names: Vec<&str> = pb.references.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "shop/common/v1/line_item.proto",
            "shop/common/v1/money.proto"
        ]
    );
    let v2_subject = "inventory-shop.inventory.v2.InventoryReserved";
    assert_eq!(client.versions(v2_subject).await.unwrap(), vec![1]);
    assert_eq!(
        client
            .versions("inventory-shop.inventory.v2.InventoryRejected")
            .await
            .unwrap(),
        vec![1, 2]
    );
    let before = client.latest(subject).await.unwrap();

    // The URL from the environment this time, as CI sets it.
    let again = contracts_with(&["register"], dir.path(), Some(&url)).await;
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to do"),
        "{}",
        text(&again)
    );
    assert_eq!(client.versions(subject).await.unwrap(), vec![1, 2, 3]);
    assert_eq!(client.latest(subject).await.unwrap().id, before.id);

    // The name of earlier releases still works, with a warning naming the new one.
    let old = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(["register"])
        .current_dir(dir.path())
        .env_remove("SCHEMA_REGISTRY_URL")
        .env_remove("SCHEMA_REGISTRY_AUTH")
        .env_remove("CONTRACTS_MANIFEST")
        .env("CONTRACTS_REGISTRY_URL", &url)
        .output()
        .await
        .unwrap();
    assert!(old.status.success(), "{}", text(&old));
    assert!(
        String::from_utf8_lossy(&old.stdout).contains("nothing to do"),
        "{}",
        text(&old)
    );
    assert_eq!(
        String::from_utf8_lossy(&old.stderr)
            .matches(
                "warning: CONTRACTS_REGISTRY_URL is deprecated; set SCHEMA_REGISTRY_URL instead"
            )
            .count(),
        1,
        "{}",
        text(&old)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_against_the_registry_passes_then_fails_with_file_and_line_after_a_breaking_edit() {
    let registry = registry().await;
    let url = registry.url();
    let dir = shop();
    let out = contracts(&["register", "--registry", &url], dir.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    let green = contracts(&["check", "--registry", &url], dir.path()).await;
    assert_eq!(green.status.code(), Some(0), "{}", text(&green));
    assert!(
        String::from_utf8_lossy(&green.stdout).contains("registered [1,2,3]"),
        "{}",
        text(&green)
    );

    let at = add_breaking_order_paid_v2(dir.path());
    let red = contracts(&["check", "--registry", &url], dir.path()).await;
    assert_eq!(red.status.code(), Some(100), "{}", text(&red));
    let stdout = String::from_utf8_lossy(&red.stdout);
    assert!(
        stdout.contains(&*at.to_string_lossy()),
        "expected {}: {}",
        at.display(),
        text(&red)
    );
    assert!(
        stdout.contains("READER_FIELD_MISSING_DEFAULT"),
        "{}",
        text(&red)
    );

    let json = contracts(
        &["check", "--registry", &url, "--error-format", "json"],
        dir.path(),
    )
    .await;
    assert_eq!(json.status.code(), Some(100), "{}", text(&json));
    let finding: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&json.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(finding["event"], "shop.orders.OrderPaid");
    assert_eq!(finding["new_version"], "v2");
    assert!(
        finding["file"]
            .as_str()
            .unwrap()
            .ends_with("order_paid/v2.avsc")
    );

    // Nothing was registered by checking.
    let client = Client::new(&url).unwrap();
    assert_eq!(
        client.versions("shop.orders.OrderPaid").await.unwrap(),
        vec![1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_to_a_registered_file_is_checked_against_the_registry_text() {
    let registry = registry().await;
    let url = registry.url();
    let dir = shop();
    let out = contracts(&["register", "--registry", &url], dir.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    // Edit the released v1 in place: payment_id string → int.
    let file = dir.path().join("schemas/shop/orders/order_paid/v1.avsc");
    let v1 = std::fs::read_to_string(&file).unwrap();
    let edited = v1.replacen(
        "{\"name\": \"payment_id\", \"type\": \"string\"",
        "{\"name\": \"payment_id\", \"type\": \"int\"",
        1,
    );
    assert_ne!(v1, edited);
    std::fs::write(&file, edited).unwrap();
    let red = contracts(&["check", "--registry", &url], dir.path()).await;
    assert_eq!(red.status.code(), Some(100), "{}", text(&red));
    assert!(
        String::from_utf8_lossy(&red.stdout).contains("shop/orders/order_paid/v1.avsc:8:"),
        "{}",
        text(&red)
    );
}

/// The workflow schemas/contracts.toml describes for a compatible change to a Protobuf package:
/// the released file and its imports move, unchanged, into the version's own import root under
/// history/, and the file in shop/ becomes the next version.
fn add_inventory_reserved_v3(dir: &Path) {
    let schemas = dir.join("schemas");
    let history = schemas.join("history/inventory/inventory_reserved/v2");
    for file in [
        "shop/inventory/v2/inventory_reserved.proto",
        "shop/common/v1/line_item.proto",
        "shop/common/v1/money.proto",
    ] {
        std::fs::create_dir_all(history.join(file).parent().unwrap()).unwrap();
        std::fs::copy(schemas.join(file), history.join(file)).unwrap();
    }
    let newest = schemas.join("shop/inventory/v2/inventory_reserved.proto");
    let text = std::fs::read_to_string(&newest).unwrap();
    let at = "  google.protobuf.Timestamp expires_at = 5;\n";
    assert!(text.contains(at));
    std::fs::write(
        &newest,
        text.replacen(at, &format!("{at}  string batch_id = 6;\n"), 1),
    )
    .unwrap();
    let manifest = schemas.join("contracts.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let v2 = "{ version = 2, file = \"shop/inventory/v2/inventory_reserved.proto\", name = \"shop.inventory.v2.InventoryReserved\" },";
    assert!(text.contains(v2));
    let moved = "{ version = 2, root = \"history/inventory/inventory_reserved/v2\", file = \"shop/inventory/v2/inventory_reserved.proto\", name = \"shop.inventory.v2.InventoryReserved\" },\n    { version = 3, file = \"shop/inventory/v2/inventory_reserved.proto\", name = \"shop.inventory.v2.InventoryReserved\" },";
    std::fs::write(&manifest, text.replacen(v2, moved, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_protobuf_version_moved_to_history_is_not_an_edit_and_its_successor_is_checked()
{
    let registry = registry().await;
    let url = registry.url();
    let dir = shop();
    let out = contracts(&["register", "--registry", &url], dir.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    let prepared = contracts(&["prepare", "--registry", &url], dir.path()).await;
    assert!(prepared.status.success(), "{}", text(&prepared));

    add_inventory_reserved_v3(dir.path());
    // The snapshot names the file in shop/ for the registered v2, which now holds v3: the
    // registered text is still there, under history/, so nothing was edited in place.
    let offline = contracts(&["check", "--offline-snapshot"], dir.path()).await;
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline));
    let live = contracts(&["check", "--registry", &url], dir.path()).await;
    assert_eq!(live.status.code(), Some(0), "{}", text(&live));

    // v3 is what the registry does not hold yet, and it is checked: a type change breaks it.
    let newest = dir
        .path()
        .join("schemas/shop/inventory/v2/inventory_reserved.proto");
    let text_before = std::fs::read_to_string(&newest).unwrap();
    std::fs::write(
        &newest,
        text_before.replacen("string warehouse_id = 4;", "int64 warehouse_id = 4;", 1),
    )
    .unwrap();
    let red = contracts(&["check", "--offline-snapshot"], dir.path()).await;
    assert_eq!(red.status.code(), Some(100), "{}", text(&red));
    let stdout = String::from_utf8_lossy(&red.stdout);
    assert!(
        stdout.lines().any(|l| l
            .starts_with("schemas/shop/inventory/v2/inventory_reserved.proto:")
            && l.contains("FIELD_SCALAR_KIND_CHANGED")),
        "{}",
        text(&red)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_snapshots_the_registry_and_check_flags_a_stale_snapshot() {
    let registry = registry().await;
    let url = registry.url();
    let dir = shop();
    let out = contracts(&["register", "--registry", &url], dir.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    let prepared = contracts(&["prepare", "--registry", &url], dir.path()).await;
    assert!(prepared.status.success(), "{}", text(&prepared));
    let snapshot = dir.path().join("schemas/.registry");
    let order_created: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(snapshot.join("shop.orders.OrderCreated.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(order_created["compatibility"], "FULL_TRANSITIVE");
    assert_eq!(order_created["versions"].as_array().unwrap().len(), 3);
    assert_eq!(order_created["local"].as_array().unwrap().len(), 3);
    assert!(
        snapshot
            .join("shop%2Fcommon%2Fv1%2Fmoney.proto.json")
            .exists()
    );

    let fresh = contracts(&["prepare", "--registry", &url, "--check"], dir.path()).await;
    assert_eq!(fresh.status.code(), Some(0), "{}", text(&fresh));
    // Offline, from the snapshot alone: the same verdicts as against the registry.
    let offline = contracts(&["check", "--offline-snapshot"], dir.path()).await;
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline));
    let at = add_breaking_order_paid_v2(dir.path());
    let offline_red = contracts(&["check", "--offline-snapshot"], dir.path()).await;
    assert_eq!(
        offline_red.status.code(),
        Some(100),
        "{}",
        text(&offline_red)
    );
    assert!(
        String::from_utf8_lossy(&offline_red.stdout).contains(&*at.to_string_lossy()),
        "{}",
        text(&offline_red)
    );

    // Someone registers a version elsewhere: the snapshot is stale, and says how to fix it.
    let client = Client::new(&url).unwrap();
    let v1 = client.latest("shop.orders.OrderShipped").await.unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&v1.schema).unwrap();
    doc["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "gift_note", "type": "string", "default": ""}));
    let request = RegisterSchemaRequest {
        schema: doc.to_string(),
        schema_type: Some(SchemaType::Avro),
        ..Default::default()
    };
    client
        .register("shop.orders.OrderShipped", &request)
        .await
        .unwrap();
    let stale = contracts(&["prepare", "--registry", &url, "--check"], dir.path()).await;
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    let stderr = String::from_utf8_lossy(&stale.stderr);
    assert!(
        stderr.contains("\"shop.orders.OrderShipped\""),
        "{}",
        text(&stale)
    );
    assert!(stderr.contains("contracts prepare"), "{}", text(&stale));

    let updated = contracts(&["prepare", "--registry", &url], dir.path()).await;
    assert!(updated.status.success(), "{}", text(&updated));
    let after = contracts(&["prepare", "--registry", &url, "--check"], dir.path()).await;
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registry_is_an_error_that_names_it() {
    let port = contracts_testkit::free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let dir = shop();
    for args in [
        vec!["register", "--registry", &url],
        vec!["check", "--registry", &url],
        vec!["prepare", "--registry", &url],
    ] {
        let out = contracts(&args, dir.path()).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("127.0.0.1:{port}")),
            "{args:?}: {}",
            text(&out)
        );
    }
    let missing = contracts(&["check", "--offline-snapshot"], dir.path()).await;
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("contracts prepare"),
        "{}",
        text(&missing)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_in_versions_only_the_registry_holds_still_name_a_local_file() {
    let registry = registry().await;
    let url = registry.url();
    let dir = shop();
    let out = contracts(&["register", "--registry", &url], dir.path()).await;
    assert!(out.status.success(), "{}", text(&out));
    // Edit the released OrderCreated v3 in place: drop "quantity", which v3 readers need (no
    // default). FULL_TRANSITIVE's FORWARD check has the registry's v3 (its text: the local file
    // changed) read the new data, so the finding is first located in the registry's text.
    let file = dir.path().join("schemas/shop/orders/order_created/v3.avsc");
    let v3 = std::fs::read_to_string(&file).unwrap();
    let start = v3.find("    {\n      \"name\": \"quantity\"").unwrap();
    let end = start + v3[start..].find("    },\n").unwrap() + "    },\n".len();
    std::fs::write(&file, format!("{}{}", &v3[..start], &v3[end..])).unwrap();
    // And the Protobuf edition: order_id string → int64, checked against the registry's text
    // with its import resolved from the registry.
    let proto = dir
        .path()
        .join("schemas/shop/orders/v1/order_created.proto");
    let text_before = std::fs::read_to_string(&proto).unwrap();
    std::fs::write(
        &proto,
        text_before.replacen("string order_id = 1;", "int64 order_id = 1;", 1),
    )
    .unwrap();

    let red = contracts(&["check", "--registry", &url], dir.path()).await;
    assert_eq!(red.status.code(), Some(100), "{}", text(&red));
    let stdout = String::from_utf8_lossy(&red.stdout);
    assert!(!stdout.contains("registry:"), "{}", text(&red));
    let avro = stdout
        .lines()
        .find(|l| l.contains("READER_FIELD_MISSING_DEFAULT"))
        .unwrap_or_else(|| panic!("{}", text(&red)));
    assert!(
        avro.starts_with("schemas/shop/orders/order_created/v3.avsc:"),
        "{avro}"
    );
    assert!(avro.contains("quantity"), "{avro}");
    let pb = stdout
        .lines()
        .find(|l| l.contains("FIELD_SCALAR_KIND_CHANGED"))
        .unwrap_or_else(|| panic!("{}", text(&red)));
    assert!(
        pb.starts_with("schemas/shop/orders/v1/order_created.proto:16:"),
        "{pb}"
    );
}

// One snapshot, two readers: `contracts check --offline-snapshot` (CI) and the build-time gate of
// `contracts-build` (every build) must give the same verdict on the same `.registry/` directory.

/// The fixture: a manifest whose registry holds v1 (the local file, by its SHA-256); v2 is new
/// and compatible.
fn registered_fixture() -> PathBuf {
    repo().join("crates/build/tests/fixtures/registered")
}

/// A project with the fixture as its `schemas/`, `edit` applied.
fn registered_project(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&registered_fixture(), &dir.path().join("schemas"));
    edit(&dir.path().join("schemas"));
    dir
}

fn offline_check(dir: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(["check", "--offline-snapshot"])
        .current_dir(dir)
        .env_remove("SCHEMA_REGISTRY_URL")
        .env_remove("CONTRACTS_MANIFEST")
        .env_remove("CONTRACTS_ERROR_FORMAT")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("run contracts")
}

fn build(dir: &Path) -> Result<(), contracts_build::Error> {
    let mut config = contracts_build::Config::new();
    // The default snapshot, `.registry/` beside the manifest: what a build.rs gets.
    config
        .emit_cargo_instructions(false)
        .gate(contracts_build::Gate::Fail);
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
        let dir = registered_project(edit);
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
