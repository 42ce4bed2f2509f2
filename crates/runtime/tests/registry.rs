//! The runtime with the real schema registry (ours, started by `contracts-testkit`) through the
//! registry client, and interop with a third-party client: PyPI confluent-kafka's
//! AvroSerializer writes what our typed consumer reads, its AvroDeserializer reads what our
//! typed producer wrote.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, shared_broker, unique_prefix};
use contracts_core::source::{SchemaSource, SourceError};
use contracts_core::types::{DateTime, Decimal};
use contracts_core::{Handle, HandlerError, RecordMeta, Topic, TopicMessage};
use contracts_registry_client::client::Client;
use contracts_runtime::{
    Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher, SchemaRegistration, SendErrorKind,
};
use contracts_testkit::TestRegistry;
use events::proto::shop::common::v1::{LineItem, Money};
use events::{inventory, orders};

const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Collect<M>(Arc<Mutex<Vec<M>>>);

impl<M> Clone for Collect<M> {
    fn clone(&self) -> Self {
        Collect(self.0.clone())
    }
}

impl<M: TopicMessage + Clone + Sync> Handle<M> for Collect<M> {
    async fn handle(&self, message: M, _: &RecordMeta) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(message);
        Ok(())
    }
}

async fn consume_all<T: Topic>(
    prefix: &str,
    source: Arc<dyn SchemaSource>,
    n: usize,
) -> Vec<T::Message>
where
    T::Message: Clone + Sync,
{
    let seen = Collect::<T::Message>(Arc::default());
    let config = ConsumerConfig::new(shared_broker().bootstrap_servers(), format!("{prefix}g"))
        .topic_prefix(prefix);
    let consumer = Consumer::<T>::new(config, source, Metrics::new())
        .await
        .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(seen.clone()));
    eventually(&format!("{n} records"), WAIT, || async {
        (seen.0.lock().unwrap().len() >= n).then_some(())
    })
    .await;
    control.shutdown();
    task.await.unwrap().unwrap();
    seen.0.lock().unwrap().clone()
}

fn v3(order: &str) -> orders::v3::OrderCreated {
    let mut e = orders::v3::OrderCreated::new(order.into(), "teapot".into(), 1);
    e.customer_id = Some("c-1".into());
    e.line_items = vec![orders::v3::LineItem::new(
        "teapot".into(),
        1,
        Decimal::new(1250, 2),
    )];
    e.currency = orders::v3::Currency::Gbp;
    e.created_at = DateTime::from_timestamp(1_795_780_800, 0);
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_round_trip_with_ids_from_the_registry_protobuf_imports_included() {
    let broker = shared_broker();
    let registry = TestRegistry::start(broker).await.unwrap();
    let client: Arc<dyn SchemaSource> = Arc::new(Client::new(&registry.url()).unwrap());
    let prefix = unique_prefix("registry");
    for t in [orders::Topic::NAME, inventory::Topic::NAME] {
        broker
            .create_topic(&format!("{prefix}{t}"), 3)
            .await
            .unwrap();
    }
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix),
        client.clone(),
        Metrics::new(),
    )
    .unwrap();
    let order = v3("o-1");
    let first = publisher.send(&order).await.unwrap();
    let second = publisher.send(&v3("o-2")).await.unwrap();
    assert_eq!(first.schema_id, second.schema_id, "resolved once, same id");
    // Protobuf with imports: line_item.proto and money.proto are registered as references first.
    let reserved = inventory::v2::InventoryReserved {
        order_id: "o-1".into(),
        line_items: vec![LineItem {
            product_name: "teapot".into(),
            quantity: 1,
            unit_price: Some(Money {
                currency_code: "GBP".into(),
                units: 12,
                nanos: 500_000_000,
            }),
        }],
        reserved_at: None,
        warehouse_id: "wh-1".into(),
        expires_at: None,
    };
    publisher.send(&reserved).await.unwrap();

    let got = consume_all::<orders::Topic>(&prefix, client.clone(), 2).await;
    assert!(got.contains(&orders::Message::OrderCreated(order)));
    let got = consume_all::<inventory::Topic>(&prefix, client.clone(), 1).await;
    assert_eq!(got, vec![inventory::Message::InventoryReservedV2(reserved)]);

    // A producer that may not register finds the registered schema, and refuses an unknown one.
    let lookup_only = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers())
            .topic_prefix(&prefix)
            .registration(SchemaRegistration::LookupOnly),
        client.clone(),
        Metrics::new(),
    )
    .unwrap();
    assert_eq!(
        lookup_only.send(&v3("o-3")).await.unwrap().schema_id,
        first.schema_id
    );
    let paid = orders::v1::OrderPaid::new(
        "o-1".into(),
        "p-1".into(),
        Decimal::new(1250, 2),
        orders::v1::Currency::Gbp,
        DateTime::from_timestamp(1, 0).unwrap(),
    );
    let err = lookup_only
        .send(&paid)
        .await
        .expect_err("OrderPaid was never registered");
    assert!(
        matches!(
            err.kind(),
            SendErrorKind::Schema(SourceError::NotRegistered { .. })
        ),
        "{err}"
    );
}

