//! A service publishes through its generated producer set: the topic, subject and key come from
//! the contract, not from strings at the call site.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Mutex;

use contracts_core::{Event, EventKey, Publish, Topic};
use events::inventory;
use events::proto::shop::common::v1::LineItem;
use events::services;

/// What a real publisher would send to Kafka: topic, subject, key and payload.
#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, &'static str, Vec<u8>, Vec<u8>)>>);

impl Publish for Recorder {
    type Delivery = usize;
    type Error<E: Event> = Infallible;

    fn publish<E: Event>(
        &self,
        event: &E,
    ) -> impl Future<Output = Result<usize, Infallible>> + Send {
        let mut key = Vec::new();
        event.key().write_key(&mut key);
        let mut payload = Vec::new();
        event.encode(&mut payload);
        let mut sent = self.0.lock().unwrap();
        sent.push((<E::Topic as Topic>::NAME, E::SCHEMA.subject, key, payload));
        std::future::ready(Ok(sent.len()))
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the recorder answers at once"),
    }
}

fn main() {
    let producer = services::inventory::Producer::new(Recorder::default());
    let reserved = inventory::v2::InventoryReserved {
        order_id: "o-1".into(),
        line_items: vec![LineItem {
            product_name: "tea".into(),
            quantity: 2,
            unit_price: None,
        }],
        warehouse_id: "w-9".into(),
        ..Default::default()
    };
    assert_eq!(block_on(producer.inventory_reserved(&reserved)), Ok(1));

    let sent = producer.publisher().0.lock().unwrap();
    let (topic, subject, key, payload) = &sent[0];
    assert_eq!(*topic, "inventory");
    assert_eq!(*subject, "inventory-shop.inventory.v2.InventoryReserved");
    assert_eq!(key, b"o-1");
    assert_eq!(
        inventory::v2::InventoryReserved::decode(payload).unwrap(),
        reserved
    );
    // The manifest names no group, so it is the service's name.
    assert_eq!(services::inventory::CONSUMER_GROUP, "inventory");
}
