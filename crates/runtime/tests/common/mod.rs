//! Shared pieces of the runtime's integration tests: hand-written events in the generated
//! shape (for behaviour that needs events of our own making), an in-memory schema source, a
//! raw Kafka reader, and polling helpers. The broker is `contracts-testkit`'s.
#![allow(dead_code)]

pub mod events;
pub mod source;

#[allow(unused_imports)] // not every test binary uses the broker
pub use contracts_testkit::shared_broker;

use std::future::Future;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, Message as _, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

/// A topic prefix unique to this test (topics themselves come from the contract).
pub fn unique_prefix(test: &str) -> String {
    format!("{}.", contracts_testkit::unique_name(test))
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads every record of `topic` from the start until `count` arrived (or panics after 30 s).
pub fn read_all(bootstrap: &str, topic: &str, count: usize) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("raw reader");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived on {topic}",
            out.len()
        );
        if let Some(r) = consumer.poll(Duration::from_millis(200)) {
            out.push(r.expect("raw read").detach());
        }
    }
    out
}

/// Raw bytes to a topic, bypassing the typed producer (for poison records and baselines).
pub async fn send_raw(
    producer: &FutureProducer,
    topic: &str,
    key: &[u8],
    value: &[u8],
) -> (i32, i64) {
    let record = FutureRecord::to(topic).key(key).payload(value);
    let d = producer
        .send(record, Timeout::After(Duration::from_secs(30)))
        .await
        .map_err(|(e, _)| e)
        .expect("raw send");
    (d.partition, d.offset)
}

pub fn raw_producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("raw producer")
}

/// The value of header `name` of a raw record.
pub fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    let h = m.headers()?;
    h.iter()
        .filter(|h| h.key == name)
        .filter_map(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .last()
}
