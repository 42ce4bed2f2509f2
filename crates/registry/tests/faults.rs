//! Faults injected with librdkafka's mock cluster: a write the broker refuses is a 42209 (too
//! large), leaves nothing behind, and burns no id.

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
