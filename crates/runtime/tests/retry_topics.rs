//! Non-blocking retries through retry topics, on a real broker (Tansu): a failing record leaves
//! its partition for `<topic>.retry-<n>`, comes back when due, and ends in the dead-letter topic
//! after the last retry topic; offsets are stored only once a record is handled, forwarded or
//! dead-lettered.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::events::{self, Message, OrderCreatedV2};
use common::source::MemorySource;
use common::{eventually, header, read_all, shared_broker, unique_prefix};
use contracts_core::{Handle, HandlerError, RecordMeta};
use contracts_runtime::{
    Consumer, ConsumerConfig, ConsumerControl, Delivery, Metrics, ProducerConfig, Publisher,
    RetryPolicy, headers, metrics,
};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(60);

/// What the handler does with one order's events.
#[derive(Clone, Copy, Debug)]
enum Plan {
    /// Fail retriably this many times, then succeed.
    FailRetriably(u32),
    FailPermanently,
}

/// One handler call.
#[derive(Clone, Debug)]
struct Attempt {
    order: String,
    /// The topic the record was read from.
    topic: String,
    at: Instant,
    succeeded: bool,
}

/// Follows a plan per order (the others succeed) and records every call.
#[derive(Clone, Default)]
struct Handler {
    plans: Arc<HashMap<String, Plan>>,
    calls: Arc<Mutex<Vec<Attempt>>>,
}

impl Handler {
    fn new(plans: &[(&str, Plan)]) -> Self {
        Handler {
            plans: Arc::new(plans.iter().map(|(o, p)| (o.to_string(), *p)).collect()),
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> Vec<Attempt> {
        self.calls.lock().unwrap().clone()
    }

    fn calls_for(&self, order: &str) -> Vec<Attempt> {
        self.calls()
            .into_iter()
            .filter(|a| a.order == order)
            .collect()
    }

    /// Orders handled successfully, in the order they were.
    fn handled(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|a| a.succeeded)
            .map(|a| a.order)
            .collect()
    }

    async fn wait_for_handled(&self, n: usize) {
        eventually(&format!("{n} handled events"), WAIT, || async {
            (self.handled().len() >= n).then_some(())
        })
        .await;
    }
}

impl Handle<Message> for Handler {
    async fn handle(&self, message: Message, meta: &RecordMeta) -> Result<(), HandlerError> {
        let order = message.order_id().to_string();
        let earlier = self.calls_for(&order).len() as u32;
        let result = match self.plans.get(&order) {
            Some(Plan::FailRetriably(n)) if earlier < *n => Err(HandlerError::retriable(format!(
                "database busy ({})",
                earlier + 1
            ))),
            Some(Plan::FailPermanently) => Err(HandlerError::permanent("order already cancelled")),
            _ => Ok(()),
        };
        self.calls.lock().unwrap().push(Attempt {
            order,
            topic: meta.topic.clone(),
            at: Instant::now(),
            succeeded: result.is_ok(),
        });
        result
    }
}

struct Setup {
    prefix: String,
    topic: String,
    source: Arc<MemorySource>,
    metrics: Metrics,
    publisher: Publisher,
}

async fn setup(test: &str) -> Setup {
    let broker = shared_broker();
    let prefix = unique_prefix(test);
    let topic = format!("{prefix}orders");
    broker.create_topic(&topic, 1).await.unwrap();
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
    /// A consumer config with `max_attempts` in-place attempts and one retry topic per delay.
    fn config(&self, group: &str, max_attempts: u32, delays: &[u64]) -> ConsumerConfig {
        ConsumerConfig::new(
            shared_broker().bootstrap_servers(),
            format!("{}{group}", self.prefix),
        )
        .topic_prefix(&self.prefix)
        .retry(RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            multiplier: 2.0,
        })
        .retry_topics(delays.iter().map(|ms| Duration::from_millis(*ms)).collect())
        .set("session.timeout.ms", "6000")
        .set("statistics.interval.ms", "200")
    }

    fn retry_topic(&self, n: usize) -> String {
        format!("{}.retry-{n}", self.topic)
    }

    async fn start(
        &self,
        config: ConsumerConfig,
        handler: Handler,
    ) -> (ConsumerControl, JoinHandle<contracts_runtime::Result<()>>) {
        let consumer =
            Consumer::<events::Topic>::new(config, self.source.clone(), self.metrics.clone())
                .await
                .expect("consumer");
        let control = consumer.control();
        (control, tokio::spawn(consumer.run(handler)))
    }

    async fn created(&self, order: &str) -> Delivery {
        let event = OrderCreatedV2 {
            order_id: order.into(),
            amount: 1,
            note: String::new(),
        };
        self.publisher.send(&event).await.expect("send")
    }

    /// Forwards to retry topic `level` counted for `group`.
    fn retries(&self, group: &str, level: &str) -> u64 {
        let group = format!("{}{group}", self.prefix);
        self.metrics.count(
            metrics::CONSUMER_RETRIES,
            &[
                ("messaging_consumer_group_name", &group),
                ("retry_level", level),
            ],
        )
    }
}

