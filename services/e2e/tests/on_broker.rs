//! The shop on a real broker (Tansu) and registry, both from `contracts-testkit`: the three
//! binaries as processes, orders over HTTP, effects checked in each service's store and in the
//! mailbox. Then the same under kill -9 of every service while orders flow, with a poison record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use contracts_testkit::{
    MetricsPage, TestRegistry, parse_prometheus_text, shared_broker, unique_name,
};
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use shop_e2e::{Service, order_lines};

struct Shop {
    dir: tempfile::TempDir,
    order: Service,
    inventory: Service,
    notification: Service,
    prefix: String,
    _registry: TestRegistry,
    client: reqwest::Client,
}

/// The jug's name needs escaping as a label value (`shop_stock_available{product=...}`).
const STOCK: &str = r#"tea=1000,teapot=1000,mug=5,coffee=0,jug "No. 2" \ blue=3"#;
const JUG: &str = r#"jug "No. 2" \ blue"#;

impl Shop {
    async fn start() -> Shop {
        let broker = shared_broker();
        let prefix = format!("{}.", unique_name("shop"));
        for topic in ["orders", "inventory", "order-created-pb"] {
            broker
                .create_topic(&format!("{prefix}{topic}"), 6)
                .await
                .unwrap();
        }
        let registry = TestRegistry::start(broker).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let common = [
            (
                "KAFKA_BOOTSTRAP_SERVERS",
                broker.bootstrap_servers().to_owned(),
            ),
            ("SCHEMA_REGISTRY_URL", registry.url()),
            ("KAFKA_TOPIC_PREFIX", prefix.clone()),
            // The local broker answers fetches late unless asked not to wait.
            ("KAFKA_PROFILE", "latency".to_owned()),
        ];
        let with = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
            common
                .iter()
                .cloned()
                .chain(shop_e2e::fast_rebalance())
                .chain(extra.iter().cloned())
                .collect()
        };
        let mut shop = Shop {
            order: Service::new(
                "order-service",
                "ORDER_LISTEN",
                dir.path(),
                &with(&[("ORDER_DB", path("order.db"))]),
            ),
            inventory: Service::new(
                "inventory-service",
                "INVENTORY_LISTEN",
                dir.path(),
                &with(&[
                    ("INVENTORY_DB", path("inventory.db")),
                    ("INVENTORY_STOCK", STOCK.into()),
                ]),
            ),
            notification: Service::new(
                "notification-service",
                "NOTIFICATION_LISTEN",
                dir.path(),
                &with(&[
                    ("NOTIFICATION_DB", path("notification.db")),
                    ("NOTIFICATION_MAILBOX_DIR", path("mailbox")),
                ]),
            ),
            prefix,
            _registry: registry,
            client: reqwest::Client::new(),
            dir,
        };
        for s in [&mut shop.order, &mut shop.inventory, &mut shop.notification] {
            s.start();
        }
        for s in [&mut shop.order, &mut shop.inventory, &mut shop.notification] {
            s.wait_healthy(Duration::from_secs(120)).await;
        }
        shop
    }

    fn mailbox(&self) -> PathBuf {
        self.dir.path().join("mailbox")
    }

    /// Places an order, retrying while the order service is down (a retry after a lost answer
    /// places a second order, which the checks count like any other).
    async fn place(&self, customer: &str, lines: Value) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let r = self
                .client
                .post(format!("{}/orders", self.order.url()))
                .json(&json!({"customer": customer, "line_items": lines}))
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 201 => {
                    return r.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                }
                Ok(r) => panic!(
                    "placing an order: {} {}",
                    r.status(),
                    r.text().await.unwrap()
                ),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("order-service unreachable: {e}"),
            }
        }
    }

    async fn get(&self, path: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match self
                .client
                .get(format!("{}{path}", self.order.url()))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => return r.json().await.unwrap(),
                Ok(r) => panic!("GET {path}: {}", r.status()),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("GET {path}: {e}"),
            }
        }
    }

    async fn post(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.order.url()))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Waits until no order is PENDING; returns every order by id.
    async fn decided(&self) -> BTreeMap<String, Value> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let orders = self.get("/orders?limit=1000").await;
            let orders = orders["orders"].as_array().unwrap().clone();
            if orders.iter().all(|o| o["status"] != "PENDING") {
                return orders
                    .into_iter()
                    .map(|o| (o["id"].as_str().unwrap().to_owned(), o))
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "orders still PENDING: {:?}",
                orders
                    .iter()
                    .filter(|o| o["status"] == "PENDING")
                    .map(|o| &o["id"])
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Every `.eml` file under the mailbox, per customer, sorted.
fn mail(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let Ok(customers) = std::fs::read_dir(dir) else {
        return out;
    };
    for c in customers {
        let c = c.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(c.path())
            .unwrap()
            .map(|f| f.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".eml"))
            .collect();
        names.sort();
        out.insert(c.file_name().into_string().unwrap(), names);
    }
    out
}

