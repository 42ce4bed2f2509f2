//! What one request may make the registry resolve: references de-duplicated, loops refused,
//! limits on their number and size answered with Confluent-style 422s; and metric labels that a
//! scanner cannot multiply. Against a registry over HTTP (in-memory log).

mod common;

use common::{Http, MEDIA};
use contracts_registry::{ReferenceLimits, RegistryConfig, RouterOptions, Server, ServerConfig};
use contracts_testkit::parse_prometheus_text;
use serde_json::{Value, json};

async fn registry(limits: ReferenceLimits) -> (Server, Http) {
    let server = Server::start_in_memory(ServerConfig {
        registry: RegistryConfig {
            references: limits,
            ..RegistryConfig::default()
        },
        // The 20,000-reference requests are 1.2 MB: over the default body limit, as an
        // operator who raised it would see them.
        router: RouterOptions {
            max_body_bytes: 4 * 1024 * 1024,
            ..RouterOptions::default()
        },
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let http = Http::new(server.url());
    (server, http)
}

/// A record of `fields` string fields: about 40 bytes each.
fn big_record(name: &str, fields: usize) -> String {
    let fields: Vec<Value> = (0..fields)
        .map(|i| json!({"name": format!("field_{i:06}"), "type": "string"}))
        .collect();
    json!({"type": "record", "name": name, "namespace": "shop", "fields": fields}).to_string()
}

fn reference(name: &str, subject: &str, version: i64) -> Value {
    json!({"name": name, "subject": subject, "version": version})
}

/// A record with one field of each named type.
fn user_of(name: &str, types: &[&str]) -> String {
    let fields: Vec<Value> = types
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"name": format!("f{i}"), "type": t}))
        .collect();
    json!({"type": "record", "name": name, "namespace": "shop", "fields": fields}).to_string()
}

async fn register(http: &Http, subject: &str, schema: &str, refs: Vec<Value>) -> (u16, Value) {
    http.post(
        &format!("/subjects/{subject}/versions"),
        json!({"schema": schema, "references": refs}),
    )
    .await
}

