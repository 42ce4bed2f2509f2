//! `ContractInfo` built from the shop's generated events, as a service reports its contracts.

use contracts_admin::{ContractInfo, ContractRole, SchemaFormat};
use contracts_core::{Event, SchemaId, Topic, TopicMessage};
use events::{inventory, orders};

#[test]
fn a_generated_event_reports_its_name_version_subject_topic_and_fingerprint() {
    let info = ContractInfo::of::<orders::v3::OrderCreated>(ContractRole::Produced);
    let schema = <orders::v3::OrderCreated as Event>::SCHEMA;
    assert_eq!(info.event, "shop.orders.OrderCreated");
    assert_eq!(info.version, 3);
    assert_eq!(info.subject, schema.subject);
    assert_eq!(info.topic, "orders");
    assert_eq!(info.format, SchemaFormat::Avro);
    assert_eq!(info.schema_id, None);
    // The fingerprint is the contract's SHA-256, in lower-case hex.
    assert_eq!(info.fingerprint.len(), 64);
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&info.fingerprint[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(bytes, schema.fingerprint);
    assert_eq!(info.with_schema_id(SchemaId(17)).schema_id, Some(17));
}

#[test]
fn a_consumer_reports_every_event_its_topic_carries() {
    let topic = <inventory::Message as TopicMessage>::EVENTS;
    let infos: Vec<_> = topic
        .iter()
        .map(|s| {
            ContractInfo::from_schema(s, <inventory::Topic as Topic>::NAME, ContractRole::Consumed)
        })
        .collect();
    assert!(!infos.is_empty());
    assert!(
        infos
            .iter()
            .all(|c| c.topic == "inventory" && c.format == SchemaFormat::Protobuf)
    );
    assert!(infos.iter().any(|c| c.event.ends_with("InventoryReserved")));
}
