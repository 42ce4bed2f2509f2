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