/// The request: the same ~19 KB schema referenced 20,000 times (a ~1.2 MB body).
fn repeated_references() -> Value {
    let refs: Vec<Value> = (0..20_000)
        .map(|_| reference("shop.Big", "big-value", 1))
        .collect();
    json!({"schema": user_of("User", &["shop.Big"]), "references": refs})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_listed_20000_times_is_refused_by_default_with_a_42201_naming_the_limit() {
    let (_server, http) = registry(ReferenceLimits::default()).await;
    let big = big_record("Big", 475);
    assert!(big.len() > 18_000, "{}", big.len());
    assert_eq!(register(&http, "big-value", &big, vec![]).await.0, 200);
    let body = repeated_references();
    assert!(body.to_string().len() > 1_000_000);

    let (status, answer) = http.post("/compatibility/subjects/x/versions", body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_code"], 42201, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("20000 references"), "{message}");
    assert!(message.contains("--max-references"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_listed_20000_times_is_resolved_once_when_the_limit_allows_it() {
    let (_server, http) = registry(ReferenceLimits {
        max_references: 50_000,
        ..ReferenceLimits::default()
    })
    .await;
    // 475 fields: ~19 KB. Without de-duplication the 20,000 copies would be 380 MB of text,
    // far over the 1 MiB the registry resolves per request by default.
    assert_eq!(
        register(&http, "big-value", &big_record("Big", 475), vec![])
            .await
            .0,
        200
    );
    let (status, answer) = http
        .post("/compatibility/subjects/x/versions", repeated_references())
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["is_compatible"], true, "{answer}");
    // And it registers: the schema is usable.
    let (status, answer) = http
        .post("/subjects/x/versions", repeated_references())
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_that_loop_are_a_42201_naming_the_loop() {
    let (_server, http) = registry(ReferenceLimits::default()).await;
    let a = user_of("A", &["int"]);
    assert_eq!(register(&http, "a", &a, vec![]).await.0, 200);
    // b refers to a's latest version; a's version 2 (same text) refers to b's latest: once it
    // exists, a → b → a loops.
    let b = user_of("B", &["shop.A"]);
    let (status, answer) = register(&http, "b", &b, vec![reference("shop.A", "a", -1)]).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = register(&http, "a", &a, vec![reference("shop.B", "b", -1)]).await;
    assert_eq!(status, 200, "{answer}");

    let c = user_of("C", &["shop.B"]);
    let (status, answer) = register(&http, "c", &c, vec![reference("shop.B", "b", 1)]).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_code"], 42201, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("references loop"), "{message}");
    assert!(message.contains("b version 1"), "{message}");
    assert!(message.contains("a version 2"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reference_name_for_two_schemas_is_a_42201() {
    let (_server, http) = registry(ReferenceLimits::default()).await;
    assert_eq!(
        register(&http, "m1", &user_of("Money", &["long"]), vec![])
            .await
            .0,
        200
    );
    assert_eq!(
        register(&http, "m2", &user_of("Money", &["int"]), vec![])
            .await
            .0,
        200
    );
    let (status, answer) = register(
        &http,
        "order",
        &user_of("Order", &["shop.Money"]),
        vec![
            reference("shop.Money", "m1", 1),
            reference("shop.Money", "m2", 1),
        ],
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_code"], 42201, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("\"shop.Money\" denotes two schemas"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_reaching_more_text_than_the_limit_are_a_42209() {
    let (_server, http) = registry(ReferenceLimits {
        max_resolved_bytes: 30_000,
        ..ReferenceLimits::default()
    })
    .await;
    for (subject, name) in [("b1", "Big1"), ("b2", "Big2")] {
        let (status, answer) = register(&http, subject, &big_record(name, 400), vec![]).await;
        assert_eq!(status, 200, "{answer}");
    }
    // One ~16 KB schema fits; two do not.
    let (status, answer) = register(
        &http,
        "one",
        &user_of("One", &["shop.Big1"]),
        vec![reference("shop.Big1", "b1", 1)],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = register(
        &http,
        "two",
        &user_of("Two", &["shop.Big1", "shop.Big2"]),
        vec![
            reference("shop.Big1", "b1", 1),
            reference("shop.Big2", "b2", 1),
        ],
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_code"], 42209, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("--max-resolved-bytes"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_reaching_more_schemas_than_the_limit_are_a_42201() {
    let (_server, http) = registry(ReferenceLimits {
        max_references: 3,
        ..ReferenceLimits::default()
    })
    .await;
    // A chain t0 ← t1 ← t2 ← t3: t3's request lists one reference but reaches three schemas.
    assert_eq!(
        register(&http, "t0", &user_of("T0", &["int"]), vec![])
            .await
            .0,
        200
    );
    for i in 1..=3 {
        let prev = format!("shop.T{}", i - 1);
        let (status, answer) = register(
            &http,
            &format!("t{i}"),
            &user_of(&format!("T{i}"), &[prev.as_str()]),
            vec![reference(&prev, &format!("t{}", i - 1), 1)],
        )
        .await;
        assert_eq!(status, 200, "t{i}: {answer}");
    }
    let (status, answer) = register(
        &http,
        "t4",
        &user_of("T4", &["shop.T3"]),
        vec![reference("shop.T3", "t3", 1)],
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error_code"], 42201, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("more than 3 schemas"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diamond_of_references_defines_the_shared_type_once() {
    let (_server, http) = registry(ReferenceLimits::default()).await;
    assert_eq!(
        register(&http, "d", &user_of("D", &["int"]), vec![])
            .await
            .0,
        200
    );
    for name in ["B", "C"] {
        let (status, answer) = register(
            &http,
            &name.to_lowercase(),
            &user_of(name, &["shop.D"]),
            vec![reference("shop.D", "d", 1)],
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }
    // A uses B and C, which both use D: D must be defined once in what the parser sees.
    let (status, answer) = register(
        &http,
        "a",
        &user_of("A", &["shop.B", "shop.C"]),
        vec![reference("shop.B", "b", 1), reference("shop.C", "c", 1)],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = http
        .post(
            "/subjects/a",
            json!({"schema": user_of("A", &["shop.B", "shop.C"]),
                "references": [reference("shop.B", "b", 1), reference("shop.C", "c", 1)]}),
        )
        .await;
    assert_eq!(status, 200, "lookup finds it: {answer}");
    assert_eq!(answer["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanning_with_random_paths_and_methods_leaves_the_metric_series_bounded() {
    let (server, _http) = registry(ReferenceLimits::default()).await;
    let client = reqwest::Client::new();
    let methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"];
    for i in 0..1000u32 {
        let method = if i % 2 == 0 {
            reqwest::Method::from_bytes(format!("SCAN{i}").as_bytes()).unwrap()
        } else {
            reqwest::Method::from_bytes(methods[(i as usize / 2) % methods.len()].as_bytes())
                .unwrap()
        };
        let path = format!("/probe-{i}/{:x}/../admin{i}", i.wrapping_mul(2_654_435_761));
        let res = client
            .request(method, format!("{}{path}", server.url()))
            .header("Content-Type", MEDIA)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
    }
    let text = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = parse_prometheus_text(&text).unwrap();
    let requests: Vec<_> = page.samples("http_server_requests_total", &[]).collect();
    assert!(!requests.is_empty(), "{text}");
    assert!(
        requests.len() <= 20,
        "{} series after 1000 random requests:\n{text}",
        requests.len()
    );
    let counted: f64 = requests.iter().map(|s| s.value).sum();
    assert!(counted >= 1000.0, "every request is counted: {counted}");
    assert!(
        page.samples(
            "http_server_requests_total",
            &[("http_request_method", "_OTHER")]
        )
        .next()
        .is_some(),
        "{text}"
    );
    for s in &requests {
        let route = &s.labels["http_route"];
        assert!(
            !route.contains("probe"),
            "a raw path became a label: {route}"
        );
    }
}

// ---- hostile shapes within the body limit: answered (200 or 422), in work linear in size ----

fn flat_record(name: &str, fields: usize, extra: Option<&str>) -> String {
    let mut fields: Vec<Value> = (0..fields)
        .map(|i| json!({"name": format!("f{i}"), "type": "string", "default": ""}))
        .collect();
    if let Some(dup) = extra {
        fields.push(json!({"name": dup, "type": "string", "default": ""}));
    }
    json!({"type": "record", "name": name, "fields": fields}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_with_20000_fields_is_registered_and_checked_against_its_successor() {
    let (_server, http) = registry(ReferenceLimits::default()).await;
    // Duplicate detection used to compare each field with every earlier one.
    let (status, answer) =
        register(&http, "wide", &flat_record("Wide", 20_000, None), vec![]).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = register(
        &http,
        "wide",
        &flat_record("Wide", 20_000, Some("added")),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "a compatible successor: {answer}");
    let (status, answer) = register(
        &http,
        "wide-dup",
        &flat_record("Wide", 20_000, Some("f19999")),
        vec![],
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("duplicate field \"f19999\""),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enum_with_50000_symbols_is_registered_and_a_duplicate_symbol_is_a_42201() {
    let (_server, http) = registry(ReferenceLimits::default()).await;
    let symbols: Vec<String> = (0..50_000).map(|i| format!("S{i}")).collect();
    let schema = json!({"type": "enum", "name": "Huge", "symbols": symbols}).to_string();
    let (status, answer) = register(&http, "enum", &schema, vec![]).await;
    assert_eq!(status, 200, "{answer}");
    let mut dup = symbols.clone();
    dup.push("S49999".into());
    let schema = json!({"type": "enum", "name": "Huge", "symbols": dup}).to_string();
    let (status, answer) = register(&http, "enum-dup", &schema, vec![]).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("duplicate enum symbol \"S49999\""),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_union_of_2000_forward_references_is_registered_and_checked() {
    let (_server, http) = registry(ReferenceLimits::default()).await;
    // A field whose union names 2,000 records defined later, in the next field: every branch
    // was compared with every unresolved name.
    let names: Vec<String> = (0..2_000).map(|i| format!("R{i}")).collect();
    let defs: Vec<Value> = names
        .iter()
        .map(|n| json!({"type": "record", "name": n, "fields": []}))
        .collect();
    let schema = |extra: bool| {
        let mut fields = vec![
            json!({"name": "u", "type": names}),
            json!({"name": "defs", "type": {"type": "array", "items": defs}}),
        ];
        if extra {
            fields.push(json!({"name": "x", "type": "int", "default": 0}));
        }
        json!({"type": "record", "name": "U", "fields": fields}).to_string()
    };
    let (status, answer) = register(&http, "union", &schema(false), vec![]).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = register(&http, "union", &schema(true), vec![]).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_100_kb_long_and_many_subjects_with_one_schema_are_answered() {
    let (_server, http) = registry(ReferenceLimits::default()).await;
    let long = format!("N{}", "x".repeat(100_000));
    let schema = json!({"type": "record", "name": long, "fields": [
        {"name": format!("f{}", "y".repeat(100_000)), "type": "int"}]})
    .to_string();
    let (status, answer) = register(&http, "long", &schema, vec![]).await;
    assert_eq!(status, 200, "{answer}");
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..50 {
        let (status, answer) = register(
            &http,
            &format!("many-{i}"),
            &flat_record("M", 1, None),
            vec![],
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        ids.insert(answer["id"].to_string());
    }
    assert_eq!(ids.len(), 1, "the same schema keeps one id: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_default_limit_of_one_mib_is_a_413_naming_the_flag() {
    let server = Server::start_in_memory(ServerConfig::default())
        .await
        .unwrap();
    let http = Http::new(server.url());
    // 30,000 fields: about 1.8 MB, more than a default Kafka record holds.
    let (status, answer) = register(
        &http,
        "wide-value",
        &flat_record("Wide", 30_000, None),
        vec![],
    )
    .await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.to_string().contains("--max-body-bytes"), "{answer}");
    let (status, answer) = register(
        &http,
        "wide-value",
        &flat_record("Wide", 10_000, None),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}
