//! `contracts registry subjects | versions | get | schema | config | mode`: the shipped binary
//! against the project's registry on a real broker (testkit), in text and `--output json`, the
//! errors a user meets (unknown subject, version or id, a wrong level, no registry), and a
//! registry with users where a reader may browse but not change levels.

mod common;

use common::text;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use common::copy_dir;
use contracts_core::secret::Secret;
use contracts_registry::auth::hash_password;
use contracts_registry::{Auth, ServerConfig};
use contracts_registry_client::api::{RegisterSchemaRequest, SchemaType};
use contracts_registry_client::client::Client;
use contracts_testkit::{TestRegistry, free_port, shared_broker, unique_name};
use serde_json::{Value, json};

/// `contracts ARGS` with only `envs` of the registry settings in its environment.
async fn contracts(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"));
    for name in [
        "SCHEMA_REGISTRY_URL",
        "SCHEMA_REGISTRY_AUTH",
        "SCHEMA_REGISTRY_AUTH_FILE",
        "SCHEMA_REGISTRY_TOKEN",
        "SCHEMA_REGISTRY_TOKEN_FILE",
        "SCHEMA_REGISTRY_CA",
        "CONTRACTS_MANIFEST",
        "CONTRACTS_OUTPUT",
    ] {
        command.env_remove(name);
    }
    command
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .await
        .expect("run contracts")
}