/// The offset `group` committed on partition 0 of `topic`, if any.
fn committed(group: &str, topic: &str) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", shared_broker().bootstrap_servers())
        .set("group.id", group)
        .create()
        .expect("offset reader");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .ok()?;
    match committed.find_partition(topic, 0)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

async fn stop(control: ConsumerControl, task: JoinHandle<contracts_runtime::Result<()>>) {
    control.shutdown();
    task.await.expect("consumer task").expect("consumer run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_record_is_retried_through_the_retry_topics_while_its_partition_flows_on() {
    let s = setup("retry-flow").await;
    s.created("flaky").await;
    for i in 0..5 {
        s.created(&format!("after-{i}")).await;
    }
    // One attempt in place, then 2 s in retry-1 and 1 s in retry-2.
    let handler = Handler::new(&[("flaky", Plan::FailRetriably(2))]);
    let (control, task) = s
        .start(s.config("g", 1, &[2000, 1000]), handler.clone())
        .await;
    handler.wait_for_handled(6).await;
    stop(control, task).await;

    let after: Vec<String> = (0..5).map(|i| format!("after-{i}")).collect();
    let handled = handler.handled();
    assert_eq!(
        handled[..5],
        after[..],
        "the records behind the failing one did not wait for it"
    );
    assert_eq!(handled[5], "flaky");
    let flaky = handler.calls_for("flaky");
    let topics: Vec<&str> = flaky.iter().map(|a| a.topic.as_str()).collect();
    assert_eq!(
        topics,
        [s.topic.clone(), s.retry_topic(1), s.retry_topic(2)],
        "one attempt per topic"
    );
    assert!(
        flaky[1].at - flaky[0].at >= Duration::from_millis(2000),
        "retry-1 held the record for its delay"
    );
    assert!(flaky[2].at - flaky[1].at >= Duration::from_millis(1000));
    assert_eq!(s.retries("g", "1"), 1);
    assert_eq!(s.retries("g", "2"), 1);
    assert_eq!(s.metrics.count(metrics::DEAD_LETTERED, &[]), 0);

    // Every offset was committed, on the source topic and both retry topics: the group's next
    // consumer gets only what came after.
    s.created("marker").await;
    let next = Handler::default();
    let (control, task) = s.start(s.config("g", 1, &[2000, 1000]), next.clone()).await;
    next.wait_for_handled(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(control, task).await;
    assert_eq!(next.handled(), ["marker"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_failing_on_every_retry_topic_is_dead_lettered_with_its_total_attempts() {
    let s = setup("retry-exhausted").await;
    let doomed = s.created("doomed").await;
    let raw = common::raw_producer(shared_broker().bootstrap_servers());
    common::send_raw(&raw, &s.topic, b"poison", &[7, 0, 0, 0, 1, 2]).await;
    s.created("cancelled").await;
    s.created("fine").await;
    // Two attempts in place on each of three topics: six in all.
    let handler = Handler::new(&[
        ("doomed", Plan::FailRetriably(u32::MAX)),
        ("cancelled", Plan::FailPermanently),
    ]);
    let config = s.config("g", 2, &[300, 300]);
    let group = config.group_id.clone();
    let (control, task) = s.start(config, handler.clone()).await;
    let dlt = read_all(
        shared_broker().bootstrap_servers(),
        &format!("{}.DLT", s.topic),
        3,
    );
    stop(control, task).await;

    let by_key = |k: &str| {
        dlt.iter()
            .find(|m| m.key() == Some(k.as_bytes()))
            .unwrap_or_else(|| panic!("{k} was not dead-lettered"))
    };
    let m = by_key("doomed");
    assert_eq!(
        header(m, headers::DLT_ORIGINAL_TOPIC),
        Some(s.topic.clone())
    );
    assert_eq!(
        header(m, headers::DLT_ORIGINAL_PARTITION),
        Some(doomed.partition.to_string())
    );
    assert_eq!(
        header(m, headers::DLT_ORIGINAL_OFFSET),
        Some(doomed.offset.to_string())
    );
    assert!(header(m, headers::DLT_ORIGINAL_TIMESTAMP).is_some());
    assert_eq!(
        header(m, headers::DLT_ERROR_CLASS).as_deref(),
        Some("handler-retries-exhausted")
    );
    assert_eq!(header(m, headers::DLT_ATTEMPTS).as_deref(), Some("6"));
    let message = header(m, headers::DLT_ERROR_MESSAGE).unwrap();
    assert!(
        message.ends_with("database busy (6)"),
        "the last error: {message}"
    );
    assert_eq!(header(m, headers::DLT_CONSUMER_GROUP), Some(group.clone()));
    assert_eq!(
        header(m, headers::EVENT_ID),
        Some(doomed.event_id.clone()),
        "the producer's headers travel through the retry topics"
    );
    let original = read_all(shared_broker().bootstrap_servers(), &s.topic, 4);
    let original = original
        .iter()
        .find(|o| o.offset() == doomed.offset)
        .unwrap();
    assert_eq!(m.payload(), original.payload(), "the original bytes");
    assert_eq!(handler.calls_for("doomed").len(), 6);

    // Permanent failures and undecodable records skip the retry topics.
    let cancelled = by_key("cancelled");
    assert_eq!(
        header(cancelled, headers::DLT_ERROR_CLASS).as_deref(),
        Some("handler-permanent")
    );
    assert_eq!(
        header(cancelled, headers::DLT_ATTEMPTS).as_deref(),
        Some("1")
    );
    assert_eq!(handler.calls_for("cancelled").len(), 1);
    let poison = by_key("poison");
    assert_eq!(
        header(poison, headers::DLT_ERROR_CLASS).as_deref(),
        Some("decode")
    );
    assert_eq!(header(poison, headers::DLT_ATTEMPTS).as_deref(), Some("0"));
    assert_eq!(s.retries("g", "1"), 1, "only doomed went to retry-1");
    assert_eq!(s.retries("g", "2"), 1);
    assert_eq!(s.retries("g", "0"), 3, "one in-place retry per topic");
    assert_eq!(handler.handled(), ["fine"]);

    // What the retry topics carried: the attempts so far and where the record came from.
    for (n, attempts) in [(1, "2"), (2, "4")] {
        let hop = read_all(shared_broker().bootstrap_servers(), &s.retry_topic(n), 1);
        let hop = &hop[0];
        assert_eq!(hop.key(), Some(&b"doomed"[..]));
        assert_eq!(hop.payload(), original.payload());
        assert_eq!(
            header(hop, headers::RETRY_ATTEMPTS).as_deref(),
            Some(attempts)
        );
        assert_eq!(
            header(hop, headers::RETRY_ORIGINAL_TOPIC),
            Some(s.topic.clone())
        );
        assert_eq!(
            header(hop, headers::RETRY_ORIGINAL_OFFSET),
            Some(doomed.offset.to_string())
        );
        assert_eq!(
            header(hop, headers::RETRY_CONSUMER_GROUP),
            Some(group.clone())
        );
        let due: i64 = header(hop, headers::RETRY_DUE).unwrap().parse().unwrap();
        let written = hop.timestamp().to_millis().unwrap();
        // The due time is taken when the consumer decides to forward, just before the producer
        // stamps the record.
        assert!(
            (written - 1000..=written).contains(&(due - 300)),
            "due 300 ms after it was forwarded: due {due}, written {written}"
        );
        assert_eq!(
            hop.headers().map(rdkafka::message::Headers::count),
            original
                .headers()
                .map(|h| rdkafka::message::Headers::count(h) + 8),
            "retry headers replaced, not repeated"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_pending_when_its_consumer_stops_is_handled_by_the_groups_next_consumer() {
    let s = setup("retry-restart").await;
    s.created("later-fixed").await;
    let failing = Handler::new(&[("later-fixed", Plan::FailRetriably(u32::MAX))]);
    let (control, task) = s.start(s.config("g", 1, &[3000]), failing.clone()).await;
    eventually("the record forwarded to retry-1", WAIT, || async {
        (s.retries("g", "1") == 1).then_some(())
    })
    .await;
    // Stopped while the retry waits for its due time.
    stop(control, task).await;
    assert_eq!(failing.calls_for("later-fixed").len(), 1);
    let failed_at = failing.calls()[0].at;

    s.created("marker").await;
    let next = Handler::default();
    let (control, task) = s.start(s.config("g", 1, &[3000]), next.clone()).await;
    next.wait_for_handled(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(control, task).await;

    let calls = next.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let retried = next.calls_for("later-fixed");
    assert_eq!(retried.len(), 1);
    assert_eq!(
        retried[0].topic,
        s.retry_topic(1),
        "read from the retry topic, not again from the source topic"
    );
    assert!(
        retried[0].at - failed_at >= Duration::from_millis(3000),
        "not before it was due"
    );
    assert_eq!(next.calls_for("marker")[0].topic, s.topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_steps_over_the_retries_another_group_scheduled_in_the_same_retry_topic() {
    let s = setup("retry-groups").await;
    s.created("x").await;
    s.created("y").await;
    let a = Handler::new(&[("x", Plan::FailRetriably(1))]);
    let b = Handler::default();
    let (ca, ta) = s.start(s.config("a", 1, &[500]), a.clone()).await;
    let (cb, tb) = s.start(s.config("b", 1, &[500]), b.clone()).await;
    a.wait_for_handled(2).await;
    b.wait_for_handled(2).await;
    assert_eq!(a.calls_for("x")[1].topic, s.retry_topic(1));
    // B has read past A's record in retry-1 and committed there without handling it.
    let group_b = format!("{}b", s.prefix);
    let retry_1 = s.retry_topic(1);
    eventually("group b past the retry record", WAIT, || async {
        (committed(&group_b, &retry_1) == Some(1)).then_some(())
    })
    .await;
    stop(ca, ta).await;
    stop(cb, tb).await;
    let mut handled = b.handled();
    handled.sort();
    assert_eq!(handled, ["x", "y"], "b handled each event once");
    assert_eq!(b.calls().len(), 2);
}
