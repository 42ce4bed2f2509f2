//! A service implements the handler trait generated for each topic it consumes; the dispatcher
//! turns it into the runtime's `Handle<Message>` and calls the method for each event.

use std::sync::Mutex;

use contracts_core::{
    Event, Format, Handle, HandlerError, RecordMeta, SchemaId, TopicMessage, WriterSchema,
};
use events::services::notification::{InventoryDispatcher, InventoryHandler, OrdersHandler};
use events::{inventory, orders};

#[derive(Default)]
struct Notifier(Mutex<Vec<String>>);

impl Notifier {
    fn note(&self, what: String) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(what);
        Ok(())
    }
}

impl InventoryHandler for Notifier {
    async fn inventory_reserved_v1(
        &self,
        e: inventory::v1::InventoryReserved,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(format!("reserved v1 {}", e.order_id))
    }
    async fn inventory_reserved_v2(
        &self,
        e: inventory::v2::InventoryReserved,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(format!("reserved v2 {} in {}", e.order_id, e.warehouse_id))
    }
    async fn inventory_rejected_v1(
        &self,
        e: inventory::v1::InventoryRejected,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(format!("rejected v1 {}", e.order_id))
    }
    async fn inventory_rejected_v2(
        &self,
        e: inventory::v3::InventoryRejected,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(format!("rejected v2 {}: {:?}", e.order_id, e.reason()))
    }
}

// Every event notification consumes on `orders` is a required method.
impl OrdersHandler for Notifier {
    async fn order_created(
        &self,
        e: orders::v3::OrderCreated,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(format!("created {}", e.order_id))
    }
    async fn order_paid(
        &self,
        e: orders::v1::OrderPaid,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(format!("paid {}", e.order_id))
    }
    async fn order_shipped(
        &self,
        e: orders::v1::OrderShipped,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(format!("shipped {}", e.order_id))
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the handler answers at once"),
    }
}

fn main() {
    let dispatcher = InventoryDispatcher::new(Notifier::default());
    let meta = RecordMeta::new("inventory", 0, 7, SchemaId(3));

    // A record written with v1's schema, read through the topic's message enum.
    let v1 = inventory::v1::InventoryReserved {
        order_id: "o-1".into(),
        ..Default::default()
    };
    let mut payload = Vec::new();
    v1.encode(&mut payload);
    let schema = <inventory::v1::InventoryReserved as Event>::SCHEMA;
    let writer = WriterSchema::new(
        SchemaId(3),
        Format::Protobuf,
        schema.schema,
        Some(schema.name.into()),
        vec![0],
    );
    let message = inventory::Message::decode_from(&writer, &payload).unwrap();
    assert_eq!(message.schema().name, "shop.inventory.v1.InventoryReserved");
    block_on(dispatcher.handle(message, &meta)).unwrap();

    let rejected = inventory::v3::InventoryRejected {
        order_id: "o-2".into(),
        reason: inventory::v3::RejectionReason::OutOfStock as i32,
        ..Default::default()
    };
    block_on(dispatcher.handle(rejected.into(), &meta)).unwrap();

    assert_eq!(
        *dispatcher.handler().0.lock().unwrap(),
        ["reserved v1 o-1", "rejected v2 o-2: OutOfStock"]
    );
    // The manifest names no group, so it is the service's name.
    assert_eq!(events::services::notification::CONSUMER_GROUP, "notification");
}
