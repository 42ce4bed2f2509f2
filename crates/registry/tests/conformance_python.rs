//! Confluent's Python client (PyPI confluent-kafka) against our registry: the calls of
//! `conformance/python_client.py`, with serializer round trips through a real broker.

use std::path::{Path, PathBuf};

use contracts_testkit::{TestRegistry, shared_broker};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_python_client_works_against_our_registry() {
    let python = repo().join(".oracles/clients/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run .ci/install-clients to install the pinned confluent-kafka",
        python.display()
    );
    let broker = shared_broker();
    let registry = TestRegistry::start(broker).await.expect("start a registry");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/python_client.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(registry.url())
        .arg(broker.bootstrap_servers())
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Each check's line, for the test log (`--nocapture`).
    println!("{stdout}");
    assert!(
        out.status.success(),
        "confluent-kafka disagrees with our registry:\n{stdout}\n{stderr}"
    );
    // Every check ran (a script that stopped early would not print its tally).
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
