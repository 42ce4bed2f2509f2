//! Our verdicts against the installable reference checkers, on the case corpus and on random
//! schema pairs. The checkers are not Confluent: where they are known to disagree with it, the
//! case says so in its `[oracles]` table, and the test checks that they really do disagree there,
//! so no divergence is skipped silently.
//!
//! The checkers are installed by `.ci/install-oracles` into `.oracles/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use contracts_compat::{Direction, Level, can_read};
use contracts_model::avro::{AvroSchema, Validation};
use contracts_model::{Schema, SchemaOnDisk};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

mod common;
use common::{case_dirs, corpus, repo};

fn require(path: &Path) -> &Path {
    assert!(
        path.exists(),
        "{} is missing: run .ci/install-oracles to install the reference checkers",
        path.display()
    );
    path
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Oracle {
    PythonAvro,
    Avsc,
}

impl Oracle {
    fn key(self) -> &'static str {
        match self {
            Oracle::PythonAvro => "python_avro",
            Oracle::Avsc => "avsc",
        }
    }

    fn command(self) -> Command {
        let root = repo();
        let script = root.join("compat-tests/oracles");
        match self {
            Oracle::PythonAvro => {
                let mut c = Command::new(require(&root.join(".oracles/venv/bin/python")));
                c.arg(script.join("avro_oracle.py"));
                c
            }
            Oracle::Avsc => {
                require(&root.join(".oracles/node/node_modules/avsc"));
                let mut c = Command::new("node");
                c.arg(script.join("avsc_oracle.js"));
                c.env("NODE_PATH", root.join(".oracles/node/node_modules"));
                c
            }
        }
    }

    /// Verdicts for (reader, writer) texts: `Some(can read)`, or `None` when a schema does not
    /// parse for the oracle.
    fn verdicts(self, pairs: &[(String, String)]) -> Vec<Option<bool>> {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {} oracle: {e}", self.key()));
        let mut input = String::new();
        for (i, (reader, writer)) in pairs.iter().enumerate() {
            let line = serde_json::json!({"id": i.to_string(), "reader": reader, "writer": writer});
            input.push_str(&line.to_string());
            input.push('\n');
        }
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(output.status.success(), "{} oracle failed", self.key());
        let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines.len(),
            pairs.len(),
            "{} oracle answered {} of {}",
            self.key(),
            lines.len(),
            pairs.len()
        );
        lines.iter().map(|v| v["compatible"].as_bool()).collect()
    }
}

/// Our verdict on one pair: `None` when the candidate is not a valid new schema.
fn ours(reader: &str, writer: &str, candidate_is_reader: bool) -> Option<bool> {
    let parse = |text: &str, is_candidate: bool| {
        let validation = if is_candidate {
            Validation::Strict
        } else {
            Validation::Lenient
        };
        AvroSchema::parse_str("schema.avsc", text, validation)
            .ok()
            .map(Schema::Avro)
    };
    let direction = if candidate_is_reader {
        Direction::Backward
    } else {
        Direction::Forward
    };
    let r = parse(reader, candidate_is_reader)?;
    let w = parse(writer, !candidate_is_reader)?;
    Some(can_read(&r, &w, direction).is_empty())
}

struct Pair {
    case: String,
    reader: String,
    writer: String,
    candidate_is_reader: bool,
}

