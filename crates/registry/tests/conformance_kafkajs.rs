//! npm @kafkajs/confluent-schema-registry against our registry: Avro register, encode, decode
//! (`conformance/kafkajs_client.js`).

use std::path::{Path, PathBuf};

use contracts_testkit::{TestRegistry, shared_broker};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkajs_schema_registry_client_works_against_our_registry() {
    let modules = repo().join(".oracles/clients/node/node_modules");
    assert!(
        modules.join("@kafkajs/confluent-schema-registry").exists(),
        "{} has no @kafkajs/confluent-schema-registry: run .ci/install-clients",
        modules.display()
    );
    let registry = TestRegistry::start(shared_broker())
        .await
        .expect("start a registry");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/kafkajs_client.js");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .arg(registry.url())
        .env("NODE_PATH", &modules)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Each check's line, for the test log (`--nocapture`).
    println!("{stdout}");
    assert!(
        out.status.success(),
        "@kafkajs/confluent-schema-registry disagrees with our registry:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
