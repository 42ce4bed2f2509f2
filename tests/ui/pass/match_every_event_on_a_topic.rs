//! A topic's message enum has one variant per event: a match handles each, and the contract of
//! every event (subject, version, format) is known without a registry.

use contracts_core::{DecodeError, Event, Format, SchemaId, Topic, TopicMessage, WriterSchema};
use events::{order_created_pb, orders};

fn describe(message: &orders::Message) -> &'static str {
    match message {
        orders::Message::OrderCreated(_) => "created",
        orders::Message::OrderPaid(_) => "paid",
        orders::Message::OrderShipped(_) => "shipped",
    }
}

/// Accepts only events whose contract puts them on `orders`.
fn on_orders<E: Event<Topic = orders::Topic>>() -> &'static str {
    E::SCHEMA.name
}

fn main() {
    let _: fn(&orders::Message) -> &str = describe;
    let created = orders::v1::OrderCreated {
        order_id: "o-1".into(),
        product_name: "tea".into(),
        quantity: 2,
    };
    assert_eq!(created.key(), "o-1");

    assert_eq!(<orders::Topic as Topic>::NAME, "orders");
    assert_eq!(
        on_orders::<orders::v2::OrderCreated>(),
        "shop.orders.OrderCreated"
    );
    let names: Vec<_> = <orders::Message as TopicMessage>::EVENTS
        .iter()
        .map(|s| (s.name, s.version))
        .collect();
    assert_eq!(
        names,
        [
            ("shop.orders.OrderCreated", 3),
            ("shop.orders.OrderPaid", 1),
            ("shop.orders.OrderShipped", 1)
        ]
    );

    // The Avro and the Protobuf OrderCreated live apart, each with its own contract.
    let avro = <orders::v2::OrderCreated as Event>::SCHEMA;
    assert_eq!(
        (avro.format, avro.subject, avro.version),
        (Format::Avro, "shop.orders.OrderCreated", 2)
    );
    assert!(avro.schema.contains("\"customer_id\""));
    let pb = <order_created_pb::v2::OrderCreated as Event>::SCHEMA;
    assert_eq!(
        (pb.format, pb.subject),
        (Format::Protobuf, "order-created-pb-value")
    );
    assert_eq!(pb.message_indexes, [0]);
    let deps: Vec<_> = pb.dependencies.iter().map(|d| d.name).collect();
    assert_eq!(
        deps,
        [
            "shop/common/v1/money.proto",
            "shop/common/v1/line_item.proto"
        ]
    );

    // A record written with v1 reads as the topic's newest OrderCreated (v3), by the writer's name.
    let mut payload = Vec::new();
    created.encode(&mut payload);
    let v1 = <orders::v1::OrderCreated as Event>::SCHEMA;
    let writer = WriterSchema::new(
        SchemaId(1),
        Format::Avro,
        v1.schema,
        Some(v1.name.into()),
        vec![],
    );
    match orders::Message::decode_from(&writer, &payload).unwrap() {
        orders::Message::OrderCreated(v3) => {
            assert_eq!((v3.order_id.as_str(), v3.quantity), ("o-1", 2));
            assert_eq!(v3.customer_id, None);
            assert!(v3.line_items.is_empty());
        }
        other => panic!("read as {other:?}"),
    }
    // A record of another topic's event is refused, not misread.
    let foreign = WriterSchema::new(
        SchemaId(2),
        Format::Avro,
        v1.schema,
        Some("shop.inventory.v1.InventoryReserved".into()),
        vec![],
    );
    let err = orders::Message::decode_from(&foreign, &payload).unwrap_err();
    assert!(matches!(err, DecodeError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("topic `orders` carries"), "{err}");
}
