//! The gRPC admin API of the three services, as processes on a real broker (Tansu) and
//! registry (both from `contracts-testkit`), called through `contracts_admin::AdminClient`:
//! contracts with the registry's ids, lag per partition, pause and resume, dead letters
//! (list, replay after re-validation, drop, also after a restart), the domain queries, and
//! bearer-token authentication.

use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts_admin::{
    AdminClient, ClientConfig, Code, ContractRole, DeadLetter, DropOutcome, OrderStatus,
    ReplayOutcome,
};
use contracts_runtime::{Metrics, ProducerConfig, Publisher};
use contracts_testkit::{TestRegistry, shared_broker, unique_name};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use shop_e2e::Service;

const TOKEN: &str = "s3cret-admin-token";
const WAIT: Duration = Duration::from_secs(90);

struct Shop {
    dir: tempfile::TempDir,
    order: Service,
    inventory: Service,
    notification: Service,
    prefix: String,
    registry: TestRegistry,
    http: reqwest::Client,
    token: Option<&'static str>,
}

impl Shop {
    async fn start(token: Option<&'static str>) -> Shop {
        let broker = shared_broker();
        let prefix = format!("{}.", unique_name("admin"));
        for topic in ["orders", "inventory", "order-created-pb"] {
            broker
                .create_topic(&format!("{prefix}{topic}"), 3)
                .await
                .unwrap();
        }
        let registry = TestRegistry::start(broker).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let mut common = vec![
            (
                "KAFKA_BOOTSTRAP_SERVERS",
                broker.bootstrap_servers().to_owned(),
            ),
            ("SCHEMA_REGISTRY_URL", registry.url()),
            ("KAFKA_TOPIC_PREFIX", prefix.clone()),
            // The local broker answers fetches late unless asked not to wait.
            ("KAFKA_PROFILE", "latency".to_owned()),
        ];
        common.extend(shop_e2e::fast_rebalance());
        if let Some(token) = token {
            common.push(("ADMIN_WRITE_TOKEN", token.to_owned()));
        }
        let with = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
            common
                .iter()
                .cloned()
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
                    ("INVENTORY_STOCK", "tea=100,mug=5".into()),
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
            registry,
            http: reqwest::Client::new(),
            token,
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

    async fn admin(&self, service: &Service) -> AdminClient {
        let mut config = ClientConfig::new(service.admin_url());
        if let Some(token) = self.token {
            config = config.token(token);
        }
        AdminClient::connect(config).await.unwrap()
    }

    async fn place(&self, product: &str, quantity: u32) -> String {
        let r = self
            .http
            .post(format!("{}/orders", self.order.url()))
            .json(&json!({"customer": "ada@example.com",
                          "line_items": [{"product": product, "quantity": quantity}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Polls `probe` until it returns `Some`, failing with `what` after [`WAIT`].
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn status_of(client: &AdminClient, order_id: &str) -> OrderStatus {
    client.order(order_id).await.unwrap().status
}

async fn total_lag(client: &AdminClient, group: &str) -> i64 {
    client
        .lag(Some(group))
        .await
        .unwrap()
        .iter()
        .map(|l| l.lag)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_answers_contracts_lag_pause_and_domain_queries_from_the_real_services() {
    let shop = Shop::start(Some(TOKEN)).await;
    let order = shop.admin(&shop.order).await;
    let inventory = shop.admin(&shop.inventory).await;
    let notification = shop.admin(&shop.notification).await;

    let id = shop.place("tea", 2).await;
    eventually("the order to be confirmed", || async {
        (status_of(&order, &id).await == OrderStatus::Confirmed).then_some(())
    })
    .await;

    // Contracts carry the ids the registry gave them.
    let contracts = order.contracts().await.unwrap();
    let created = contracts
        .iter()
        .find(|c| c.event == "shop.orders.OrderCreated" && c.role == ContractRole::Produced)
        .unwrap_or_else(|| panic!("{contracts:#?}"));
    assert_eq!(created.version, 3);
    assert_eq!(created.topic, format!("{}orders", shop.prefix));
    assert_eq!(created.fingerprint.len(), 64);
    let latest: Value = shop
        .http
        .get(format!(
            "{}/subjects/{}/versions/latest",
            shop.registry.url(),
            created.subject
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        created.schema_id.map(u64::from),
        latest["id"].as_u64(),
        "{latest}"
    );
    assert!(
        contracts
            .iter()
            .any(|c| c.role == ContractRole::Consumed && c.event.ends_with("InventoryReserved")),
        "{contracts:#?}"
    );
    let consumed = inventory.contracts().await.unwrap();
    assert!(
        consumed
            .iter()
            .any(|c| c.event == "shop.orders.OrderCreated"
                && c.role == ContractRole::Consumed
                && c.schema_id.is_some()),
        "{consumed:#?}"
    );

    // The command-line client sees the same, and says what to do without the token.
    let cli = |args: &[&str], token: Option<&str>| {
        let mut cmd = std::process::Command::new(shop_e2e::bin_dir().join("contracts"));
        cmd.args(["admin", "--addr", &shop.order.admin_url()])
            .args(args)
            .env_remove("CONTRACTS_ADMIN_TOKEN");
        if let Some(t) = token {
            cmd.env("CONTRACTS_ADMIN_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = cli(&["contracts", "--json"], Some(TOKEN));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["subject"] == created.subject.as_str()
                && c["schema_id"].as_u64() == latest["id"].as_u64()),
        "{listed:#}"
    );
    let out = cli(&["orders", "get", &id], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CONTRACTS_ADMIN_TOKEN"), "{stderr}");

    // Domain queries answer from each service's store.
    let got = order.order(&id).await.unwrap();
    assert_eq!(
        (got.lines[0].product_id.as_str(), got.lines[0].quantity),
        ("tea", 2)
    );
    let confirmed = order.orders(OrderStatus::Confirmed, 10).await.unwrap();
    assert!(confirmed.iter().any(|o| o.order_id == id));
    let missing = order.order("no-such-order").await.unwrap_err();
    assert_eq!(missing.code(), Some(Code::NotFound), "{missing}");
    assert_eq!(inventory.stock("tea").await.unwrap().available, 98);
    let set = inventory.set_stock("mug", 42).await.unwrap();
    assert_eq!(set.available, 42);
    assert_eq!(inventory.stock("mug").await.unwrap().available, 42);
    let kinds = eventually("both notifications of the order", || async {
        let kinds: Vec<String> = notification
            .notifications(&id)
            .await
            .unwrap()
            .into_iter()
            .filter(|n| n.sent_at.is_some())
            .map(|n| n.kind)
            .collect();
        (kinds.len() >= 2).then_some(kinds)
    })
    .await;
    assert_eq!(kinds.len(), 2, "{kinds:?}");

    // Lag per partition of the group's topic, down to 0 once everything is consumed.
    let lag = eventually("inventory-service to catch up", || async {
        let lag = inventory.lag(Some("inventory")).await.unwrap();
        lag.iter().all(|l| l.lag == 0).then_some(lag)
    })
    .await;
    assert_eq!(lag.len(), 3, "one row per partition: {lag:#?}");
    assert!(
        lag.iter()
            .all(|l| l.topic == format!("{}orders", shop.prefix))
    );
    assert!(lag.iter().map(|l| l.high_watermark).sum::<i64>() >= 1);
    let unknown = inventory.lag(Some("nobody")).await.unwrap_err();
    assert_eq!(unknown.code(), Some(Code::NotFound));
    let groups = notification.consumers().await.unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");

    // Paused, the inventory leaves new orders PENDING and its lag grows; resumed, it catches up.
    let paused = inventory.pause("orders").await.unwrap();
    assert!(paused.paused);
    let waiting = shop.place("tea", 1).await;
    eventually("lag while paused", || async {
        (total_lag(&inventory, "inventory").await > 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status_of(&order, &waiting).await, OrderStatus::Pending);
    assert!(inventory.consumers().await.unwrap()[0].paused);
    assert!(!inventory.resume("orders").await.unwrap().paused);
    eventually("the waiting order to be confirmed after resume", || async {
        (status_of(&order, &waiting).await == OrderStatus::Confirmed).then_some(())
    })
    .await;
    eventually("lag back to 0", || async {
        (total_lag(&inventory, "inventory").await == 0).then_some(())
    })
    .await;

    // Health checking and reflection answer generic gRPC clients, token or not.
    let channel = tonic::transport::Endpoint::from_shared(shop.order.admin_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "",
        "contracts.admin.v1.AdminService",
        "contracts.admin.v1.OrderAdminService",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service:?}: {e}"))
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let elsewhere = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "contracts.admin.v1.InventoryAdminService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        elsewhere.code(),
        Code::NotFound,
        "order-service does not serve stock"
    );
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([
            tonic_reflection::pb::v1::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            },
        ]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "contracts.admin.v1.AdminService"),
        "{names:?}"
    );

    // Without the token: UNAUTHENTICATED, and nothing changes.
    let anonymous = AdminClient::connect(ClientConfig::new(shop.inventory.admin_url()))
        .await
        .unwrap();
    let refused = anonymous.set_stock("mug", 1).await.unwrap_err();
    assert_eq!(refused.code(), Some(Code::Unauthenticated), "{refused}");
    let refused = anonymous.pause("orders").await.unwrap_err();
    assert_eq!(refused.code(), Some(Code::Unauthenticated), "{refused}");
    let wrong = AdminClient::connect(ClientConfig::new(shop.inventory.admin_url()).token("wrong"))
        .await
        .unwrap();
    assert_eq!(
        wrong.contracts().await.unwrap_err().code(),
        Some(Code::Unauthenticated)
    );
    assert_eq!(inventory.stock("mug").await.unwrap().available, 42);
    assert!(!inventory.consumers().await.unwrap()[0].paused);
}

/// The dead letters of `client`'s process with `pred`, waiting until one shows up.
async fn dead_letter(
    client: &AdminClient,
    what: &str,
    pred: impl Fn(&DeadLetter) -> bool,
) -> DeadLetter {
    eventually(what, || async {
        let page = client.dead_letters(None, 100).await.unwrap();
        page.dead_letters.into_iter().find(|d| pred(d))
    })
    .await
}

async fn listed(client: &AdminClient, id: &contracts_admin::DeadLetterId) -> bool {
    client
        .dead_letters(None, 100)
        .await
        .unwrap()
        .dead_letters
        .iter()
        .any(|d| &d.id == id)
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_listed_replayed_when_valid_refused_when_not_and_dropped_for_good() {
    let mut shop = Shop::start(None).await;
    let order = shop.admin(&shop.order).await;
    let inventory = shop.admin(&shop.inventory).await;

    // A record without the registry framing: both groups reading `orders` dead-letter it, and
    // each process lists only its own group's copy, with the error headers.
    let raw: FutureProducer = shared_broker().client_config().create().unwrap();
    raw.send(
        FutureRecord::to(&format!("{}orders", shop.prefix))
            .key("poison")
            .payload("not a framed record"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let poison = dead_letter(&inventory, "the poison in inventory's DLT", |d| {
        d.key == "poison"
    })
    .await;
    assert_eq!(poison.id.topic, format!("{}orders.DLT", shop.prefix));
    assert_eq!(poison.consumer_group, "inventory");
    assert_eq!(poison.error_class, "decode");
    assert_eq!(poison.original_topic, format!("{}orders", shop.prefix));
    assert!(!poison.error_message.is_empty());
    assert!(
        poison
            .headers
            .iter()
            .any(|h| h.key == "dlt-error-class" && h.value == "decode"),
        "{:?}",
        poison.headers
    );
    let all = inventory
        .dead_letters(None, 100)
        .await
        .unwrap()
        .dead_letters;
    assert!(
        all.iter().all(|d| d.consumer_group == "inventory"),
        "{all:#?}"
    );

    // Undecodable: replay refuses it with the reason and it stays listed.
    let refused = inventory.replay(vec![poison.id.to_string()]).await.unwrap();
    assert_eq!(refused[0].outcome, ReplayOutcome::Rejected, "{refused:?}");
    assert!(
        refused[0].message.contains("wire header"),
        "{}",
        refused[0].message
    );
    assert!(listed(&inventory, &poison.id).await);

    // A valid answer for an order that does not exist yet: order-service gives up on it
    // (a handler's permanent error).
    let late = unique_name("late");
    let source: Arc<dyn contracts_core::source::SchemaSource> =
        Arc::new(contracts_registry_client::client::Client::new(&shop.registry.url()).unwrap());
    let publisher = Publisher::new(
        &ProducerConfig::new(shared_broker().bootstrap_servers()).topic_prefix(&shop.prefix),
        source,
        Metrics::new(),
    )
    .unwrap();
    publisher
        .send(&events::inventory::v2::InventoryReserved {
            order_id: late.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let answer = dead_letter(&order, "the early answer in order's DLT", |d| d.key == late).await;
    assert_eq!(answer.error_class, "handler-permanent");
    assert_eq!(answer.event_type, "shop.inventory.v2.InventoryReserved");

    // Now the order exists. Its 10 mugs do not fit in 5, so the inventory would reject it
    // (and is paused besides): only the replayed answer can confirm it.
    inventory.pause("orders").await.unwrap();
    let store = order_service::store::OrderStore::open(&shop.dir.path().join("order.db"))
        .await
        .unwrap();
    store
        .create(
            &late,
            &order_service::domain::NewOrder {
                customer: "ada@example.com".into(),
                lines: vec![order_service::domain::Line {
                    product: "mug".into(),
                    quantity: 10,
                    unit_price: "3.50".parse().unwrap(),
                }],
            },
        )
        .await
        .unwrap();
    assert_eq!(status_of(&order, &late).await, OrderStatus::Pending);
    let replayed = order.replay(vec![answer.id.to_string()]).await.unwrap();
    assert_eq!(replayed[0].outcome, ReplayOutcome::Replayed, "{replayed:?}");
    eventually("the replayed answer to confirm the order", || async {
        (status_of(&order, &late).await == OrderStatus::Confirmed).then_some(())
    })
    .await;
    assert!(
        !listed(&order, &answer.id).await,
        "a replayed record is no longer listed"
    );
    let again = order.replay(vec![answer.id.to_string()]).await.unwrap();
    assert_eq!(again[0].outcome, ReplayOutcome::NotFound, "{again:?}");
    inventory.resume("orders").await.unwrap();
    eventually("the inventory to catch up after resume", || async {
        (total_lag(&inventory, "inventory").await == 0).then_some(())
    })
    .await;
    assert_eq!(
        status_of(&order, &late).await,
        OrderStatus::Confirmed,
        "the inventory's later refusal does not undo the decision"
    );

    // Dropped: gone from the list, also after a restart.
    let dropped = inventory
        .drop_dead_letters(vec![
            poison.id.to_string(),
            format!("{}orders.DLT:0:999999", shop.prefix),
        ])
        .await
        .unwrap();
    assert_eq!(
        dropped.iter().map(|d| d.outcome).collect::<Vec<_>>(),
        [DropOutcome::Dropped, DropOutcome::NotFound]
    );
    assert!(!listed(&inventory, &poison.id).await);
    assert!(
        shop.inventory.terminate(),
        "inventory-service exits cleanly"
    );
    shop.inventory.start();
    shop.inventory.wait_healthy(Duration::from_secs(120)).await;
    let inventory = shop.admin(&shop.inventory).await;
    assert!(
        !listed(&inventory, &poison.id).await,
        "still dropped after a restart"
    );
    let twice = inventory
        .drop_dead_letters(vec![poison.id.to_string()])
        .await
        .unwrap();
    assert_eq!(twice[0].outcome, DropOutcome::NotFound);
}
