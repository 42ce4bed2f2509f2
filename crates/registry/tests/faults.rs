//! Faults injected with librdkafka's mock cluster: a write the broker refuses is a 42209 (too
//! large) or, for any other permanent refusal (the registry may not write its topic), a 50001
//! over HTTP at once; it leaves nothing behind, burns no id, and the registry goes on serving.

use std::sync::Arc;
use std::time::Duration;

use contracts_registry::kafka::{KafkaConfig, KafkaLog};
use contracts_registry::{Registry, RegistryConfig};
use contracts_registry_client::api::RegisterSchemaRequest;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_is_a_store_error_and_leaves_nothing_behind() {
    let mock = MockCluster::<DefaultProducerContext>::new(1).unwrap();
    mock.create_topic("_schemas", 1, 1).unwrap();
    let mut config = KafkaConfig::new(mock.bootstrap_servers(), "_schemas");
    config.timeout = Duration::from_secs(10);
    // The mock cluster has no topic configs to describe; the policy check runs against Tansu
    // (kafka_store.rs).
    config.check_cleanup_policy = false;
    let log = Arc::new(KafkaLog::connect(config).await.unwrap());
    let registry = Registry::new(log, RegistryConfig::default());
    registry.start().await.unwrap();
    let req = |s: &str| RegisterSchemaRequest {
        schema: s.to_string(),
        ..Default::default()
    };

    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let err = registry
        .register("s", &req("\"string\""), false)
        .await
        .unwrap_err();
    // Permanent: answered at once, as a schema too large for the topic.
    assert_eq!(err.code, 42209, "{err}");
    assert!(err.message.contains("message.max.bytes"), "{err}");
    assert!(
        registry
            .subjects("", Default::default())
            .await
            .unwrap()
            .is_empty()
    );

    mock.clear_request_errors(RDKafkaApiKey::Produce);
    let ok = registry
        .register("s", &req("\"string\""), false)
        .await
        .unwrap();
    assert_eq!(ok.id, 1, "the refused write burned no id");
    assert_eq!(
        registry.versions("s", Default::default()).await.unwrap(),
        vec![1]
    );
}

/// The registry over HTTP on the mock cluster, its topic's writes refused with
/// TOPIC_AUTHORIZATION_FAILED (the registry's principal lost WRITE on the topic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_broker_refuses_for_good_is_a_50001_at_once_and_the_registry_serves_on() {
    use contracts_registry::{Server, ServerConfig};
    use serde_json::{Value, json};

    let mock = MockCluster::<DefaultProducerContext>::new(1).unwrap();
    mock.create_topic("_schemas", 1, 1).unwrap();
    let mut config = KafkaConfig::new(mock.bootstrap_servers(), "_schemas");
    config.check_cleanup_policy = false;
    // A write that waited for the broker to change its mind would take this long.
    config.timeout = Duration::from_secs(120);
    let log = Arc::new(KafkaLog::connect(config).await.unwrap());
    let server = Server::start(log, ServerConfig::default()).await.unwrap();
    server.wait_ready().await;
    let http = reqwest::Client::new();
    let register = |subject: &str| {
        http.post(format!("{}/subjects/{subject}/versions", server.url()))
            .json(&json!({"schema": "\"string\""}))
            .send()
    };
    let get = |path: &str| {
        let request = http.get(format!("{}{path}", server.url())).send();
        async move {
            let r = request.await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(register("payments-value").await.unwrap().status(), 200);

    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 8],
    );
    // Answered from the refusal, well before the write timeout.
    let refused = tokio::time::timeout(Duration::from_secs(60), register("orders-value"))
        .await
        .expect("the refused write is answered without waiting for the write timeout")
        .unwrap();
    assert_eq!(refused.status(), 500);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error_code"], 50001, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Error while writing to the schema store")
            && message.contains("TopicAuthorizationFailed")
            && message.contains("not retried"),
        "the message names the broker's reason and that it was not retried: {message}"
    );

    // Still up: health and reads, with nothing of the refused write.
    assert_eq!(get("/health").await.0, 200);
    assert_eq!(get("/subjects").await, (200, json!(["payments-value"])));
    let (status, version) = get("/subjects/payments-value/versions/1").await;
    assert_eq!((status, &version["id"]), (200, &json!(1)), "{version}");
    assert_eq!(get("/subjects/orders-value/versions").await.0, 404);
}
