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
