//! End-to-end latency at a fixed rate: typed producer → broker → typed consumer, against raw
//! rdkafka producer → broker → raw consumer with the same bytes, in the same run. Prints p50,
//! p90 and p99 of (handled − produced) per record. See benches/README.md ("Kafka runtime").
//!
//! `cargo bench -p contracts-runtime --bench latency` (RATE and SECONDS in the environment
//! override 500 records/s for 10 s).

mod shared;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contracts_core::{Handle, HandlerError, RecordMeta};
use contracts_runtime::{Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher};
use events::orders;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use shared::shared_broker;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latencies in milliseconds, from the record's create time (set by the producer at send).
#[derive(Clone, Default)]
struct Latencies(Arc<Mutex<Vec<i64>>>);

impl Handle<orders::Message> for Latencies {
    async fn handle(&self, _: orders::Message, meta: &RecordMeta) -> Result<(), HandlerError> {
        let sent = meta.timestamp_ms.unwrap_or_default();
        self.0.lock().unwrap().push(now_ms() - sent);
        Ok(())
    }
}

fn percentiles(mut v: Vec<i64>) -> String {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    format!(
        "n={} p50={} ms p90={} ms p99={} ms max={} ms",
        v.len(),
        p(0.5),
        p(0.9),
        p(0.99),
        v[v.len() - 1]
    )
}

/// Calls `send(i)` `rate` times a second for `seconds`.
async fn paced<F, Fut>(rate: u64, seconds: u64, mut send: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for i in 0..(rate * seconds) as usize {
        tick.tick().await;
        tasks.push(tokio::spawn(send(i)));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn typed(rate: u64, seconds: u64) -> String {
    let broker = shared_broker();
    let prefix = format!("bench-latency-typed-{}.", uuid::Uuid::new_v4().simple());
    broker
        .create_topic(&format!("{prefix}orders"), 3)
        .await
        .unwrap();
    broker
        .create_topic(&format!("{prefix}orders.DLT"), 3)
        .await
        .unwrap();
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers())
            .topic_prefix(&prefix)
            .set("linger.ms", "1"),
        shared::source(),
        Metrics::new(),
    )
    .unwrap();
    let latencies = Latencies::default();
    let mut config =
        ConsumerConfig::new(broker.bootstrap_servers(), format!("{prefix}g")).topic_prefix(&prefix);
    config.create_dead_letter_topic = None;
    let consumer = Consumer::<orders::Topic>::new(config, shared::source(), Metrics::new())
        .await
        .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(latencies.clone()));
    // Let the consumer join before the clock starts.
    tokio::time::sleep(Duration::from_secs(5)).await;
    paced(rate, seconds, |i| {
        let p = publisher.clone();
        async move {
            p.send(&shared::order(i)).await.unwrap();
        }
    })
    .await;
    let total = (rate * seconds) as usize;
    while latencies.0.lock().unwrap().len() < total {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    control.shutdown();
    task.await.unwrap().unwrap();
    let v = latencies.0.lock().unwrap().clone();
    percentiles(v)
}

async fn raw(rate: u64, seconds: u64) -> String {
    let broker = shared_broker();
    let topic = format!("bench-latency-raw-{}.orders", uuid::Uuid::new_v4().simple());
    broker.create_topic(&topic, 3).await.unwrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .create()
        .unwrap();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", format!("{topic}-g"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let total = (rate * seconds) as usize;
    let reader = tokio::spawn(async move {
        let mut v = Vec::with_capacity(total);
        while v.len() < total {
            let m = consumer.recv().await.unwrap();
            v.push(now_ms() - m.timestamp().to_millis().unwrap_or_default());
        }
        v
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let bytes: Arc<Vec<(Vec<u8>, Vec<u8>)>> = Arc::new((0..total).map(shared::framed).collect());
    paced(rate, seconds, |i| {
        let (p, b, t) = (producer.clone(), bytes.clone(), topic.clone());
        async move {
            let (k, v) = &b[i];
            p.send(FutureRecord::to(&t).key(k).payload(v), Timeout::Never)
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    })
    .await;
    percentiles(reader.await.unwrap())
}

fn main() {
    // `cargo bench` passes `--bench`; any other run (cargo test) only checks that it builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rate = env("RATE", 500);
    let seconds = env("SECONDS", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("end-to-end latency at {rate} records/s for {seconds} s");
    println!("raw rdkafka  : {}", rt.block_on(raw(rate, seconds)));
    println!("typed runtime: {}", rt.block_on(typed(rate, seconds)));
}
