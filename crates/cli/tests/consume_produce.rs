//! `contracts produce` and `contracts consume` as a user runs them: the binary against Tansu and
//! the project's registry (testkit), with the shop's manifest registered by `contracts register`,
//! and PyPI confluent-kafka's serializers on the other side.

#[allow(dead_code)] // copy_dir is not used here
mod common;

use common::text;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use std::sync::{Arc, Mutex, OnceLock};

use contracts_core::source::SchemaSource;
use contracts_core::types::{DateTime, Decimal};
use contracts_core::{Handle, HandlerError, RecordMeta, Topic as _};
use contracts_registry_client::client::Client;
use contracts_runtime::{
    Consumer, ConsumerConfig, Metrics, RetryPolicy, dead_letter_topic_name, headers,
    retry_topic_name,
};
use contracts_testkit::{Broker, SecuredBroker, TestCa, TestRegistry, shared_broker, unique_name};
use events::orders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value as Json, json};
use tokio::io::AsyncWriteExt as _;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `contracts` in the repository (its schemas/contracts.toml), `stdin` piped in.
async fn contracts(args: &[&str], stdin: &str) -> Output {
    contracts_with(args, stdin, &[]).await
}

/// With these environment variables (and no other CONTRACTS_* or KAFKA_* ones).
async fn contracts_with(args: &[&str], stdin: &str, env: &[(&str, String)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CONTRACTS_") || name.starts_with("KAFKA_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(args)
        .current_dir(repo())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run contracts");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.expect("wait for contracts")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Each stdout line as JSON.
fn lines(o: &Output) -> Vec<Json> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A registry holding the shop's contracts, and a broker.
struct Shop {
    broker: &'static Broker,
    registry: TestRegistry,
}

impl Shop {
    async fn start() -> Shop {
        let broker = shared_broker();
        let registry = TestRegistry::start(broker).await.expect("start a registry");
        let out = contracts(&["register", "--registry", &registry.url()], "").await;
        assert!(out.status.success(), "{}", text(&out));
        Shop { broker, registry }
    }

    async fn topic(&self, name: &str, partitions: i32) -> String {
        let topic = unique_name(name);
        self.broker.create_topic(&topic, partitions).await.unwrap();
        topic
    }

    /// `args` with the broker and the registry.
    async fn run(&self, args: &[&str], stdin: &str) -> Output {
        let url = self.registry.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--registry",
            &url,
            "--bootstrap-servers",
            self.broker.bootstrap_servers(),
        ]);
        contracts(&all, stdin).await
    }

    async fn produce(&self, topic: &str, event: &str, stdin: &str) -> Output {
        self.run(&["produce", topic, "--event", event], stdin).await
    }

    /// Every record of `topic`, as JSON lines.
    async fn consume_all(&self, topic: &str) -> Vec<Json> {
        let out = self.run(&["consume", topic, "--from-beginning"], "").await;
        assert!(out.status.success(), "{}", text(&out));
        lines(&out)
    }

    async fn id_of(&self, subject: &str, version: i32) -> i64 {
        let client = Client::new(&self.registry.url()).unwrap();
        i64::from(client.version(subject, version).await.unwrap().id)
    }
}

fn order(i: usize) -> Json {
    json!({
        "order_id": format!("o-{i}"),
        "product_name": "teapot",
        "quantity": i + 1,
        "customer_id": if i.is_multiple_of(2) { json!(format!("c-{i}")) } else { Json::Null },
        "line_items": [{"product_name": "teapot", "quantity": i + 1, "unit_price": "12.50"}],
        "currency": "GBP",
        "created_at": 1_795_780_800_000i64 + i as i64,
    })
}

fn json_lines(values: &[Json]) -> String {
    values.iter().map(|v| format!("{v}\n")).collect()
}

