//! The generated code of the `shop` fixture (tests/generated/fixture_shop.rs, kept equal to the
//! reviewed snapshot by tests/generate.rs) compiles, and behaves as the contract says.

// Private here, so what the tests do not touch would warn as unused.
#[allow(dead_code, unused_imports)]
mod shop {
    include!("generated/fixture_shop.rs");
}

use contracts_core::{Event, Format, SchemaId, Topic, TopicMessage, WriterSchema};
use shop::{payments, refunds_pb};

#[test]
fn versions_from_two_import_roots_are_two_types_on_one_subject() {
    let v1 = <refunds_pb::v1::RefundIssued as Event>::SCHEMA;
    let v2 = <refunds_pb::v2::RefundIssued as Event>::SCHEMA;
    assert_eq!(
        (v1.subject, v2.subject),
        ("refunds-pb-value", "refunds-pb-value")
    );
    assert_ne!(v1.fingerprint, v2.fingerprint);
    assert_eq!(v2.message_indexes, [1]);

    // v1 bytes read as v2 by field number; the message enum holds the newest version.
    let old = refunds_pb::v1::RefundIssued {
        refund_id: "r-1".into(),
        ..Default::default()
    };
    let mut payload = Vec::new();
    old.encode(&mut payload);
    let writer = WriterSchema::new(
        SchemaId(4),
        Format::Protobuf,
        v1.schema,
        Some(v1.name.into()),
        vec![1],
    );
    let refunds_pb::Message::RefundIssued(new) =
        refunds_pb::Message::decode_from(&writer, &payload).unwrap();
    assert_eq!(
        (new.refund_id.as_str(), new.approved_by.as_str()),
        ("r-1", "")
    );
}

#[test]
fn an_avro_event_round_trips_and_older_versions_read_into_the_newest() {
    let v1 = payments::v1::PaymentTaken {
        payment_id: "p-1".into(),
        amount_cents: 1250,
    };
    assert_eq!(v1.key(), "p-1");
    let mut payload = Vec::new();
    v1.encode(&mut payload);
    assert_eq!(payments::v1::PaymentTaken::decode(&payload).unwrap(), v1);

    let info = <payments::v1::PaymentTaken as Event>::SCHEMA;
    let writer = WriterSchema::new(
        SchemaId(1),
        Format::Avro,
        info.schema,
        Some(info.name.into()),
        vec![],
    );
    match payments::Message::decode_from(&writer, &payload).unwrap() {
        payments::Message::PaymentTaken(v2) => {
            assert_eq!(
                (v2.payment_id.as_str(), v2.amount_cents, v2.note),
                ("p-1", 1250, None)
            );
        }
        other => panic!("read as {other:?}"),
    }
    // Without the name from the registry, the Avro schema text names the record.
    let unnamed = WriterSchema::new(SchemaId(1), Format::Avro, info.schema, None, vec![]);
    assert!(matches!(
        payments::Message::decode_from(&unnamed, &payload).unwrap(),
        payments::Message::PaymentTaken(_)
    ));
    assert_eq!(<payments::Topic as Topic>::NAME, "payments");
    assert_eq!(<payments::Message as TopicMessage>::EVENTS.len(), 2);
}

#[test]
fn a_service_lists_the_newest_version_of_what_it_produces_and_the_topics_it_consumes() {
    let checkout = shop::services::checkout::SERVICE;
    assert_eq!(
        (checkout.name, checkout.consumer_group),
        ("checkout", "checkout")
    );
    let produced: Vec<_> = checkout
        .produces
        .iter()
        .map(|p| (p.topic, p.schema.name, p.schema.version))
        .collect();
    assert_eq!(
        produced,
        [
            ("payments", "acme.payments.PaymentTaken", 2),
            ("payments", "acme.payments.PaymentFailed", 1),
        ]
    );
    assert_eq!(checkout.consumes, ["refunds-pb"]);
    assert_eq!(
        shop::services::mailer::SERVICE.produces[0].schema,
        <refunds_pb::v2::RefundIssued as Event>::SCHEMA
    );
    assert_eq!(
        shop::services::mailer::SERVICE.consumer_group,
        "mailer-group"
    );
}