/// The Python of the venv `.ci/install-clients` makes (or `$CONFLUENT_PYTHON`).
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CONFLUENT_PYTHON") {
        return p.into();
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = repo.join(".oracles/clients/venv/bin/python");
    assert!(
        venv.exists(),
        "PyPI confluent-kafka is not installed at {}: run .ci/install-clients",
        venv.display()
    );
    venv
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/confluent_client.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_avro_serializer_and_our_runtime_read_each_other() {
    let broker = shared_broker();
    let registry = TestRegistry::start(broker).await.unwrap();
    let client: Arc<dyn SchemaSource> = Arc::new(Client::new(&registry.url()).unwrap());
    let prefix = unique_prefix("interop");
    let topic = format!("{prefix}orders");
    broker.create_topic(&topic, 3).await.unwrap();
    let schema_file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas/shop/orders/order_created/v3.avsc");

    // Theirs → ours.
    let out = Command::new(python())
        .arg(script())
        .args([
            "produce",
            broker.bootstrap_servers(),
            &registry.url(),
            &topic,
        ])
        .arg(&schema_file)
        .arg("3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = consume_all::<orders::Topic>(&prefix, client.clone(), 3).await;
    got.sort_by_key(|m| format!("{m:?}"));
    for (i, m) in got.iter().enumerate() {
        let orders::Message::OrderCreated(e) = m else {
            panic!("{m:?}")
        };
        assert_eq!(e.order_id, format!("py-{i}"));
        assert_eq!(e.quantity, i as i32 + 1);
        assert_eq!(e.customer_id, (i % 2 == 0).then(|| format!("customer-{i}")));
        assert_eq!(e.currency, orders::v3::Currency::Gbp);
        assert_eq!(e.line_items[0].unit_price, Decimal::new(1250, 2));
        assert_eq!(e.line_items[1].unit_price, Decimal::new(305, 2));
        assert_eq!(
            e.created_at,
            DateTime::from_timestamp(1_795_780_800 + i as i64, 0)
        );
    }

    // Ours → theirs, on a topic of its own.
    let ours = format!("{prefix}ours.");
    broker
        .create_topic(&format!("{ours}orders"), 3)
        .await
        .unwrap();
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&ours),
        client,
        Metrics::new(),
    )
    .unwrap();
    let sent = v3("rust-1");
    let delivery = publisher.send(&sent).await.unwrap();
    let out = Command::new(python())
        .arg(script())
        .args(["consume", broker.bootstrap_servers(), &registry.url()])
        .arg(format!("{ours}orders"))
        .arg("1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &records[0];
    assert_eq!(r["key"], "rust-1");
    let v = &r["value"];
    assert_eq!(v["order_id"], "rust-1");
    assert_eq!(v["customer_id"], "c-1");
    assert_eq!(v["currency"], "GBP");
    assert_eq!(v["line_items"][0]["unit_price"], "12.50");
    assert_eq!(v["created_at"], 1_795_780_800_000i64);
    assert_eq!(r["headers"]["event_type"], "shop.orders.OrderCreated");
    assert_eq!(r["headers"]["event_id"], delivery.event_id.as_str());
}
