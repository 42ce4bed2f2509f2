//! Health and librdkafka statistics of the shipped binaries on a real broker (Tansu) and
//! registry: `/metrics` shows the Kafka clients' statistics after traffic, and readiness (HTTP
//! `/health`, gRPC health) turns NOT_SERVING with the reason when the broker is killed and
//! SERVING again once it is back on the same port and data, while liveness stays up; the same
//! when the schema registry cannot be reached.

use std::time::{Duration, Instant};

use contracts_testkit::{
    Broker, MetricsPage, RegistryProcess, TestRegistry, parse_prometheus_text, unique_name,
};
use serde_json::{Value, json};
use shop_e2e::Service;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Generous: a deadline for a condition to hold, never a measurement.
const WAIT: Duration = Duration::from_secs(120);

async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    match client.get(url).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

async fn grpc_status(service: &Service, name: &str) -> Option<i32> {
    let channel = tonic::transport::Endpoint::from_shared(service.admin_url())
        .unwrap()
        .connect()
        .await
        .ok()?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: name.into(),
        })
        .await
        .ok()?;
    Some(answer.into_inner().status)
}

async fn metrics(client: &reqwest::Client, service: &Service) -> MetricsPage {
    let (status, text) = get(client, format!("{}/metrics", service.url())).await;
    assert_eq!(status, 200, "{text}");
    parse_prometheus_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

struct Shop {
    broker: Broker,
    _registry: TestRegistry,
    _dir: tempfile::TempDir,
    order: Service,
    inventory: Service,
    prefix: String,
    client: reqwest::Client,
}

impl Shop {
    /// order-service and inventory-service on a broker of their own (the test kills it), with
    /// statistics every 500 ms and health checks every second.
    async fn start() -> Shop {
        let broker = Broker::start().unwrap();
        let prefix = format!("{}.", unique_name("health"));
        for topic in ["orders", "inventory", "order-created-pb"] {
            broker
                .create_topic(&format!("{prefix}{topic}"), 2)
                .await
                .unwrap();
        }
        let registry = TestRegistry::start(&broker).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let common = vec![
            (
                "KAFKA_BOOTSTRAP_SERVERS",
                broker.bootstrap_servers().to_owned(),
            ),
            ("SCHEMA_REGISTRY_URL", registry.url()),
            ("KAFKA_TOPIC_PREFIX", prefix.clone()),
            ("KAFKA_PROFILE", "latency".to_owned()),
            ("KAFKA_STATISTICS_INTERVAL_MS", "500".to_owned()),
            ("HEALTH_CHECK_INTERVAL_SECS", "1".to_owned()),
        ];
        let with = |extra: (&'static str, String)| {
            let mut env = common.clone();
            env.push(extra);
            env
        };
        let mut order = Service::new(
            "order-service",
            "ORDER_LISTEN",
            dir.path(),
            &with(("ORDER_DB", path("order.db"))),
        );
        let mut inventory = Service::new(
            "inventory-service",
            "INVENTORY_LISTEN",
            dir.path(),
            &with(("INVENTORY_DB", path("inventory.db"))),
        );
        order.start();
        inventory.start();
        order.wait_healthy(WAIT).await;
        inventory.wait_healthy(WAIT).await;
        Shop {
            broker,
            _registry: registry,
            _dir: dir,
            order,
            inventory,
            prefix,
            client: reqwest::Client::new(),
        }
    }

    /// Places an order and waits until the inventory's answer confirmed it: traffic through
    /// the order's producer and both services' consumers.
    async fn confirmed_order(&self) {
        let r = self
            .client
            .post(format!("{}/orders", self.order.url()))
            .json(&json!({"customer": "health@example.com", "line_items": [{"product": "tea", "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        eventually("the order to be confirmed", || async {
            let (_, body) = get(&self.client, format!("{}/orders/{id}", self.order.url())).await;
            let order: Value = serde_json::from_str(&body).ok()?;
            (order["status"] == "CONFIRMED").then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn metrics_show_librdkafka_statistics_of_the_producers_and_consumers_after_traffic() {
    let shop = Shop::start().await;
    shop.confirmed_order().await;
    let inventory_topic = format!("{}inventory", shop.prefix);
    let orders_topic = format!("{}orders", shop.prefix);
    let consumer_of = |topic: &'static str| -> Vec<(&'static str, &str)> {
        vec![
            ("client_type", "consumer"),
            (
                "messaging_destination_name",
                if topic == "orders" {
                    orders_topic.as_str()
                } else {
                    inventory_topic.as_str()
                },
            ),
        ]
    };
    // The order's producer sent OrderCreated; its consumer reads the inventory's answers.
    let order = eventually("the order's statistics after traffic", || async {
        let page = metrics(&shop.client, &shop.order).await;
        let rtt_of = |kind: &str| {
            page.samples(
                "librdkafka_broker_rtt_avg_seconds",
                &[("client_type", kind)],
            )
            .any(|s| s.value > 0.0)
        };
        let fetching = page
            .samples(
                "librdkafka_partition_fetch_state",
                &[consumer_of("inventory"), vec![("state", "active")]].concat(),
            )
            .count();
        (rtt_of("producer") && rtt_of("consumer") && fetching == 2).then_some(page)
    })
    .await;
    let kind = |page: &MetricsPage, sample: &str| page.family_of(sample).map(|f| f.kind.clone());
    assert_eq!(
        kind(&order, "librdkafka_client_queue_messages").as_deref(),
        Some("gauge")
    );
    assert!(
        order
            .samples(
                "librdkafka_client_queue_messages",
                &[("client_type", "producer")]
            )
            .all(|s| s.value >= 0.0)
    );
    for name in [
        "librdkafka_broker_up",
        "librdkafka_broker_outbuf_requests",
        "librdkafka_broker_outbuf_messages",
        "librdkafka_broker_waitresp_requests",
    ] {
        assert!(
            order.samples(name, &[("client_type", "producer")]).count() > 0,
            "{name}"
        );
    }
    assert!(
        order
            .samples("librdkafka_broker_up", &[("client_type", "consumer")])
            .any(|s| s.value == 1.0)
    );
    // Lag of the partition the answer came from, in the consumer's group, caught up (librdkafka
    // knows a partition's lag once the consumer read or committed a position there).
    let lag_labels = [
        consumer_of("inventory"),
        vec![("messaging_consumer_group_name", "order")],
    ]
    .concat();
    eventually(
        "the order's consumer lag on the answer's partition to be 0",
        || async {
            let page = metrics(&shop.client, &shop.order).await;
            page.samples("librdkafka_partition_consumer_lag", &lag_labels)
                .any(|s| s.value == 0.0)
                .then_some(())
        },
    )
    .await;
    // The inventory's consumer reads the orders topic.
    let inventory = eventually("the inventory's fetch state", || async {
        let page = metrics(&shop.client, &shop.inventory).await;
        (page
            .samples(
                "librdkafka_partition_fetch_state",
                &[consumer_of("orders"), vec![("state", "active")]].concat(),
            )
            .count()
            == 2)
            .then_some(page)
    })
    .await;
    assert!(
        inventory
            .samples(
                "librdkafka_partition_fetch_queue_messages",
                &consumer_of("orders")
            )
            .count()
            == 2
    );
}

#[tokio::test]
async fn health_is_not_serving_with_the_reason_while_the_broker_is_down_and_serving_once_back() {
    let mut shop = Shop::start().await;
    let serving = ServingStatus::Serving as i32;
    let not_serving = ServingStatus::NotServing as i32;
    for name in ["", "contracts.admin.v1.AdminService"] {
        assert_eq!(
            grpc_status(&shop.order, name).await,
            Some(serving),
            "{name:?}"
        );
    }
    let (status, body) = get(&shop.client, format!("{}/health", shop.order.url())).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"SERVING"}"#));

    shop.broker.kill();
    let body = eventually("/health to answer 503 while the broker is down", || async {
        let (status, body) = get(&shop.client, format!("{}/health", shop.order.url())).await;
        (status == 503).then_some(body)
    })
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], "NOT_SERVING", "{body}");
    let reasons: Vec<&str> = answer["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with(
            "kafka: consumers cannot reach Kafka: no answer from the Kafka cluster for"
        )),
        "{body}"
    );
    for name in ["", "contracts.admin.v1.AdminService"] {
        eventually("gRPC health to say NOT_SERVING", || async {
            (grpc_status(&shop.order, name).await == Some(not_serving)).then_some(())
        })
        .await;
    }
    // Not ready is not dead: an orchestrator keeps the process and waits.
    let (status, _) = get(&shop.client, format!("{}/health/live", shop.order.url())).await;
    assert_eq!(status, 200);
    let (status, _) = get(&shop.client, format!("{}/health/ready", shop.order.url())).await;
    assert_eq!(status, 503);

    shop.broker.start_again().unwrap();
    eventually("/health to answer 200 once the broker is back", || async {
        let (status, _) = get(&shop.client, format!("{}/health", shop.order.url())).await;
        (status == 200).then_some(())
    })
    .await;
    for name in ["", "contracts.admin.v1.AdminService"] {
        eventually("gRPC health to say SERVING again", || async {
            (grpc_status(&shop.order, name).await == Some(serving)).then_some(())
        })
        .await;
    }
    // And it works: an order goes through both services again.
    shop.inventory.wait_healthy(WAIT).await;
    shop.confirmed_order().await;
}

#[tokio::test]
async fn health_is_not_serving_with_the_reason_while_the_registry_is_unreachable() {
    let broker = Broker::start().unwrap();
    let prefix = format!("{}.", unique_name("health-registry"));
    for topic in ["orders", "inventory", "order-created-pb"] {
        broker
            .create_topic(&format!("{prefix}{topic}"), 1)
            .await
            .unwrap();
    }
    // A registry process of its own, so that killing it closes every connection to it.
    let registry = RegistryProcess::spawn(
        &shop_e2e::bin_dir().join("contracts-registry"),
        &[],
        &broker,
        &unique_name("_schemas"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "KAFKA_BOOTSTRAP_SERVERS",
            broker.bootstrap_servers().to_owned(),
        ),
        ("SCHEMA_REGISTRY_URL", registry.url().to_owned()),
        ("KAFKA_TOPIC_PREFIX", prefix.clone()),
        ("HEALTH_CHECK_INTERVAL_SECS", "1".to_owned()),
        (
            "ORDER_DB",
            dir.path().join("order.db").display().to_string(),
        ),
    ];
    let mut order = Service::new("order-service", "ORDER_LISTEN", dir.path(), &env);
    order.start();
    order.wait_healthy(WAIT).await;
    let client = reqwest::Client::new();

    registry.kill9();
    let body = eventually(
        "/health to answer 503 while the registry is down",
        || async {
            let (status, body) = get(&client, format!("{}/health", order.url())).await;
            (status == 503).then_some(body)
        },
    )
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], "NOT_SERVING", "{body}");
    assert!(
        answer["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("registry: ")),
        "{body}"
    );
    eventually("gRPC health to say NOT_SERVING", || async {
        (grpc_status(&order, "").await == Some(ServingStatus::NotServing as i32)).then_some(())
    })
    .await;
    let (status, _) = get(&client, format!("{}/health/live", order.url())).await;
    assert_eq!(
        status, 200,
        "a registry outage does not make the service unlive"
    );
}
