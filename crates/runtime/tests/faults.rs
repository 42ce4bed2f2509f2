//! Faults a real broker cannot be made to show on demand, injected with librdkafka's
//! `MockCluster`: a broker going down during sends, and request errors on produce and commit.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::events::{self, Message, OrderPaid};
use common::source::MemorySource;
use common::{eventually, read_all, unique_prefix};
use contracts_core::{Handle, HandlerError, RecordMeta};
use contracts_runtime::{
    Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher, SendErrorKind,
};
use rdkafka::message::Message as _;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

fn paid(order: &str, seq: i64) -> OrderPaid {
    OrderPaid {
        order_id: order.into(),
        seq,
    }
}

fn publisher(cluster_bootstrap: &str, prefix: &str, timeout_ms: u32) -> Publisher {
    Publisher::new(
        &ProducerConfig::new(cluster_bootstrap)
            .topic_prefix(prefix)
            .set("message.timeout.ms", timeout_ms.to_string())
            .set("retry.backoff.ms", "50"),
        Arc::new(MemorySource::new()),
        Metrics::new(),
    )
    .unwrap()
}

/// The `seq` of every record on `topic`, read back raw.
fn seqs_on(bootstrap: &str, topic: &str, count: usize) -> Vec<i64> {
    read_all(bootstrap, topic, count)
        .iter()
        .map(|m| {
            // value = 5-byte header, Avro string order_id, Avro long seq
            let payload = &m.payload().unwrap()[5..];
            let len = (payload[0] >> 1) as usize;
            let mut n: u64 = 0;
            for (i, b) in payload[1 + len..].iter().enumerate() {
                n |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    break;
                }
            }
            ((n >> 1) as i64) ^ -((n & 1) as i64)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_during_sends_loses_no_acknowledged_event() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let prefix = unique_prefix("outage");
    let topic = format!("{prefix}orders");
    cluster.create_topic(&topic, 3, 1).unwrap();
    let publisher = publisher(&bootstrap, &prefix, 30_000);
    for seq in 0..10 {
        publisher
            .send(&paid(&format!("o-{seq}"), seq))
            .await
            .unwrap();
    }

    // Down while twenty sends are in flight, up again before their timeout: librdkafka
    // retries, and every send completes exactly once.
    cluster.broker_down(1).unwrap();
    let sends: Vec<_> = (10..30)
        .map(|seq| {
            let p = publisher.clone();
            tokio::spawn(async move { p.send(&paid(&format!("o-{seq}"), seq)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.broker_up(1).unwrap();
    for s in sends {
        s.await
            .unwrap()
            .expect("acknowledged after the broker came back");
    }
    let mut seqs = seqs_on(&bootstrap, &topic, 30);
    seqs.sort();
    assert_eq!(seqs, (0..30).collect::<Vec<_>>(), "each event exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_outlives_its_timeout_fails_retriably_and_returns_the_event() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let prefix = unique_prefix("timeout");
    let topic = format!("{prefix}orders");
    cluster.create_topic(&topic, 1, 1).unwrap();
    let publisher = publisher(&bootstrap, &prefix, 1_000);
    // The first send also waits for metadata and the idempotent producer's id, which on a busy
    // machine can take longer than the 1 s timeout.
    send_until_acked(&publisher, paid("before", 0)).await;
    cluster.broker_down(1).unwrap();
    let err = publisher
        .send(&paid("during", 1))
        .await
        .expect_err("broker is down");
    assert!(matches!(err.kind(), SendErrorKind::Kafka(_)), "{err}");
    assert!(err.is_retriable(), "{err}");
    let event = err.into_event();
    assert_eq!(event, paid("during", 1));
    cluster.broker_up(1).unwrap();
    send_until_acked(&publisher, event).await;
    assert_eq!(seqs_on(&bootstrap, &topic, 2), [0, 1]);
}

/// Sends `event` again, as a caller would, for as long as the error says it may help.
async fn send_until_acked(publisher: &Publisher, mut event: OrderPaid) {
    for attempt in 1.. {
        match publisher.send(&event).await {
            Ok(_) => return,
            Err(e) if e.is_retriable() && attempt < 30 => event = e.into_event(),
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_request_errors_are_retried_or_surfaced_by_their_class() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let prefix = unique_prefix("produce-errors");
    let topic = format!("{prefix}orders");
    cluster.create_topic(&topic, 1, 1).unwrap();
    let publisher = publisher(&bootstrap, &prefix, 10_000);
    publisher.send(&paid("warm-up", 0)).await.unwrap();

    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 3],
    );
    publisher
        .send(&paid("transient", 1))
        .await
        .expect("retried past transient errors");

    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let err = publisher
        .send(&paid("denied", 2))
        .await
        .expect_err("too large");
    assert!(!err.is_retriable(), "{err}");
    assert_eq!(err.into_event(), paid("denied", 2));
    cluster.clear_request_errors(RDKafkaApiKey::Produce);
    publisher.send(&paid("after", 3)).await.unwrap();
    assert_eq!(
        seqs_on(&bootstrap, &topic, 3),
        [0, 1, 3],
        "no duplicate from the retries"
    );
}

#[derive(Clone, Default)]
struct HandledOffsets(Arc<Mutex<Vec<i64>>>);

impl Handle<Message> for HandledOffsets {
    async fn handle(&self, m: Message, _: &RecordMeta) -> Result<(), HandlerError> {
        if let Message::OrderPaid(p) = m {
            self.0.lock().unwrap().push(p.seq);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_offset_commits_cause_redelivery_never_loss() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let prefix = unique_prefix("commit-errors");
    let topic = format!("{prefix}orders");
    cluster.create_topic(&topic, 2, 1).unwrap();
    cluster.create_topic(&format!("{topic}.DLT"), 2, 1).unwrap();
    let source = Arc::new(MemorySource::new());
    let publisher = Publisher::new(
        &ProducerConfig::new(&bootstrap).topic_prefix(&prefix),
        source.clone(),
        Metrics::new(),
    )
    .unwrap();
    for seq in 0..20 {
        publisher
            .send(&paid(&format!("o-{seq}"), seq))
            .await
            .unwrap();
    }
    let config = || {
        let mut c = ConsumerConfig::new(&bootstrap, format!("{prefix}g")).topic_prefix(&prefix);
        c.create_dead_letter_topic = None;
        c.shutdown_timeout = Duration::from_secs(5);
        c
    };
    // Every commit of the first consumer fails.
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 64],
    );
    let first = HandledOffsets::default();
    let consumer = Consumer::<events::Topic>::new(config(), source.clone(), Metrics::new())
        .await
        .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(first.clone()));
    eventually("20 handled", Duration::from_secs(60), || async {
        (first.0.lock().unwrap().len() == 20).then_some(())
    })
    .await;
    control.shutdown();
    task.await.unwrap().unwrap();
    cluster.clear_request_errors(RDKafkaApiKey::OffsetCommit);

    // Nothing was committed, so the next consumer of the group gets everything again.
    let second = HandledOffsets::default();
    let consumer = Consumer::<events::Topic>::new(config(), source, Metrics::new())
        .await
        .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(second.clone()));
    eventually("20 redelivered", Duration::from_secs(60), || async {
        (second.0.lock().unwrap().len() == 20).then_some(())
    })
    .await;
    control.shutdown();
    task.await.unwrap().unwrap();
    let all: BTreeSet<i64> = first
        .0
        .lock()
        .unwrap()
        .iter()
        .chain(second.0.lock().unwrap().iter())
        .copied()
        .collect();
    assert_eq!(all, (0..20).collect());
}

/// Fails every record permanently, so each one is dead-lettered.
#[derive(Clone, Default)]
struct Refuse;

impl Handle<Message> for Refuse {
    async fn handle(&self, _: Message, _: &RecordMeta) -> Result<(), HandlerError> {
        Err(HandlerError::permanent("order already cancelled"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_write_denied_by_authorization_stops_the_partition_instead_of_spinning() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let prefix = unique_prefix("dlt-denied");
    let topic = format!("{prefix}orders");
    cluster.create_topic(&topic, 1, 1).unwrap();
    cluster.create_topic(&format!("{topic}.DLT"), 1, 1).unwrap();
    let source = Arc::new(MemorySource::new());
    let publisher = Publisher::new(
        &ProducerConfig::new(&bootstrap).topic_prefix(&prefix),
        source.clone(),
        Metrics::new(),
    )
    .unwrap();
    publisher.send(&paid("o-1", 1)).await.unwrap();
    // From now on the broker denies every produce: only the dead-letter producer produces.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 64],
    );
    let mut config = ConsumerConfig::new(&bootstrap, format!("{prefix}g")).topic_prefix(&prefix);
    config.create_dead_letter_topic = None;
    config.shutdown_timeout = Duration::from_secs(5);
    let metrics = Metrics::new();
    let consumer = Consumer::<events::Topic>::new(config, source, metrics.clone())
        .await
        .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(Refuse));
    let stopped = eventually("the partition to stop", Duration::from_secs(60), || {
        let control = control.clone();
        async move { control.stopped_partitions().into_iter().next() }
    })
    .await;
    assert_eq!((stopped.partition, stopped.offset), (0, 0));
    assert!(
        stopped.reason.contains("TopicAuthorizationFailed"),
        "{}",
        stopped.reason
    );
    assert_eq!(
        metrics.gauge(
            contracts_runtime::metrics::CONSUMER_STOPPED_PARTITIONS,
            &[("messaging_destination_name", topic.as_str())]
        ),
        Some(1)
    );
    control.shutdown();
    task.await.unwrap().unwrap();
}
