//! The outbox relay against a raw rdkafka loop sending the same records, in one run, on the
//! same Tansu broker: rows per second. See benches/README.md ("Outbox relay").
//!
//! `cargo bench -p order-service --bench relay` (ROWS and ROUNDS in the environment override
//! 20,000 rows and 3 rounds; RELAY_DB=postgres runs the relay on a PostgreSQL server of its
//! own instead of a SQLite file).
//!
//! Each round: the outbox is filled with ROWS `OrderCreated` rows (outside the measurement),
//! then the relay publishes them all (read, send with up to 1,024 in flight, mark in one
//! transaction per batch) through the order service's sink and the typed producer; the raw
//! loop sends the same framed bytes and keys with an idempotent `FutureProducer` (acks=all),
//! all in flight at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts_core::source::{BoxFuture, RegisteredSchema, SchemaSource, SourceError};
use contracts_core::types::Decimal;
use contracts_core::{Event, SchemaId, wire};
use contracts_runtime::{Metrics, ProducerConfig, Publisher};
use events::orders::v3;
use futures_util::future::join_all;
use order_service::messaging::OrderSink;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use shop_service_kit::db::{Db, Location};
use shop_service_kit::outbox::{self, Relay};

/// A schema source that knows `OrderCreated` v3 as id 1: registry round trips stay out.
#[derive(Debug)]
struct OneSchema;

impl SchemaSource for OneSchema {
    fn schema_id<'a>(
        &'a self,
        _: &'static contracts_core::SchemaInfo,
        _: bool,
    ) -> BoxFuture<'a, Result<SchemaId, SourceError>> {
        Box::pin(async { Ok(SchemaId(1)) })
    }

    fn schema_by_id(&self, id: SchemaId) -> BoxFuture<'_, Result<RegisteredSchema, SourceError>> {
        Box::pin(async move {
            let info = <v3::OrderCreated as Event>::SCHEMA;
            if id != SchemaId(1) {
                return Err(SourceError::UnknownId(id));
            }
            Ok(RegisteredSchema {
                format: info.format,
                text: info.schema.to_string(),
                subjects: vec![info.subject.to_string()],
            })
        })
    }
}

fn order(i: usize) -> v3::OrderCreated {
    let mut e = v3::OrderCreated::new(format!("order-{i:08}"), "tea".into(), 1);
    e.customer_id = Some(format!("customer-{:06}", i % 1000));
    e.line_items = (0..3)
        .map(|n| v3::LineItem::new(format!("product-{n}"), n + 1, Decimal::new(350, 2)))
        .collect();
    e.created_at = contracts_core::types::DateTime::from_timestamp(1_700_000_000, 0);
    e
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn fill(db: &Db, rows: usize) {
    for chunk in (0..rows).collect::<Vec<_>>().chunks(1000) {
        let mut tx = db.begin().await.unwrap();
        for &i in chunk {
            outbox::enqueue(&mut tx, &order(i)).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows = env("ROWS", 20_000);
    let rounds = env("ROUNDS", 3);
    let broker = contracts_testkit::shared_broker();
    let prefix = format!("bench-relay-{}.", uuid::Uuid::new_v4().simple());
    let topic = format!("{prefix}orders");
    broker.create_topic(&topic, 3).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let _pg;
    let location = if std::env::var("RELAY_DB").as_deref() == Ok("postgres") {
        let pg = contracts_testkit::TestPostgres::start().unwrap();
        let url = pg.create_database("relay").unwrap();
        _pg = Some(pg);
        Location::Url(contracts_core::secret::Secret::new(url))
    } else {
        _pg = None;
        Location::File(dir.path().join("order.db"))
    };
    let db = Db::connect(&location, 4, order_service::store::MIGRATIONS)
        .await
        .unwrap();

    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix),
        Arc::new(OneSchema),
        Metrics::new(),
    )
    .unwrap();
    let sink = OrderSink::new(publisher);
    let relay = Relay::new(db.clone());
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..rows)
        .map(|i| {
            let e = order(i);
            let mut value = Vec::new();
            wire::write_header(
                &mut value,
                SchemaId(1),
                <v3::OrderCreated as Event>::SCHEMA.format,
                &[],
            );
            e.encode(&mut value);
            (e.order_id.into_bytes(), value)
        })
        .collect();

    // Warm both clients (connections, metadata) outside the measurement.
    fill(&db, 100).await;
    relay.run_once(&sink).await.unwrap();
    let _ = raw
        .send(
            FutureRecord::to(&topic)
                .key(&records[0].0)
                .payload(&records[0].1),
            Timeout::After(Duration::from_secs(30)),
        )
        .await;

    let (mut relayed, mut raw_rates) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        fill(&db, rows).await;
        let started = Instant::now();
        let sent = relay.run_once(&sink).await.unwrap();
        let relay_rate = sent as f64 / started.elapsed().as_secs_f64();
        assert_eq!(sent, rows, "the relay sent every row");

        let started = Instant::now();
        let acks = join_all(records.iter().map(|(key, value)| {
            raw.send(
                FutureRecord::to(&topic).key(key).payload(value),
                Timeout::After(Duration::from_secs(60)),
            )
        }))
        .await;
        let raw_rate = rows as f64 / started.elapsed().as_secs_f64();
        assert!(
            acks.iter().all(Result::is_ok),
            "every raw send acknowledged"
        );
        println!(
            "round {round}: relay {relay_rate:.0} rows/s, raw rdkafka {raw_rate:.0} records/s, ratio {:.2}",
            relay_rate / raw_rate
        );
        relayed.push(relay_rate);
        raw_rates.push(raw_rate);
        outbox::prune(&db, i64::MAX).await.unwrap();
    }
    let (r, w) = (median(relayed), median(raw_rates));
    println!(
        "median of {rounds} rounds, {rows} rows each, store {}: relay {r:.0} rows/s, raw rdkafka {w:.0} records/s, relay/raw {:.2}",
        db.backend().name(),
        r / w
    );
}
