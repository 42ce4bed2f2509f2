//! Random and hostile bytes through the generic resolver: every payload is read or rejected
//! with a `DecodeError`, never a panic, and the work stays bounded by the item budget (see
//! `contracts_core::avro::binary::item_budget`).

use contracts_core::avro::{Program, Schema};
use proptest::prelude::*;
use std::sync::LazyLock;

/// Writer and reader schema pairs with every kind of block: zero-size items, nesting, maps,
/// skipped fields, unions and recursion.
const PAIRS: &[(&str, &str)] = &[
    (
        r#"{"type":"array","items":"null"}"#,
        r#"{"type":"array","items":"null"}"#,
    ),
    (
        r#"{"type":"map","values":{"type":"array","items":{"type":"record","name":"E","fields":[]}}}"#,
        r#"{"type":"map","values":{"type":"array","items":{"type":"record","name":"E","fields":[]}}}"#,
    ),
    (
        r#"{"type":"record","name":"R","fields":[
            {"name":"id","type":"string"},
            {"name":"gone","type":{"type":"array","items":{"type":"map","values":["null","long","string"]}}},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
            {"name":"q","type":"int"},
            {"name":"f","type":{"type":"fixed","name":"F","size":3}},
            {"name":"d","type":"double"}]}"#,
        r#"{"type":"record","name":"R","fields":[
            {"name":"q","type":"double"},
            {"name":"id","type":"bytes"},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["B","A"]}},
            {"name":"f","type":{"type":"fixed","name":"F","size":3}},
            {"name":"x","type":["null","string"],"default":null}]}"#,
    ),
    (
        r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"kids","type":{"type":"array","items":"Node"}}]}"#,
        r#"{"type":"record","name":"Node","fields":[{"name":"kids","type":{"type":"array","items":"Node"}}]}"#,
    ),
];

static PROGRAMS: LazyLock<Vec<Program>> = LazyLock::new(|| {
    PAIRS
        .iter()
        .map(|(w, r)| Program::new(&Schema::parse(w).unwrap(), &Schema::parse(r).unwrap()).unwrap())
        .collect()
});

fn programs() -> &'static [Program] {
    &PROGRAMS
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut out = Vec::new();
        for p in programs() {
            out.clear();
            let _ = p.run(&bytes, &mut out);
        }
    }

    /// Bytes built from block headers (huge, negative, zero counts and sizes) among random
    /// bytes, which random bytes alone rarely form.
    #[test]
    fn block_shaped_bytes_never_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                any::<i64>(),
                Just(1i64 << 28),
                Just(-(1i64 << 28)),
                Just(i64::MIN),
                Just(i64::MAX),
                0i64..4,
                -4i64..0,
            ],
            0..24,
        )
    ) {
        let mut bytes = Vec::new();
        for v in parts {
            contracts_core::avro::binary::write_long(&mut bytes, v);
        }
        let mut out = Vec::new();
        for p in programs() {
            out.clear();
            let _ = p.run(&bytes, &mut out);
        }
    }
}