/// The mailbox every order should produce, given its final state.
fn expected_mail(orders: &BTreeMap<String, Value>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, o) in orders {
        let status = o["status"].as_str().unwrap();
        let mut kinds = vec!["0.received"];
        match status {
            "REJECTED" => kinds.push("1.rejected"),
            "CONFIRMED" => kinds.push("1.confirmed"),
            "PAID" => kinds.extend(["1.confirmed", "2.paid"]),
            "SHIPPED" => kinds.extend(["1.confirmed", "2.paid", "3.shipped"]),
            other => panic!("{id} is {other}"),
        }
        let entry = out
            .entry(o["customer"].as_str().unwrap().to_owned())
            .or_default();
        entry.extend(kinds.iter().map(|k| format!("{id}.{k}.eml")));
        entry.sort();
    }
    out
}

async fn wait_for_mail(shop: &Shop, want: &BTreeMap<String, Vec<String>>) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let got = mail(&shop.mailbox());
        if &got == want || Instant::now() > deadline {
            assert_eq!(&got, want, "mailbox");
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn check(shop: &Shop, placed: &[(String, usize)]) {
    let orders = shop.decided().await;
    for (id, i) in placed {
        let fits = order_lines(*i).1;
        let status = orders[id]["status"].as_str().unwrap();
        assert_eq!(
            status,
            if fits { "CONFIRMED" } else { "REJECTED" },
            "order {i} ({id})"
        );
    }
    // Pay every other confirmed order, and ship every other paid one.
    let confirmed: Vec<&String> = orders
        .iter()
        .filter(|(_, o)| o["status"] == "CONFIRMED")
        .map(|(id, _)| id)
        .collect();
    for (n, id) in confirmed.iter().enumerate() {
        if n % 2 == 0 {
            let (status, body) = shop.post(&format!("/orders/{id}/pay")).await;
            assert_eq!(status, 200, "{body}");
            if n % 4 == 0 {
                let (status, body) = shop.post(&format!("/orders/{id}/ship")).await;
                assert_eq!(status, 200, "{body}");
            }
        }
    }
    let orders = shop.decided().await;
    // Stock is exact: what the confirmed orders took, no more, no less.
    let mut tea = 1000;
    let mut teapot = 1000;
    for o in orders.values().filter(|o| o["status"] != "REJECTED") {
        for line in o["line_items"].as_array().unwrap() {
            let q = line["quantity"].as_i64().unwrap();
            match line["product"].as_str().unwrap() {
                "tea" => tea -= q,
                "teapot" => teapot -= q,
                other => panic!("{other} was reserved"),
            }
        }
    }
    let inventory =
        inventory_service::store::InventoryStore::open(&shop.dir.path().join("inventory.db"), "x")
            .await
            .unwrap();
    let stock: BTreeMap<String, i64> = inventory.all_stock().await.unwrap().into_iter().collect();
    assert_eq!(
        stock,
        BTreeMap::from([
            ("coffee".into(), 0),
            (JUG.into(), 3),
            ("mug".into(), 5),
            ("tea".into(), tea),
            ("teapot".into(), teapot)
        ])
    );
    wait_for_mail(shop, &expected_mail(&orders)).await;
    // In order per order: each message was delivered after the one before it.
    let notes = notification_service::store::NotificationStore::open(
        &shop.dir.path().join("notification.db"),
    )
    .await
    .unwrap();
    for id in orders.keys() {
        let delivered: Vec<i64> = notes
            .for_order(id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.delivered_at_ms.unwrap())
            .collect();
        assert!(delivered.is_sorted(), "{id}: {delivered:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_flow_through_the_three_services_on_a_real_broker() {
    let shop = Shop::start().await;
    let mut placed = Vec::new();
    for i in 0..25 {
        let (lines, _) = order_lines(i);
        placed.push((
            shop.place(&format!("c{}@example.com", i % 7), lines).await,
            i,
        ));
    }
    check(&shop, &placed).await;
    check_metrics(&shop, placed.len()).await;
}

/// Each service's `/metrics` after the flow, read by the Prometheus project's own parser: the
/// runtime's families and the service's own on one page, label values escaped.
async fn check_metrics(shop: &Shop, orders: usize) {
    let scrape = |name: &'static str, service: &Service| {
        let url = format!("{}/metrics", service.url());
        let client = shop.client.clone();
        async move {
            let text = client.get(url).send().await.unwrap().text().await.unwrap();
            parse_prometheus_text(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
        }
    };
    let sum = |page: &MetricsPage, name: &str, labels: &[(&str, &str)]| -> f64 {
        page.samples(name, labels).map(|s| s.value).sum()
    };
    let kind = |page: &MetricsPage, sample: &str| {
        page.family_of(sample)
            .unwrap_or_else(|| panic!("no {sample}"))
            .kind
            .clone()
    };
    let orders_topic = format!("{}orders", shop.prefix);
    let inventory_topic = format!("{}inventory", shop.prefix);
    let to_orders = [("messaging_destination_name", orders_topic.as_str())];
    let to_inventory = [("messaging_destination_name", inventory_topic.as_str())];

    let order = scrape("order-service", &shop.order).await;
    assert_eq!(sum(&order, "shop_orders_created_total", &[]), orders as f64);
    assert_eq!(kind(&order, "shop_orders_created_total"), "counter");
    assert_eq!(kind(&order, "shop_outbox_pending"), "gauge");
    assert!(sum(&order, "messaging_client_sent_messages_total", &to_orders) >= orders as f64);
    assert_eq!(
        kind(&order, "messaging_client_operation_duration_seconds_bucket"),
        "histogram"
    );
    // At least once: a redelivered record counts again.
    assert!(
        sum(
            &order,
            "messaging_client_consumed_messages_total",
            &to_inventory
        ) >= orders as f64
    );
    assert!(sum(&order, "messaging_process_duration_seconds_count", &[]) >= orders as f64);

    let inventory = scrape("inventory-service", &shop.inventory).await;
    assert_eq!(
        sum(&inventory, "shop_stock_available", &[("product", JUG)]),
        3.0
    );
    assert!(sum(&inventory, "shop_inventory_orders_total", &[]) >= orders as f64);
    assert!(
        sum(
            &inventory,
            "messaging_client_consumed_messages_total",
            &to_orders
        ) >= orders as f64
    );
    assert!(
        sum(
            &inventory,
            "messaging_client_sent_messages_total",
            &to_inventory
        ) >= orders as f64
    );

    // Each handled OrderCreated's age since its producer made it: the hop's end-to-end latency.
    let latency = "contracts_consumer_record_latency_seconds";
    assert!(sum(&inventory, &format!("{latency}_count"), &to_orders) >= orders as f64);
    assert!(sum(&inventory, &format!("{latency}_sum"), &to_orders) > 0.0);

    let notification = scrape("notification-service", &shop.notification).await;
    assert!(sum(&notification, "shop_notification_events_total", &[]) >= orders as f64);
    assert!(sum(&notification, "shop_notifications_delivered_total", &[]) >= orders as f64);
    assert_eq!(
        kind(&notification, "shop_notifications_undelivered"),
        "gauge"
    );
    assert_eq!(
        kind(&notification, "messaging_process_duration_seconds_bucket"),
        "histogram"
    );
}

/// Places orders one after another from another task, retrying while order-service is down.
async fn place_in_background(url: String, n: usize) -> Vec<(String, usize)> {
    let client = reqwest::Client::new();
    let mut placed = Vec::new();
    for i in 0..n {
        let (lines, _) = order_lines(i);
        let body = json!({"customer": format!("c{}@example.com", i % 7), "line_items": lines});
        let deadline = Instant::now() + Duration::from_secs(120);
        let id = loop {
            match client
                .post(format!("{url}/orders"))
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status() == 201 => {
                    break r.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                }
                Ok(r) => panic!("placing order {i}: {}", r.status()),
                Err(e) => {
                    assert!(Instant::now() < deadline, "order-service unreachable: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        placed.push((id, i));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    placed
}

/// Every record on `topic`, read from the start.
fn read_all(topic: &str) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    let consumer: BaseConsumer = shared_broker()
        .client_config()
        .set("group.id", unique_name("dlt-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            records.push((
                m.key().map(<[u8]>::to_vec),
                m.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_each_service_mid_flow_loses_and_doubles_nothing() {
    let mut shop = Shop::start().await;
    let poison = b"this is not a schema-registry framed record".to_vec();
    let producer: FutureProducer = shared_broker().client_config().create().unwrap();
    producer
        .send(
            FutureRecord::to(&format!("{}orders", shop.prefix))
                .key("poison")
                .payload(&poison),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let placing = tokio::spawn(place_in_background(shop.order.url(), 40));
    for _round in 0..2 {
        for which in 0..3 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let service = match which {
                0 => &mut shop.inventory,
                1 => &mut shop.notification,
                _ => &mut shop.order,
            };
            service.kill9();
            // Restart once the broker has expired the dead member (session.timeout.ms=6000):
            // Tansu 0.6 can keep a member killed moments before a rejoin in the group and hand
            // it partitions nobody then reads (see services/README.md).
            tokio::time::sleep(Duration::from_millis(7000)).await;
            service.start();
            service.wait_healthy(Duration::from_secs(120)).await;
        }
    }
    let placed = placing.await.unwrap();
    check(&shop, &placed).await;

    // The DLT holds the poison and nothing else: at least once per group that consumes
    // `orders` (a member killed after dead-lettering and before committing does it again).
    let dead = read_all(&format!("{}orders.DLT", shop.prefix));
    assert!(dead.len() >= 2, "{dead:?}");
    for (key, payload) in dead {
        assert_eq!(
            (key.as_deref(), payload),
            (Some(&b"poison"[..]), poison.clone())
        );
    }
    assert!(read_all(&format!("{}inventory.DLT", shop.prefix)).is_empty());
}
