//! The harness itself: a broker that takes produce and fetch, topics of our own, and nothing left
//! running once the handle is gone, even when the test panicked.

use std::net::TcpStream;
use std::time::Duration;

use contracts_testkit::{Broker, unique_name};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

fn port_of(broker: &Broker) -> String {
    broker.bootstrap_servers().to_string()
}

fn accepts(addr: &str) -> bool {
    TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(200)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_of_our_own_round_trips_a_record_and_the_broker_stops_on_drop() {
    let broker = Broker::start().unwrap();
    let topic = unique_name("testkit");
    broker.create_topic(&topic, 2).await.unwrap();
    let producer: FutureProducer = broker.client_config().create().unwrap();
    let delivery = producer
        .send(
            FutureRecord::to(&topic)
                .partition(1)
                .key("k")
                .payload("hello"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(delivery.partition, 1);
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", unique_name("g"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 1, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let payload = tokio::task::spawn_blocking(move || {
        loop {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                return m.payload().map(<[u8]>::to_vec);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(payload.as_deref(), Some(&b"hello"[..]));

    let addr = port_of(&broker);
    assert!(accepts(&addr));
    drop(broker);
    assert!(!accepts(&addr), "the broker still listens after drop");
}

#[test]
fn a_panicking_test_still_stops_its_broker() {
    let addr = std::sync::Mutex::new(String::new());
    let result = std::panic::catch_unwind(|| {
        let broker = Broker::start().unwrap();
        *addr.lock().unwrap() = port_of(&broker);
        panic!("the test failed");
    });
    assert!(result.is_err());
    let addr = addr.lock().unwrap().clone();
    assert!(!accepts(&addr), "the broker outlived the panic");
}

/// The plan of Tansu's own query for a fetched record's headers (tansu-storage 0.6,
/// `sql/header_fetch.sql`).
const TANSU_HEADER_FETCH_PLAN: &str = "EXPLAIN QUERY PLAN SELECT h.k, h.v FROM header h \
     JOIN record r ON h.topition = r.topition AND h.offset_id = r.offset_id \
     JOIN topition tp ON tp.id = r.topition JOIN topic t ON tp.topic = t.id \
     JOIN cluster c ON t.cluster = c.id \
     WHERE c.name = ?1 AND t.name = ?2 AND tp.partition = ?3 AND r.offset_id = ?4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_headers_are_looked_up_by_index_not_by_scanning_every_header() {
    use rdkafka::message::{Header, Headers, OwnedHeaders};
    use sqlx::Connection;

    let broker = Broker::start().unwrap();
    let topic = unique_name("headers");
    broker.create_topic(&topic, 1).await.unwrap();
    let producer: FutureProducer = broker.client_config().create().unwrap();
    for i in 0..3 {
        let headers = OwnedHeaders::new().insert(Header {
            key: "n",
            value: Some(&format!("{i}")),
        });
        producer
            .send(
                FutureRecord::to(&topic)
                    .key("k")
                    .payload("v")
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    // The records keep their own headers with the index in place.
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", unique_name("g"))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        if let Some(m) = consumer.poll(Duration::from_secs(10)) {
            let m = m.unwrap();
            let h = m.headers().expect("the record's headers");
            assert_eq!(h.count(), 1);
            seen.push(String::from_utf8(h.get(0).value.unwrap().to_vec()).unwrap());
        } else {
            panic!("no record within 10 s; got {seen:?}");
        }
    }
    assert_eq!(seen, ["0", "1", "2"]);

    let url = format!("sqlite://{}?mode=ro", broker.database_path().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(TANSU_HEADER_FETCH_PLAN)
        .bind("tansu")
        .bind(&topic)
        .bind(0)
        .bind(1)
        .fetch_all(&mut db)
        .await
        .unwrap();
    let steps: Vec<&str> = plan.iter().map(|(_, _, _, s)| s.as_str()).collect();
    assert!(
        steps.iter().any(|s| s.contains("contracts_header_record")),
        "the header lookup does not use the index: {steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.starts_with("SCAN h")),
        "the header lookup scans the header table: {steps:?}"
    );
}