fn by_key(mut records: Vec<Json>) -> Vec<Json> {
    records.sort_by_key(|r| r["key"].as_str().unwrap_or_default().to_owned());
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avro_event_produced_from_json_is_consumed_as_the_same_json_with_its_contract() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 3).await;
    let orders: Vec<Json> = (0..3).map(order).collect();
    let out = shop
        .produce(&topic, "shop.orders.OrderCreated", &json_lines(&orders))
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let deliveries = lines(&out);
    assert_eq!(deliveries.len(), 3, "{}", text(&out));
    assert_eq!(deliveries[0]["line"], 1);
    assert_eq!(deliveries[0]["key"], "o-0");

    let id = shop.id_of("shop.orders.OrderCreated", 3).await;
    let records = by_key(shop.consume_all(&topic).await);
    assert_eq!(records.len(), 3, "{records:?}");
    for (record, sent) in records.iter().zip(&orders) {
        assert_eq!(record["key"], sent["order_id"]);
        assert_eq!(&record["value"], sent, "{record}");
        assert_eq!(record["event"], "shop.orders.OrderCreated");
        assert_eq!(record["version"], 3);
        assert_eq!(record["schema_id"], id);
        assert_eq!(record["topic"], topic.as_str());
        assert!(record["timestamp"].as_i64().unwrap() > 0);
        let headers = &record["headers"];
        assert_eq!(headers["event_type"], "shop.orders.OrderCreated");
        assert_eq!(headers["schema_id"], id.to_string());
        assert_eq!(headers["event_id"].as_str().unwrap().len(), 36);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avro_field_left_out_takes_its_default_and_an_older_version_can_be_chosen() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 1).await;
    let out = shop
        .run(
            &[
                "produce",
                &topic,
                "--event",
                "shop.orders.OrderCreated",
                "--version",
                "1",
            ],
            "{\"order_id\": \"o-1\", \"product_name\": \"cup\", \"quantity\": 2}\n",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = shop
        .produce(
            &topic,
            "shop.orders.OrderCreated",
            "{\"order_id\": \"o-2\", \"product_name\": \"cup\", \"quantity\": 2}\n",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let records = by_key(shop.consume_all(&topic).await);
    assert_eq!(records[0]["version"], 1);
    assert_eq!(
        records[0]["value"],
        json!({"order_id": "o-1", "product_name": "cup", "quantity": 2})
    );
    assert_eq!(records[1]["version"], 3);
    assert_eq!(records[1]["value"]["currency"], "EUR");
    assert_eq!(records[1]["value"]["line_items"], json!([]));
    assert_eq!(records[1]["value"]["customer_id"], Json::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protobuf_event_produced_from_json_is_consumed_as_the_same_json_with_its_contract() {
    let shop = Shop::start().await;
    let topic = shop.topic("order-created-pb", 2).await;
    let sent = json!({
        "order_id": "pb-1",
        "customer_id": "c-1",
        "line_items": [{
            "product_name": "teapot", "quantity": 2,
            "unit_price": {"currency_code": "EUR", "units": "12", "nanos": 500000000}
        }],
        "created_at": "2026-11-27T12:00:00Z",
        "total": {"currency_code": "EUR", "units": "25", "nanos": 0}
    });
    let out = shop
        .produce(&topic, "shop.orders.v1.OrderCreated", &format!("{sent}\n"))
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let records = shop.consume_all(&topic).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["key"], "pb-1");
    assert_eq!(r["value"], sent);
    assert_eq!(r["event"], "shop.orders.v1.OrderCreated");
    // The manifest's version: produce sends the newest (v2 added total).
    assert_eq!(r["version"], 2);
    assert_eq!(
        r["schema_id"],
        shop.id_of("order-created-pb-value", 2).await
    );
    assert_eq!(r["headers"]["event_type"], "shop.orders.v1.OrderCreated");
}

/// A Protobuf event whose second version moved to a new package (and so a subject of its own):
/// `--version 2` sends that version's message, and `consume` names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protobuf_version_in_another_package_is_sent_with_version_and_named_by_consume() {
    let shop = Shop::start().await;
    let topic = shop.topic("inventory", 1).await;
    let v1 = json!({"order_id": "o-1", "line_items": [], "reserved_at": "2026-11-27T12:00:00Z"});
    let v2 = json!({
        "order_id": "o-2", "line_items": [], "reserved_at": "2026-11-27T12:00:00Z",
        "warehouse_id": "w-9", "expires_at": "2026-11-28T12:00:00Z"
    });
    let event = "shop.inventory.v1.InventoryReserved";
    for (version, value) in [("1", &v1), ("2", &v2)] {
        let out = shop
            .run(
                &["produce", &topic, "--event", event, "--version", version],
                &format!("{value}\n"),
            )
            .await;
        assert!(out.status.success(), "{}", text(&out));
    }
    let records = by_key(shop.consume_all(&topic).await);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["event"], "shop.inventory.v1.InventoryReserved");
    assert_eq!(records[0]["version"], 1);
    assert_eq!(records[0]["value"], v1);
    assert_eq!(records[1]["event"], "shop.inventory.v2.InventoryReserved");
    assert_eq!(records[1]["version"], 2);
    assert_eq!(records[1]["value"], v2);
    assert_eq!(
        records[1]["headers"]["event_type"],
        "shop.inventory.v2.InventoryReserved"
    );
    assert_eq!(
        records[1]["schema_id"],
        shop.id_of("inventory-shop.inventory.v2.InventoryReserved", 1)
            .await
    );
}

