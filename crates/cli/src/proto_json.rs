//! Protobuf messages to and from JSON, through descriptors built from the schema text (prost-reflect
//! over protox's descriptors): the Protobuf JSON mapping, with the `.proto` field names on output
//! and either spelling accepted on input.

use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FileDescriptor, Kind, MessageDescriptor,
    SerializeOptions,
};
use serde_json::Value as Json;

use crate::avro_json::FieldError;

/// The descriptors of a schema's files.
pub fn pool(schema: &contracts_model::protobuf::ProtoSchema) -> anyhow::Result<DescriptorPool> {
    Ok(DescriptorPool::from_file_descriptor_set(
        schema.files().clone(),
    )?)
}

/// The message the Confluent message indexes select in `file`: `[0]` the first top-level
/// message, `[1, 0]` the first message nested in the second, ...
pub fn message_at(file: &FileDescriptor, indexes: &[i32]) -> Option<MessageDescriptor> {
    let (first, rest) = indexes.split_first()?;
    let mut message = file.messages().nth(usize::try_from(*first).ok()?)?;
    for &i in rest {
        let child = message.child_messages().nth(usize::try_from(i).ok()?)?;
        message = child;
    }
    Some(message)
}

/// The message indexes of `message` in its file (its descriptor path without the field numbers
/// of `message_type` and `nested_type`).
pub fn indexes_of(message: &MessageDescriptor) -> Vec<i32> {
    message.path().iter().skip(1).step_by(2).copied().collect()
}

/// A decoded message as JSON: `.proto` field names, fields at their defaults included, so that
/// a reader sees every field; 64-bit integers as strings, as the Protobuf JSON mapping says.
pub fn to_json(message: &DynamicMessage) -> anyhow::Result<Json> {
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    Ok(message.serialize_with_options(serde_json::value::Serializer, &options)?)
}

pub fn decode(message: MessageDescriptor, payload: &[u8]) -> anyhow::Result<Json> {
    to_json(&DynamicMessage::decode(message, payload)?)
}

/// A JSON line read into `message`, unknown fields refused; the error names the field.
pub fn from_json(message: MessageDescriptor, line: &str) -> Result<DynamicMessage, FieldError> {
    let mut json = serde_json::Deserializer::from_str(line);
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let mut track = serde_path_to_error::Track::new();
    let descriptor = message.clone();
    let parsed = DynamicMessage::deserialize_with_options(
        message,
        serde_path_to_error::Deserializer::new(&mut json, &mut track),
        &options,
    )
    .map_err(|e| {
        let path = track.path();
        let expected = expected_at(&descriptor, &path)
            .map(|ty| format!("expected {ty}: "))
            .unwrap_or_default();
        let path = path.to_string();
        FieldError {
            path: if path == "." {
                "$".into()
            } else {
                format!("$.{path}")
            },
            message: format!("{expected}{e}"),
        }
    })?;
    json.end().map_err(|e| FieldError {
        path: "$".into(),
        message: e.to_string(),
    })?;
    Ok(parsed)
}

/// The type of the field a JSON path ends at, as an error says it.
fn expected_at(message: &MessageDescriptor, path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut message = message.clone();
    let mut field = None;
    for segment in path.iter() {
        match segment {
            Segment::Map { key } => {
                let found = message
                    .get_field_by_name(key)
                    .or_else(|| message.get_field_by_json_name(key))?;
                if let Kind::Message(inner) = found.kind() {
                    message = inner;
                }
                field = Some(found);
            }
            Segment::Seq { .. } => {}
            _ => return None,
        }
    }
    let field = field?;
    let ty = describe(&field.kind());
    Some(if field.is_list() {
        format!("a list of {ty}")
    } else {
        ty
    })
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => format!("message {} (a JSON object)", m.full_name()),
        Kind::Enum(e) => {
            let values: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            format!("enum {} (one of {})", e.full_name(), values.join(", "))
        }
        Kind::String => "string".into(),
        Kind::Bytes => "bytes (base64)".into(),
        Kind::Bool => "bool".into(),
        Kind::Double | Kind::Float => "a number".into(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => "int32 (an integer)".into(),
        Kind::Uint32 | Kind::Fixed32 => "uint32 (an integer)".into(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            "int64 (an integer or a string of one)".into()
        }
        Kind::Uint64 | Kind::Fixed64 => "uint64 (an integer or a string of one)".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use contracts_model::protobuf::ProtoSchema;

    use super::*;

    fn order_created() -> MessageDescriptor {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let schema = ProtoSchema::parse_dir(&root, "shop/orders/v1/order_created.proto").unwrap();
        pool(&schema)
            .unwrap()
            .get_message_by_name("shop.orders.v1.OrderCreated")
            .unwrap()
    }

    #[test]
    fn message_indexes_select_nested_messages() {
        let files = BTreeMap::from([(
            "a.proto".to_owned(),
            "syntax = \"proto3\"; package p; message A {} message B { message C {} message D {} }"
                .to_owned(),
        )]);
        let schema = ProtoSchema::parse_files(files, "a.proto").unwrap();
        let pool = pool(&schema).unwrap();
        let file = pool.get_file_by_name("a.proto").unwrap();
        let d = message_at(&file, &[1, 1]).unwrap();
        assert_eq!(d.full_name(), "p.B.D");
        assert_eq!(indexes_of(&d), [1, 1]);
        assert_eq!(indexes_of(&message_at(&file, &[0]).unwrap()), [0]);
    }

    #[test]
    fn a_wrong_value_is_named_by_its_field_path() {
        let err = from_json(
            order_created(),
            r#"{"order_id": "o-1", "line_items": [{"product_name": "p", "quantity": "many"}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.path, "$.line_items[0].quantity");
        assert!(
            err.message.starts_with("expected int32 (an integer): "),
            "{}",
            err.message
        );
        let err =
            from_json(order_created(), r#"{"order_id": "o-1", "colour": "red"}"#).unwrap_err();
        assert!(err.message.contains("colour"), "{}", err.message);
    }

    #[test]
    fn json_round_trips_with_proto_field_names() {
        let m = from_json(
            order_created(),
            r#"{"orderId": "o-1", "customer_id": "c-1", "created_at": "2026-11-27T12:00:00Z"}"#,
        )
        .unwrap();
        let json = to_json(&m).unwrap();
        assert_eq!(json["order_id"], "o-1");
        assert_eq!(json["customer_id"], "c-1");
        assert_eq!(json["created_at"], "2026-11-27T12:00:00Z");
        assert_eq!(json["line_items"], serde_json::json!([]));
    }
}
