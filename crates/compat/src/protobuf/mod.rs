//! Confluent's Protobuf compatibility rules.
//!
//! A port of the Confluent Schema Registry's `protobuf-provider` diff package
//! (`io.confluent.kafka.schemaregistry.protobuf.diff`: `SchemaDiff`, `MessageSchemaDiff`,
//! `FieldSchemaDiff`, `OneOfDiff`, `EnumSchemaDiff`, `Context`). `ProtobufSchema
//! .isBackwardCompatible(prev)` runs `SchemaDiff.compare(original = prev, update = this)` and
//! rejects every difference outside `SchemaDiff.COMPATIBLE_CHANGES`; [`check`] returns exactly
//! those, with Confluent's rule ids and paths (`#/OrderCreated/2`).
//!
//! Confluent diffs Wire's parse tree (`ProtoFileElement`); we diff protox descriptors, so the few
//! places where the two differ are bridged explicitly:
//! - labels: Wire has no label for a proto3 field without one, a oneof member or a map field, and
//!   Confluent skips label comparison when either side has none (`wire_label`);
//! - map entry messages and proto2 group types do not exist in Wire's tree: they are neither
//!   diffed nor counted in message indexes; group fields are not fields in Wire either;
//! - proto3 `optional` fields sit in synthetic oneofs in descriptors, not in Wire: they are plain
//!   fields here;
//! - a referenced message is compared recursively unless both sides are declared in the
//!   subject's own file (Confluent: both "local", or the same reference subject and version; an
//!   unchanged import compares clean anyway).
//!
//! Message handling follows Confluent's latest `MessageSchemaDiff` (DGS-24604): fields are diffed
//! per tag across the whole message, whatever oneof they sit in, so a renamed oneof or a move into
//! or out of a oneof cannot hide a type change; `OneOfDiff`'s member checks are part of that pass.
//!
//! Two departures that change no verdict: a referenced message pair is compared once and its
//! differences reused (with Confluent's cycle cut-offs taken into account), and differences a
//! sub-comparison repeats are listed once. Confluent recomputes and re-lists them for every
//! referencing field, which grows exponentially on wide import graphs.
//!
//! The code follows that split: `view` reads descriptors as Wire's tree shows them, `diff`
//! walks the old and the new view and records every difference, `rules` says which differences
//! are incompatible and words them as findings. The cases in `compat-tests/protobuf/` are its
//! tests.

mod diff;
mod rules;
mod view;

use contracts_model::protobuf::ProtoSchema;

use crate::{Direction, Incompatibility};

