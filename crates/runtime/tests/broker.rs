//! The runtime against a real Kafka-protocol broker (Tansu): typed round trips, ordering,
//! consumer groups, schema evolution, dead-lettering, retries, restarts, pause and metrics.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::events::{self, Message, OrderCreatedV1, OrderCreatedV2, OrderPaid};
use common::source::MemorySource;
use common::{eventually, header, raw_producer, read_all, shared_broker, unique_prefix};
use contracts_core::{Handle, HandlerError, RecordMeta, SchemaId, wire};
use contracts_runtime::{
    Consumer, ConsumerConfig, ConsumerControl, Metrics, ProducerConfig, Publisher, RetryPolicy,
    SchemaRegistration, SendErrorKind, headers, metrics,
};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::FutureRecord;
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

    /// The order id of every event handled, in the order handled.
    fn order_ids(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|(m, _)| m.order_id().to_string())
            .collect()
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
    let broker = shared_broker();
    let prefix = unique_prefix(test);
    let topic = format!("{prefix}orders");
    broker.create_topic(&topic, partitions).await.unwrap();
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
            shared_broker().bootstrap_servers(),
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
    let raw = read_all(shared_broker().bootstrap_servers(), &s.topic, 2);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_one_key_arrive_in_order_while_partitions_run_concurrently() {
    let s = setup("ordering", 6).await;
    let orders: Vec<String> = (0..8).map(|i| format!("order-{i}")).collect();
    let per_order = 25;
    for seq in 0..per_order {
        for order in &orders {
            s.paid(order, seq).await;
        }
    }
    let recorder = Recorder::new(Behaviour::Succeed);
    let (control, task) = s.start(s.consumer_config("g"), recorder.clone()).await;
    wait_for(&recorder, orders.len() * per_order as usize).await;
    stop(control, task).await;

    let mut by_order: BTreeMap<String, Vec<(i64, i32)>> = BTreeMap::new();
    for (m, meta) in recorder.seen() {
        let Message::OrderPaid(p) = m else {
            panic!("unexpected {m:?}")
        };
        by_order
            .entry(p.order_id)
            .or_default()
            .push((p.seq, meta.partition));
    }
    let mut partitions_used = std::collections::BTreeSet::new();
    for (order, seen) in &by_order {
        let seqs: Vec<i64> = seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (0..per_order).collect::<Vec<_>>(), "order {order}");
        let parts: std::collections::BTreeSet<i32> = seen.iter().map(|(_, p)| *p).collect();
        assert_eq!(parts.len(), 1, "one key, one partition: {order}");
        partitions_used.extend(parts);
    }
    assert!(partitions_used.len() > 1, "keys spread over partitions");
}

