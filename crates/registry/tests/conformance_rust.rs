//! The Rust crate schema_registry_converter against our registry: Avro and Protobuf (with an
//! import registered as a reference) encoded, checked byte for byte, and decoded by a fresh
//! decoder that fetches the writer schema by id.

use apache_avro::types::Value as AvroValue;
use contracts_registry_client::api::{RegisterSchemaRequest, SchemaType as ApiSchemaType};
use contracts_registry_client::client::Client;
use contracts_testkit::{TestRegistry, shared_broker, unique_name};
use prost::Message;
use prost_reflect::ReflectMessage;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::proto_decoder::ProtoDecoder;
use schema_registry_converter::async_impl::proto_raw::ProtoRawEncoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedReference, SuppliedSchema,
};

const ORDER_AVRO: &str = r#"{"type":"record","name":"OrderCreated","namespace":"shop.orders","fields":[
  {"name":"order_id","type":"string"},{"name":"customer_id","type":"string"},{"name":"amount","type":"long"}]}"#;

const MONEY: &str = r#"syntax = "proto3";
package shop.common.v1;

message Money {
  int64 cents = 1;
  string currency = 2;
}
"#;

const ORDER_PROTO: &str = r#"syntax = "proto3";
package shop.orders.v1;

import "shop/common/v1/money.proto";

message Envelope {
  string note = 1;
}

message OrderCreated {
  string order_id = 1;
  shop.common.v1.Money total = 2;
}
"#;

fn be(id: i32) -> [u8; 4] {
    id.to_be_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_encodes_with_our_ids_and_decodes_through_our_registry() {
    let registry = TestRegistry::start(shared_broker())
        .await
        .expect("start a registry");
    let topic = unique_name("orders");
    let encoder = AvroEncoder::new(SrSettings::new(registry.url()));
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        topic.clone(),
        false,
        SuppliedSchema::new(
            Some("shop.orders.OrderCreated".into()),
            SchemaType::Avro,
            ORDER_AVRO.into(),
        ),
    );
    let bytes = encoder
        .encode(
            vec![
                ("order_id", AvroValue::String("o1".into())),
                ("customer_id", AvroValue::String("c1".into())),
                ("amount", AvroValue::Long(1234)),
            ],
            strategy,
        )
        .await
        .expect("encode (registers the schema)");
    let ours = Client::new(&registry.url()).unwrap();
    let request = RegisterSchemaRequest {
        schema: ORDER_AVRO.into(),
        schema_type: Some(ApiSchemaType::Avro),
        ..Default::default()
    };
    let id = ours
        .lookup(&format!("{topic}-value"), &request)
        .await
        .unwrap()
        .expect("the encoder registered the schema")
        .id;
    let mut expected = vec![0];
    expected.extend(be(id));
    expected.extend([0x04, 0x6f, 0x31, 0x04, 0x63, 0x31, 0xa4, 0x13]);
    assert_eq!(bytes, expected);

    let decoded = AvroDecoder::new(SrSettings::new(registry.url()))
        .decode(Some(&bytes))
        .await
        .expect("decode");
    assert_eq!(
        decoded.value,
        AvroValue::Record(vec![
            ("order_id".into(), AvroValue::String("o1".into())),
            ("customer_id".into(), AvroValue::String("c1".into())),
            ("amount".into(), AvroValue::Long(1234)),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_with_a_reference_encodes_message_indexes_and_decodes() {
    let registry = TestRegistry::start(shared_broker())
        .await
        .expect("start a registry");
    let topic = unique_name("orders-pb");
    let money_subject = "shop/common/v1/money.proto".to_string();
    let schema = SuppliedSchema::new(
        Some("shop.orders.v1.OrderCreated".into()),
        SchemaType::Protobuf,
        ORDER_PROTO.into(),
    )
    .with_references(vec![SuppliedReference::new(
        "shop/common/v1/money.proto".into(),
        money_subject.clone(),
        MONEY.into(),
    )]);
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(topic.clone(), false, schema);
    // OrderCreated{order_id: "o1", total: Money{cents: 1234, currency: "EUR"}}
    let payload = [
        0x0a, 0x02, 0x6f, 0x31, 0x12, 0x08, 0x08, 0xd2, 0x09, 0x12, 0x03, 0x45, 0x55, 0x52,
    ];
    let bytes = ProtoRawEncoder::new(SrSettings::new(registry.url()))
        .encode(&payload, "shop.orders.v1.OrderCreated", strategy)
        .await
        .expect("encode (registers the import, then the schema)");

    let ours = Client::new(&registry.url()).unwrap();
    assert_eq!(ours.versions(&money_subject).await.unwrap(), vec![1]);
    let latest = ours.latest(&format!("{topic}-value")).await.unwrap();
    assert_eq!(latest.references.len(), 1);
    assert_eq!(latest.references[0].subject, money_subject);
    // Magic byte, id, message index [1] (the second message) as count 1 + index 1, zigzag.
    let mut expected = vec![0];
    expected.extend(be(latest.id));
    expected.extend([0x02, 0x02]);
    expected.extend(payload);
    assert_eq!(bytes, expected);

    let decoded = ProtoDecoder::new(SrSettings::new(registry.url()))
        .decode(Some(&bytes))
        .await
        .expect("decode (fetches the schema and its reference)");
    let prost_reflect::Value::Message(message) = decoded else {
        panic!("decoded to {decoded:?}, not a message");
    };
    assert_eq!(
        message.descriptor().full_name(),
        "shop.orders.v1.OrderCreated"
    );
    assert_eq!(message.encode_to_vec(), payload);
}
