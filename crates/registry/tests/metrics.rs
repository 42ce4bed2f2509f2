//! The `contracts-registry` binary's `/metrics` page, read by the Prometheus project's own
//! text-format parser after real traffic (`contracts registry serve` has the same test in the
//! CLI's tests).

mod common;

use std::path::Path;

use common::record_with_fields;
use contracts_testkit::{RegistryProcess, parse_prometheus_text, shared_broker, unique_name};
use serde_json::json;

const REGISTRY_BIN: &str = env!("CARGO_BIN_EXE_contracts-registry");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_binary_serves_metrics_a_prometheus_parser_reads() {
    let broker = shared_broker();
    let topic = unique_name("_schemas");
    let registry = RegistryProcess::spawn(Path::new(REGISTRY_BIN), &[], broker, &topic).unwrap();
    let http = reqwest::Client::new();
    for k in 1..=2 {
        let res = http
            .post(format!(
                "{}/subjects/metrics-value/versions",
                registry.url()
            ))
            .header("Content-Type", common::MEDIA)
            .body(json!({ "schema": record_with_fields("Metered", k) }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    let text = http
        .get(format!("{}/metrics", registry.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = parse_prometheus_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
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
    assert_eq!(registrations, [2.0]);
    assert_eq!(
        page.family_of("registry_store_writes_total")
            .map(|f| f.kind.as_str()),
        Some("counter")
    );
}
