//! The runtime against a real Kafka-protocol broker (Tansu): typed round trips, ordering,
//! consumer groups, schema evolution, dead-lettering, retries, restarts, pause and metrics.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::events::{self, Message, OrderCreatedV1, OrderCreatedV2, OrderPaid};
use common::source::MemorySource;
use common::{broker, eventually, header, read_all, unique_prefix};
use contracts_core::{Handle, HandlerError, RecordMeta, SchemaId, wire};
use contracts_runtime::{
    Consumer, ConsumerConfig, ConsumerControl, Metrics, ProducerConfig, Publisher, RetryPolicy,
    SchemaRegistration, SendErrorKind, headers, metrics,
};
use rdkafka::message::Message as _;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(60);

/// What a handler does with each event.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Succeed,
    /// Fail retriably this many times per event, then succeed.
    FailRetriably(u32),
    FailPermanently,
    Panic,
}

/// Records every event it handles, per order id.
#[derive(Clone, Debug)]
struct Recorder {
    seen: Arc<Mutex<Vec<(Message, RecordMeta)>>>,
    attempts: Arc<Mutex<HashMap<String, u32>>>,
    behaviour: Behaviour,
    /// Orders whose events get `behaviour`; the others succeed.
    only: Option<String>,
}

impl Recorder {
    fn new(behaviour: Behaviour) -> Self {
        Recorder {
            seen: Arc::default(),
            attempts: Arc::default(),
            behaviour,
            only: None,
        }
    }

    fn for_order(mut self, order: &str) -> Self {
        self.only = Some(order.to_string());
        self
    }

    fn seen(&self) -> Vec<(Message, RecordMeta)> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn attempts(&self, order: &str) -> u32 {
        self.attempts
            .lock()
            .unwrap()
            .get(order)
            .copied()
            .unwrap_or(0)
    }
}

impl Handle<Message> for Recorder {
    async fn handle(&self, message: Message, meta: &RecordMeta) -> Result<(), HandlerError> {
        let order = message.order_id().to_string();
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap();
            let a = attempts.entry(order.clone()).or_default();
            *a += 1;
            *a
        };
        let behaviour = match &self.only {
            Some(only) if *only != order => Behaviour::Succeed,
            _ => self.behaviour,
        };
        match behaviour {
            Behaviour::FailRetriably(n) if attempt <= n => {
                return Err(HandlerError::retriable(format!(
                    "database busy ({attempt})"
                )));
            }
            Behaviour::FailPermanently => {
                return Err(HandlerError::permanent("order already cancelled"));
            }
            Behaviour::Panic => panic!("handler bug for {order}"),
            _ => {}
        }
        self.seen.lock().unwrap().push((message, meta.clone()));
        Ok(())
    }
}

struct Setup {
    prefix: String,
    topic: String,
    source: Arc<MemorySource>,
    metrics: Metrics,
    publisher: Publisher,
}

async fn setup(test: &str, partitions: i32) -> Setup {
    let broker = broker::shared();
    let prefix = unique_prefix(test);
    let topic = format!("{prefix}orders");
    broker.create_topic(&topic, partitions).await;
    let source = Arc::new(MemorySource::new());
    let metrics = Metrics::new();
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix),
        source.clone(),
        metrics.clone(),
    )
    .expect("publisher");
    Setup {
        prefix,
        topic,
        source,
        metrics,
        publisher,
    }
}

impl Setup {
    fn consumer_config(&self, group: &str) -> ConsumerConfig {
        ConsumerConfig::new(
            broker::shared().bootstrap_servers(),
            format!("{}{group}", self.prefix),
        )
        .topic_prefix(&self.prefix)
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            multiplier: 2.0,
        })
        .set("session.timeout.ms", "6000")
        .set("statistics.interval.ms", "200")
    }

    async fn start(
        &self,
        config: ConsumerConfig,
        handler: Recorder,
    ) -> (ConsumerControl, JoinHandle<contracts_runtime::Result<()>>) {
        let consumer =
            Consumer::<events::Topic>::new(config, self.source.clone(), self.metrics.clone())
                .await
                .expect("consumer");
        let control = consumer.control();
        (control, tokio::spawn(consumer.run(handler)))
    }

    async fn created(&self, order: &str, amount: i64) {
        let event = OrderCreatedV2 {
            order_id: order.into(),
            amount,
            note: format!("note {order}"),
        };
        self.publisher.send(&event).await.expect("send");
    }

    async fn paid(&self, order: &str, seq: i64) {
        let event = OrderPaid {
            order_id: order.into(),
            seq,
        };
        self.publisher.send(&event).await.expect("send");
    }
}

async fn wait_for(recorder: &Recorder, n: usize) {
    eventually(&format!("{n} handled events"), WAIT, || async {
        (recorder.count() >= n).then_some(())
    })
    .await;
}

async fn stop(control: ConsumerControl, task: JoinHandle<contracts_runtime::Result<()>>) {
    control.shutdown();
    task.await.expect("consumer task").expect("consumer run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_events_round_trip_with_their_headers_and_metadata() {
    let s = setup("roundtrip", 3).await;
    let created = OrderCreatedV2 {
        order_id: "o-1".into(),
        amount: 1234,
        note: "gift wrap".into(),
    };
    let delivery = s.publisher.send(&created).await.expect("send");
    assert_eq!(delivery.topic, s.topic);
    s.paid("o-1", 1).await;

    let recorder = Recorder::new(Behaviour::Succeed);
    let (control, task) = s.start(s.consumer_config("g"), recorder.clone()).await;
    wait_for(&recorder, 2).await;
    stop(control, task).await;

    let seen = recorder.seen();
    assert_eq!(seen[0].0, Message::OrderCreated(created));
    assert_eq!(
        seen[1].0,
        Message::OrderPaid(OrderPaid {
            order_id: "o-1".into(),
            seq: 1
        })
    );
    let meta = &seen[0].1;
    assert_eq!(meta.topic, s.topic);
    assert_eq!(
        (meta.partition, meta.offset),
        (delivery.partition, delivery.offset)
    );
    assert_eq!(meta.key.as_deref(), Some(&b"o-1"[..]));
    assert_eq!(meta.schema_id, delivery.schema_id);
    assert_eq!(meta.event_id.as_deref(), Some(delivery.event_id.as_str()));
    assert!(meta.timestamp_ms.is_some());
    assert_ne!(
        seen[0].1.event_id, seen[1].1.event_id,
        "every event has its own id"
    );

    // On the wire: Confluent framing with the registry's id, and the contract headers.
    let raw = read_all(broker::shared().bootstrap_servers(), &s.topic, 2);
    let first = raw
        .iter()
        .find(|m| m.offset() == delivery.offset && m.partition() == delivery.partition)
        .unwrap();
    let (id, _) = wire::read_header(first.payload().unwrap()).unwrap();
    assert_eq!(id, delivery.schema_id);
    assert_eq!(
        header(first, headers::EVENT_TYPE).as_deref(),
        Some("test.orders.OrderCreated")
    );
    assert_eq!(header(first, headers::EVENT_VERSION).as_deref(), Some("2"));
    assert_eq!(
        header(first, headers::SCHEMA_ID),
        Some(delivery.schema_id.0.to_string())
    );
    assert_eq!(
        header(first, headers::EVENT_ID),
        Some(delivery.event_id.clone())
    );
    assert_eq!(
        header(first, headers::TRACEPARENT),
        None,
        "no trace was active"
    );
}
