//! The short pass CI runs: every target takes tens of thousands of generated inputs without a
//! panic, an input past the hang limit or an allocation past the memory cap, and the harness
//! itself reports what it is there to catch. The long run (10 million inputs per target) is
//! `cargo run -p contracts-fuzz --release -- --target all --inputs 10000000`; its figures are in
//! benches/README.md.

use std::time::Duration;

use contracts_fuzz::{Config, FailureKind, Rng, Target, targets};

/// A debug build on a shared machine is slow and its timings are noisy: the per-input budget
/// here only catches hangs. The release run holds the targets to their own budgets.
fn short(inputs: u64, crash_dir: &std::path::Path) -> Config {
    Config {
        inputs,
        seed: 12,
        budget: Some(Duration::from_secs(5)),
        hang_limit: Duration::from_secs(60),
        crash_dir: crash_dir.to_path_buf(),
        ..Config::default()
    }
}

fn passes(name: &str, inputs: u64) {
    let target = targets::by_name(name).expect("a target of that name");
    let dir = tempfile::tempdir().unwrap();
    let report = contracts_fuzz::run(target, &short(inputs, dir.path()));
    assert_eq!(report.inputs, inputs, "{}", report.summary());
    assert!(report.failures.is_empty(), "{report:#?}");
    assert!(report.corpus_files > 0);
}

#[test]
fn the_wire_format_parser_survives_generated_records() {
    passes("wire", 50_000);
}

#[test]
fn the_avro_reader_and_resolver_survive_generated_payloads() {
    passes("avro", 30_000);
}

#[test]
fn the_generated_events_decoders_survive_generated_records() {
    passes("events", 30_000);
}

#[test]
fn the_json_parser_survives_generated_text() {
    passes("json", 30_000);
}

#[test]
fn the_avro_schema_parsers_survive_generated_schemas() {
    passes("avro-schema", 20_000);
}

#[test]
fn the_protobuf_schema_parser_survives_generated_files() {
    passes("protobuf-schema", 10_000);
}

#[test]
fn the_manifest_parser_survives_generated_manifests() {
    passes("manifest", 10_000);
}

/// A target that fails in every way the harness must catch, chosen by the input's first byte.
struct Faulty;

impl Target for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }
    fn budget(&self) -> Duration {
        Duration::from_millis(150)
    }
    fn builtin_seeds(&self) -> Vec<Vec<u8>> {
        vec![
            b"fine".to_vec(),
            b"panic".to_vec(),
            b"slow".to_vec(),
            b"alloc".to_vec(),
            b"flaky".to_vec(),
        ]
    }
    fn generate(&self, _: &mut Rng, _: &[Vec<u8>], out: &mut Vec<u8>) {
        out.extend_from_slice(b"fine");
    }
    fn run(&self, input: &[u8]) {
        match input {
            b"panic" => panic!("the decoder tripped over {input:?}"),
            b"slow" => burn_cpu(Duration::from_millis(400)),
            // Slow on its first run only, as when the kernel charges the thread for something else.
            b"flaky" if !FLAKY_RAN.swap(true, std::sync::atomic::Ordering::SeqCst) => {
                burn_cpu(Duration::from_millis(400))
            }
            b"alloc" => drop(std::hint::black_box(vec![1u8; 3 << 20])),
            _ => {}
        }
    }
}

static FLAKY_RAN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Budgets count the thread's CPU time: sleeping would not be slow, and spinning for a wall-clock
/// time would not be either on a loaded machine.
fn burn_cpu(d: Duration) {
    let cpu = || {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    };
    let start = cpu();
    let mut x = 0u64;
    while cpu() - start < d {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
}

#[test]
fn panics_and_slow_inputs_are_reported_with_the_input_saved_and_memory_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        inputs: 10,
        budget: None,
        crash_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let report = contracts_fuzz::run(&Faulty, &config);
    assert_eq!(report.inputs, 10, "the run goes on after a failure");
    assert_eq!(report.failures.len(), 2, "{report:#?}");
    let panic = &report.failures[0];
    assert_eq!(panic.input_number, 1);
    assert!(
        matches!(&panic.kind, FailureKind::Panic(m) if m.contains("the decoder tripped over")),
        "{panic:?}"
    );
    assert_eq!(std::fs::read(&panic.saved_to).unwrap(), b"panic");
    let slow = &report.failures[1];
    assert!(matches!(slow.kind, FailureKind::OverBudget(_)), "{slow:?}");
    assert_eq!(std::fs::read(&slow.saved_to).unwrap(), b"slow");
    assert_eq!(
        report.not_reproduced, 1,
        "an input slow once and fast on its re-run is not a failure"
    );
    assert!(
        report.peak_bytes >= 3 << 20,
        "the 3 MiB allocation is counted: {}",
        report.peak_bytes
    );
}
