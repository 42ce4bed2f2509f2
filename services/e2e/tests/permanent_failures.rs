//! Kafka errors that will never go away, through the order-service binary on a real broker
//! (Tansu) and registry: the producer's `message.max.bytes` (`-X`, here through `KAFKA_CONFIG`)
//! set below the size of some records, so librdkafka refuses them for good
//! (`MessageSizeTooLarge`).
//!
//! - An order whose event is too large is set aside in the outbox (with the rows of its key
//!   behind it), counted on `/metrics` and listed by the admin API, and a later order still
//!   flows.
//! - A record on a consumed topic that must be dead-lettered but is too large to be written
//!   stops its partition: `/health` and `/metrics` say which and why, and the group's commit
//!   does not move past it.

use std::time::{Duration, Instant};

use contracts_testkit::{TestRegistry, parse_prometheus_text, shared_broker, unique_name};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use shop_e2e::{Backends, Service, service_env};

const WAIT: Duration = Duration::from_secs(60);

/// Products with long names, so that an order of all of them makes an event over 1000 bytes.
fn long_products() -> Vec<String> {
    (0..40)
        .map(|i| format!("loose-leaf-tea-from-a-long-named-garden-{i:02}"))
        .collect()
}

async fn place(client: &reqwest::Client, base: &str, products: &[String]) -> String {
    let lines: Vec<Value> = products
        .iter()
        .map(|p| json!({"product": p, "quantity": 1}))
        .collect();
    let body = json!({"customer": "c@example.com", "line_items": lines});
    let r = client
        .post(format!("{base}/orders"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the one sample `name` with `labels` on `/metrics`, read by the Prometheus
/// project's own parser.
async fn metric(
    client: &reqwest::Client,
    service: &Service,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    let (_, text) = get(client, format!("{}/metrics", service.url())).await;
    let page = parse_prometheus_text(&text).unwrap();
    let found: Vec<f64> = page.samples(name, labels).map(|s| s.value).collect();
    assert_eq!(found.len(), 1, "one {name} {labels:?} in\n{text}");
    found[0]
}

/// Polls `check` until it returns `Some`, or panics naming `what` and the service's log.
async fn eventually<T, F, Fut>(what: &str, service: &Service, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(service.log_path()).unwrap_or_default();
            panic!("timed out waiting for {what}; {} log:\n{log}", service.name);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The keys of every record on `topic`, waiting until `want` is among them.
fn keys_until(topic: &str, want: &str) -> Vec<String> {
    let reader: BaseConsumer = shared_broker()
        .client_config()
        .set("group.id", unique_name("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    reader.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut keys = Vec::new();
    while !keys.iter().any(|k| k == want) {
        assert!(
            Instant::now() < deadline,
            "{want} never arrived on {topic}; saw {keys:?}"
        );
        if let Some(m) = reader.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            keys.push(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_kafka_refuses_for_good_are_set_aside_or_stop_their_partition_visibly() {
    let broker = shared_broker();
    let prefix = format!("{}.", unique_name("refused"));
    for topic in ["orders", "order-created-pb"] {
        broker
            .create_topic(&format!("{prefix}{topic}"), 3)
            .await
            .unwrap();
    }
    // One partition: the stopped one is partition 0.
    let inventory = format!("{prefix}inventory");
    broker.create_topic(&inventory, 1).await.unwrap();
    let registry = TestRegistry::start(broker).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = vec!["tea=3.50".to_owned()];
    catalog.extend(long_products().iter().map(|p| format!("{p}=1.00")));
    let registry_url = registry.url();
    let backends = Backends {
        bootstrap_servers: broker.bootstrap_servers(),
        registry_url: &registry_url,
        topic_prefix: &prefix,
    };
    let mut env = service_env("order-service", dir.path(), Some(&backends));
    env.extend([
        ("KAFKA_CONFIG", "message.max.bytes=1000".to_owned()),
        ("ORDER_CATALOG", catalog.join(",")),
    ]);
    let mut order = Service::new("order-service", "ORDER_LISTEN", dir.path(), &env);
    order.start();
    order.wait_healthy(WAIT).await;
    let client = reqwest::Client::new();

    // The outbox: the big order is set aside, the small one after it is published.
    let big = place(&client, &order.url(), &long_products()).await;
    let small = place(&client, &order.url(), &["tea".to_owned()]).await;
    let keys = keys_until(&format!("{prefix}orders"), &small);
    assert!(!keys.contains(&big), "the big order's event was not sent");
    let admin = contracts_admin::AdminClient::connect(contracts_admin::ClientConfig::new(
        order.admin_url(),
    ))
    .await
    .unwrap();
    let page = eventually("both rows of the big order set aside", &order, || async {
        let page = admin.set_aside_outbox(0).await.unwrap();
        (page.rows.len() == 2).then_some(page)
    })
    .await;
    assert!(page.rows.iter().all(|r| r.key == big), "{page:?}");
    let first = &page.rows[0];
    assert!(
        first.reason.contains("MessageSizeTooLarge"),
        "the reason is the broker client's: {first:?}"
    );
    assert_eq!(first.attempts, 1, "a permanent error is not retried");
    assert!(
        page.rows[1]
            .reason
            .contains(&format!("held behind outbox row {}", first.id))
            || page.rows[1].reason.contains("MessageSizeTooLarge"),
        "{page:?}"
    );
    let cli = std::process::Command::new(shop_e2e::bin_dir().join("contracts"))
        .args(["admin", "--addr", &order.admin_url(), "outbox", "set-aside"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{listed}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        listed.contains(&big) && listed.contains("MessageSizeTooLarge"),
        "`contracts admin outbox set-aside` lists the row and why:\n{listed}"
    );
    assert_eq!(
        metric(&client, &order, "shop_outbox_set_aside", &[]).await,
        2.0,
        "the metric counts the set-aside rows"
    );
    assert_eq!(
        metric(&client, &order, "shop_outbox_pending", &[]).await,
        0.0
    );

    // The consumer: a malformed record (dead-lettered by rule) too large for the dead-letter
    // producer stops partition 0 of the inventory topic.
    let raw: FutureProducer = broker.client_config().create().unwrap();
    raw.send(
        FutureRecord::to(&inventory)
            .key("garbage")
            .payload(&vec![7u8; 2000]),
        Duration::from_secs(30),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
    let body = eventually("/health to report the stopped partition", &order, || {
        let client = client.clone();
        let url = format!("{}/health", order.url());
        async move {
            let (status, body) = get(&client, url).await;
            (status == 503).then_some(body)
        }
    })
    .await;
    assert!(
        body.contains(&format!(
            "consumers: partition {inventory}[0] of group order stopped at offset 0"
        )) && body.contains(&format!("{inventory}.DLT"))
            && body.contains("MessageSizeTooLarge"),
        "{body}"
    );
    let stopped = metric(
        &client,
        &order,
        "contracts_consumer_stopped_partitions",
        &[
            ("messaging_destination_name", inventory.as_str()),
            ("messaging_consumer_group_name", "order"),
            ("messaging_destination_partition_id", "0"),
        ],
    )
    .await;
    assert_eq!(stopped, 1.0);
    assert!(
        order.terminate(),
        "a stopped partition does not keep the service from stopping"
    );

    let reader: BaseConsumer = broker
        .client_config()
        .set("group.id", "order")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(&inventory, 0);
    let committed = reader
        .committed_offsets(tpl, Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        committed.elements()[0].offset(),
        rdkafka::Offset::Invalid,
        "nothing committed past the record that could not be dead-lettered"
    );
}
