//! The runtime with the shop's generated events (`events`, from schemas/) on a real broker:
//! every event of the manifest, Avro and Protobuf, through typed producers, generated producer
//! sets and dispatchers, and consumers on the newest versions.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::source::MemorySource;
use common::{eventually, shared_broker, unique_prefix};
use contracts_core::types::{DateTime, Decimal, Utc};
use contracts_core::{Handle, HandlerError, RecordMeta, Topic, TopicMessage};
use contracts_runtime::{
    Consumer, ConsumerConfig, ConsumerControl, Metrics, ProducerConfig, Publisher,
};
use events::proto::shop::common::v1::{LineItem as PbLineItem, Money};
use events::{inventory, order_created_pb, orders, services};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(60);

/// Collects every message of a topic.
#[derive(Debug)]
struct Collect<M> {
    seen: Arc<Mutex<Vec<(M, RecordMeta)>>>,
}

impl<M> Clone for Collect<M> {
    fn clone(&self) -> Self {
        Collect {
            seen: self.seen.clone(),
        }
    }
}

impl<M: TopicMessage + Clone> Collect<M> {
    fn new() -> Self {
        Collect {
            seen: Arc::default(),
        }
    }

    async fn wait_for(&self, n: usize) -> Vec<M> {
        eventually(&format!("{n} messages"), WAIT, || async {
            let seen = self.seen.lock().unwrap();
            (seen.len() >= n).then(|| seen.iter().map(|(m, _)| m.clone()).collect())
        })
        .await
    }
}

impl<M: TopicMessage + Clone + Sync> Handle<M> for Collect<M> {
    async fn handle(&self, message: M, meta: &RecordMeta) -> Result<(), HandlerError> {
        self.seen.lock().unwrap().push((message, meta.clone()));
        Ok(())
    }
}

struct Shop {
    prefix: String,
    source: Arc<MemorySource>,
    metrics: Metrics,
    publisher: Publisher,
}

async fn shop(test: &str) -> Shop {
    let broker = shared_broker();
    let prefix = unique_prefix(test);
    for topic in [
        orders::Topic::NAME,
        inventory::Topic::NAME,
        order_created_pb::Topic::NAME,
    ] {
        broker
            .create_topic(&format!("{prefix}{topic}"), 3)
            .await
            .unwrap();
    }
    let source = Arc::new(MemorySource::new());
    let metrics = Metrics::new();
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix),
        source.clone(),
        metrics.clone(),
    )
    .unwrap();
    Shop {
        prefix,
        source,
        metrics,
        publisher,
    }
}

impl Shop {
    async fn consume<T: Topic, H: Handle<T::Message> + 'static>(
        &self,
        group: &str,
        handler: H,
    ) -> (ConsumerControl, JoinHandle<contracts_runtime::Result<()>>) {
        let config = ConsumerConfig::new(
            shared_broker().bootstrap_servers(),
            format!("{}{group}", self.prefix),
        )
        .topic_prefix(&self.prefix);
        let consumer = Consumer::<T>::new(config, self.source.clone(), self.metrics.clone())
            .await
            .unwrap();
        let control = consumer.control();
        (control, tokio::spawn(consumer.run(handler)))
    }
}

async fn stop(control: ConsumerControl, task: JoinHandle<contracts_runtime::Result<()>>) {
    control.shutdown();
    task.await.unwrap().unwrap();
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn pb_at(secs: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: secs,
        nanos: 0,
    })
}