/// `contracts registry ARGS --registry URL`, which must succeed; its stdout.
async fn ok(url: &str, args: &[&str]) -> String {
    let mut all = vec!["registry"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--registry", url]);
    let out = contracts(&all, &[]).await;
    assert!(out.status.success(), "{all:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The same with `--output json`, parsed.
async fn ok_json(url: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--output", "json"]);
    let stdout = ok(url, &all).await;
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{all:?}: {e}: {stdout}"))
}

/// `contracts registry ARGS`, which must fail with exit code 1, nothing on stdout and one line
/// on stderr; that line.
async fn fails(args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut all = vec!["registry"];
    all.extend_from_slice(args);
    let out = contracts(&all, envs).await;
    assert_eq!(out.status.code(), Some(1), "{all:?}: {}", text(&out));
    assert!(out.stdout.is_empty(), "{all:?}: {}", text(&out));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{all:?}: {stderr}");
    stderr.trim_end().to_string()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn avro(schema: &str) -> RegisterSchemaRequest {
    RegisterSchemaRequest {
        schema: schema.to_string(),
        schema_type: Some(SchemaType::Avro),
        ..Default::default()
    }
}

const PING_V1: &str = r#"{"type":"record","name":"Ping","fields":[{"name":"id","type":"string"}]}"#;
const PING_V2: &str = r#"{"type":"record","name":"Ping","fields":[{"name":"id","type":"string"},{"name":"note","type":["null","string"],"default":null}]}"#;

/// The shop's contracts, put in with `contracts register` as a deployment does.
async fn register_the_shop(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    copy_dir(&root.join("schemas"), &dir.path().join("schemas"));
    let _ = std::fs::remove_dir_all(dir.path().join("schemas/.registry"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(["register", "--registry", url])
        .current_dir(dir.path())
        .env_remove("SCHEMA_REGISTRY_AUTH")
        .env_remove("CONTRACTS_MANIFEST")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "register: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_versions_get_and_schema_show_what_the_registry_holds_as_text_and_json() {
    let registry = TestRegistry::start(shared_broker()).await.unwrap();
    let url = registry.url();
    register_the_shop(&url).await;
    let client = Client::new(&url).unwrap();
    // A subject with a soft-deleted version, and a soft-deleted subject.
    let ping = "ping-value";
    client.register(ping, &avro(PING_V1)).await.unwrap();
    client.register(ping, &avro(PING_V2)).await.unwrap();
    client.delete_version(ping, 1, false).await.unwrap();
    let gone = "gone-value";
    client.register(gone, &avro(PING_V1)).await.unwrap();
    client.delete_subject(gone, false).await.unwrap();

    // subjects: every live one, one per line; --deleted adds the soft-deleted ones, marked.
    let live = client.subjects(false).await.unwrap();
    let listed = ok(&url, &["subjects"]).await;
    assert_eq!(listed.lines().collect::<Vec<_>>(), live);
    assert!(live.iter().any(|s| s == "shop.orders.OrderCreated"));
    assert!(live.iter().any(|s| s == "shop/common/v1/money.proto"));
    assert!(!listed.contains(gone), "{listed}");
    let with_deleted = ok(&url, &["subjects", "--deleted"]).await;
    assert!(
        with_deleted
            .lines()
            .any(|l| l == "gone-value  (soft-deleted)"),
        "{with_deleted}"
    );
    assert!(
        with_deleted
            .lines()
            .any(|l| l == "shop.orders.OrderCreated"),
        "{with_deleted}"
    );
    let rows = ok_json(&url, &["subjects", "--deleted"]).await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), live.len() + 1);
    for row in rows {
        let subject = row["subject"].as_str().unwrap();
        assert_eq!(row["deleted"], json!(subject == gone), "{row}");
    }

    // versions
    assert_eq!(
        ok(&url, &["versions", "shop.orders.OrderCreated"]).await,
        "1\n2\n3\n"
    );
    assert_eq!(ok(&url, &["versions", ping]).await, "2\n");
    assert_eq!(
        ok(&url, &["versions", ping, "--deleted"]).await,
        "1  (soft-deleted)\n2\n"
    );
    // A soft-deleted subject keeps its versions for --deleted.
    assert_eq!(
        ok(&url, &["versions", gone, "--deleted"]).await,
        "1  (soft-deleted)\n"
    );
    assert_eq!(
        ok_json(&url, &["versions", ping, "--deleted"]).await,
        json!([
            {"subject": ping, "version": 1, "deleted": true},
            {"subject": ping, "version": 2, "deleted": false}
        ])
    );

    // get: the latest by default, a number or latest after the last slash.
    let latest = client.latest("shop.orders.OrderCreated").await.unwrap();
    let shown = ok(&url, &["get", "shop.orders.OrderCreated"]).await;
    assert!(
        shown.starts_with(&format!(
            "subject     shop.orders.OrderCreated\nversion     3\nid          {}\ntype        AVRO\n\n",
            latest.id
        )),
        "{shown}"
    );
    // The schema follows, indented, and is the registered one.
    let body = shown.split_once("\n\n").unwrap().1;
    assert!(body.contains("\n  \"fields\": ["), "{shown}");
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        serde_json::from_str::<Value>(&latest.schema).unwrap()
    );
    let v = ok_json(&url, &["get", "shop.orders.OrderCreated/latest"]).await;
    assert_eq!(v["subject"], "shop.orders.OrderCreated");
    assert_eq!(v["version"], 3);
    assert_eq!(v["id"], latest.id);
    assert_eq!(v["schemaType"], "AVRO");
    assert_eq!(v["references"], json!([]));
    assert_eq!(v["schema"], latest.schema);
    let first = client.version("shop.orders.OrderCreated", 1).await.unwrap();
    let v = ok_json(&url, &["get", "shop.orders.OrderCreated/1"]).await;
    assert_eq!(v["version"], 1);
    assert_eq!(v["id"], first.id);
    assert_eq!(v["schema"], first.schema);

    // A Protobuf subject with a reference, and a subject that is an import path.
    let pb = client.latest("order-created-pb-value").await.unwrap();
    let v = ok_json(&url, &["get", "order-created-pb-value"]).await;
    assert_eq!(v["schemaType"], "PROTOBUF");
    assert_eq!(v["id"], pb.id);
    assert_eq!(v["schema"], pb.schema);
    assert_eq!(
        v["references"],
        json!([
            {
                "name": "shop/common/v1/line_item.proto",
                "subject": "shop/common/v1/line_item.proto",
                "version": 1
            },
            {
                "name": "shop/common/v1/money.proto",
                "subject": "shop/common/v1/money.proto",
                "version": 1
            }
        ])
    );
    let shown = ok(&url, &["get", "order-created-pb-value"]).await;
    assert!(
        shown.contains("references  shop/common/v1/line_item.proto (subject shop/common/v1/line_item.proto version 1)\n"),
        "{shown}"
    );
    assert!(
        shown.ends_with(&format!("\n\n{}\n", pb.schema.trim_end())),
        "{shown}"
    );
    let v = ok_json(&url, &["get", "shop/common/v1/money.proto/1"]).await;
    assert_eq!(v["subject"], "shop/common/v1/money.proto");
    assert_eq!(v["version"], 1);
    assert_eq!(v["schemaType"], "PROTOBUF");

    // schema: by id, with every subject version holding it.
    let v2 = client.version("shop.orders.OrderCreated", 2).await.unwrap();
    let v = ok_json(&url, &["schema", &v2.id.to_string()]).await;
    assert_eq!(v["id"], v2.id);
    assert_eq!(v["schemaType"], "AVRO");
    assert_eq!(v["schema"], v2.schema);
    assert_eq!(v["references"], json!([]));
    assert_eq!(
        v["versions"],
        json!([{"subject": "shop.orders.OrderCreated", "version": 2}])
    );
    let shown = ok(&url, &["schema", &v2.id.to_string()]).await;
    assert!(
        shown.starts_with(&format!(
            "id          {}\ntype        AVRO\nused by     shop.orders.OrderCreated version 2\n\n",
            v2.id
        )),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_mode_read_global_and_subject_settings_and_set_them() {
    let registry = TestRegistry::start(shared_broker()).await.unwrap();
    let url = registry.url();
    let client = Client::new(&url).unwrap();
    let ping = "ping-value";
    client.register(ping, &avro(PING_V1)).await.unwrap();
    let global = client
        .global_config()
        .await
        .unwrap()
        .compatibility_level
        .unwrap();

    // Read: the global level; a subject without its own level falls back to it, and says so.
    assert_eq!(ok(&url, &["config"]).await, format!("{global}  (global)\n"));
    assert_eq!(
        ok_json(&url, &["config"]).await,
        json!({"subject": null, "compatibilityLevel": global, "source": "global"})
    );
    assert_eq!(
        ok(&url, &["config", ping]).await,
        format!("{global}  (global: the subject has none of its own)\n")
    );

    // Set a subject's level (any case), read it back from the registry and through the CLI.
    assert_eq!(
        ok(&url, &["config", ping, "--set", "full_transitive"]).await,
        "compatibility level of subject \"ping-value\" set to FULL_TRANSITIVE\n"
    );
    assert_eq!(
        client
            .subject_config(ping)
            .await
            .unwrap()
            .unwrap()
            .compatibility_level
            .as_deref(),
        Some("FULL_TRANSITIVE")
    );
    assert_eq!(
        ok_json(&url, &["config", ping]).await,
        json!({"subject": ping, "compatibilityLevel": "FULL_TRANSITIVE", "source": "subject"})
    );
    assert_eq!(
        ok(&url, &["config", ping]).await,
        "FULL_TRANSITIVE  (the subject's own)\n"
    );
    // The global level, in JSON.
    assert_eq!(
        ok_json(&url, &["config", "--set", "FORWARD"]).await,
        json!({"subject": null, "compatibilityLevel": "FORWARD", "source": "global"})
    );
    assert_eq!(
        client.global_config().await.unwrap().compatibility_level,
        Some("FORWARD".to_string())
    );
    assert_eq!(ok(&url, &["config"]).await, "FORWARD  (global)\n");

    // Modes, the same way.
    assert_eq!(ok(&url, &["mode"]).await, "READWRITE  (global)\n");
    assert_eq!(
        ok_json(&url, &["mode", ping]).await,
        json!({"subject": ping, "mode": "READWRITE", "source": "global"})
    );
    assert_eq!(
        ok(&url, &["mode", ping, "--set", "readonly"]).await,
        "mode of subject \"ping-value\" set to READONLY\n"
    );
    assert_eq!(
        client.subject_mode(ping).await.unwrap(),
        Some(contracts_registry_client::api::Mode::ReadOnly)
    );
    assert_eq!(
        ok_json(&url, &["mode", ping]).await,
        json!({"subject": ping, "mode": "READONLY", "source": "subject"})
    );
    assert_eq!(ok(&url, &["mode"]).await, "READWRITE  (global)\n");
    // The mode is real: the registry now refuses to register under the subject.
    let refused = client.register(ping, &avro(PING_V1)).await;
    assert_eq!(refused.map(|_| ()).unwrap_err().status(), Some(422));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_a_wrong_level_and_an_unreachable_registry_are_one_line_and_exit_1() {
    let registry = TestRegistry::start(shared_broker()).await.unwrap();
    let url = registry.url();
    let client = Client::new(&url).unwrap();
    client.register("ping-value", &avro(PING_V1)).await.unwrap();
    let with = |args: &[&'static str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--registry".to_string(), url.clone()]);
        all
    };

    let line = fails(&refs(&with(&["versions", "nope-value"])), &[]).await;
    assert_eq!(
        line,
        format!(
            "error: subject \"nope-value\" not found in the registry at {url}; `contracts registry subjects` lists them"
        )
    );
    let line = fails(&refs(&with(&["get", "nope-value/1"])), &[]).await;
    assert!(line.contains("subject \"nope-value\" not found"), "{line}");
    let line = fails(&refs(&with(&["get", "ping-value/7"])), &[]).await;
    assert_eq!(
        line,
        format!(
            "error: subject \"ping-value\" has no version 7 in the registry at {url}; `contracts registry versions ping-value` lists them"
        )
    );
    let line = fails(&refs(&with(&["schema", "4242"])), &[]).await;
    assert_eq!(
        line,
        format!("error: no schema with id 4242 in the registry at {url}")
    );
    let line = fails(&refs(&with(&["get", "ping-value/0"])), &[]).await;
    assert!(line.contains("not a version"), "{line}");

    // A level the registry does not know: its own reason, and nothing changed.
    let line = fails(
        &refs(&with(&["config", "ping-value", "--set", "SIDEWAYS"])),
        &[],
    )
    .await;
    assert!(
        line.starts_with(&format!(
            "error: the registry at {url} refused setting the compatibility level of subject \"ping-value\" to SIDEWAYS: Invalid compatibility level"
        )),
        "{line}"
    );
    assert_eq!(client.subject_config("ping-value").await.unwrap(), None);
    let line = fails(&refs(&with(&["mode", "--set", "SOMETIMES"])), &[]).await;
    assert_eq!(
        line,
        "error: \"SOMETIMES\" is not a mode: give READWRITE, READONLY, READONLY_OVERRIDE, IMPORT or FORWARD"
    );

    // Nothing listens there: the address, the cause and where the URL comes from.
    let nowhere = format!("http://127.0.0.1:{}", free_port().unwrap());
    let line = fails(&["subjects", "--registry", &nowhere], &[]).await;
    assert!(
        line.starts_with(&format!(
            "error: cannot reach the registry at {nowhere} (listing the subjects): "
        )),
        "{line}"
    );
    assert!(
        line.ends_with("; check --registry or SCHEMA_REGISTRY_URL"),
        "{line}"
    );
    // The URL from the environment, as in CI.
    let line = fails(&["subjects"], &[("SCHEMA_REGISTRY_URL", &nowhere)]).await;
    assert!(line.contains(&nowhere), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_browses_a_registry_with_users_but_changing_a_level_is_refused_with_the_reason() {
    let hash = |pw: &str| hash_password(&Secret::new(pw)).unwrap();
    let file = json!({
        "users": [
            {"username": "admin", "password_hash": hash("admin-pw")},
            {"username": "reader", "password_hash": hash("reader-pw")}
        ],
        "permissions": [
            {"username": "admin", "operation": "admin", "resource": "Config:"},
            {"username": "admin", "operation": "admin", "resource": "Subject:*"},
            {"username": "reader", "operation": "read", "resource": "Config:"},
            {"username": "reader", "operation": "read", "resource": "Subject:*"}
        ]
    });
    let mut config = ServerConfig::default();
    config.router.auth = Some(Arc::new(Auth::parse(&file.to_string()).unwrap()));
    let registry = TestRegistry::start_with(shared_broker(), &unique_name("_schemas"), config)
        .await
        .unwrap();
    let url = registry.url();
    let admin = Client::builder(&url)
        .basic_auth("admin", "admin-pw")
        .build()
        .unwrap();
    admin.register("ping-value", &avro(PING_V1)).await.unwrap();

    let reader = [("SCHEMA_REGISTRY_AUTH", "reader:reader-pw")];
    let out = contracts(&["registry", "subjects", "--registry", &url], &reader).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ping-value\n");
    let out = contracts(&["registry", "config", "--registry", &url], &reader).await;
    assert!(out.status.success(), "{}", text(&out));

    let line = fails(&["config", "--set", "FULL", "--registry", &url], &reader).await;
    assert_eq!(
        line,
        format!(
            "error: the registry at {url} denied setting the global compatibility level to FULL to this user \
             (403: User reader is denied operation Admin on Config:); it needs a user with that permission"
        )
    );
    assert!(!line.contains("reader-pw"));
    let line = fails(
        &[
            "mode",
            "ping-value",
            "--set",
            "READONLY",
            "--registry",
            &url,
        ],
        &reader,
    )
    .await;
    assert!(line.contains("403"), "{line}");
    assert!(
        line.contains("denied setting the mode of subject \"ping-value\" to READONLY"),
        "{line}"
    );
    assert_eq!(admin.subject_mode("ping-value").await.unwrap(), None);

    // No credentials at all: 401, and where credentials go.
    let line = fails(&["subjects", "--registry", &url], &[]).await;
    assert!(
        line.starts_with(&format!(
            "error: the registry at {url} refused listing the subjects without valid credentials (401: "
        )),
        "{line}"
    );
    assert!(
        line.contains("SCHEMA_REGISTRY_AUTH=USER:PASSWORD"),
        "{line}"
    );
}
