use contracts_model::avro::{AvroSchema, Validation};

use super::check;
use crate::{Direction, Rule};

fn schema(text: &str) -> AvroSchema {
    AvroSchema::parse_str("s.avsc", text, Validation::Lenient).unwrap()
}

/// (rule id, path) of everything `reader` cannot read from `writer`.
fn findings(reader: &str, writer: &str) -> Vec<(String, String)> {
    check(&schema(reader), &schema(writer), Direction::Backward)
        .into_iter()
        .map(|i| (i.rule.id().to_string(), i.path))
        .collect()
}

fn one(rule: &str, path: &str) -> Vec<(String, String)> {
    vec![(rule.to_string(), path.to_string())]
}

fn record(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"R","namespace":"n","fields":[{fields}]}}"#)
}

fn field(name: &str, ty: &str) -> String {
    format!(r#"{{"name":"{name}","type":{ty}}}"#)
}

#[test]
fn a_schema_reads_itself() {
    let s = record(&[field("a", "\"int\""), field("b", r#"["null","string"]"#)].join(","));
    assert!(findings(&s, &s).is_empty());
}

#[test]
fn an_added_field_needs_a_default() {
    let old = record(&field("a", "\"int\""));
    let new = record(&[field("a", "\"int\""), field("b", "\"string\"")].join(","));
    assert_eq!(
        findings(&new, &old),
        one("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1")
    );
    let with_default = record(&format!(
        r#"{},{{"name":"b","type":"string","default":""}}"#,
        field("a", "\"int\"")
    ));
    assert!(findings(&with_default, &old).is_empty());
    // the reverse direction ignores writer fields the reader does not declare
    assert!(findings(&old, &new).is_empty());
}

#[test]
fn promotions_follow_the_specification_only() {
    let allowed = [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    ];
    let all = [
        "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    ];
    for w in all {
        for r in all {
            let got = findings(
                &record(&field("a", &format!("\"{r}\""))),
                &record(&field("a", &format!("\"{w}\""))),
            );
            if w == r || allowed.contains(&(w, r)) {
                assert!(got.is_empty(), "{w} -> {r}: {got:?}");
            } else {
                assert_eq!(got, one("TYPE_MISMATCH", "/fields/0/type"), "{w} -> {r}");
            }
        }
    }
}

#[test]
fn removed_enum_symbols_break_unless_the_reader_has_a_default() {
    let e = |symbols: &str, default: &str| {
        record(&field(
            "e",
            &format!(r#"{{"type":"enum","name":"E","symbols":[{symbols}]{default}}}"#),
        ))
    };
    let old = e(r#""A","B","C""#, "");
    assert_eq!(
        findings(&e(r#""A""#, ""), &old),
        one("MISSING_ENUM_SYMBOLS", "/fields/0/type/symbols")
    );
    assert!(findings(&e(r#""A""#, r#","default":"A""#), &old).is_empty());
    let got = check(
        &schema(&e(r#""A""#, "")),
        &schema(&old),
        Direction::Backward,
    );
    assert!(got[0].message.contains("[B, C]"), "{}", got[0].message);
}

#[test]
fn union_branches_must_each_be_readable() {
    let old = record(&field("u", r#"["null","int","string"]"#));
    let new = record(&field("u", r#"["null","string"]"#));
    assert_eq!(
        findings(&new, &old),
        one("MISSING_UNION_BRANCH", "/fields/0/type/1")
    );
    // reordering is fine, and int is promoted into a long branch
    assert!(findings(&record(&field("u", r#"["string","long","null"]"#)), &old).is_empty());
}

#[test]
fn a_writer_union_read_by_a_plain_type_checks_every_branch() {
    let old = record(&field("u", r#"["null","string"]"#));
    let new = record(&field("u", r#""string""#));
    assert_eq!(
        findings(&new, &old),
        one("TYPE_MISMATCH", "/fields/0/type/0")
    );
}

#[test]
fn a_reader_union_needs_one_branch_for_a_plain_writer() {
    let old = record(&field("u", r#""int""#));
    assert!(findings(&record(&field("u", r#"["null","long"]"#)), &old).is_empty());
    assert_eq!(
        findings(&record(&field("u", r#"["null","string"]"#)), &old),
        one("MISSING_UNION_BRANCH", "/fields/0/type")
    );
}

#[test]
fn names_compare_unqualified_or_through_reader_aliases() {
    let old = r#"{"type":"record","name":"Order","namespace":"a","fields":[]}"#;
    assert!(
        findings(
            r#"{"type":"record","name":"Order","namespace":"b","fields":[]}"#,
            old
        )
        .is_empty()
    );
    assert_eq!(
        findings(
            r#"{"type":"record","name":"Purchase","namespace":"a","fields":[]}"#,
            old
        ),
        one("NAME_MISMATCH", "/name")
    );
    // a short alias resolves against the reader's own namespace
    assert!(findings(r#"{"type":"record","name":"Purchase","namespace":"a","aliases":["Order"],"fields":[]}"#, old).is_empty());
    assert_eq!(
        findings(
            r#"{"type":"record","name":"Purchase","namespace":"b","aliases":["Order"],"fields":[]}"#,
            old
        ),
        one("NAME_MISMATCH", "/name")
    );
    assert!(findings(r#"{"type":"record","name":"Purchase","namespace":"b","aliases":["a.Order"],"fields":[]}"#, old).is_empty());
}

#[test]
fn fixed_types_keep_name_and_size() {
    let f = |size| {
        record(&field(
            "f",
            &format!(r#"{{"type":"fixed","name":"F","size":{size}}}"#),
        ))
    };
    assert_eq!(
        findings(&f(8), &f(16)),
        one("FIXED_SIZE_MISMATCH", "/fields/0/type/size")
    );
}

#[test]
fn field_aliases_find_renamed_writer_fields() {
    let old = record(&field("qty", "\"int\""));
    let new = record(r#"{"name":"quantity","type":"long","aliases":["qty"]}"#);
    assert!(findings(&new, &old).is_empty());
}

#[test]
fn a_field_matching_two_writer_fields_is_one_unexpected_exception() {
    let old = record(
        &[
            field("a", "\"int\""),
            field("b", "\"int\""),
            field("c", "\"string\""),
        ]
        .join(","),
    );
    let new = record(&format!(
        r#"{{"name":"a","type":"int","aliases":["b"]}},{},{}"#,
        field("c", "\"int\""),
        field("d", "\"int\"")
    ));
    assert_eq!(
        findings(&new, &old),
        one("AMBIGUOUS_FIELD_MATCH", "/fields/0")
    );
}

#[test]
fn an_enum_field_without_default_but_with_an_enum_default_is_compared_with_the_writer_record() {
    let old = record(&field("a", "\"int\""));
    let new = record(&format!(
        r#"{},{}"#,
        field("a", "\"int\""),
        field(
            "e",
            r#"{"type":"enum","name":"E","symbols":["X"],"default":"X"}"#
        )
    ));
    assert_eq!(findings(&new, &old), one("TYPE_MISMATCH", "/fields/1/type"));
}

#[test]
fn recursive_types_terminate_and_report_once_per_pair() {
    let list = |ty: &str| {
        format!(
            r#"{{"type":"record","name":"Node","fields":[{{"name":"v","type":"{ty}"}},{{"name":"next","type":["null","Node"]}}]}}"#
        )
    };
    assert!(findings(&list("long"), &list("int")).is_empty());
    assert_eq!(
        findings(&list("int"), &list("long")),
        one("TYPE_MISMATCH", "/fields/0/type")
    );
}

#[test]
fn findings_are_all_reported_with_their_lines() {
    let old = "{\n \"type\": \"record\", \"name\": \"R\",\n \"fields\": [\n  {\"name\": \"a\", \"type\": \"long\"},\n  {\"name\": \"b\", \"type\": \"string\"}\n ]\n}";
    let new = "{\n \"type\": \"record\", \"name\": \"R\",\n \"fields\": [\n  {\"name\": \"a\", \"type\": \"int\"},\n  {\"name\": \"b\", \"type\": \"int\"},\n  {\"name\": \"c\", \"type\": \"int\"}\n ]\n}";
    let got = check(&schema(new), &schema(old), Direction::Backward);
    let summary: Vec<_> = got
        .iter()
        .map(|i| (i.rule, i.path.as_str(), i.location.as_ref().unwrap().line))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Rule::TypeMismatch, "/fields/0/type", 4),
            (Rule::TypeMismatch, "/fields/1/type", 5),
            (Rule::ReaderFieldMissingDefaultValue, "/fields/2", 6),
        ]
    );
    assert!(
        got[0]
            .message
            .contains("field \"a\" of \"R\" changed from long to int"),
        "{}",
        got[0].message
    );
    assert!(
        got[2].message.contains("Add a default to \"c\""),
        "{}",
        got[2].message
    );
}

fn union_of_records(names: &[&str], extra: &str) -> String {
    let branches: Vec<String> = names
        .iter()
        .map(|n| format!(r#"{{"type":"record","name":"{n}","namespace":"u","aliases":["old.Prev{n}"],"fields":[{}]}}"#, field("v", "\"long\"")))
        .collect();
    record(&field("u", &format!("[{}{extra}]", branches.join(","))))
}

#[test]
fn union_branches_of_named_types_match_by_name_or_alias_among_many() {
    let names: Vec<String> = (0..300).map(|i| format!("B{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let old = union_of_records(&names, "");
    // every branch finds itself, and an added branch breaks nothing
    assert!(findings(&union_of_records(&names, r#","string""#), &old).is_empty());
    // a writer branch whose name the reader lacks is missing, in its position
    let mut renamed = names.clone();
    renamed[250] = "Other";
    assert_eq!(
        findings(&union_of_records(&renamed, ""), &old),
        one("MISSING_UNION_BRANCH", "/fields/0/type/250")
    );
    // a reader alias with the writer's full name reads it
    let writer = r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"u","type":[{"type":"record","name":"PrevB7","namespace":"old","fields":[{"name":"v","type":"long"}]}]}]}"#;
    assert!(findings(&old, writer).is_empty());
}

#[test]
fn fields_are_matched_by_name_wherever_they_moved() {
    let names: Vec<String> = (0..500).map(|i| format!("f{i}")).collect();
    let forward = names
        .iter()
        .map(|n| field(n, "\"int\""))
        .collect::<Vec<_>>();
    let mut backward = names
        .iter()
        .map(|n| field(n, "\"long\""))
        .collect::<Vec<_>>();
    backward.reverse();
    assert!(findings(&record(&backward.join(",")), &record(&forward.join(","))).is_empty());
    assert_eq!(
        findings(&record(&forward.join(",")), &record(&backward.join(","))).len(),
        500,
        "long cannot be read as int, field by field"
    );
}
