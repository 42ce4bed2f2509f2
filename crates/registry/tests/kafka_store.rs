//! The Kafka-backed store against a real broker (Tansu): state survives restarts, instances
//! share it, and the topic is what Confluent's registry would create.

mod common;

use common::{Http, record_with_fields};
use contracts_testkit::{TestRegistry, shared_broker};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_survive_a_restart_with_the_same_ids_and_versions() {
    let broker = shared_broker();
    let first = TestRegistry::start(broker).await.unwrap();
    let http = Http::new(first.url());
    let (s, body) = http
        .register("orders-value", &record_with_fields("Order", 1))
        .await;
    assert_eq!(s, 200, "{body}");
    let id1 = body["id"].as_i64().unwrap();
    let (s, body) = http
        .register("orders-value", &record_with_fields("Order", 2))
        .await;
    assert_eq!(s, 200, "{body}");
    let id2 = body["id"].as_i64().unwrap();
    let (s, _) = http
        .put("/config/orders-value", json!({"compatibility": "FULL"}))
        .await;
    assert_eq!(s, 200);
    let topic = first.topic().to_string();
    drop(first);

    let second = TestRegistry::start_on(broker, &topic).await.unwrap();
    let http = Http::new(second.url());
    let (s, versions) = http.get("/subjects/orders-value/versions").await;
    assert_eq!(s, 200);
    assert_eq!(versions, json!([1, 2]));
    let (_, v2) = http.get("/subjects/orders-value/versions/2").await;
    assert_eq!(v2["id"].as_i64(), Some(id2));
    let (_, by_id) = http.get(&format!("/schemas/ids/{id1}")).await;
    assert_eq!(
        by_id["schema"].as_str(),
        Some(record_with_fields("Order", 1).as_str())
    );
    let (_, config) = http.get("/config/orders-value").await;
    assert_eq!(config, json!({"compatibilityLevel": "FULL"}));
    // Registering the same schema again is a no-op with the same id.
    let (_, again) = http
        .register("orders-value", &record_with_fields("Order", 1))
        .await;
    assert_eq!(again["id"].as_i64(), Some(id1));
    let (_, versions) = http.get("/subjects/orders-value/versions").await;
    assert_eq!(versions, json!([1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_sees_what_the_first_registered() {
    let broker = shared_broker();
    let a = TestRegistry::start(broker).await.unwrap();
    let b = a.another_instance().await.unwrap();
    let (ha, hb) = (Http::new(a.url()), Http::new(b.url()));
    let (s, body) = ha
        .register("payments-value", &record_with_fields("Payment", 1))
        .await;
    assert_eq!(s, 200, "{body}");
    let id = body["id"].clone();
    // Read-your-writes across instances: b catches up before answering.
    let (s, latest) = hb.get("/subjects/payments-value/versions/latest").await;
    assert_eq!(s, 200, "{latest}");
    assert_eq!(latest["id"], id);
    let (s, by_id) = hb.get(&format!("/schemas/ids/{id}")).await;
    assert_eq!(s, 200, "{by_id}");
    // b registers the next version; a sees version 2 with a new id.
    let (s, body) = hb
        .register("payments-value", &record_with_fields("Payment", 2))
        .await;
    assert_eq!(s, 200, "{body}");
    let (_, versions) = ha.get("/subjects/payments-value/versions").await;
    assert_eq!(versions, json!([1, 2]));
    assert_ne!(body["id"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_topic_is_created_compacted_with_one_partition() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let broker = shared_broker();
    let registry = TestRegistry::start(broker).await.unwrap();
    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().unwrap();
    let md = admin
        .inner()
        .fetch_metadata(Some(registry.topic()), std::time::Duration::from_secs(10))
        .unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 1);
    let configs = admin
        .describe_configs(
            [&ResourceSpecifier::Topic(registry.topic())],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let resource = configs.into_iter().next().unwrap().unwrap();
    let policy = resource.get("cleanup.policy").and_then(|e| e.value.clone());
    assert_eq!(policy.as_deref(), Some("compact"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_topic_is_created_with_min_insync_replicas() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let broker = shared_broker();
    let registry = TestRegistry::start(broker).await.unwrap();
    let admin: AdminClient<DefaultClientContext> = broker.client_config().create().unwrap();
    let configs = admin
        .describe_configs(
            [&ResourceSpecifier::Topic(registry.topic())],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let resource = configs.into_iter().next().unwrap().unwrap();
    let min_isr = resource
        .get("min.insync.replicas")
        .and_then(|e| e.value.clone());
    // One broker: one replica, and every write must reach it.
    assert_eq!(min_isr.as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_topic_whose_records_expire_is_refused_at_start() {
    let broker = shared_broker();
    for policy in ["delete", "compact,delete"] {
        let topic = contracts_testkit::unique_name("_schemas");
        broker
            .create_topic_with(&topic, 1, &[("cleanup.policy", policy)])
            .await
            .unwrap();
        let err = TestRegistry::start_on(broker, &topic).await.unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&topic), "{message}");
        assert!(
            message.contains(&format!("cleanup.policy is \"{policy}\"")),
            "{message}"
        );
        assert!(message.contains("cleanup.policy=compact"), "{message}");
    }
    // Created without a policy: Tansu reports none, and Kafka's default would be delete.
    let topic = contracts_testkit::unique_name("_schemas");
    broker.create_topic(&topic, 1).await.unwrap();
    let message = TestRegistry::start_on(broker, &topic)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("does not report its cleanup.policy"),
        "{message}"
    );
    // A compacted topic made by someone else is fine.
    let topic = contracts_testkit::unique_name("_schemas");
    broker
        .create_topic_with(&topic, 1, &[("cleanup.policy", "compact")])
        .await
        .unwrap();
    TestRegistry::start_on(broker, &topic).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_record_larger_than_the_producer_accepts_fails_at_once_with_42209() {
    use contracts_registry::kafka::KafkaConfig;
    use contracts_registry::{Server, ServerConfig};
    let broker = shared_broker();
    let mut kafka = KafkaConfig::new(
        broker.bootstrap_servers(),
        contracts_testkit::unique_name("_schemas"),
    );
    // Records up to 4000 bytes: a small schema fits, a 200-field one does not.
    kafka.client_settings = vec![("message.max.bytes".into(), "4000".into())];
    let server = Server::start_kafka(kafka, ServerConfig::default())
        .await
        .unwrap();
    let http = Http::new(server.url());
    let (s, body) = http
        .register("small-value", &record_with_fields("Small", 2))
        .await;
    assert_eq!(s, 200, "{body}");
    let started = std::time::Instant::now();
    let (s, body) = http
        .register("large-value", &record_with_fields("Large", 200))
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["error_code"], 42209, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("message.max.bytes"), "{message}");
    // Not retried until the write timeout (30 s): a generous bound, not a measurement.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(
        http.get("/subjects").await.1,
        json!(["small-value"]),
        "nothing of the refused schema is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_topic_with_several_partitions_is_refused_at_start() {
    let broker = shared_broker();
    let topic = contracts_testkit::unique_name("_schemas");
    broker.create_topic(&topic, 3).await.unwrap();
    let err = TestRegistry::start_on(broker, &topic).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("3 partitions"), "{message}");
    assert!(message.contains(&topic), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_survive_a_restart() {
    let broker = shared_broker();
    let first = TestRegistry::start(broker).await.unwrap();
    let http = Http::new(first.url());
    let (_, a) = http
        .register("gone-value", &record_with_fields("Gone", 1))
        .await;
    http.register("soft-value", &record_with_fields("Soft", 1))
        .await;
    http.register("soft-value", &record_with_fields("Soft", 2))
        .await;
    assert_eq!(http.delete("/subjects/gone-value").await.0, 200);
    assert_eq!(
        http.delete("/subjects/gone-value?permanent=true").await.0,
        200
    );
    assert_eq!(http.delete("/subjects/soft-value/versions/1").await.0, 200);
    let topic = first.topic().to_string();
    drop(first);

    let second = TestRegistry::start_on(broker, &topic).await.unwrap();
    let http = Http::new(second.url());
    assert_eq!(
        http.get("/subjects?deleted=true").await.1,
        json!(["soft-value"])
    );
    assert_eq!(
        http.get(&format!("/schemas/ids/{}", a["id"])).await.1["error_code"],
        40403
    );
    assert_eq!(
        http.get("/subjects/soft-value/versions").await.1,
        json!([2])
    );
    assert_eq!(
        http.get("/subjects/soft-value/versions?deleted=true")
            .await
            .1,
        json!([1, 2])
    );
    // A new schema does not reuse the permanently deleted id.
    let (_, fresh) = http
        .register("new-value", &record_with_fields("New", 5))
        .await;
    assert!(fresh["id"].as_i64() > a["id"].as_i64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_keeps_working_across_a_broker_restart() {
    // A broker of its own: restarting the shared one would disturb the other tests.
    let mut broker = contracts_testkit::Broker::start().unwrap();
    let registry = TestRegistry::start(&broker).await.unwrap();
    let http = Http::new(registry.url());
    let (s, first) = http
        .register("restart-value", &record_with_fields("R", 1))
        .await;
    assert_eq!(s, 200, "{first}");
    let broker_again = tokio::task::spawn_blocking(move || {
        broker.restart().unwrap();
        broker
    })
    .await
    .unwrap();
    let (s, second) = http
        .register("restart-value", &record_with_fields("R", 2))
        .await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(
        http.get("/subjects/restart-value/versions").await.1,
        json!([1, 2])
    );
    // A fresh instance rebuilds both from the restarted broker's data.
    let fresh = registry.another_instance().await.unwrap();
    let (_, latest) = Http::new(fresh.url())
        .get("/subjects/restart-value/versions/latest")
        .await;
    assert_eq!(latest["id"], second["id"]);
    drop((fresh, registry));
    drop(broker_again);
}
