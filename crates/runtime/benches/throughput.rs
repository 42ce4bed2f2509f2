//! Typed producer and consumer against raw rdkafka with the same pre-encoded bytes, on the same
//! Tansu broker, in the same run. See benches/README.md ("Kafka runtime").

mod shared;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts_core::{Handle, HandlerError, RecordMeta};
use contracts_runtime::{Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use events::orders;
use futures_util::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use shared::shared_broker;

/// Records per iteration.
const BATCH: usize = 5_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn produce(c: &mut Criterion) {
    let rt = runtime();
    let broker = shared_broker();
    let prefix = format!("bench-produce-{}.", uuid::Uuid::new_v4().simple());
    let topic = format!("{prefix}orders");
    rt.block_on(broker.create_topic(&topic, 3)).unwrap();
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix),
        shared::source(),
        Metrics::new(),
    )
    .unwrap();
    // The raw baseline with the typed producer's defaults (idempotent, acks=all).
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    let events: Vec<orders::v3::OrderCreated> = (0..BATCH).map(shared::order).collect();
    let bytes: Vec<(Vec<u8>, Vec<u8>)> = (0..BATCH).map(shared::framed).collect();

    let mut group = c.benchmark_group("produce");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("typed_publisher", |b| {
        b.iter(|| {
            rt.block_on(async {
                for r in join_all(events.iter().map(|e| publisher.send(e))).await {
                    r.unwrap();
                }
            })
        })
    });
    group.bench_function("raw_rdkafka_pre_encoded", |b| {
        b.iter(|| {
            rt.block_on(async {
                let sends = bytes.iter().map(|(k, v)| {
                    raw.send(FutureRecord::to(&topic).key(k).payload(v), Timeout::Never)
                });
                for r in join_all(sends).await {
                    r.map_err(|(e, _)| e).unwrap();
                }
            })
        })
    });
    group.finish();
}

/// Counts handled records and notes when the first and the last arrived.
#[derive(Clone)]
struct Clock {
    count: Arc<AtomicUsize>,
    span: Arc<Mutex<(Option<Instant>, Option<Instant>)>>,
}

impl Handle<orders::Message> for Clock {
    async fn handle(&self, m: orders::Message, _: &RecordMeta) -> Result<(), HandlerError> {
        std::hint::black_box(m);
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let mut span = self.span.lock().unwrap();
        if n == 1 {
            span.0 = Some(Instant::now());
        }
        if n == BATCH {
            span.1 = Some(Instant::now());
        }
        Ok(())
    }
}

fn consume(c: &mut Criterion) {
    let rt = runtime();
    let broker = shared_broker();
    let prefix = format!("bench-consume-{}.", uuid::Uuid::new_v4().simple());
    let topic = format!("{prefix}orders");
    rt.block_on(broker.create_topic(&topic, 3)).unwrap();
    rt.block_on(broker.create_topic(&format!("{topic}.DLT"), 3))
        .unwrap();
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix),
        shared::source(),
        Metrics::new(),
    )
    .unwrap();
    rt.block_on(async {
        let events: Vec<_> = (0..BATCH).map(shared::order).collect();
        for r in join_all(events.iter().map(|e| publisher.send(e))).await {
            r.unwrap();
        }
    });

    let mut group = c.benchmark_group("consume");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    // Joining a group takes seconds and is not measured: time runs from the first record to
    // the last, per fresh group.
    group.bench_function("typed_consumer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let clock = Clock {
                        count: Arc::default(),
                        span: Arc::default(),
                    };
                    let mut config = ConsumerConfig::new(
                        broker.bootstrap_servers(),
                        format!("{prefix}{}", uuid::Uuid::new_v4().simple()),
                    )
                    .topic_prefix(&prefix);
                    config.create_dead_letter_topic = None;
                    let consumer =
                        Consumer::<orders::Topic>::new(config, shared::source(), Metrics::new())
                            .await
                            .unwrap();
                    let control = consumer.control();
                    let task = tokio::spawn(consumer.run(clock.clone()));
                    while clock.count.load(Ordering::SeqCst) < BATCH {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    control.shutdown();
                    task.await.unwrap().unwrap();
                    let (first, last) = *clock.span.lock().unwrap();
                    last.unwrap() - first.unwrap()
                });
            }
            total
        })
    });
    group.bench_function("raw_rdkafka_stream_consumer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let consumer: StreamConsumer = ClientConfig::new()
                        .set("bootstrap.servers", broker.bootstrap_servers())
                        .set(
                            "group.id",
                            format!("{prefix}{}", uuid::Uuid::new_v4().simple()),
                        )
                        .set("auto.offset.reset", "earliest")
                        .set("enable.auto.offset.store", "false")
                        .create()
                        .unwrap();
                    consumer.subscribe(&[&topic]).unwrap();
                    let mut first = None;
                    for n in 0..BATCH {
                        let m = consumer.recv().await.unwrap();
                        if n == 0 {
                            first = Some(Instant::now());
                        }
                        // The same bookkeeping the typed consumer does: store each offset.
                        consumer.store_offset_from_message(&m).unwrap();
                        std::hint::black_box(&m);
                    }
                    first.unwrap().elapsed()
                });
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, produce, consume);
criterion_main!(benches);