/// The (reader, writer) pairs a case's level compares, in both directions where it applies.
fn case_pairs() -> (Vec<Pair>, BTreeMap<String, toml::Table>) {
    let root = corpus().join("avro");
    let mut pairs = Vec::new();
    let mut documented = BTreeMap::new();
    for dir in case_dirs(&root) {
        let case_file = dir.join("case.toml");
        let name = dir.strip_prefix(&root).unwrap().display().to_string();
        let case: toml::Table =
            toml::from_str(&std::fs::read_to_string(&case_file).unwrap()).unwrap();
        let level: Level = case["level"].as_str().unwrap().parse().unwrap();
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let n = file
                    .strip_suffix(".avsc")?
                    .strip_prefix('v')?
                    .parse()
                    .ok()?;
                Some((n, e.path()))
            })
            .collect();
        let all_avro = versions.len() == std::fs::read_dir(&dir).unwrap().count() - 1;
        if !all_avro || level == Level::None {
            continue;
        }
        versions.sort();
        let texts: Vec<String> = versions
            .iter()
            .map(|(_, p)| std::fs::read_to_string(p).unwrap())
            .collect();
        let (candidate, history) = texts.split_last().unwrap();
        let compared: Vec<&String> = if level.is_transitive() {
            history.iter().collect()
        } else {
            history.last().into_iter().collect()
        };
        for old in compared {
            if level.checks_backward() {
                pairs.push(Pair {
                    case: name.clone(),
                    reader: candidate.clone(),
                    writer: old.clone(),
                    candidate_is_reader: true,
                });
            }
            if level.checks_forward() {
                pairs.push(Pair {
                    case: name.clone(),
                    reader: old.clone(),
                    writer: candidate.clone(),
                    candidate_is_reader: false,
                });
            }
        }
        if let Some(toml::Value::Table(t)) = case.get("oracles") {
            documented.insert(name, t.clone());
        }
    }
    pairs.sort_by(|a, b| a.case.cmp(&b.case));
    (pairs, documented)
}

fn compare_cases(oracle: Oracle) {
    let (pairs, documented) = case_pairs();
    assert!(pairs.len() > 150, "only {} Avro pairs found", pairs.len());
    let texts: Vec<(String, String)> = pairs
        .iter()
        .map(|p| (p.reader.clone(), p.writer.clone()))
        .collect();
    let theirs = oracle.verdicts(&texts);
    // Per case: does any pair disagree?
    let mut disagreeing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut agreeing_cases = std::collections::BTreeSet::new();
    for (p, their) in pairs.iter().zip(&theirs) {
        let our = ours(&p.reader, &p.writer, p.candidate_is_reader);
        if our == *their {
            agreeing_cases.insert(p.case.as_str());
        } else {
            let dir = if p.candidate_is_reader {
                "new reads old"
            } else {
                "old reads new"
            };
            disagreeing
                .entry(&p.case)
                .or_default()
                .push(format!("{dir}: ours {our:?}, {} {their:?}", oracle.key()));
        }
    }
    let mut undocumented = Vec::new();
    for (case, details) in &disagreeing {
        let note = documented.get(*case).and_then(|t| t.get(oracle.key()));
        if note.is_none() {
            undocumented.push(format!("{case}: {}", details.join("; ")));
        }
    }
    let mut stale = Vec::new();
    for (case, table) in &documented {
        if table.contains_key(oracle.key()) && !disagreeing.contains_key(case.as_str()) {
            stale.push(case.clone());
        }
    }
    let listed: Vec<String> = documented
        .iter()
        .filter_map(|(case, t)| t.get(oracle.key()).map(|why| format!("  {case}: {why}")))
        .collect();
    println!(
        "{}: {} pairs; known divergences on {} cases:\n{}",
        oracle.key(),
        pairs.len(),
        listed.len(),
        listed.join("\n")
    );
    assert!(
        undocumented.is_empty(),
        "undocumented disagreements with {}:\n{}",
        oracle.key(),
        undocumented.join("\n")
    );
    assert!(
        stale.is_empty(),
        "documented {} divergences that no longer occur: {stale:?}",
        oracle.key()
    );
}

#[test]
fn avro_cases_agree_with_python_avro_except_documented_divergences() {
    compare_cases(Oracle::PythonAvro);
}

#[test]
fn avro_cases_agree_with_avsc_except_documented_divergences() {
    compare_cases(Oracle::Avsc);
}

// ---- random schema pairs ----

