//! The shop scaled out: 2 order, 3 inventory and 2 notification replicas (the shipped binaries)
//! on one PostgreSQL server (a database per service) and one broker. Each replica owns some
//! partitions of its group; orders flow; kill -9 of replicas mid-flow hands their outbox or mail
//! duty to the others at once and their partitions to the group, and still no order is lost or
//! doubled, no unit oversold, and no mail sent twice (counted by an SMTP server in the test).
//! With the notification replicas' `inventory` consumers paused, an order's mails still come
//! in the order of its life: received, then (once resumed) confirmed, paid, shipped.
//! Tansu 0.6 keeps a killed member's partitions until a member joins again, so the test
//! restarts killed replicas after their session timeout, as a Deployment would.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts_testkit::{
    MetricsPage, TestPostgres, TestRegistry, parse_prometheus_text, shared_broker, unique_name,
};
use serde_json::{Value, json};
use shop_e2e::{Backends, Service, order_lines, service_env};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// An SMTP server that accepts every message and records its Message-ID, in arrival order.
#[derive(Clone, Default)]
struct SmtpSink {
    received: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    async fn start() -> (SmtpSink, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = SmtpSink::default();
        let received = sink.received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, received.clone()));
            }
        });
        (sink, port)
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

async fn session(stream: tokio::net::TcpStream, received: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    let mut in_data = false;
    let mut message_id = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if in_data {
            if line == "." {
                in_data = false;
                if let Some(id) = message_id.take() {
                    received.lock().unwrap().push(id);
                }
                let _ = write.write_all(b"250 queued\r\n").await;
            } else if let Some(id) = line
                .strip_prefix("Message-ID: <")
                .or_else(|| line.strip_prefix("Message-Id: <"))
            {
                message_id = id.split('@').next().map(str::to_owned);
            }
            continue;
        }
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 sink\r\n",
            "DATA" => {
                in_data = true;
                b"354 go on\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}

struct Shop {
    _pg: TestPostgres,
    _registry: TestRegistry,
    _dir: tempfile::TempDir,
    orders: Vec<Service>,
    inventories: Vec<Service>,
    notifications: Vec<Service>,
    inventory_db: String,
    smtp: SmtpSink,
    client: reqwest::Client,
}

const STOCK: &str = "tea=1000,teapot=1000,mug=5,coffee=0";

impl Shop {
    async fn start() -> Shop {
        let pg = TestPostgres::start().unwrap();
        let broker = shared_broker();
        let prefix = format!("{}.", unique_name("scale"));
        for topic in ["orders", "inventory", "order-created-pb"] {
            broker
                .create_topic(&format!("{prefix}{topic}"), 6)
                .await
                .unwrap();
        }
        let registry = TestRegistry::start(broker).await.unwrap();
        let (smtp, smtp_port) = SmtpSink::start().await;
        let dir = tempfile::tempdir().unwrap();
        let registry_url = registry.url();
        let backends = Backends {
            bootstrap_servers: broker.bootstrap_servers(),
            registry_url: &registry_url,
            topic_prefix: &prefix,
        };
        let common = shop_e2e::fast_rebalance();
        let inventory_db = pg.create_database("inventory").unwrap();
        let replicas = |service: &'static str,
                        listen: &str,
                        n: usize,
                        extra: Vec<(&'static str, String)>|
         -> Vec<Service> {
            (0..n)
                .map(|i| {
                    // Each replica its own directory: nothing but the database is shared.
                    let home = dir.path().join(format!("{service}-{i}"));
                    std::fs::create_dir_all(&home).unwrap();
                    let mut env = service_env(service, &home, Some(&backends));
                    env.extend(common.iter().cloned());
                    env.extend(extra.iter().cloned());
                    Service::new(service, listen, &home, &env)
                })
                .collect()
        };
        let orders = replicas(
            "order-service",
            "ORDER_LISTEN",
            2,
            vec![("DATABASE_URL", pg.create_database("orders").unwrap())],
        );
        let inventories = replicas(
            "inventory-service",
            "INVENTORY_LISTEN",
            3,
            vec![
                ("DATABASE_URL", inventory_db.clone()),
                ("INVENTORY_STOCK", STOCK.to_owned()),
            ],
        );
        let notifications = replicas(
            "notification-service",
            "NOTIFICATION_LISTEN",
            2,
            vec![
                ("DATABASE_URL", pg.create_database("notification").unwrap()),
                ("SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}")),
            ],
        );
        let mut shop = Shop {
            _pg: pg,
            _registry: registry,
            _dir: dir,
            orders,
            inventories,
            notifications,
            inventory_db,
            smtp,
            client: reqwest::Client::new(),
        };
        for s in shop.all() {
            s.start();
        }
        for s in shop.all() {
            s.wait_healthy(Duration::from_secs(180)).await;
        }
        shop
    }

    fn all(&mut self) -> impl Iterator<Item = &mut Service> {
        self.orders
            .iter_mut()
            .chain(self.inventories.iter_mut())
            .chain(self.notifications.iter_mut())
    }

    /// Places order `i` through order replica `replica`, or the next one while it is down.
    async fn place(&self, i: usize, replica: usize) -> (String, usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut r = replica;
        loop {
            let answer = self
                .client
                .post(format!("{}/orders", self.orders[r % 2].url()))
                .json(&json!({"customer": format!("c{}@example.com", i % 7), "line_items": order_lines(i).0}))
                .send()
                .await;
            match answer {
                Ok(a) if a.status() == 201 => {
                    let id = a.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    return (id, i);
                }
                Ok(a) => panic!("placing order {i}: {}", a.status()),
                Err(_) => {
                    assert!(Instant::now() < deadline, "no order replica answers");
                    r += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Every order, once none is PENDING, read from a live order replica.
    async fn decided(&self, replica: usize) -> BTreeMap<String, Value> {
        let deadline = Instant::now() + Duration::from_secs(180);
        let url = format!("{}/orders?limit=1000", self.orders[replica].url());
        loop {
            let page: Value = self
                .client
                .get(&url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let orders = page["orders"].as_array().unwrap().clone();
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

    async fn metrics(&self, service: &Service) -> MetricsPage {
        let text = self
            .client
            .get(format!("{}/metrics", service.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        parse_prometheus_text(&text).unwrap()
    }

    /// Waits until every live replica of `group` owns some partitions of `topic` and together
    /// they own all six, each once (from the consumer-lag gauge, which lists a consumer's own
    /// partitions).
    async fn spread(&self, replicas: &[&Service], topic: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut owned = Vec::new();
            for r in replicas {
                let page = self.metrics(r).await;
                let partitions: BTreeSet<String> = page
                    .samples("messaging_kafka_consumer_lag", &[])
                    .filter(|s| {
                        s.labels
                            .get("messaging_destination_name")
                            .is_some_and(|t| t.ends_with(&format!(".{topic}")))
                    })
                    .filter_map(|s| s.labels.get("messaging_destination_partition_id"))
                    .cloned()
                    .collect();
                owned.push(partitions);
            }
            let total: usize = owned.iter().map(BTreeSet::len).sum();
            let union: BTreeSet<&String> = owned.iter().flatten().collect();
            if owned.iter().all(|p| !p.is_empty()) && total == 6 && union.len() == 6 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{topic}: partitions not spread over the replicas: {owned:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Which of `replicas` last logged `line` (the one holding a lease).
fn holder(replicas: &[Service], line: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let holders: Vec<usize> = (0..replicas.len())
            .filter(|&i| replicas[i].log_text().contains(line))
            .collect();
        if let [one] = holders.as_slice() {
            return *one;
        }
        assert!(
            Instant::now() < deadline,
            "no single replica logged {line:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The messages each order must have got, by Message-ID (`<order>.<step>.<kind>`).
fn expected_mail(orders: &BTreeMap<String, Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (id, o) in orders {
        let steps: &[&str] = match o["status"].as_str().unwrap() {
            "REJECTED" => &["0.received", "1.rejected"],
            "CONFIRMED" => &["0.received", "1.confirmed"],
            "PAID" => &["0.received", "1.confirmed", "2.paid"],
            "SHIPPED" => &["0.received", "1.confirmed", "2.paid", "3.shipped"],
            other => panic!("{id} is {other}"),
        };
        out.extend(steps.iter().map(|s| format!("{id}.{s}")));
    }
    out
}

/// Every expected message arrives exactly once, each order's in the order of its life.
async fn check_mail(shop: &Shop, orders: &BTreeMap<String, Value>) {
    let want = expected_mail(orders);
    let deadline = Instant::now() + Duration::from_secs(180);
    let got = loop {
        let got = shop.smtp.received();
        let distinct: BTreeSet<String> = got.iter().cloned().collect();
        if distinct == want || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let distinct: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(distinct, want, "messages received");
    assert_eq!(got.len(), want.len(), "no message sent twice: {got:?}");
    for id in orders.keys() {
        let steps: Vec<&String> = got.iter().filter(|m| m.starts_with(id.as_str())).collect();
        assert!(steps.is_sorted(), "{id}: {steps:?}");
    }
}

/// Statuses as the lines decide them, and stock exact: what the confirmed orders took.
async fn check_orders_and_stock(
    shop: &Shop,
    placed: &[(String, usize)],
    orders: &BTreeMap<String, Value>,
) {
    assert_eq!(
        orders.len(),
        placed.len(),
        "every order placed is stored once"
    );
    for (id, i) in placed {
        let status = orders[id]["status"].as_str().unwrap();
        let fits = order_lines(*i).1;
        assert!(
            if fits {
                status != "REJECTED"
            } else {
                status == "REJECTED"
            },
            "order {i} ({id}) is {status}"
        );
    }
    let (mut tea, mut teapot) = (1000, 1000);
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
    let location = shop_service_kit::db::Location::Url(contracts_core::secret::Secret::new(
        shop.inventory_db.as_str(),
    ));
    let db = shop_service_kit::db::Db::connect(&location, 2, inventory_service::store::MIGRATIONS)
        .await
        .unwrap();
    let inventory = inventory_service::store::InventoryStore::new(db, "x");
    let stock: BTreeMap<String, i64> = inventory.all_stock().await.unwrap().into_iter().collect();
    assert_eq!(
        stock,
        BTreeMap::from([
            ("coffee".into(), 0),
            ("mug".into(), 5),
            ("tea".into(), tea),
            ("teapot".into(), teapot)
        ])
    );
    assert_eq!(
        inventory.processed_count().await.unwrap(),
        orders.len() as u64,
        "each order handled once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_the_partitions_and_killed_replicas_lose_double_and_oversell_nothing() {
    let mut shop = Shop::start().await;
    let inventories: Vec<&Service> = shop.inventories.iter().collect();
    shop.spread(&inventories, "orders").await;
    let orders: Vec<&Service> = shop.orders.iter().collect();
    shop.spread(&orders, "inventory").await;
    let notifications: Vec<&Service> = shop.notifications.iter().collect();
    shop.spread(&notifications, "orders").await;
    shop.spread(&notifications, "inventory").await;

    // Steady: orders through both order replicas.
    let mut placed = Vec::new();
    for i in 0..20 {
        placed.push(shop.place(i, i).await);
    }
    let decided = shop.decided(0).await;
    check_orders_and_stock(&shop, &placed, &decided).await;
    check_mail(&shop, &decided).await;

    // Delayed consumers: with the notification replicas' `inventory` consumers paused, an
    // order is confirmed, paid and shipped; its paid and shipped notices are recorded but wait
    // for the confirmation, and once resumed the mails come in the order of the order's life.
    let admins: Vec<contracts_admin::AdminClient> =
        futures_util::future::join_all(shop.notifications.iter().map(|n| {
            contracts_admin::AdminClient::connect(contracts_admin::ClientConfig::new(n.admin_url()))
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for admin in &admins {
        assert!(admin.pause("inventory").await.unwrap().paused);
    }
    let (delayed, _) = shop.place(2, 0).await;
    placed.push((delayed.clone(), 2));
    let decided = shop.decided(0).await;
    assert_eq!(decided[&delayed]["status"], "CONFIRMED");
    let url = format!("{}/orders/{delayed}", shop.orders[0].url());
    for action in ["pay", "ship"] {
        let r = shop
            .client
            .post(format!("{url}/{action}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{action}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let recorded = admins[0].notifications(&delayed).await.unwrap();
        let kinds: Vec<&str> = recorded.iter().map(|n| n.kind.as_str()).collect();
        if kinds == ["order_received", "order_paid", "order_shipped"]
            && recorded[0].sent_at.is_some()
        {
            assert!(
                recorded[1..].iter().all(|n| n.sent_at.is_none()),
                "{recorded:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "recorded: {kinds:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent: Vec<String> = shop
        .smtp
        .received()
        .into_iter()
        .filter(|m| m.starts_with(delayed.as_str()))
        .collect();
    assert_eq!(
        sent,
        [format!("{delayed}.0.received")],
        "only the first mail while paused"
    );
    for admin in &admins {
        assert!(!admin.resume("inventory").await.unwrap().paused);
    }
    let decided = shop.decided(0).await;
    check_mail(&shop, &decided).await;

    // Mid-flow, kill -9: the order replica that relays the outbox, an inventory replica, and
    // the notification replica that stands by (the mail holder is killed below, when no mail
    // is in flight: a kill between a sent mail and its record would send it again).
    let relaying = holder(&shop.orders, "this replica publishes the outbox");
    let delivering = holder(
        &shop.notifications,
        "this replica delivers the notifications",
    );
    let standby = 1 - delivering;
    let survivor = 1 - relaying;
    for i in 20..50 {
        placed.push(shop.place(i, survivor).await);
        if i == 30 {
            shop.orders[relaying].kill9();
            shop.inventories[0].kill9();
            shop.notifications[standby].kill9();
        }
    }
    // Tansu 0.6 leaves a killed member's partitions with it until a member joins again
    // (../shared/BROKER.md), where Kafka would move them at once: restart the killed replicas
    // after their sessions expired, as their Deployment would.
    tokio::time::sleep(Duration::from_secs(7)).await;
    for s in [
        &mut shop.orders[relaying],
        &mut shop.inventories[0],
        &mut shop.notifications[standby],
    ] {
        s.start();
        s.wait_healthy(Duration::from_secs(120)).await;
    }
    let decided = shop.decided(survivor).await;
    check_orders_and_stock(&shop, &placed, &decided).await;
    check_mail(&shop, &decided).await;
    assert!(
        shop.orders[survivor]
            .log_text()
            .contains("this replica publishes the outbox"),
        "the surviving order replica took over the outbox"
    );

    // Pay and ship some, then the mail holder dies while idle: the standby takes over.
    for (n, (id, _)) in decided
        .iter()
        .filter(|(_, o)| o["status"] == "CONFIRMED")
        .enumerate()
    {
        if n % 2 == 0 {
            let url = format!("{}/orders/{id}", shop.orders[survivor].url());
            let paid = shop.client.post(format!("{url}/pay")).send().await.unwrap();
            assert_eq!(paid.status(), 200);
            if n % 4 == 0 {
                let shipped = shop
                    .client
                    .post(format!("{url}/ship"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(shipped.status(), 200);
            }
        }
    }
    let decided = shop.decided(survivor).await;
    check_mail(&shop, &decided).await;
    shop.notifications[delivering].kill9();
    tokio::time::sleep(Duration::from_secs(7)).await;
    shop.notifications[delivering].start();
    shop.notifications[delivering]
        .wait_healthy(Duration::from_secs(120))
        .await;
    for i in 50..60 {
        placed.push(shop.place(i, survivor).await);
    }
    let decided = shop.decided(survivor).await;
    check_orders_and_stock(&shop, &placed, &decided).await;
    check_mail(&shop, &decided).await;
    assert!(
        shop.notifications[standby]
            .log_text()
            .contains("this replica delivers the notifications"),
        "the standby took over the mail when the holder died"
    );
}
