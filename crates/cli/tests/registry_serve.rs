//! `contracts registry serve` as an operator runs it: against a real broker (Tansu), killed with
//! SIGKILL and started again, and with a missing flag.

use std::path::Path;
use std::process::Command;

use contracts_testkit::{RegistryProcess, parse_prometheus_text, shared_broker, unique_name};

const CONTRACTS: &str = env!("CARGO_BIN_EXE_contracts");
const MEDIA: &str = "application/vnd.schemaregistry.v1+json";
const SCHEMA: &str =
    r#"{"type":"record","name":"OrderCreated","fields":[{"name":"id","type":"string"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_serve_keeps_registrations_in_kafka_across_a_kill() {
    let broker = shared_broker();
    let topic = unique_name("_schemas");
    let serve = ["registry", "serve"];
    let first = RegistryProcess::spawn(Path::new(CONTRACTS), &serve, broker, &topic).unwrap();
    let http = reqwest::Client::new();
    let registered: serde_json::Value = http
        .post(format!("{}/subjects/orders-value/versions", first.url()))
        .header("Content-Type", MEDIA)
        .body(serde_json::json!({ "schema": SCHEMA }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["id"].as_i64().expect("an id");
    first.kill9();

    let second = RegistryProcess::spawn(Path::new(CONTRACTS), &serve, broker, &topic).unwrap();
    let res = http
        .get(format!("{}/schemas/ids/{id}", second.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"].to_str().unwrap(), MEDIA);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["schema"], SCHEMA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_serve_metrics_parse_with_the_prometheus_parser() {
    let broker = shared_broker();
    let registry = RegistryProcess::spawn(
        Path::new(CONTRACTS),
        &["registry", "serve"],
        broker,
        &unique_name("_schemas"),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let registered = http
        .post(format!("{}/subjects/orders-value/versions", registry.url()))
        .header("Content-Type", MEDIA)
        .body(serde_json::json!({ "schema": SCHEMA }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let res = http
        .get(format!("{}/metrics", registry.url()))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let page = parse_prometheus_text(&res.text().await.unwrap()).unwrap();
    let registrations: Vec<f64> = page
        .samples(
            "http_server_requests_total",
            &[
                ("http_route", "/subjects/{subject}/versions"),
                ("http_request_method", "POST"),
                ("http_response_status_code", "200"),
            ],
        )
        .map(|s| s.value)
        .collect();
    assert_eq!(registrations, [1.0]);
    let kind = |sample: &str| page.family_of(sample).map(|f| f.kind.as_str());
    assert_eq!(
        kind("http_server_request_duration_seconds_bucket"),
        Some("histogram")
    );
    assert_eq!(kind("registry_store_writes_total"), Some("counter"));
    let schemas: Vec<f64> = page
        .samples("registry_schemas", &[])
        .map(|s| s.value)
        .collect();
    assert_eq!(schemas, [1.0]);
}

#[test]
fn registry_serve_without_a_broker_says_which_flag_is_missing() {
    let out = Command::new(CONTRACTS)
        .args(["registry", "serve"])
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--bootstrap-servers"), "{stderr}");
}

#[test]
fn registry_serve_logs_json_lines_when_asked() {
    use std::io::{BufRead, BufReader};
    let port = contracts_testkit::free_port().unwrap();
    let mut child = Command::new(CONTRACTS)
        .args([
            "registry",
            "serve",
            "--in-memory",
            "--log-format",
            "json",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Every line is a JSON object, up to the one that says the registry serves.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut serving = None;
    for _ in 0..10 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let log: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        // The services' shape: the event's fields at the top level, never nested.
        assert!(log["message"].is_string(), "{line}");
        assert!(log.get("fields").is_none(), "{line}");
        if log["message"] == "serving the schema registry" {
            serving = Some(log);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let serving = serving.expect("the registry logs that it serves");
    assert_eq!(serving["level"], "INFO", "{serving}");
}