/// The Python of the venv `.ci/install-clients` makes (or `$CONFLUENT_PYTHON`).
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CONFLUENT_PYTHON") {
        return p.into();
    }
    let venv = repo().join(".oracles/clients/venv/bin/python");
    assert!(
        venv.exists(),
        "PyPI confluent-kafka is not installed at {}: run .ci/install-clients",
        venv.display()
    );
    venv
}

async fn confluent(args: &[&str], stdin: &str) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/confluent_records.py");
    let mut child = tokio::process::Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafkas_avro_deserializer_reads_what_produce_wrote() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 3).await;
    let orders: Vec<Json> = (0..2).map(order).collect();
    let out = shop
        .produce(&topic, "shop.orders.OrderCreated", &json_lines(&orders))
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let url = shop.registry.url();
    let out = confluent(
        &[
            "consume-avro",
            shop.broker.bootstrap_servers(),
            &url,
            &topic,
            "2",
        ],
        "",
    )
    .await;
    let records: Vec<Json> = serde_json::from_slice(&out.stdout).unwrap();
    let records = by_key(records);
    for (record, sent) in records.iter().zip(&orders) {
        assert_eq!(record["key"], sent["order_id"]);
        assert_eq!(&record["value"], sent);
        assert_eq!(record["headers"]["event_type"], "shop.orders.OrderCreated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafkas_protobuf_deserializer_reads_what_produce_wrote() {
    let shop = Shop::start().await;
    let topic = shop.topic("order-created-pb", 1).await;
    let sent = json!({
        "order_id": "pb-7",
        "customer_id": "c-7",
        "line_items": [{
            "product_name": "cup", "quantity": 3,
            "unit_price": {"currency_code": "GBP", "units": "3", "nanos": 50000000}
        }],
        "created_at": "2026-11-27T12:00:07Z"
    });
    let out = shop
        .produce(&topic, "shop.orders.v1.OrderCreated", &format!("{sent}\n"))
        .await;
    assert!(out.status.success(), "{}", text(&out));

    let dir = tempfile::tempdir().unwrap();
    let set = order_created_pb_descriptors(dir.path());
    let url = shop.registry.url();
    let out = confluent(
        &[
            "consume-protobuf",
            shop.broker.bootstrap_servers(),
            &url,
            &topic,
            "1",
            set.to_str().unwrap(),
            "shop.orders.v1.OrderCreated",
        ],
        "",
    )
    .await;
    let records: Vec<Json> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records[0]["key"], "pb-7");
    assert_eq!(records[0]["value"], sent);
}

