//! The runtime's canonical form must equal the schema model's, byte for byte: generated code
//! embeds fingerprints computed from the model (lowered to the runtime's graph), and the
//! runtime compares them with the fingerprints it computes for writer schemas it parsed itself.
//! One writer makes the form; this proves the two parsers build the same graph.

use contracts_core::avro::Schema;
use contracts_model::avro::{AvroSchema, Validation};

fn avsc_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            avsc_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "avsc") {
            out.push(path);
        }
    }
}

#[test]
fn runtime_canonical_form_and_fingerprint_equal_the_models_for_every_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    avsc_files(&root.join("schemas"), &mut files);
    avsc_files(&root.join("crates/build/tests/fixtures"), &mut files);
    assert!(files.len() >= 5, "found {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let Ok(model) = AvroSchema::parse_str("s", &text, Validation::Lenient) else {
            continue;
        };
        let ours = Schema::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(
            ours.canonical_form(),
            model.canonical_form(),
            "{}",
            file.display()
        );
        assert_eq!(ours.fingerprint(), model.sha256(), "{}", file.display());
    }
}
