//! The typed producer against raw rdkafka with the same pre-encoded bytes (with and without the
//! typed path's headers), on the same Tansu broker, in the same run. Consumer-side figures come
//! from the latency harness (`latency.rs`). See benches/README.md ("Kafka runtime").

mod shared;

use std::time::Duration;

use contracts_runtime::{Metrics, ProducerConfig, Publisher};
use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};
use events::orders;
use futures_util::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
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

    // The raw baseline again with the headers the typed producer adds, to tell what the
    // headers cost (on the broker as much as in the client) from what the runtime costs.
    let headers: Vec<OwnedHeaders> = (0..BATCH)
        .map(|i| {
            OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: "event_type",
                    value: Some("shop.orders.OrderCreated"),
                })
                .insert(Header {
                    key: "schema_id",
                    value: Some("1"),
                })
                .insert(Header {
                    key: "event_id",
                    value: Some(&format!("{:036}", i)),
                })
        })
        .collect();

    type Routine<'a> = Box<dyn FnMut(&mut Bencher<'_>) + 'a>;
    let typed: Routine<'_> = Box::new(|b| {
        b.iter(|| {
            rt.block_on(async {
                for r in join_all(events.iter().map(|e| publisher.send(e))).await {
                    r.unwrap();
                }
            })
        })
    });
    let raw_bare: Routine<'_> = Box::new(|b| {
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
    let raw_headers: Routine<'_> = Box::new(|b| {
        b.iter(|| {
            rt.block_on(async {
                let sends = bytes.iter().zip(&headers).map(|((k, v), h)| {
                    raw.send(
                        FutureRecord::to(&topic)
                            .key(k)
                            .payload(v)
                            .headers(h.clone()),
                        Timeout::Never,
                    )
                });
                for r in join_all(sends).await {
                    r.map_err(|(e, _)| e).unwrap();
                }
            })
        })
    });
    let mut routines = vec![
        ("typed_publisher", typed),
        ("raw_rdkafka_pre_encoded", raw_bare),
        ("raw_rdkafka_pre_encoded_same_headers", raw_headers),
    ];
    // The broker's store grows through the run, so the order may favour the first: run it
    // both ways (THROUGHPUT_ORDER=reverse) before concluding anything.
    if std::env::var("THROUGHPUT_ORDER").as_deref() == Ok("reverse") {
        routines.reverse();
    }

    let mut group = c.benchmark_group("produce");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, mut routine) in routines {
        group.bench_function(name, |b| routine(b));
    }
    group.finish();
}

criterion_group!(benches, produce);
criterion_main!(benches);