/// Each profile's settings as `--kafka-profile` gives them to a service's publisher, consumer
/// and dead-letter producer: Tansu takes them (lz4 batches of `throughput` included; it drops a
/// consumer fetching snappy ones) and every event arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_round_trip_through_tansu_with_every_client_profile() {
    use contracts_runtime::client_config::{ClientSettings, Profile};
    for profile in Profile::ALL {
        let s = setup(&format!("profile-{profile}"), 3).await;
        let settings = ClientSettings::new().with_profile(profile);
        let mut producer =
            ProducerConfig::new(shared_broker().bootstrap_servers()).topic_prefix(&s.prefix);
        producer.client = settings.producer();
        let publisher = Publisher::new(&producer, s.source.clone(), s.metrics.clone()).unwrap();
        for i in 0..20 {
            let event = OrderPaid {
                order_id: format!("o-{i}"),
                seq: i,
            };
            publisher.send(&event).await.expect("send");
        }
        let mut config = s
            .consumer_config("g")
            .producer_settings(settings.producer());
        config.client.extend(settings.consumer());
        let recorder = Recorder::new(Behaviour::Succeed);
        let (control, task) = s.start(config, recorder.clone()).await;
        wait_for(&recorder, 20).await;
        stop(control, task).await;
        let mut ids = recorder.order_ids();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20, "{profile}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumer_groups_each_receive_every_event() {
    let s = setup("groups", 3).await;
    for i in 0..20 {
        s.paid(&format!("o-{i}"), i).await;
    }
    let a = Recorder::new(Behaviour::Succeed);
    let b = Recorder::new(Behaviour::Succeed);
    let (ca, ta) = s.start(s.consumer_config("billing"), a.clone()).await;
    let (cb, tb) = s.start(s.consumer_config("shipping"), b.clone()).await;
    wait_for(&a, 20).await;
    wait_for(&b, 20).await;
    stop(ca, ta).await;
    stop(cb, tb).await;
    let ids = |r: &Recorder| {
        let mut v = r.order_ids();
        v.sort();
        v
    };
    assert_eq!(ids(&a).len(), 20);
    assert_eq!(ids(&a), ids(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_record_is_handled_again_only_by_the_group_it_was_replayed_for() {
    let s = setup("replay-group", 1).await;
    s.paid("o-1", 1).await;
    // Sent back as the admin API replays a dead letter: same key, bytes and headers, plus the
    // group that gave up on it.
    let bootstrap = shared_broker().bootstrap_servers();
    let original = read_all(bootstrap, &s.topic, 1).remove(0);
    let mut sent = OwnedHeaders::new();
    for h in original.headers().expect("headers").iter() {
        sent = sent.insert(h);
    }
    let billing = format!("{}billing", s.prefix);
    sent = sent.insert(Header {
        key: headers::REPLAY_CONSUMER_GROUP,
        value: Some(&billing),
    });
    raw_producer(bootstrap)
        .send(
            FutureRecord::to(&s.topic)
                .key(original.key().unwrap())
                .payload(original.payload().unwrap())
                .headers(sent),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("replay");
    s.paid("o-2", 2).await;

    let a = Recorder::new(Behaviour::Succeed);
    let b = Recorder::new(Behaviour::Succeed);
    let (ca, ta) = s.start(s.consumer_config("billing"), a.clone()).await;
    let (cb, tb) = s.start(s.consumer_config("shipping"), b.clone()).await;
    wait_for(&a, 3).await;
    // o-2 comes after the replayed record in the one partition.
    wait_for(&b, 2).await;
    stop(ca, ta).await;
    stop(cb, tb).await;
    assert_eq!(
        a.order_ids(),
        ["o-1", "o-1", "o-2"],
        "billing handles the replay"
    );
    assert_eq!(b.order_ids(), ["o-1", "o-2"], "shipping steps over it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_on_v2_reads_records_written_with_v1() {
    let s = setup("evolution", 1).await;
    let old = OrderCreatedV1 {
        order_id: "old".into(),
        amount: 5,
    };
    let v1 = s.publisher.send(&old).await.expect("send v1");
    s.created("new", 7).await;
    let recorder = Recorder::new(Behaviour::Succeed);
    let (control, task) = s.start(s.consumer_config("g"), recorder.clone()).await;
    wait_for(&recorder, 2).await;
    stop(control, task).await;
    let seen = recorder.seen();
    assert_eq!(
        seen[0].0,
        Message::OrderCreated(OrderCreatedV2 {
            order_id: "old".into(),
            amount: 5,
            note: String::new()
        }),
        "the v1 record is resolved to v2 with the default"
    );
    assert_eq!(seen[0].1.schema_id, v1.schema_id);
    assert_ne!(seen[1].1.schema_id, v1.schema_id, "v2 has its own id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_of_every_kind_are_dead_lettered_and_the_partition_keeps_flowing() {
    let s = setup("poison", 1).await;
    let bootstrap = shared_broker().bootstrap_servers();
    let raw = common::raw_producer(bootstrap);
    s.created("good-1", 1).await;
    let good_id = s
        .publisher
        .schema_id(<OrderCreatedV2 as contracts_core::Event>::SCHEMA)
        .await
        .unwrap();
    let framed = |id: SchemaId, payload: &[u8]| {
        let mut v = Vec::new();
        wire::write_header(&mut v, id, contracts_core::Format::Avro, &[]);
        v.extend_from_slice(payload);
        v
    };
    let poison: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "decode"),
        ("bad-magic", vec![7, 0, 0, 0, 1, 2, 3], "decode"),
        ("short-header", vec![0, 0, 1], "decode"),
        (
            "unknown-id",
            framed(SchemaId(999_999), b"\x02x\x02"),
            "unknown-schema",
        ),
        ("truncated", framed(good_id, b"\x0ctrunc"), "decode"),
        (
            "trailing",
            framed(good_id, b"\x02x\x02\x00\xff\xff"),
            "decode",
        ),
    ];
    let mut offsets = HashMap::new();
    for (key, value, _) in &poison {
        let (_, offset) = common::send_raw(&raw, &s.topic, key.as_bytes(), value).await;
        offsets.insert(*key, offset);
    }
    s.created("good-2", 2).await;

    let recorder = Recorder::new(Behaviour::Succeed);
    let (control, task) = s.start(s.consumer_config("g"), recorder.clone()).await;
    wait_for(&recorder, 2).await;
    let dlt = read_all(bootstrap, &format!("{}.DLT", s.topic), poison.len());
    stop(control, task).await;

    assert_eq!(recorder.order_ids(), ["good-1", "good-2"]);
    for (key, value, class) in &poison {
        let m = dlt
            .iter()
            .find(|m| m.key() == Some(key.as_bytes()))
            .unwrap_or_else(|| panic!("{key} was not dead-lettered"));
        assert_eq!(
            m.payload().unwrap_or_default(),
            &value[..],
            "{key}: original bytes"
        );
        assert_eq!(
            header(m, headers::DLT_ORIGINAL_TOPIC),
            Some(s.topic.clone())
        );
        assert_eq!(
            header(m, headers::DLT_ORIGINAL_PARTITION).as_deref(),
            Some("0")
        );
        assert_eq!(
            header(m, headers::DLT_ORIGINAL_OFFSET),
            Some(offsets[key].to_string())
        );
        assert!(header(m, headers::DLT_ORIGINAL_TIMESTAMP).is_some());
        assert_eq!(
            header(m, headers::DLT_ERROR_CLASS).as_deref(),
            Some(*class),
            "{key}"
        );
        assert!(
            !header(m, headers::DLT_ERROR_MESSAGE)
                .unwrap_or_default()
                .is_empty()
        );
        assert_eq!(header(m, headers::DLT_ATTEMPTS).as_deref(), Some("0"));
    }
    assert_eq!(
        s.metrics.count(
            metrics::DEAD_LETTERED,
            &[("messaging_destination_name", &s.topic)]
        ),
        poison.len() as u64
    );
}

/// The offset group `group` committed on partition 0 of `topic`.
fn committed(topic: &str, group: &str) -> rdkafka::Offset {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let reader: BaseConsumer = shared_broker()
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("offset reader");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let got = reader
        .committed_offsets(tpl, Duration::from_secs(30))
        .expect("committed offsets");
    got.elements()[0].offset()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_that_can_never_be_written_stops_its_partition_visibly_and_commits_nothing_past_it()
 {
    let s = setup("dlt-refused", 1).await;
    s.created("small-1", 1).await;
    // Handled with a permanent failure, so dead-lettered; but the dead-letter producer below
    // takes no record over 1000 bytes, and this one has 2000 in its note alone.
    let big = OrderCreatedV2 {
        order_id: "big".into(),
        amount: 2,
        note: "x".repeat(2000),
    };
    s.publisher.send(&big).await.expect("send");
    s.created("small-2", 3).await;

    let group = "g";
    let recorder = Recorder::new(Behaviour::FailPermanently).for_order("big");
    let config = s.consumer_config(group).set("message.max.bytes", "1000");
    let (control, task) = s.start(config, recorder.clone()).await;
    let stopped = eventually("the partition to stop", WAIT, || {
        let control = control.clone();
        async move { control.stopped_partitions().into_iter().next() }
    })
    .await;
    assert_eq!(
        (stopped.topic.as_str(), stopped.partition),
        (s.topic.as_str(), 0)
    );
    assert_eq!(stopped.offset, 1, "stopped at the big record");
    let dlt = format!("{}.DLT", s.topic);
    assert!(
        stopped.reason.contains(&dlt) && stopped.reason.contains("MessageSizeTooLarge"),
        "the reason names the dead-letter topic and the error: {}",
        stopped.reason
    );
    assert!(
        stopped.to_string().contains(&format!("{}[0]", s.topic)),
        "{stopped}"
    );
    let stopped_gauge = |v| {
        s.metrics.gauge(
            metrics::CONSUMER_STOPPED_PARTITIONS,
            &[
                ("messaging_destination_name", s.topic.as_str()),
                ("messaging_destination_partition_id", "0"),
            ],
        ) == Some(v)
    };
    assert!(stopped_gauge(1), "{}", s.metrics.render());
    assert!(
        s.metrics.render().contains(&format!(
            "contracts_consumer_stopped_partitions{{messaging_system=\"kafka\",messaging_destination_name=\"{}\",messaging_consumer_group_name=\"{}{group}\",messaging_destination_partition_id=\"0\"}} 1",
            s.topic, s.prefix
        )),
        "{}",
        s.metrics.render()
    );
    stop(control, task).await;
    // The partition task is sequential: small-2 comes after the stop and is never handled.
    assert_eq!(recorder.order_ids(), ["small-1"]);
    assert_eq!(
        committed(&s.topic, &format!("{}{group}", s.prefix)),
        rdkafka::Offset::Offset(1),
        "the commit stops before the record that could not be dead-lettered"
    );
    assert!(
        stopped_gauge(0),
        "the gauge falls back once the consumer stops"
    );

    // With the cause fixed, a restarted consumer dead-letters the record and goes on.
    let recorder = Recorder::new(Behaviour::FailPermanently).for_order("big");
    let (control, task) = s.start(s.consumer_config(group), recorder.clone()).await;
    wait_for(&recorder, 1).await;
    let dead = read_all(shared_broker().bootstrap_servers(), &dlt, 1);
    stop(control, task).await;
    assert_eq!(recorder.order_ids(), ["small-2"]);
    assert_eq!(dead[0].key(), Some(&b"big"[..]));
    assert!(control_is_clear(&s.metrics));
}

fn control_is_clear(metrics: &Metrics) -> bool {
    !metrics
        .render()
        .lines()
        .any(|l| l.starts_with("contracts_consumer_stopped_partitions{") && l.ends_with(" 1"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retriable_failure_is_retried_and_then_handled_without_dead_lettering() {
    let s = setup("retry", 1).await;
    s.created("flaky", 1).await;
    s.created("after", 2).await;
    let recorder = Recorder::new(Behaviour::FailRetriably(2)).for_order("flaky");
    let (control, task) = s.start(s.consumer_config("g"), recorder.clone()).await;
    wait_for(&recorder, 2).await;
    stop(control, task).await;
    assert_eq!(
        recorder.order_ids(),
        ["flaky", "after"],
        "the partition waited for the retried record"
    );
    assert_eq!(recorder.attempts("flaky"), 3);
    let topic = [("messaging_destination_name", s.topic.as_str())];
    assert_eq!(s.metrics.count(metrics::CONSUMER_RETRIES, &topic), 2);
    assert_eq!(s.metrics.count(metrics::DEAD_LETTERED, &topic), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_failures_that_do_not_go_away_are_dead_lettered_with_their_attempt_count() {
    let s = setup("exhausted", 1).await;
    s.created("always-busy", 1).await;
    s.created("cancelled", 2).await;
    s.created("buggy", 3).await;
    s.created("fine", 4).await;
    let busy = Recorder::new(Behaviour::FailRetriably(u32::MAX)).for_order("always-busy");
    let (control, task) = s.start(s.consumer_config("busy"), busy.clone()).await;
    wait_for(&busy, 3).await;
    stop(control, task).await;
    assert_eq!(busy.attempts("always-busy"), 3, "max_attempts");

    // Same records, another group: a permanent error and a panic are dead-lettered at once.
    let permanent = Recorder::new(Behaviour::FailPermanently).for_order("cancelled");
    let (control, task) = s
        .start(s.consumer_config("permanent"), permanent.clone())
        .await;
    wait_for(&permanent, 3).await;
    stop(control, task).await;
    assert_eq!(permanent.attempts("cancelled"), 1);

    let panicky = Recorder::new(Behaviour::Panic).for_order("buggy");
    let (control, task) = s.start(s.consumer_config("panicky"), panicky.clone()).await;
    wait_for(&panicky, 3).await;
    stop(control, task).await;
    assert_eq!(panicky.attempts("buggy"), 1);

    let dlt = read_all(
        shared_broker().bootstrap_servers(),
        &format!("{}.DLT", s.topic),
        3,
    );
    let by_key = |k: &str| dlt.iter().find(|m| m.key() == Some(k.as_bytes())).unwrap();
    let busy_m = by_key("always-busy");
    assert_eq!(
        header(busy_m, headers::DLT_ERROR_CLASS).as_deref(),
        Some("handler-retries-exhausted")
    );
    assert_eq!(header(busy_m, headers::DLT_ATTEMPTS).as_deref(), Some("3"));
    assert!(
        header(busy_m, headers::DLT_ERROR_MESSAGE)
            .unwrap()
            .contains("database busy")
    );
    assert_eq!(
        header(busy_m, headers::EVENT_TYPE).as_deref(),
        Some("test.orders.OrderCreated"),
        "original headers kept"
    );
    let cancelled = by_key("cancelled");
    assert_eq!(
        header(cancelled, headers::DLT_ERROR_CLASS).as_deref(),
        Some("handler-permanent")
    );
    assert_eq!(
        header(cancelled, headers::DLT_ATTEMPTS).as_deref(),
        Some("1")
    );
    let buggy = by_key("buggy");
    assert_eq!(
        header(buggy, headers::DLT_ERROR_CLASS).as_deref(),
        Some("handler-panic")
    );
    assert!(
        header(buggy, headers::DLT_ERROR_MESSAGE)
            .unwrap()
            .contains("handler bug for buggy")
    );
    assert!(
        header(buggy, headers::DLT_CONSUMER_GROUP)
            .unwrap()
            .ends_with("panicky")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_resumes_from_its_committed_offsets() {
    let s = setup("restart", 2).await;
    for i in 0..10 {
        s.paid(&format!("first-{i}"), i).await;
    }
    let first = Recorder::new(Behaviour::Succeed);
    let (control, task) = s.start(s.consumer_config("g"), first.clone()).await;
    wait_for(&first, 10).await;
    stop(control, task).await;

    for i in 0..10 {
        s.paid(&format!("second-{i}"), i).await;
    }
    let second = Recorder::new(Behaviour::Succeed);
    let (control, task) = s.start(s.consumer_config("g"), second.clone()).await;
    wait_for(&second, 10).await;
    // Give a wrongly rewound consumer the time to show duplicates.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(control, task).await;
    let mut ids = second.order_ids();
    ids.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("second-{i}")).collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "nothing lost, nothing handled twice after a graceful stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_consumer_handles_nothing_until_resumed() {
    let s = setup("pause", 2).await;
    s.paid("before", 0).await;
    let recorder = Recorder::new(Behaviour::Succeed);
    let (control, task) = s.start(s.consumer_config("g"), recorder.clone()).await;
    wait_for(&recorder, 1).await;
    control.pause();
    assert!(control.is_paused());
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..5 {
        s.paid(&format!("while-paused-{i}"), i).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recorder.count(), 1, "nothing handled while paused");
    control.resume();
    wait_for(&recorder, 6).await;
    stop(control, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sends_and_handling_and_lag_drops_to_zero() {
    let s = setup("metrics", 2).await;
    for i in 0..6 {
        s.paid(&format!("m-{i}"), i).await;
    }
    let recorder = Recorder::new(Behaviour::Succeed);
    let config = s.consumer_config("g");
    let group = config.group_id.clone();
    let (control, task) = s.start(config, recorder.clone()).await;
    wait_for(&recorder, 6).await;
    let topic = s.topic.as_str();
    for p in ["0", "1"] {
        let labels = [
            ("messaging_destination_name", topic),
            ("messaging_destination_partition_id", p),
            ("messaging_consumer_group_name", group.as_str()),
        ];
        eventually(&format!("lag 0 on partition {p}"), WAIT, || async {
            (s.metrics.gauge(metrics::CONSUMER_LAG, &labels) == Some(0)).then_some(())
        })
        .await;
    }
    // While the partitions are assigned their lag is on the page; a stopped consumer's revoked
    // partitions leave it, and a family without series has no `# TYPE` line.
    let consuming = s.metrics.render();
    assert!(
        consuming.contains("# TYPE messaging_kafka_consumer_lag gauge"),
        "{consuming}"
    );
    stop(control, task).await;
    let on_topic = [("messaging_destination_name", topic)];
    assert_eq!(s.metrics.count(metrics::SENT_MESSAGES, &on_topic), 6);
    assert_eq!(s.metrics.count(metrics::SEND_DURATION, &on_topic), 6);
    assert_eq!(s.metrics.count(metrics::CONSUMED_MESSAGES, &on_topic), 6);
    assert_eq!(s.metrics.count(metrics::PROCESS_DURATION, &on_topic), 6);
    let text = s.metrics.render();
    assert!(text.contains(&format!(
        "messaging_client_sent_messages_total{{messaging_system=\"kafka\",messaging_destination_name=\"{topic}\",event_type=\"test.orders.OrderPaid\"}} 6"
    )), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_registration_an_unregistered_schema_fails_the_send_and_returns_the_event() {
    let s = setup("lookup", 1).await;
    let publisher = Publisher::new(
        &ProducerConfig::new(shared_broker().bootstrap_servers())
            .topic_prefix(&s.prefix)
            .registration(SchemaRegistration::LookupOnly),
        s.source.clone(),
        s.metrics.clone(),
    )
    .unwrap();
    let event = OrderPaid {
        order_id: "o".into(),
        seq: 1,
    };
    let err = publisher.send(&event).await.expect_err("not registered");
    assert!(matches!(err.kind(), SendErrorKind::Schema(_)), "{err}");
    assert!(!err.is_retriable());
    assert!(err.to_string().contains("not registered"), "{err}");
    assert_eq!(err.into_event(), event);

    // Once registered (by CI, say), the same producer sends.
    s.source
        .register(<OrderPaid as contracts_core::Event>::SCHEMA);
    publisher.send(&event).await.expect("registered now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_joining_and_leaving_a_group_mid_stream_lose_nothing() {
    let s = setup("rebalance", 6).await;
    let total = 300;
    let recorder = Recorder::new(Behaviour::Succeed);
    let (first, first_task) = s.start(s.consumer_config("g"), recorder.clone()).await;
    let publisher = s.publisher.clone();
    let producing = tokio::spawn(async move {
        for i in 0..total {
            let e = OrderPaid {
                order_id: format!("o-{}", i % 23),
                seq: i,
            };
            publisher.send(&e).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    wait_for(&recorder, 50).await;
    // A second member joins: the partitions are split between the two.
    let (second, second_task) = s.start(s.consumer_config("g"), recorder.clone()).await;
    wait_for(&recorder, 150).await;
    // The first leaves: the second takes everything over.
    stop(first, first_task).await;
    producing.await.unwrap();
    eventually("every event handled", WAIT, || async {
        let mut seqs: Vec<i64> = recorder
            .seen()
            .iter()
            .map(|(m, _)| match m {
                Message::OrderPaid(p) => p.seq,
                other => panic!("{other:?}"),
            })
            .collect();
        seqs.sort();
        seqs.dedup();
        (seqs.len() == total as usize).then_some(())
    })
    .await;
    stop(second, second_task).await;
    // Per order, whatever was redelivered, first deliveries came in order.
    let mut first_seen: HashMap<String, Vec<i64>> = HashMap::new();
    for (m, _) in recorder.seen() {
        if let Message::OrderPaid(p) = m {
            let firsts = first_seen.entry(p.order_id.clone()).or_default();
            if !firsts.contains(&p.seq) {
                assert!(
                    firsts.last().is_none_or(|last| *last < p.seq),
                    "order {}: {} handled for the first time after {:?}",
                    p.order_id,
                    p.seq,
                    firsts.last()
                );
                firsts.push(p.seq);
            }
        }
    }
    println!(
        "duplicates after two rebalances: {}",
        recorder.count() - total as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_paused_for_a_full_buffer_resumes_without_losing_or_repeating_records() {
    let s = setup("backpressure", 1).await;
    let total = 400;
    for i in 0..total {
        s.paid("one-key", i).await;
    }
    let recorder = Recorder::new(Behaviour::Succeed);
    let mut config = s.consumer_config("g");
    config.max_buffered_per_partition = 10;
    let (control, task) = s.start(config, recorder.clone()).await;
    wait_for(&recorder, total as usize).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(control, task).await;
    let seqs: Vec<i64> = recorder
        .seen()
        .iter()
        .map(|(m, _)| match m {
            Message::OrderPaid(p) => p.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, (0..total).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_paused_for_full_buffers_all_resume_and_every_record_is_handled() {
    let s = setup("backpressure-many", 3).await;
    let total: i64 = 900;
    let sends: Vec<_> = (0..total)
        .map(|i| {
            let p = s.publisher.clone();
            async move {
                let e = OrderPaid {
                    order_id: format!("o-{}", i % 31),
                    seq: i,
                };
                p.send(&e).await.unwrap();
            }
        })
        .collect();
    futures_util::future::join_all(sends).await;
    let recorder = Recorder::new(Behaviour::Succeed);
    let mut config = s.consumer_config("g");
    config.max_buffered_per_partition = 20;
    let (control, task) = s.start(config, recorder.clone()).await;
    wait_for(&recorder, total as usize).await;
    stop(control, task).await;
    let mut seqs: Vec<i64> = recorder
        .seen()
        .iter()
        .map(|(m, _)| match m {
            Message::OrderPaid(p) => p.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, (0..total).collect::<Vec<_>>());
}
