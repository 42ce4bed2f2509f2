//! End-to-end latency at a fixed rate: typed producer → broker → typed consumer, against raw
//! rdkafka producer → broker → raw consumer with the same bytes, each with librdkafka's default
//! settings, with only `fetch.wait.max.ms=5` over them, and with the `latency` profile (the
//! settings `--kafka-profile latency` gives), in the same run. Prints p50, p90, p99 and max of
//! (handled − produced) per record, after one second of warm-up records that are not counted,
//! and the broker's CPU use during each case (Linux, from /proc). See benches/README.md
//! ("Kafka runtime").
//!
//! `cargo bench -p contracts-runtime --bench latency` (RATE and SECONDS in the environment
//! override 200 records/s for 10 s).

mod shared;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use contracts_core::{Handle, HandlerError, RecordMeta};
use contracts_runtime::client_config::{ClientSettings, Origin, Profile, Scope};
use contracts_runtime::{Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher};
use events::orders;
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

impl Latencies {
    fn record(&self, sent_ms: i64) {
        self.0.lock().unwrap().push(now_ms() - sent_ms);
    }

    async fn wait_for(&self, n: usize) {
        while self.0.lock().unwrap().len() < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn take(&self) -> Vec<i64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Handle<orders::Message> for Latencies {
    async fn handle(&self, _: orders::Message, meta: &RecordMeta) -> Result<(), HandlerError> {
        self.record(meta.timestamp_ms.unwrap_or_default());
        Ok(())
    }
}

/// Sends one second of records at `rate` and waits until they are handled: the consumer has
/// joined, both clients know the partitions' leaders, and the producer has its id. Then the
/// clock starts.
async fn warm_up<F, Fut>(rate: u64, latencies: &Latencies, send: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    paced(rate, 1, send).await;
    latencies.wait_for(rate as usize).await;
    latencies.take();
}

/// CPU seconds the broker listening at `bootstrap` has used so far: the `tansu` process whose
/// command line names the address, from /proc (Linux). What a profile costs the broker.
fn broker_cpu_seconds(bootstrap: &str) -> Option<f64> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let tansu = args.first().is_some_and(|a| a.ends_with(b"tansu"));
        if !tansu || !args.iter().any(|a| a.ends_with(bootstrap.as_bytes())) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // After the command name in parentheses: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
        return Some(ticks / 100.0); // USER_HZ is 100 on Linux
    }
    None
}

/// The broker's CPU use from `start` (CPU seconds, wall time) until now, in % of one core.
fn broker_cpu_since(bootstrap: &str, start: (Option<f64>, Instant)) -> String {
    match (start.0, broker_cpu_seconds(bootstrap)) {
        (Some(before), Some(now)) => format!(
            "broker CPU {:.0}% of a core",
            100.0 * (now - before) / start.1.elapsed().as_secs_f64()
        ),
        _ => "broker CPU unknown".to_owned(),
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

async fn typed(rate: u64, seconds: u64, settings: &ClientSettings) -> String {
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
    let mut producer = ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix);
    producer.client = settings.producer();
    let publisher = Publisher::new(&producer, shared::source(), Metrics::new()).unwrap();
    let latencies = Latencies::default();
    let mut config = ConsumerConfig::new(broker.bootstrap_servers(), format!("{prefix}g"))
        .topic_prefix(&prefix)
        .producer_settings(settings.producer());
    config.client = settings.consumer();
    config.create_dead_letter_topic = None;
    let consumer = Consumer::<orders::Topic>::new(config, shared::source(), Metrics::new())
        .await
        .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(latencies.clone()));
    let send = |i| {
        let p = publisher.clone();
        async move {
            p.send(&shared::order(i)).await.unwrap();
        }
    };
    warm_up(rate, &latencies, send).await;
    let cpu = (
        broker_cpu_seconds(broker.bootstrap_servers()),
        Instant::now(),
    );
    paced(rate, seconds, send).await;
    latencies.wait_for((rate * seconds) as usize).await;
    let cpu = broker_cpu_since(broker.bootstrap_servers(), cpu);
    control.shutdown();
    task.await.unwrap().unwrap();
    format!("{}; {cpu}", percentiles(latencies.take()))
}

async fn raw(rate: u64, seconds: u64, settings: &ClientSettings) -> String {
    let broker = shared_broker();
    let topic = format!("bench-latency-raw-{}.orders", uuid::Uuid::new_v4().simple());
    broker.create_topic(&topic, 3).await.unwrap();
    // As the runtime's producer and consumer set them, over the profile's.
    let producer: FutureProducer = settings
        .client_config(Scope::Producer, broker.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    let consumer: StreamConsumer = settings
        .client_config(Scope::Consumer, broker.bootstrap_servers())
        .set("group.id", format!("{topic}-g"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let latencies = Latencies::default();
    let reader = tokio::spawn({
        let latencies = latencies.clone();
        async move {
            loop {
                let m = consumer.recv().await.unwrap();
                latencies.record(m.timestamp().to_millis().unwrap_or_default());
            }
        }
    });
    let total = (rate * (seconds + 1)) as usize;
    let bytes: Arc<Vec<(Vec<u8>, Vec<u8>)>> = Arc::new((0..total).map(shared::framed).collect());
    let send = |i: usize, offset: usize| {
        let (p, b, t) = (producer.clone(), bytes.clone(), topic.clone());
        async move {
            let (k, v) = &b[offset + i];
            p.send(FutureRecord::to(&t).key(k).payload(v), Timeout::Never)
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    };
    warm_up(rate, &latencies, |i| send(i, 0)).await;
    let cpu = (
        broker_cpu_seconds(broker.bootstrap_servers()),
        Instant::now(),
    );
    paced(rate, seconds, |i| send(i, rate as usize)).await;
    latencies.wait_for((rate * seconds) as usize).await;
    let cpu = broker_cpu_since(broker.bootstrap_servers(), cpu);
    reader.abort();
    format!("{}; {cpu}", percentiles(latencies.take()))
}

fn main() {
    // `cargo bench` passes `--bench`; any other run (cargo test) only checks that it builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rate = env("RATE", 200);
    let seconds = env("SECONDS", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("end-to-end latency at {rate} records/s for {seconds} s, one hop");
    // Built as `--kafka-profile <profile>` builds them, with nothing over the profile; and
    // librdkafka's defaults with only the fetch wait lowered, which shows what the rest of the
    // latency profile adds.
    let mut fetch_wait_only = ClientSettings::new();
    fetch_wait_only
        .set(
            Scope::Consumer,
            "fetch.wait.max.ms",
            "5",
            Origin::flag("--consumer-config"),
        )
        .unwrap();
    let cases = [
        (
            "default",
            ClientSettings::new().with_profile(Profile::Default),
        ),
        ("fetch-wait", fetch_wait_only),
        (
            "latency",
            ClientSettings::new().with_profile(Profile::Latency),
        ),
    ];
    for (name, settings) in &cases {
        println!("{name}: {}", settings.describe());
        println!(
            "  {name:<10} raw rdkafka  : {}",
            rt.block_on(raw(rate, seconds, settings))
        );
        println!(
            "  {name:<10} typed runtime: {}",
            rt.block_on(typed(rate, seconds, settings))
        );
    }
}
