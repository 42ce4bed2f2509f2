//! `contracts topics plan|apply` against a real broker (Tansu over TCP), with the shop's
//! manifest: every test names its topics with a prefix of its own (`--topic-prefix`,
//! `--registry-topic`), so the tests share one broker.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use contracts_testkit::{SecuredBroker, TestCa, shared_broker, unique_name};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

const CONTRACTS: &str = env!("CARGO_BIN_EXE_contracts");
const TIMEOUT: Duration = Duration::from_secs(30);

/// A test's own names on the broker.
struct Names {
    prefix: String,
    registry: String,
}

impl Names {
    fn new() -> Names {
        let prefix = format!("{}.", unique_name("topics"));
        Names {
            registry: format!("{prefix}_schemas"),
            prefix,
        }
    }

    fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// Runs `contracts topics <args>` with the manifest, the names and `bootstrap` (the rest of
/// the Kafka settings from `env`).
fn topics(
    manifest: &Path,
    names: &Names,
    bootstrap: &str,
    env: &[(&str, String)],
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = Command::new(CONTRACTS);
    cmd.arg("topics")
        .args(args)
        .arg("--manifest")
        .arg(manifest)
        .args(["--topic-prefix", &names.prefix])
        .args(["--registry-topic", &names.registry])
        .args(["--bootstrap-servers", bootstrap]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running contracts");
    (
        status.code().expect("an exit code"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn on_shared_broker(manifest: &Path, names: &Names, args: &[&str]) -> (i32, String, String) {
    topics(
        manifest,
        names,
        shared_broker().bootstrap_servers(),
        &[],
        args,
    )
}

fn shop_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/contracts.toml")
}

/// A copy of the shop's schemas in `dir` whose manifest is the shop's edited by `edit`.
fn shop_edited(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let schemas = dir.join("schemas");
    if !schemas.exists() {
        common::copy_dir(shop_manifest().parent().unwrap(), &schemas);
    }
    let manifest = schemas.join("contracts.toml");
    let text = std::fs::read_to_string(shop_manifest()).unwrap();
    std::fs::write(&manifest, edit(text)).unwrap();
    manifest
}

/// A copy of the shop's schemas whose manifest declares `partitions` for the orders topic.
fn shop_with_orders_partitions(dir: &Path, partitions: u32) -> PathBuf {
    shop_edited(dir, |text| {
        let at = text.find("[topics.orders]").unwrap();
        let (head, tail) = text.split_at(at);
        let tail = tail.replacen("partitions = 6", &format!("partitions = {partitions}"), 1);
        format!("{head}{tail}")
    })
}

/// Partition counts of the topics that exist, by name.
fn partitions(config: &ClientConfig, names: &[String]) -> BTreeMap<String, usize> {
    let admin: AdminClient<DefaultClientContext> = config.create().unwrap();
    let md = admin.inner().fetch_metadata(None, TIMEOUT).unwrap();
    md.topics()
        .iter()
        .filter(|t| names.iter().any(|n| n == t.name()) && t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect()
}

async fn config_value(config: &ClientConfig, topic: &str, key: &str) -> Option<String> {
    let admin: AdminClient<DefaultClientContext> = config.create().unwrap();
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    described[0]
        .as_ref()
        .unwrap()
        .get(key)
        .and_then(|e| e.value.clone())
}

/// The shop's topics and the ones they imply, as named for `names`.
fn shop_topics(names: &Names) -> BTreeMap<String, usize> {
    let mut want: BTreeMap<String, usize> = [
        "orders",
        "orders.DLT",
        "inventory",
        "inventory.DLT",
        "order-created-pb",
    ]
    .iter()
    .map(|t| (names.topic(t), 6))
    .collect();
    want.insert(names.registry.clone(), 1);
    want
}

#[tokio::test]
async fn apply_creates_every_topic_the_manifest_implies_and_a_second_apply_changes_nothing() {
    let names = Names::new();
    let manifest = shop_manifest();
    let want = shop_topics(&names);
    let all: Vec<String> = want.keys().cloned().collect();
    let config = shared_broker().client_config();

    let (code, out, err) = on_shared_broker(&manifest, &names, &["plan", "--exit-code"]);
    assert_eq!(code, 100, "changes planned\n{out}\n{err}");
    let orders = names.topic("orders");
    assert!(
        out.contains(&format!(
            "create {orders}: 6 partitions, the broker's default replication factor"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "create {orders}.DLT: 6 partitions, the broker's default replication factor"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "create {}: 1 partition, the broker's default replication factor, \
             cleanup.policy=compact",
            names.registry
        )),
        "{out}"
    );
    assert!(
        !out.contains(&format!("{}.DLT", names.topic("order-created-pb"))),
        "a topic nobody consumes gets no dead-letter topic\n{out}"
    );
    assert!(partitions(&config, &all).is_empty(), "plan creates nothing");

    let (code, out, err) = on_shared_broker(&manifest, &names, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("6 changes made"), "{out}");
    assert_eq!(partitions(&config, &all), want);
    assert_eq!(
        config_value(&config, &names.registry, "cleanup.policy").await,
        Some("compact".to_owned())
    );

    let (code, out, err) = on_shared_broker(&manifest, &names, &["plan", "--exit-code"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Nothing to change"), "{out}");
    let (code, out, err) = on_shared_broker(&manifest, &names, &["plan", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["changes"], serde_json::json!([]));
    assert_eq!(json["unchanged"].as_array().unwrap().len(), want.len());

    let (code, out, err) = on_shared_broker(&manifest, &names, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Nothing to change"), "{out}");
    assert_eq!(partitions(&config, &all), want);
}

#[tokio::test]
async fn declared_replication_and_settings_are_created_and_read_back_as_declared() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new();
    let manifest = shop_edited(dir.path(), |text| {
        text.replacen(
            "[defaults]\n",
            "[defaults]\nreplication_factor = 1\nmin_insync_replicas = 1\n",
            1,
        )
        .replacen(
            "[topics.orders]\n",
            "[topics.orders]\nretention_ms = 604800000\ncleanup_policy = \"delete\"\n",
            1,
        )
    });
    let orders = names.topic("orders");
    let (code, out, err) = on_shared_broker(&manifest, &names, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "done: create {orders}: 6 partitions, replication factor 1, cleanup.policy=delete, \
             min.insync.replicas=1, retention.ms=604800000"
        )),
        "{out}"
    );
    let config = shared_broker().client_config();
    assert_eq!(
        config_value(&config, &orders, "retention.ms").await,
        Some("604800000".to_owned())
    );
    let (code, out, err) = on_shared_broker(&manifest, &names, &["plan", "--exit-code"]);
    assert_eq!(code, 0, "the broker reports what apply set\n{out}\n{err}");
}

#[tokio::test]
async fn more_partitions_are_planned_and_a_broker_that_cannot_add_them_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new();
    let manifest = shop_with_orders_partitions(dir.path(), 6);
    let (code, out, err) = on_shared_broker(&manifest, &names, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");

    let manifest = shop_with_orders_partitions(dir.path(), 8);
    let orders = names.topic("orders");
    let (code, out, err) = on_shared_broker(&manifest, &names, &["plan", "--exit-code"]);
    assert_eq!(code, 100, "{out}\n{err}");
    assert!(
        out.contains(&format!("add partitions to {orders}: 6 → 8")),
        "{out}"
    );
    assert!(
        out.contains(&format!("add partitions to {orders}.DLT: 6 → 8")),
        "the dead-letter topic grows with its topic\n{out}"
    );
    assert!(out.contains("2 changes planned"), "{out}");
    let (code, out, _) = on_shared_broker(&manifest, &names, &["plan", "--output", "json"]);
    assert_eq!(code, 0, "without --exit-code, a plan with changes exits 0");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["changes"][0]["topic"], orders.as_str());
    assert_eq!(json["changes"][0]["change"], "add partitions");

    // Tansu 0.6 has no CreatePartitions: the error names the topic, the change and the answer.
    let (code, out, err) = on_shared_broker(&manifest, &names, &["apply"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "add partitions to {orders}: 6 → 8: the broker refused it"
        )),
        "{err}"
    );
    assert!(
        err.contains("Required feature not supported by broker"),
        "{err}"
    );
    assert!(
        err.contains("error: 0 of 2 changes were made; the others were not tried"),
        "{err}"
    );
    let config = shared_broker().client_config();
    assert_eq!(
        partitions(&config, std::slice::from_ref(&orders))[&orders],
        6
    );
}

#[tokio::test]
async fn a_changed_setting_is_planned_and_a_broker_that_cannot_alter_it_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new();
    let (code, out, err) = on_shared_broker(&shop_manifest(), &names, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");

    let manifest = shop_edited(dir.path(), |text| {
        text.replacen(
            "[topics.inventory]",
            "[topics.inventory]\nretention_ms = 86400000",
            1,
        )
    });
    let inventory = names.topic("inventory");
    let (code, out, err) = on_shared_broker(&manifest, &names, &["plan", "--exit-code"]);
    assert_eq!(code, 100, "{out}\n{err}");
    // Tansu reports only settings made explicitly, so the current retention is unknown.
    let change = format!("set configs of {inventory}: retention.ms (not reported) → 86400000");
    assert!(out.contains(&change), "{out}");
    assert!(out.contains("1 changes planned"), "{out}");

    let (code, out, err) = on_shared_broker(&manifest, &names, &["apply"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!("error: {change}: the broker refused it")),
        "{err}"
    );
    assert!(
        err.contains("neither CreatePartitions nor AlterConfigs"),
        "{err}"
    );
}

#[tokio::test]
async fn fewer_partitions_than_a_topic_has_are_refused_naming_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new();
    let manifest = shop_with_orders_partitions(dir.path(), 6);
    let (code, out, err) = on_shared_broker(&manifest, &names, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");

    let manifest = shop_with_orders_partitions(dir.path(), 3);
    let orders = names.topic("orders");
    for command in [&["plan", "--exit-code"][..], &["apply"]] {
        let (code, out, err) = on_shared_broker(&manifest, &names, command);
        assert_eq!(code, 1, "{command:?}\n{out}\n{err}");
        assert!(
            err.contains(&format!(
                "error: topic {orders} has 6 partitions but 3 are wanted: Kafka cannot remove \
                 partitions"
            )),
            "{command:?}: {err}"
        );
        assert!(err.contains("nothing was changed"), "{command:?}: {err}");
    }
    let config = shared_broker().client_config();
    assert_eq!(
        partitions(&config, std::slice::from_ref(&orders))[&orders],
        6
    );
}

const ADMIN: &str = "ops";
const ADMIN_PASSWORD: &str = "ops-password-5";

fn secured_broker() -> &'static SecuredBroker {
    static BROKER: OnceLock<(TestCa, SecuredBroker)> = OnceLock::new();
    &BROKER
        .get_or_init(|| {
            let ca = TestCa::new("event-contracts test CA").expect("a test CA");
            let broker = SecuredBroker::start(&ca, &[(ADMIN, ADMIN_PASSWORD)])
                .unwrap_or_else(|e| panic!("cannot start the secured broker: {e}"));
            (ca, broker)
        })
        .1
}

#[tokio::test]
async fn apply_works_over_sasl_ssl_with_the_settings_every_binary_takes() {
    let broker = secured_broker();
    let dir = tempfile::tempdir().unwrap();
    let properties = dir.path().join("client.properties");
    std::fs::write(
        &properties,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username={ADMIN}\n\
             ssl.ca.location={}\n",
            broker.ca_location().display()
        ),
    )
    .unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, ADMIN_PASSWORD).unwrap();
    let env = [
        ("KAFKA_PROPERTIES_FILE", properties.display().to_string()),
        ("KAFKA_SASL_PASSWORD_FILE", password.display().to_string()),
    ];
    let names = Names::new();
    let manifest = shop_manifest();
    let bootstrap = broker.bootstrap_servers();

    let (code, out, err) = topics(&manifest, &names, bootstrap, &env, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("6 changes made"), "{out}");
    let want = shop_topics(&names);
    let all: Vec<String> = want.keys().cloned().collect();
    assert_eq!(partitions(&broker.admin_config(), &all), want);
    let (code, out, err) = topics(&manifest, &names, bootstrap, &env, &["plan", "--exit-code"]);
    assert_eq!(code, 0, "{out}\n{err}");

    // A wrong password stops it with the cause, before anything is read.
    std::fs::write(&password, "wrong").unwrap();
    let (code, out, err) = topics(&manifest, &names, bootstrap, &env, &["plan"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("SASL authentication failed"), "{err}");
}

#[test]
fn a_kafka_setting_holding_commas_reaches_the_client_whole() {
    let names = Names::new();
    // librdkafka takes `debug` as a comma-separated list; split, "topic" alone is no setting.
    let (code, out, err) = on_shared_broker(
        &shop_manifest(),
        &names,
        &["plan", "-X", "debug=broker,topic"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("create"), "{out}");
}