/// Confluent's `SchemaDiff.compare(original, update)`, keeping the incompatible differences.
///
/// For BACKWARD, `original` is the old schema and `update` the new one; for FORWARD the roles
/// swap (`direction` only words the messages: "old" and "new" name the versions correctly).
pub fn check(
    original: &ProtoSchema,
    update: &ProtoSchema,
    direction: Direction,
) -> Vec<Incompatibility> {
    diff::differences(original, update, direction)
        .into_iter()
        .filter_map(|d| {
            Some(Incompatibility {
                rule: d.change.rule()?,
                path: d.path,
                message: d.message,
                location: d.location,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Rule;

    const ENTRY: &str = "test.proto";

    fn schema_with(entry: &str, deps: &[(&str, &str)]) -> ProtoSchema {
        let mut files: BTreeMap<String, String> = deps
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        files.insert(ENTRY.to_string(), entry.to_string());
        match ProtoSchema::parse_files(files, ENTRY) {
            Ok(schema) => schema,
            Err(e) => panic!("test schema does not parse:\n{}\n{entry}", e.render()),
        }
    }

    fn rules(found: &[Incompatibility]) -> Vec<(Rule, &str)> {
        found.iter().map(|i| (i.rule, i.path.as_str())).collect()
    }

    #[test]
    fn wide_import_graphs_stay_fast() {
        // Every level references the next twice: 2^30 paths, one comparison per pair.
        let mut deep = String::from("syntax = \"proto3\";\npackage d;\n");
        for i in 0..30 {
            deep.push_str(&format!(
                "message T{i} {{\n  T{n} a = 1;\n  T{n} b = 2;\n}}\n",
                n = i + 1
            ));
        }
        deep.push_str("message T30 {\n  int32 v = 1;\n}\n");
        let entry =
            "syntax = \"proto3\";\nimport \"deep.proto\";\nmessage Root {\n  d.T0 t = 1;\n}\n";
        let old = schema_with(entry, &[("deep.proto", &deep)]);
        let new = schema_with(
            entry,
            &[("deep.proto", &deep.replace("int32 v", "string v"))],
        );
        let found = check(&old, &new, Direction::Backward);
        assert_eq!(found.len(), 1 + 2 * 30 + 1);
        assert_eq!(
            rules(&found[..1]),
            [(Rule::FieldScalarKindChanged, "#/T30/1")]
        );
        assert_eq!(
            rules(&found[found.len() - 1..]),
            [(Rule::FieldNamedTypeChanged, "#/Root/1")]
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn field_type() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("int32".to_string()),
                Just("sint64".to_string()),
                Just("string".to_string()),
                Just("bytes".to_string()),
                Just("double".to_string()),
                Just("fixed32".to_string()),
                Just("E".to_string()),
                Just("Inner".to_string()),
                Just("Other".to_string()),
                Just("map<string, int32>".to_string()),
                Just("map<int64, Inner>".to_string()),
            ]
        }

        prop_compose! {
            fn field()(
                ty in field_type(),
                label in prop_oneof![Just(""), Just("optional "), Just("repeated ")],
                number in 1u32..8,
                oneof in 0u8..3,
            ) -> (String, String, u32, u8) {
                (ty, label.to_string(), number, oneof)
            }
        }

        /// Small proto3 files; invalid combinations simply fail to parse and are skipped.
        fn proto() -> impl Strategy<Value = String> {
            (
                proptest::collection::vec(field(), 0..6),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(fields, nested, other)| {
                    let mut text = String::from("syntax = \"proto3\";\npackage p;\nmessage M {\n");
                    let mut used = std::collections::BTreeSet::new();
                    for (i, (ty, label, number, oneof)) in fields.iter().enumerate() {
                        if !used.insert(*number) {
                            continue;
                        }
                        let label = if ty.starts_with("map") {
                            ""
                        } else {
                            label.as_str()
                        };
                        if *oneof > 0 && label.is_empty() && !ty.starts_with("map") {
                            text.push_str(&format!(
                                "  oneof o{oneof} {{ {ty} f{i} = {number}; }}\n"
                            ));
                        } else {
                            text.push_str(&format!("  {label}{ty} f{i} = {number};\n"));
                        }
                    }
                    if nested {
                        text.push_str("  message Deep { int32 d = 1; }\n");
                    }
                    text.push_str("}\nmessage Inner { string s = 1; }\nenum E { E0 = 0; }\n");
                    if other {
                        text.push_str("message Other { Inner i = 1; Other o = 2; }\n");
                    } else {
                        text.push_str("message Other { int64 i = 1; }\n");
                    }
                    text
                })
        }

        fn parsed(text: &str) -> Option<ProtoSchema> {
            let files = BTreeMap::from([(ENTRY.to_string(), text.to_string())]);
            ProtoSchema::parse_files(files, ENTRY).ok()
        }

        proptest! {
            #[test]
            fn a_schema_is_compatible_with_itself(text in proto()) {
                let Some(s) = parsed(&text) else { return Ok(()) };
                prop_assert!(check(&s, &s, Direction::Backward).is_empty());
                prop_assert!(check(&s, &s, Direction::Forward).is_empty());
                prop_assert!(diff::differences(&s, &s, Direction::Backward).is_empty());
            }

            #[test]
            fn any_pair_is_checked_without_panicking(a in proto(), b in proto()) {
                let (Some(a), Some(b)) = (parsed(&a), parsed(&b)) else { return Ok(()) };
                for direction in [Direction::Backward, Direction::Forward] {
                    for found in check(&a, &b, direction) {
                        prop_assert!(found.location.is_some(), "{found:?}");
                        prop_assert!(found.path.starts_with("#/"));
                    }
                }
            }
        }
    }
}
