use crate::avro::{AvroSchema, Kind, Validation};

fn strict(text: &str) -> Result<AvroSchema, crate::Diagnostic> {
    AvroSchema::parse_str("t.avsc", text, Validation::Strict)
}

fn lenient(text: &str) -> Result<AvroSchema, crate::Diagnostic> {
    AvroSchema::parse_str("t.avsc", text, Validation::Lenient)
}

const ORDER: &str = r#"{
  "type": "record",
  "name": "OrderCreated",
  "namespace": "shop.orders",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "quantity", "type": "int"},
    {"name": "customer_id", "type": ["null", "string"], "default": null},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
    {"name": "previous", "type": ["null", "OrderCreated"], "default": null}
  ]
}"#;

#[test]
fn parses_records_with_namespaces_and_recursion() {
    let s = strict(ORDER).unwrap();
    assert_eq!(s.full_name().as_deref(), Some("shop.orders.OrderCreated"));
    let Kind::Record(r) = &s.node(s.root()).kind else {
        panic!()
    };
    assert_eq!(r.fields.len(), 5);
    let Kind::Union(bs) = &s.node(r.fields[4].ty.node).kind else {
        panic!()
    };
    assert_eq!(
        bs[1].node,
        s.root(),
        "the recursive reference is the record itself"
    );
    let Kind::Enum(e) = &s.node(r.fields[3].ty.node).kind else {
        panic!()
    };
    assert_eq!(
        e.named.name.full(),
        "shop.orders.Status",
        "inherits the namespace"
    );
}

#[test]
fn canonical_form_matches_the_specification() {
    let s = strict(
        r#"{"type":"record","name":"R","namespace":"a.b","doc":"x","fields":[
        {"name":"f","type":{"type":"int","logicalType":"date"},"default":1,"doc":"d"},
        {"name":"g","type":{"type":"fixed","name":"F","size":0016}},
        {"name":"h","type":"F"}]}"#,
    );
    // 0016 is not valid JSON: leading zeros are rejected by the parser.
    assert!(s.is_err());
    let s = strict(
        r#"{"type":"record","name":"R","namespace":"a.b","doc":"x","fields":[
        {"name":"f","type":{"type":"int","logicalType":"date"},"default":1,"doc":"d"},
        {"name":"g","type":{"type":"fixed","name":"F","size":16}},
        {"name":"h","type":"F"}]}"#,
    )
    .unwrap();
    assert_eq!(
        s.canonical_form(),
        r#"{"name":"a.b.R","type":"record","fields":[{"name":"f","type":"int"},{"name":"g","type":{"name":"a.b.F","type":"fixed","size":16}},{"name":"h","type":"a.b.F"}]}"#
    );
}