fn pb_line() -> PbLineItem {
    PbLineItem {
        product_name: "kettle".into(),
        quantity: 2,
        unit_price: Some(Money {
            currency_code: "EUR".into(),
            units: 19,
            nanos: 990_000_000,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_the_manifest_round_trips_and_older_versions_reach_the_newest_reader() {
    let s = shop("every-event").await;

    // orders (Avro): v1 and v2 by hand, the newest through the order service's producer set.
    let order = services::order::Producer::new(s.publisher.clone());
    let v1 = orders::v1::OrderCreated::new("o-1".into(), "kettle".into(), 1);
    let mut v2 = orders::v2::OrderCreated::new("o-2".into(), "teapot".into(), 2);
    v2.customer_id = Some("c-2".into());
    let mut v3 = orders::v3::OrderCreated::new("o-3".into(), "mug".into(), 3);
    v3.customer_id = Some("c-3".into());
    v3.line_items = vec![orders::v3::LineItem::new(
        "mug".into(),
        3,
        Decimal::new(450, 2),
    )];
    v3.currency = orders::v3::Currency::Gbp;
    v3.created_at = Some(at(1_700_000_000));
    let paid = orders::v1::OrderPaid::new(
        "o-3".into(),
        "pay-1".into(),
        Decimal::new(1350, 2),
        orders::v1::Currency::Gbp,
        at(1_700_000_100),
    );
    let mut shipped = orders::v1::OrderShipped::new("o-3".into(), "dhl".into(), at(1_700_000_200));
    shipped.tracking_number = Some("JD0001".into());
    s.publisher.send(&v1).await.unwrap();
    s.publisher.send(&v2).await.unwrap();
    order.order_created_on_orders(&v3).await.unwrap();
    order.order_paid(&paid).await.unwrap();
    order.order_shipped(&shipped).await.unwrap();

    // inventory (Protobuf, two packages), order-created-pb (Protobuf).
    let reserved1 = inventory::v1::InventoryReserved {
        order_id: "o-1".into(),
        line_items: vec![pb_line()],
        reserved_at: pb_at(10),
    };
    let reserved2 = inventory::v2::InventoryReserved {
        order_id: "o-2".into(),
        line_items: vec![pb_line()],
        reserved_at: pb_at(20),
        warehouse_id: "wh-7".into(),
        expires_at: pb_at(30),
    };
    let rejected1 = inventory::v1::InventoryRejected {
        order_id: "o-4".into(),
        line_items: vec![pb_line()],
        reason: "out of stock".into(),
        rejected_at: pb_at(40),
    };
    // v2 and v3 share a package and a subject; v2's text lives under schemas/history/, so it
    // is a type of its own, read by consumers as v3.
    let rejected2 = inventory::v2::InventoryRejected {
        order_id: "o-5".into(),
        line_items: vec![],
        reason: inventory::v2::RejectionReason::QuantityLimit as i32,
        rejected_at: pb_at(50),
        detail: "max 10".into(),
    };
    let rejected3 = inventory::v3::InventoryRejected {
        order_id: "o-6".into(),
        line_items: vec![pb_line()],
        reason: inventory::v3::RejectionReason::OutOfStock as i32,
        rejected_at: pb_at(55),
        detail: "2 left".into(),
        stock_on_hand: [("kettle".to_owned(), 1)].into(),
    };
    s.publisher.send(&reserved1).await.unwrap();
    s.publisher.send(&reserved2).await.unwrap();
    s.publisher.send(&rejected1).await.unwrap();
    s.publisher.send(&rejected2).await.unwrap();
    s.publisher.send(&rejected3).await.unwrap();
    let pb_order_v1 = order_created_pb::v1::OrderCreated {
        order_id: "o-8".into(),
        customer_id: "c-8".into(),
        line_items: vec![],
        created_at: pb_at(58),
    };
    s.publisher.send(&pb_order_v1).await.unwrap();
    let pb_order = order_created_pb::v2::OrderCreated {
        order_id: "o-9".into(),
        customer_id: "c-9".into(),
        line_items: vec![pb_line()],
        created_at: pb_at(60),
        total: pb_line().unit_price,
    };
    order
        .order_created_on_order_created_pb(&pb_order)
        .await
        .unwrap();

    let on_orders = Collect::<orders::Message>::new();
    let on_inventory = Collect::<inventory::Message>::new();
    let on_pb = Collect::<order_created_pb::Message>::new();
    let a = s.consume::<orders::Topic, _>("g", on_orders.clone()).await;
    let b = s
        .consume::<inventory::Topic, _>("g", on_inventory.clone())
        .await;
    let c = s
        .consume::<order_created_pb::Topic, _>("g", on_pb.clone())
        .await;
    let mut got_orders = on_orders.wait_for(5).await;
    let got_inventory = on_inventory.wait_for(5).await;
    let mut got_pb = on_pb.wait_for(2).await;
    for (control, task) in [a, b, c] {
        stop(control, task).await;
    }

    // One key per order, so sort by key to compare (keys spread over partitions).
    let key = |m: &orders::Message| match m {
        orders::Message::OrderCreated(e) => (e.order_id.clone(), 0),
        orders::Message::OrderPaid(e) => (e.order_id.clone(), 1),
        orders::Message::OrderShipped(e) => (e.order_id.clone(), 2),
    };
    got_orders.sort_by_key(key);
    let mut v1_as_v3 = orders::v3::OrderCreated::new("o-1".into(), "kettle".into(), 1);
    v1_as_v3.currency = orders::v3::Currency::Eur;
    let mut v2_as_v3 = orders::v3::OrderCreated::new("o-2".into(), "teapot".into(), 2);
    v2_as_v3.customer_id = Some("c-2".into());
    assert_eq!(
        got_orders,
        vec![
            orders::Message::OrderCreated(v1_as_v3),
            orders::Message::OrderCreated(v2_as_v3),
            orders::Message::OrderCreated(v3),
            orders::Message::OrderPaid(paid),
            orders::Message::OrderShipped(shipped),
        ]
    );

    let mut expected_inventory = vec![
        inventory::Message::InventoryReservedV1(reserved1),
        inventory::Message::InventoryReservedV2(reserved2),
        inventory::Message::InventoryRejectedV1(rejected1),
        inventory::Message::InventoryRejectedV2(inventory::v3::InventoryRejected {
            order_id: "o-5".into(),
            line_items: vec![],
            reason: inventory::v3::RejectionReason::QuantityLimit as i32,
            rejected_at: pb_at(50),
            detail: "max 10".into(),
            stock_on_hand: Default::default(),
        }),
        inventory::Message::InventoryRejectedV2(rejected3),
    ];
    let mut got_inventory = got_inventory;
    let inv_key = |m: &inventory::Message| format!("{m:?}");
    got_inventory.sort_by_key(inv_key);
    expected_inventory.sort_by_key(inv_key);
    assert_eq!(got_inventory, expected_inventory);
    got_pb.sort_by_key(|m| match m {
        order_created_pb::Message::OrderCreated(e) => e.order_id.clone(),
    });
    let v1_as_v2 = order_created_pb::v2::OrderCreated {
        order_id: "o-8".into(),
        customer_id: "c-8".into(),
        line_items: vec![],
        created_at: pb_at(58),
        total: None,
    };
    assert_eq!(
        got_pb,
        vec![
            order_created_pb::Message::OrderCreated(v1_as_v2),
            order_created_pb::Message::OrderCreated(pb_order)
        ]
    );
}

/// The notification service's handler, driven through its generated dispatcher.
#[derive(Clone, Default)]
struct Notifications {
    sent: Arc<Mutex<Vec<String>>>,
}

impl services::notification::OrdersHandler for Notifications {
    async fn order_created(
        &self,
        event: orders::v3::OrderCreated,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.sent
            .lock()
            .unwrap()
            .push(format!("thanks for order {}", event.order_id));
        Ok(())
    }

    async fn order_paid(
        &self,
        event: orders::v1::OrderPaid,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.sent
            .lock()
            .unwrap()
            .push(format!("received {} for {}", event.amount, event.order_id));
        Ok(())
    }

    async fn order_shipped(
        &self,
        event: orders::v1::OrderShipped,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.sent
            .lock()
            .unwrap()
            .push(format!("{} shipped with {}", event.order_id, event.carrier));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_dispatcher_drives_a_service_handler_in_order() {
    let s = shop("dispatcher").await;
    let order = services::order::Producer::new(s.publisher.clone());
    order
        .order_created_on_orders(&orders::v3::OrderCreated::new(
            "o-1".into(),
            "mug".into(),
            1,
        ))
        .await
        .unwrap();
    order
        .order_paid(&orders::v1::OrderPaid::new(
            "o-1".into(),
            "p".into(),
            Decimal::new(999, 2),
            orders::v1::Currency::Eur,
            at(1),
        ))
        .await
        .unwrap();
    order
        .order_shipped(&orders::v1::OrderShipped::new(
            "o-1".into(),
            "ups".into(),
            at(2),
        ))
        .await
        .unwrap();
    let handler = Notifications::default();
    let (control, task) = s
        .consume::<orders::Topic, _>(
            services::notification::CONSUMER_GROUP,
            services::notification::OrdersDispatcher::new(handler.clone()),
        )
        .await;
    eventually("three notifications", WAIT, || async {
        (handler.sent.lock().unwrap().len() == 3).then_some(())
    })
    .await;
    stop(control, task).await;
    assert_eq!(
        *handler.sent.lock().unwrap(),
        [
            "thanks for order o-1",
            "received 9.99 for o-1",
            "o-1 shipped with ups"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_version_unknown_at_build_time_is_resolved_through_the_registry_schema() {
    use contracts_core::{Event, Format, wire};
    let s = shop("unknown-writer").await;
    // Another team's producer already writes a v4 that adds a field with a default.
    let v3_text = <orders::v3::OrderCreated as Event>::SCHEMA.schema;
    let cut = v3_text.rfind(']').unwrap();
    let v4_text = format!(
        "{},{{\"name\":\"gift_note\",\"type\":\"string\",\"default\":\"\"}}{}",
        v3_text[..cut].trim_end(),
        &v3_text[cut..]
    );
    let v4_id = s
        .source
        .register_text("shop.orders.OrderCreated", Format::Avro, &v4_text);
    let mut expected = orders::v3::OrderCreated::new("o-4".into(), "vase".into(), 1);
    expected.customer_id = Some("c-4".into());
    let mut value = Vec::new();
    wire::write_header(&mut value, v4_id, Format::Avro, &[]);
    expected.encode(&mut value);
    value.extend_from_slice(b"\x0efor mum"); // gift_note: the field v3 does not know
    let raw = common::raw_producer(shared_broker().bootstrap_servers());
    common::send_raw(&raw, &format!("{}orders", s.prefix), b"o-4", &value).await;

    let seen = Collect::<orders::Message>::new();
    let (control, task) = s.consume::<orders::Topic, _>("g", seen.clone()).await;
    let got = seen.wait_for(1).await;
    stop(control, task).await;
    assert_eq!(got, vec![orders::Message::OrderCreated(expected)]);
}