const PRIMITIVES: [&str; 7] = [
    "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// A field type as JSON text. Named types get names unique within the schema from `salt`.
fn field_type(depth: u32) -> BoxedStrategy<String> {
    let primitive = proptest::sample::select(PRIMITIVES.to_vec()).prop_map(|p| format!("\"{p}\""));
    let leaf = prop_oneof![
        4 => primitive.clone(),
        1 => primitive.clone().prop_map(|p| format!(r#"["null",{p}]"#)),
        1 => (primitive.clone(), primitive.clone())
            .prop_filter("distinct branches", |(a, b)| a != b)
            .prop_map(|(a, b)| format!(r#"[{a},{b}]"#)),
        1 => proptest::sample::subsequence(vec!["A", "B", "C", "D"], 1..=4)
            .prop_map(|s| format!(r#"{{"type":"enum","name":"E","symbols":[{}]}}"#, quote_all(&s))),
        1 => (1usize..4).prop_map(|n| format!(r#"{{"type":"fixed","name":"F","size":{n}}}"#)),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        6 => leaf,
        1 => field_type(depth - 1).prop_map(|t| format!(r#"{{"type":"array","items":{t}}}"#)),
        1 => field_type(depth - 1).prop_map(|t| format!(r#"{{"type":"map","values":{t}}}"#)),
    ]
    .boxed()
}

fn quote_all(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(",")
}

/// A field of a record: name from a small pool so that versions overlap, a type, and maybe a
/// valid default for it.
fn fields() -> impl Strategy<Value = Vec<(String, String, bool)>> {
    proptest::collection::btree_map(
        proptest::sample::select(vec!["a", "b", "c", "d", "e"]),
        (field_type(1), any::<bool>()),
        0..5,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(n, (t, d))| (n.to_string(), t, d))
            .collect()
    })
}

/// A JSON default valid for the type, if one is easy to write.
fn default_for(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "\"boolean\"" => "false",
        "\"int\"" | "\"long\"" => "1",
        "\"float\"" | "\"double\"" => "1.5",
        "\"bytes\"" | "\"string\"" => "\"x\"",
        t if t.starts_with(r#"["null","#) => "null",
        t if t.contains(r#""type":"array""#) => "[]",
        t if t.contains(r#""type":"map""#) => "{}",
        _ => return None,
    })
}

fn record(name: &str, fields: &[(String, String, bool)]) -> String {
    // Each named type is defined once per schema: rename per field.
    let parts: Vec<String> = fields
        .iter()
        .map(|(n, t, with_default)| {
            let t = t
                .replace(r#""name":"E""#, &format!(r#""name":"E_{n}""#))
                .replace(r#""name":"F""#, &format!(r#""name":"F_{n}""#));
            match default_for(&t).filter(|_| *with_default) {
                Some(d) => format!(r#"{{"name":"{n}","type":{t},"default":{d}}}"#),
                None => format!(r#"{{"name":"{n}","type":{t}}}"#),
            }
        })
        .collect();
    format!(
        r#"{{"type":"record","name":"{name}","fields":[{}]}}"#,
        parts.join(",")
    )
}

fn schema_pair() -> impl Strategy<Value = (String, String)> {
    let name = proptest::sample::select(vec!["Order", "Order", "Order", "Purchase"]);
    (name.clone(), fields(), name, fields())
        .prop_map(|(n1, f1, n2, f2)| (record(n1, &f1), record(n2, &f2)))
}

fn random_pairs(n: usize) -> Vec<(String, String)> {
    let mut runner = TestRunner::deterministic();
    let strategy = schema_pair();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

fn compare_random(oracle: Oracle) {
    let pairs = random_pairs(600);
    let theirs = oracle.verdicts(&pairs);
    let mut disagreements = Vec::new();
    let mut incompatible = 0;
    for ((reader, writer), their) in pairs.iter().zip(&theirs) {
        // Both parse as existing versions: compare the checker alone.
        let r = Schema::Avro(AvroSchema::parse_str("r.avsc", reader, Validation::Lenient).unwrap());
        let w = Schema::Avro(AvroSchema::parse_str("w.avsc", writer, Validation::Lenient).unwrap());
        let our = can_read(&r, &w, Direction::Backward).is_empty();
        incompatible += usize::from(!our);
        if Some(our) != *their {
            disagreements.push(format!(
                "reader {reader}\nwriter {writer}\nours {our}, {} {their:?}",
                oracle.key()
            ));
        }
    }
    // The generator must exercise both verdicts, or agreement proves little.
    assert!(
        incompatible > 100 && incompatible < 500,
        "{incompatible} of 600 incompatible"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements with {}:\n{}",
        disagreements.len(),
        oracle.key(),
        disagreements.join("\n\n")
    );
}

#[test]
fn random_avro_pairs_agree_with_python_avro() {
    compare_random(Oracle::PythonAvro);
}

#[test]
fn random_avro_pairs_agree_with_avsc() {
    compare_random(Oracle::Avsc);
}

// ---- Protobuf against buf WIRE ----

#[test]
fn backward_protobuf_cases_agree_with_buf_wire_except_documented_divergences() {
    let root = corpus().join("protobuf");
    let buf_script = repo().join("compat-tests/oracles/buf_oracle.sh");
    require(&repo().join(".oracles/node/node_modules/.bin/buf"));
    let mut compared = 0;
    let mut problems = Vec::new();
    for dir in case_dirs(&root) {
        let case_file = dir.join("case.toml");
        let case: toml::Table =
            toml::from_str(&std::fs::read_to_string(&case_file).unwrap()).unwrap();
        // buf has one direction: it stands for BACKWARD against the latest version only.
        if case["level"].as_str() != Some("BACKWARD") {
            continue;
        }
        let entry = case
            .get("entry")
            .and_then(|e| e.as_str())
            .map(str::to_string);
        let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_dir())
            .filter_map(|e| {
                Some((
                    e.file_name().to_str()?.strip_prefix('v')?.parse().ok()?,
                    e.path(),
                ))
            })
            .collect();
        dirs.sort();
        let [.., (_, old), (_, new)] = dirs.as_slice() else {
            continue;
        };
        let load = |p: &PathBuf| {
            Schema::load(
                &SchemaOnDisk {
                    path: p.clone(),
                    entry: entry.clone(),
                },
                None,
                Validation::Strict,
            )
        };
        let (Ok(o), Ok(n)) = (load(old), load(new)) else {
            problems.push(format!("{}: does not parse", dir.display()));
            continue;
        };
        let our = can_read(&n, &o, Direction::Backward).is_empty();
        let out = Command::new("bash")
            .arg(&buf_script)
            .arg(old)
            .arg(new)
            .output()
            .unwrap();
        let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "buf oracle output for {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let theirs = verdict["compatible"].as_bool();
        compared += 1;
        let documented = case.get("oracles").and_then(|o| o.get("buf")).is_some();
        let name = dir.strip_prefix(&root).unwrap().display();
        match (Some(our) == theirs, documented) {
            (true, true) => problems.push(format!(
                "{name}: documented buf divergence no longer occurs"
            )),
            (false, false) => problems.push(format!(
                "{name}: ours {our}, buf {theirs:?}: {}",
                verdict["violations"]
            )),
            _ => {}
        }
    }
    assert!(
        compared >= 20,
        "only {compared} BACKWARD Protobuf cases compared with buf"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---- properties that need no oracle ----

fn parse_lenient(text: &str) -> Schema {
    Schema::Avro(AvroSchema::parse_str("s.avsc", text, Validation::Lenient).unwrap())
}

proptest! {
    #[test]
    fn a_schema_is_compatible_with_itself_at_every_level((a, _) in schema_pair()) {
        let s = parse_lenient(&a);
        for level in Level::ALL {
            let v = contracts_compat::Version { label: "v", schema: &s };
            prop_assert!(contracts_compat::check(level, &[v], v).is_empty());
        }
    }

    #[test]
    fn the_engine_never_panics_and_full_is_backward_plus_forward((a, b) in schema_pair()) {
        let (old, new) = (parse_lenient(&a), parse_lenient(&b));
        let history = [contracts_compat::Version { label: "v1", schema: &old }];
        let candidate = contracts_compat::Version { label: "v2", schema: &new };
        let count = |level| contracts_compat::check(level, &history, candidate).len();
        prop_assert_eq!(count(Level::Full), count(Level::Backward) + count(Level::Forward));
        prop_assert_eq!(count(Level::FullTransitive), count(Level::Full));
    }
}
