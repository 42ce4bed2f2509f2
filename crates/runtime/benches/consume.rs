//! Consumer throughput: the typed `Consumer` against a raw rdkafka `StreamConsumer` reading the
//! same pre-produced records (one topic, same bytes and headers) from the same Tansu broker in
//! the same run, each iteration in a fresh consumer group from the earliest offset. The raw
//! baseline decodes every record with the same generated codec, so the difference is what the
//! runtime adds: per-partition tasks, the writer-schema lookup, offset storing, metrics, spans.
//! See benches/README.md ("Kafka runtime").
//!
//! An iteration is timed from its first record to its last: joining a fresh group takes the
//! broker seconds that have nothing to do with either consumer. Every wait has a limit, and the
//! consumer is shut down (or closed) at the end of every iteration, so a stuck consumer fails
//! the bench instead of hanging it.

mod shared;

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts_core::{Event, Handle, HandlerError, RecordMeta};
use contracts_runtime::{Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use events::orders;
use futures_util::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use shared::shared_broker;
use tokio::sync::Notify;

/// Records read per iteration.
const RECORDS: usize = 5_000;
const PARTITIONS: i32 = 3;
/// The longest any wait may take before the bench gives up.
const LIMIT: Duration = Duration::from_secs(60);

/// Counts handled records and notes when the first and the last arrived.
#[derive(Default)]
struct Progress {
    count: AtomicUsize,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
    done: Notify,
}

impl Progress {
    fn record(&self) {
        let now = Instant::now();
        self.first.lock().unwrap().get_or_insert(now);
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == RECORDS {
            *self.last.lock().unwrap() = Some(now);
            self.done.notify_one();
        }
    }

    fn elapsed(&self) -> Duration {
        let first = self.first.lock().unwrap().expect("a first record");
        let last = self.last.lock().unwrap().expect("a last record");
        last - first
    }
}

#[derive(Clone)]
struct Counting(Arc<Progress>);

impl Handle<orders::Message> for Counting {
    async fn handle(&self, message: orders::Message, _: &RecordMeta) -> Result<(), HandlerError> {
        black_box(message);
        self.0.record();
        Ok(())
    }
}

fn unique(what: &str) -> String {
    format!("bench-consume-{what}-{}", uuid::Uuid::new_v4().simple())
}

/// One typed consumer in a fresh group, until it handled `RECORDS`; then a graceful shutdown.
async fn typed_once(prefix: &str) -> Duration {
    let progress = Arc::new(Progress::default());
    let mut config = ConsumerConfig::new(shared_broker().bootstrap_servers(), unique("typed"))
        .topic_prefix(prefix);
    config.create_dead_letter_topic = None;
    let consumer = Consumer::<orders::Topic>::new(config, shared::source(), Metrics::new())
        .await
        .expect("typed consumer");
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(Counting(progress.clone())));
    let finished = tokio::time::timeout(LIMIT, progress.done.notified()).await;
    control.shutdown();
    match tokio::time::timeout(LIMIT, task).await {
        Ok(run) => run
            .expect("typed consumer task")
            .expect("typed consumer run"),
        Err(_) => panic!("the typed consumer did not shut down within {LIMIT:?}"),
    }
    if finished.is_err() {
        panic!(
            "the typed consumer handled {} of {RECORDS} records within {LIMIT:?}",
            progress.count.load(Ordering::SeqCst)
        );
    }
    progress.elapsed()
}

/// One raw `StreamConsumer` in a fresh group, decoding every record, until it read `RECORDS`;
/// then it leaves the group.
async fn raw_once(topic: &str) -> Duration {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", shared_broker().bootstrap_servers())
        .set("group.id", unique("raw"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("raw consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let progress = Progress::default();
    let read = tokio::time::timeout(LIMIT, async {
        while progress.count.load(Ordering::SeqCst) < RECORDS {
            let m = consumer.recv().await.expect("raw read");
            let payload = m.payload().unwrap_or_default();
            // The same codec the typed consumer runs, after the 5-byte Confluent header.
            let event = orders::v3::OrderCreated::decode(&payload[5..]).expect("decode");
            black_box(event);
            progress.record();
        }
    })
    .await;
    // Leaving the group blocks on the broker: off the async workers, and bounded too.
    let closed = tokio::task::spawn_blocking(move || {
        consumer.unsubscribe();
        drop(consumer);
    });
    tokio::time::timeout(LIMIT, closed)
        .await
        .expect("the raw consumer did not close in time")
        .expect("closing the raw consumer");
    if read.is_err() {
        panic!(
            "the raw consumer read {} of {RECORDS} records within {LIMIT:?}",
            progress.count.load(Ordering::SeqCst)
        );
    }
    progress.elapsed()
}

fn consume(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let broker = shared_broker();
    let prefix = format!("{}.", unique("topic"));
    let topic = format!("{prefix}orders");
    rt.block_on(broker.create_topic(&topic, PARTITIONS))
        .unwrap();
    // Written once by the typed producer (framing and headers included); both consumers read
    // these very records.
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix),
        shared::source(),
        Metrics::new(),
    )
    .unwrap();
    rt.block_on(async {
        let events: Vec<orders::v3::OrderCreated> = (0..RECORDS).map(shared::order).collect();
        for r in join_all(events.iter().map(|e| publisher.send(e))).await {
            r.expect("pre-producing");
        }
    });

    let mut group = c.benchmark_group("consume");
    group.throughput(Throughput::Elements(RECORDS as u64));
    // One iteration per sample: an iteration is a whole consumer's life (join, read, leave).
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("typed_consumer", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += typed_once(&prefix).await;
                }
                total
            })
        })
    });
    group.bench_function("raw_stream_consumer_decoding", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += raw_once(&topic).await;
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, consume);
criterion_main!(benches);