/// The Python side gets the message type from the contract's descriptors.
fn order_created_pb_descriptors(dir: &Path) -> PathBuf {
    let schema = contracts_model::protobuf::ProtoSchema::parse_dir(
        &repo().join("schemas"),
        "shop/orders/v1/order_created.proto",
    )
    .unwrap();
    let set = dir.join("order_created.binpb");
    std::fs::write(&set, prost::Message::encode_to_vec(schema.files())).unwrap();
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_prints_what_confluent_kafkas_protobuf_serializer_wrote() {
    let shop = Shop::start().await;
    let topic = shop.topic("order-created-pb", 2).await;
    let sent: Vec<Json> = (0..2)
        .map(|i| {
            json!({
                "order_id": format!("py-{i}"),
                "customer_id": format!("c-{i}"),
                "line_items": [{
                    "product_name": "teapot", "quantity": i + 1,
                    "unit_price": {"currency_code": "EUR", "units": "12", "nanos": 500000000}
                }],
                "created_at": format!("2026-11-27T12:00:0{i}Z")
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let set = order_created_pb_descriptors(dir.path());
    let url = shop.registry.url();
    confluent(
        &[
            "produce-protobuf",
            shop.broker.bootstrap_servers(),
            &url,
            &topic,
            set.to_str().unwrap(),
            "shop.orders.v1.OrderCreated",
            "order-created-pb-value",
        ],
        &json_lines(&sent),
    )
    .await;
    let records = by_key(shop.consume_all(&topic).await);
    assert_eq!(records.len(), 2, "{records:?}");
    // The serializer uses the subject's latest version: v2, registered after v1.
    let id = shop.id_of("order-created-pb-value", 2).await;
    for (record, sent) in records.iter().zip(&sent) {
        assert_eq!(&record["value"], sent);
        assert_eq!(record["event"], "shop.orders.v1.OrderCreated");
        // The descriptors are the newest file's: the manifest's v2.
        assert_eq!(record["version"], 2);
        assert_eq!(record["schema_id"], id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_prints_what_confluent_kafkas_avro_serializer_wrote() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 3).await;
    let orders: Vec<Json> = (0..3).map(order).collect();
    let url = shop.registry.url();
    let schema = repo().join("schemas/shop/orders/order_created/v3.avsc");
    confluent(
        &[
            "produce-avro",
            shop.broker.bootstrap_servers(),
            &url,
            &topic,
            schema.to_str().unwrap(),
        ],
        &json_lines(&orders),
    )
    .await;
    let records = by_key(shop.consume_all(&topic).await);
    assert_eq!(records.len(), 3, "{records:?}");
    let id = shop.id_of("shop.orders.OrderCreated", 3).await;
    for (record, sent) in records.iter().zip(&orders) {
        assert_eq!(&record["value"], sent);
        assert_eq!(record["event"], "shop.orders.OrderCreated");
        assert_eq!(record["version"], 3);
        assert_eq!(record["schema_id"], id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_of_the_wrong_type_names_line_field_and_type_and_nothing_is_sent() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 1).await;
    let mut bad = order(1);
    bad["line_items"][0]["quantity"] = json!("two");
    let input = json_lines(&[order(0), bad, order(2)]);
    let out = shop
        .produce(&topic, "shop.orders.OrderCreated", &input)
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "line 2: $.line_items[0].quantity: expected int (a 32-bit integer), found string \"two\""
        ),
        "{err}"
    );
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(out.stdout.is_empty(), "{}", text(&out));

    let mut bad = json!({"order_id": "pb-1", "line_items": [{"quantity": "many"}]});
    bad["customer_id"] = json!(7);
    let out = shop
        .produce(&topic, "shop.orders.v1.OrderCreated", &format!("{bad}\n"))
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("line 1: $."), "{}", text(&out));

    assert_eq!(shop.consume_all(&topic).await, Vec::<Json>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_a_missing_topic_and_an_unreachable_registry_are_one_clear_error() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 1).await;

    let out = shop
        .produce(&topic, "shop.orders.OrderLost", &json_lines(&[order(0)]))
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).starts_with("error: no event \"shop.orders.OrderLost\" in schemas/contracts.toml (its events: shop.orders.OrderCreated,"),
        "{}",
        text(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", text(&out));

    let missing = unique_name("no-such-topic");
    for args in [
        vec![
            "produce",
            missing.as_str(),
            "--event",
            "shop.orders.OrderCreated",
        ],
        vec!["consume", missing.as_str()],
    ] {
        let out = shop.run(&args, &json_lines(&[order(0)])).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            stderr(&out).contains(&format!("topic \"{missing}\" does not exist")),
            "{}",
            text(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1, "{}", text(&out));
    }

    let port = contracts_testkit::free_port().unwrap();
    let nowhere = format!("http://127.0.0.1:{port}");
    for args in [
        vec![
            "produce",
            topic.as_str(),
            "--event",
            "shop.orders.OrderCreated",
        ],
        vec!["consume", topic.as_str()],
    ] {
        let mut args = args.clone();
        args.extend([
            "--registry",
            &nowhere,
            "--bootstrap-servers",
            shop.broker.bootstrap_servers(),
        ]);
        let out = contracts(&args, &json_lines(&[order(0)])).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            stderr(&out).contains(&format!("cannot reach the schema registry at {nowhere}")),
            "{}",
            text(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1, "{}", text(&out));
    }
    assert_eq!(shop.consume_all(&topic).await, Vec::<Json>::new());
}

/// Collects what the runtime's consumer hands over; fails on order `o-1` every time.
#[derive(Clone, Default)]
struct RefuseOne(Arc<Mutex<Vec<orders::Message>>>);

impl Handle<orders::Message> for RefuseOne {
    async fn handle(&self, message: orders::Message, _: &RecordMeta) -> Result<(), HandlerError> {
        let refuse = matches!(&message, orders::Message::OrderCreated(e) if e.order_id == "o-1");
        self.0.lock().unwrap().push(message);
        if refuse {
            return Err(HandlerError::retriable(
                "order o-1 failed: no stock for teapot",
            ));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_consumer_reads_what_produce_wrote_and_consume_decodes_its_retry_and_dead_letter_topics()
 {
    let shop = Shop::start().await;
    let prefix = format!("{}.", unique_name("services"));
    let topic = format!("{prefix}{}", orders::Topic::NAME);
    shop.broker.create_topic(&topic, 3).await.unwrap();
    let out = shop
        .produce(
            &topic,
            "shop.orders.OrderCreated",
            &json_lines(&[order(0), order(1)]),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));

    // The runtime's typed consumer, as the inventory and notification services run it.
    let group = format!("{prefix}inventory");
    let source: Arc<dyn SchemaSource> = Arc::new(Client::new(&shop.registry.url()).unwrap());
    let consumer = Consumer::<orders::Topic>::new(
        ConsumerConfig::new(shop.broker.bootstrap_servers(), &group)
            .topic_prefix(&prefix)
            // One attempt, one retry topic, then the dead-letter topic.
            .retry(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            })
            .retry_topics(vec![Duration::from_millis(100)]),
        source,
        Metrics::new(),
    )
    .await
    .unwrap();
    let control = consumer.control();
    let seen = RefuseOne::default();
    let task = tokio::spawn(consumer.run(seen.clone()));

    // The failing order goes through the retry topic to the dead-letter topic (the consumer
    // creates both).
    let dlt = dead_letter_topic_name(&topic);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let dead = loop {
        let out = shop.run(&["consume", &dlt, "--from-beginning"], "").await;
        if out.status.success() && !out.stdout.is_empty() {
            break lines(&out);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no dead letter: {}",
            text(&out)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    control.shutdown();
    task.await.unwrap().unwrap();

    let mut got: Vec<orders::v3::OrderCreated> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|m| match m {
            orders::Message::OrderCreated(e) => e.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort_by(|a, b| a.order_id.cmp(&b.order_id));
    // How often the runtime retries o-1 is its business; each order arrived intact.
    got.dedup_by(|a, b| a.order_id == b.order_id);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].order_id, "o-0");
    assert_eq!(got[0].quantity, 1);
    assert_eq!(got[0].customer_id.as_deref(), Some("c-0"));
    assert_eq!(got[0].currency, orders::v3::Currency::Gbp);
    assert_eq!(got[0].line_items[0].unit_price, Decimal::new(1250, 2));
    assert_eq!(
        got[0].created_at,
        DateTime::from_timestamp_millis(1_795_780_800_000)
    );
    assert_eq!(got[1].order_id, "o-1");
    assert_eq!(got[1].customer_id, None);

    let out = shop
        .run(
            &["consume", &retry_topic_name(&topic, 1), "--from-beginning"],
            "",
        )
        .await;
    let retried = lines(&out);
    assert_eq!(retried.len(), 1, "{}", text(&out));
    assert_eq!(retried[0]["value"], order(1));
    assert_eq!(retried[0]["event"], "shop.orders.OrderCreated");
    let h = &retried[0]["headers"];
    assert_eq!(h[headers::RETRY_ORIGINAL_TOPIC], topic.as_str());
    assert_eq!(h[headers::RETRY_ATTEMPTS], "1");
    assert_eq!(h[headers::EVENT_TYPE], "shop.orders.OrderCreated");

    assert_eq!(dead.len(), 1, "{dead:?}");
    let d = &dead[0];
    assert_eq!(d["value"], order(1));
    assert_eq!(d["event"], "shop.orders.OrderCreated");
    assert_eq!(d["version"], 3);
    assert_eq!(d["key"], "o-1");
    let h = &d["headers"];
    assert_eq!(h[headers::DLT_ORIGINAL_TOPIC], topic.as_str());
    assert_eq!(h[headers::DLT_CONSUMER_GROUP], group.as_str());
    assert_eq!(h[headers::DLT_ERROR_CLASS], "handler-retries-exhausted");
    assert!(
        h[headers::DLT_ERROR_MESSAGE]
            .as_str()
            .unwrap()
            .contains("no stock for teapot"),
        "{h}"
    );
}

async fn raw_send(shop: &Shop, topic: &str, key: &str, value: &[u8]) {
    let producer: FutureProducer = shop.broker.client_config().create().unwrap();
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(value),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_record_is_printed_with_the_reason_and_pretty_shows_headers_and_value() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 1).await;
    let out = shop
        .produce(&topic, "shop.orders.OrderCreated", &json_lines(&[order(4)]))
        .await;
    assert!(out.status.success(), "{}", text(&out));
    raw_send(&shop, &topic, "junk", b"not framed").await;
    // Framed with an id this registry never gave out, as from another registry.
    raw_send(&shop, &topic, "elsewhere", &[0, 0, 1, 0x86, 0x9f, 2, 4]).await;

    let records = shop.consume_all(&topic).await;
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[0]["value"], order(4));
    assert_eq!(records[1]["key"], "junk");
    assert_eq!(
        records[1]["error"],
        "not a schema-registry framed record: unknown magic byte 0x6e (expected 0x00)"
    );
    assert_eq!(records[1]["raw_value"], "bm90IGZyYW1lZA==");
    assert!(records[1].get("value").is_none(), "{}", records[1]);
    assert_eq!(records[2]["schema_id"], 99999);
    let error = records[2]["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "schema 99999: the schema registry at {} answered:",
            shop.registry.url()
        )),
        "{error}"
    );
    assert_eq!(records[2]["raw_value"], "AAABhp8CBA==");

    let out = shop
        .run(
            &["consume", &topic, "--from-beginning", "--format", "pretty"],
            "",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let pretty = String::from_utf8_lossy(&out.stdout);
    assert!(pretty.contains(&format!("{topic}/0@0")), "{pretty}");
    assert!(pretty.contains("shop.orders.OrderCreated v3"), "{pretty}");
    assert!(
        pretty.contains("  event_type: shop.orders.OrderCreated"),
        "{pretty}"
    );
    assert!(pretty.contains("\"order_id\": \"o-4\""), "{pretty}");
    assert!(pretty.contains(&format!("{topic}/0@1")), "{pretty}");
    assert!(pretty.contains("UNDECODABLE"), "{pretty}");
    assert!(
        pretty.contains("  error: not a schema-registry framed record"),
        "{pretty}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_starts_where_it_is_told_and_stops_at_max() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 2).await;
    let first: Vec<Json> = (0..4).map(order).collect();
    let out = shop
        .produce(&topic, "shop.orders.OrderCreated", &json_lines(&first))
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let deliveries = lines(&out);
    let all = shop.consume_all(&topic).await;
    assert_eq!(all.len(), 4);

    // --max
    let out = shop
        .run(&["consume", &topic, "--from-beginning", "--max", "1"], "")
        .await;
    assert_eq!(lines(&out).len(), 1, "{}", text(&out));

    // --partition and --offset
    let p = deliveries[0]["partition"].as_i64().unwrap();
    let in_p: Vec<&Json> = all.iter().filter(|r| r["partition"] == p).collect();
    let out = shop
        .run(
            &[
                "consume",
                &topic,
                "--partition",
                &p.to_string(),
                "--offset",
                "1",
            ],
            "",
        )
        .await;
    let got = lines(&out);
    assert_eq!(got.len(), in_p.len() - 1, "{}", text(&out));
    assert!(
        got.iter()
            .all(|r| r["partition"] == p && r["offset"].as_i64() >= Some(1))
    );

    // Without a start: the end, so nothing.
    let out = shop.run(&["consume", &topic], "").await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(lines(&out).is_empty(), "{}", text(&out));

    // --timestamp: only what was written from then on.
    let since = all
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap())
        .max()
        .unwrap()
        + 1;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let out = shop
        .produce(&topic, "shop.orders.OrderCreated", &json_lines(&[order(9)]))
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = shop
        .run(&["consume", &topic, "--timestamp", &since.to_string()], "")
        .await;
    let got = lines(&out);
    assert_eq!(got.len(), 1, "{}", text(&out));
    assert_eq!(got[0]["key"], "o-9");

    // --group: a second run of the group prints only what is new.
    let group = unique_name("group");
    let out = shop
        .run(
            &["consume", &topic, "--group", &group, "--from-beginning"],
            "",
        )
        .await;
    assert_eq!(lines(&out).len(), 5, "{}", text(&out));
    let out = shop
        .produce(
            &topic,
            "shop.orders.OrderCreated",
            &json_lines(&[order(10)]),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = shop
        .run(
            &["consume", &topic, "--group", &group, "--from-beginning"],
            "",
        )
        .await;
    let got = lines(&out);
    assert_eq!(got.len(), 1, "{}", text(&out));
    assert_eq!(got[0]["key"], "o-10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_waits_for_records_written_after_it_started() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 1).await;
    let url = shop.registry.url();
    let follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args([
            "consume",
            &topic,
            "--follow",
            "--max",
            "1",
            "--registry",
            &url,
        ])
        .args(["--bootstrap-servers", shop.broker.bootstrap_servers()])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The follower starts at the end: write until it has seen a record written after that.
    let reader = tokio::spawn(follower.wait_with_output());
    let mut n = 0;
    while !reader.is_finished() {
        let out = shop
            .produce(&topic, "shop.orders.OrderCreated", &json_lines(&[order(n)]))
            .await;
        assert!(out.status.success(), "{}", text(&out));
        n += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = reader.await.unwrap().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let got = lines(&out);
    assert_eq!(got.len(), 1, "{}", text(&out));
    assert_eq!(got[0]["event"], "shop.orders.OrderCreated");
}

/// One SASL_SSL broker (SCRAM-SHA-512 behind TLS with a private CA) for this test binary.
fn secured_broker() -> &'static SecuredBroker {
    static BROKER: OnceLock<(TestCa, SecuredBroker)> = OnceLock::new();
    &BROKER
        .get_or_init(|| {
            let ca = TestCa::new("consume-produce test CA").expect("a test CA");
            let broker =
                SecuredBroker::start(&ca, &[("admin", "admin-pw-1"), ("shop", "shop-pw-2")])
                    .unwrap_or_else(|e| panic!("cannot start the secured broker: {e}"));
            (ca, broker)
        })
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_consume_log_in_with_sasl_over_tls_from_a_client_properties_file() {
    let shop = Shop::start().await;
    let broker = secured_broker();
    let topic = unique_name("orders");
    broker.create_topic(&topic, 2).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let properties = dir.path().join("client.properties");
    std::fs::write(
        &properties,
        format!(
            "bootstrap.servers={}\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.username=shop\nssl.ca.location={}\n",
            broker.bootstrap_servers(),
            broker.ca_location().display()
        ),
    )
    .unwrap();
    let password = |pw: &str| {
        let file = dir.path().join(format!("password-{pw}"));
        std::fs::write(&file, format!("{pw}\n")).unwrap();
        vec![
            ("KAFKA_PROPERTIES_FILE", properties.display().to_string()),
            ("KAFKA_SASL_PASSWORD_FILE", file.display().to_string()),
            ("SCHEMA_REGISTRY_URL", shop.registry.url()),
        ]
    };
    let out = contracts_with(
        &["produce", &topic, "--event", "shop.orders.OrderCreated"],
        &json_lines(&[order(0), order(1)]),
        &password("shop-pw-2"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = contracts_with(
        &["consume", &topic, "--from-beginning"],
        "",
        &password("shop-pw-2"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let records = by_key(lines(&out));
    assert_eq!(records.len(), 2, "{}", text(&out));
    assert_eq!(records[0]["value"], order(0));
    assert_eq!(records[1]["value"], order(1));

    // A wrong password: one line that says so, and nothing sent.
    for args in [
        vec![
            "produce",
            topic.as_str(),
            "--event",
            "shop.orders.OrderCreated",
        ],
        vec!["consume", topic.as_str(), "--from-beginning"],
    ] {
        let out = contracts_with(&args, &json_lines(&[order(2)]), &password("wrong-pw")).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("error: cannot connect to Kafka at ")
                && err.contains(": Kafka SASL authentication failed"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let out = contracts_with(
        &["consume", &topic, "--from-beginning"],
        "",
        &password("shop-pw-2"),
    )
    .await;
    assert_eq!(lines(&out).len(), 2, "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_in_a_group_commits_what_was_printed_when_stopped_with_a_signal() {
    let shop = Shop::start().await;
    let topic = shop.topic("orders", 1).await;
    let group = unique_name("followers");
    let url = shop.registry.url();
    let mut follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args([
            "consume",
            &topic,
            "--group",
            &group,
            "--follow",
            "--registry",
            &url,
        ])
        .args(["--bootstrap-servers", shop.broker.bootstrap_servers()])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(follower.stdout.take().unwrap());
    // The group starts at the end: write until the follower prints a record.
    let mut line = String::new();
    let mut n = 0;
    loop {
        let out = shop
            .produce(&topic, "shop.orders.OrderCreated", &json_lines(&[order(n)]))
            .await;
        assert!(out.status.success(), "{}", text(&out));
        n += 1;
        use tokio::io::AsyncBufReadExt as _;
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(1500), stdout.read_line(&mut line)).await
        {
            assert!(read.unwrap() > 0, "the follower stopped");
            break;
        }
        assert!(n < 40, "the follower printed nothing");
    }
    let printed: Json = serde_json::from_str(&line).unwrap();
    // At once, well inside librdkafka's 5 s auto-commit interval.
    let pid = follower.id().unwrap().to_string();
    let status = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(30), follower.wait())
        .await
        .expect("the follower stops on SIGINT")
        .unwrap();
    assert!(status.success(), "{status:?}");

    // The group resumes after what was printed: only records written after it, if any.
    let out = shop
        .run(
            &["consume", &topic, "--group", &group, "--from-beginning"],
            "",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out));
    for record in lines(&out) {
        assert!(
            record["offset"].as_i64() > printed["offset"].as_i64(),
            "printed again: {record} (the follower printed {printed})"
        );
    }
}