#[test]
fn strict_parsing_rejects_invalid_names_but_lenient_reads_them() {
    let text = r#"{"type":"record","name":"Order-Created","fields":[]}"#;
    let e = strict(text).unwrap_err();
    assert!(
        e.message().contains("invalid name \"Order-Created\""),
        "{e}"
    );
    assert_eq!(e.location().unwrap().line, 1);
    assert!(lenient(text).is_ok());
    let e = strict(r#"{"type":"enum","name":"E","symbols":["A","1B"]}"#).unwrap_err();
    assert!(e.message().contains("enum symbol \"1B\""), "{e}");
}

#[test]
fn strict_parsing_validates_defaults_like_java() {
    let bad = r#"{
  "type": "record", "name": "R",
  "fields": [
    {"name": "q", "type": "int", "default": "one"}
  ]
}"#;
    let e = strict(bad).unwrap_err();
    assert!(
        e.message().contains("invalid default for field \"q\""),
        "{e}"
    );
    let loc = e.location().unwrap();
    assert_eq!((loc.line, loc.column), (4, 45));
    assert!(lenient(bad).is_ok());

    let ok = |t: &str, d: &str| {
        strict(&format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{t},"default":{d}}}]}}"#
        ))
        .is_ok()
    };
    assert!(ok("\"int\"", "2147483647"));
    assert!(!ok("\"int\"", "2147483648"));
    assert!(!ok("\"int\"", "1.0"));
    assert!(ok("\"long\"", "2147483648"));
    assert!(ok("\"double\"", "1"));
    assert!(!ok("\"string\"", "null"));
    assert!(ok(r#"["null","string"]"#, "null"));
    // a union default may match any branch (Avro ≥ 1.11.3)
    assert!(ok(r#"["null","string"]"#, "\"x\""));
    assert!(ok(r#"{"type":"array","items":"int"}"#, "[1,2]"));
    assert!(!ok(r#"{"type":"array","items":"int"}"#, "[1,\"2\"]"));
    assert!(ok(r#"{"type":"map","values":"long"}"#, r#"{"a":1}"#));
    assert!(
        ok(r#"{"type":"enum","name":"E","symbols":["A"]}"#, "\"Z\""),
        "Java only checks for text"
    );
    assert!(ok(
        r#"{"type":"record","name":"In","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":3}]}"#,
        r#"{"a":1}"#
    ));
    assert!(!ok(
        r#"{"type":"record","name":"In","fields":[{"name":"a","type":"int"}]}"#,
        r#"{}"#
    ));
}

#[test]
fn structural_errors_are_reported_in_both_modes() {
    for parse in [strict, lenient] {
        assert!(
            parse(r#"["int", "int"]"#)
                .unwrap_err()
                .message()
                .contains("duplicate in union")
        );
        assert!(
            parse(r#"["int", ["string"]]"#)
                .unwrap_err()
                .message()
                .contains("another union")
        );
        assert!(parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#)
            .unwrap_err()
            .message()
            .contains("duplicate field \"a\""));
        assert!(
            parse(r#"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#)
                .unwrap_err()
                .message()
                .contains("enum default \"B\"")
        );
        assert!(
            parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}"#)
                .unwrap_err()
                .message()
                .contains("\"Missing\" is not a defined name")
        );
        assert!(parse(r#"[{"type":"record","name":"R","fields":[]},{"type":"record","name":"R","fields":[]}]"#)
            .unwrap_err()
            .message()
            .contains("redefine"));
        assert!(parse(r#"{"type":"fixed","name":"F","size":-1}"#).is_err());
        assert!(
            parse(r#"{"type":"frob"}"#)
                .unwrap_err()
                .message()
                .contains("type not supported")
        );
        assert!(parse("42").unwrap_err().message().contains("not a schema"));
    }
}

#[test]
fn names_resolve_in_the_enclosing_namespace_then_the_null_namespace() {
    let s = strict(
        r#"{"type":"record","name":"R","namespace":"n","fields":[
          {"name":"a","type":{"type":"fixed","name":"F","size":2}},
          {"name":"b","type":"F"},
          {"name":"c","type":"n.F"},
          {"name":"d","type":{"type":"record","name":"G","namespace":"","fields":[]}},
          {"name":"e","type":"G"}]}"#,
    )
    .unwrap();
    let Kind::Record(r) = &s.node(s.root()).kind else {
        panic!()
    };
    assert_eq!(r.fields[0].ty.node, r.fields[1].ty.node);
    assert_eq!(r.fields[0].ty.node, r.fields[2].ty.node);
    assert_eq!(r.fields[3].ty.node, r.fields[4].ty.node);
}

#[test]
fn forward_references_resolve() {
    let s = strict(
        r#"{"type":"record","name":"R","fields":[
          {"name":"a","type":["null","Later"],"default":null},
          {"name":"b","type":{"type":"enum","name":"Later","symbols":["X"]}}]}"#,
    )
    .unwrap();
    let Kind::Record(r) = &s.node(s.root()).kind else {
        panic!()
    };
    let Kind::Union(bs) = &s.node(r.fields[0].ty.node).kind else {
        panic!()
    };
    assert_eq!(bs[1].node, r.fields[1].ty.node);
}

#[test]
fn aliases_are_resolved_against_the_namespace() {
    let s = strict(
        r#"{"type":"record","name":"R","namespace":"n","aliases":["Old","x.Other"],"fields":[]}"#,
    )
    .unwrap();
    let named = s.node(s.root()).kind.named().unwrap();
    assert_eq!(
        named.aliases,
        vec!["n.Old".to_string(), "x.Other".to_string()]
    );
}

#[test]
fn paths_map_to_spans() {
    let s = strict(ORDER).unwrap();
    let line = |p: &str| s.location(s.span_of_path(p)).line;
    assert_eq!(line("/fields/1"), 7);
    assert_eq!(line("/fields/2/type"), 8);
    assert_eq!(line("/fields/3/type/symbols"), 9);
    assert_eq!(
        line("/fields/4/type/1/fields/0"),
        6,
        "recursion leads back to the record"
    );
    assert_eq!(
        s.field_at_path("/fields/1/type"),
        Some((
            "shop.orders.OrderCreated".to_string(),
            "quantity".to_string()
        ))
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = strict(&text);
        let _ = lenient(&text);
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(text in r#"[\[\]{}",:a-z0-9 ]{0,120}"#) {
        let _ = strict(&text);
        let _ = lenient(&text);
    }
}

#[test]
fn a_union_of_forward_references_is_still_checked_for_duplicates() {
    let e = strict(
        r#"{"type":"record","name":"R","fields":[
          {"name":"a","type":["Later","Later"]},
          {"name":"b","type":{"type":"enum","name":"Later","symbols":["X"]}}]}"#,
    )
    .unwrap_err();
    assert!(e.message().contains("duplicate in union: \"Later\""), "{e}");
}
