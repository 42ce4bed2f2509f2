//! The registry's two hot paths against a bare axum handler measured in the same run:
//!
//! - `get_schema_by_id`: `GET /schemas/ids/{id}` (what every consumer does once per writer id),
//!   through the router in-process with `tower::ServiceExt::oneshot` (no sockets: the registry's
//!   own cost), and over loopback HTTP with the registry client (what a service sees).
//! - `register`: `POST /subjects/{s}/versions` with a new schema under a new subject each time
//!   (so every iteration does the same work: parse, canonical form, id, log append; no history
//!   to compare with), in-process on the in-memory log, and over loopback HTTP on a Kafka log (a
//!   Tansu broker from testkit), where each registration is a produce and a read-back of the
//!   `_schemas` topic.
//!
//! The baseline handlers do the least an endpoint can: answer fixed bytes, or parse the request
//! body as JSON and answer an id. Figures and how to read them: `benches/README.md`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use contracts_registry::store::MemoryLog;
use contracts_registry::{Registry, RegistryConfig, RouterOptions, server};
use contracts_registry_client::api::{MEDIA_TYPE, RegisterSchemaRequest, SchemaType};
use contracts_registry_client::client::Client;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// An `OrderCreated`-sized Avro record whose `n`-th variant differs in one field name.
fn order_created(n: u64) -> String {
    format!(
        r#"{{"type":"record","name":"OrderCreated","namespace":"shop.orders","fields":[
          {{"name":"order_id","type":"string"}},{{"name":"customer_id","type":["null","string"],"default":null}},
          {{"name":"quantity","type":"int"}},{{"name":"amount","type":"long"}},
          {{"name":"note_{n}","type":["null","string"],"default":null}}]}}"#
    )
}

fn register_body(n: u64) -> Vec<u8> {
    serde_json::to_vec(&RegisterSchemaRequest {
        schema: order_created(n),
        schema_type: Some(SchemaType::Avro),
        ..Default::default()
    })
    .unwrap()
}

/// The least a `GET /schemas/ids/{id}` endpoint can do: answer the same bytes ours answers.
fn bare_get(body: Bytes) -> Router {
    Router::new().route(
        "/schemas/ids/{id}",
        get(move |Path(_id): Path<i32>| {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, MEDIA_TYPE)], body) }
        }),
    )
}

/// The least a registration endpoint can do: parse the body and answer an id.
fn bare_register() -> Router {
    let next = Arc::new(AtomicI32::new(1));
    Router::new().route(
        "/subjects/{subject}/versions",
        post(
            move |Path(_s): Path<String>, Json(req): Json<RegisterSchemaRequest>| {
                let id = next.fetch_add(1, Ordering::Relaxed);
                async move {
                    black_box(req);
                    (
                        [(header::CONTENT_TYPE, MEDIA_TYPE)],
                        Json(serde_json::json!({ "id": id })),
                    )
                }
            },
        ),
    )
}

async fn call(app: &Router, request: Request<Body>) -> Bytes {
    let response = app.clone().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.into_body().collect().await.unwrap().to_bytes()
}

fn get_request(id: i32) -> Request<Body> {
    Request::get(format!("/schemas/ids/{id}"))
        .body(Body::empty())
        .unwrap()
}

/// Registers variant `n` under subject `bench-{n}-value`.
fn post_request(n: u64) -> Request<Body> {
    Request::post(format!("/subjects/bench-{n}-value/versions"))
        .header(header::CONTENT_TYPE, MEDIA_TYPE)
        .body(Body::from(register_body(n)))
        .unwrap()
}

/// Our router on the in-memory log, with `count` schemas registered; returns the first id.
async fn ours_in_memory(count: u64) -> (Router, i32) {
    let registry = Arc::new(Registry::new(
        Arc::new(MemoryLog::new()),
        RegistryConfig::default(),
    ));
    registry.start().await.unwrap();
    let app = server::router(registry, RouterOptions::default());
    let mut first = 0;
    for n in 0..count {
        let body = call(&app, post_request(n)).await;
        let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"]
            .as_i64()
            .unwrap();
        if n == 0 {
            first = i32::try_from(id).unwrap();
        }
    }
    (app, first)
}

fn serve(app: Router, rt: &tokio::runtime::Runtime) -> String {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    })
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // ---- GET /schemas/ids/{id}
    let (ours, id) = rt.block_on(ours_in_memory(100));
    let answer = rt.block_on(call(&ours, get_request(id)));
    let bare = bare_get(answer.clone());
    assert_eq!(rt.block_on(call(&bare, get_request(id))), answer);
    let mut group = c.benchmark_group("get_schema_by_id");
    group.bench_function("in_process/contracts", |b| {
        b.iter(|| rt.block_on(call(&ours, get_request(black_box(id)))))
    });
    group.bench_function("in_process/bare_axum", |b| {
        b.iter(|| rt.block_on(call(&bare, get_request(black_box(id)))))
    });
    let ours_url = serve(ours.clone(), &rt);
    let bare_url = serve(bare, &rt);
    // The raw request each time: the client's id cache would otherwise answer from memory.
    let http = reqwest::Client::new();
    let fetch = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.bytes().await.unwrap()
        }
    };
    let ours_get = format!("{ours_url}/schemas/ids/{id}");
    let bare_get_url = format!("{bare_url}/schemas/ids/{id}");
    group.bench_function("loopback_http/contracts", |b| {
        b.iter(|| rt.block_on(fetch(ours_get.clone())))
    });
    group.bench_function("loopback_http/bare_axum", |b| {
        b.iter(|| rt.block_on(fetch(bare_get_url.clone())))
    });
    group.finish();

    // ---- POST /subjects/{s}/versions, a new schema each time
    let next = AtomicU64::new(1_000);
    let (ours, _) = rt.block_on(ours_in_memory(1));
    let bare = bare_register();
    let mut group = c.benchmark_group("register");
    group.bench_function("in_process_memory_log/contracts", |b| {
        b.iter(|| {
            rt.block_on(call(
                &ours,
                post_request(next.fetch_add(1, Ordering::Relaxed)),
            ))
        })
    });
    group.bench_function("in_process/bare_axum", |b| {
        b.iter(|| {
            rt.block_on(call(
                &bare,
                post_request(next.fetch_add(1, Ordering::Relaxed)),
            ))
        })
    });

    // Over HTTP on a Kafka log: each registration is produced to the topic and read back.
    let broker = contracts_testkit::shared_broker();
    let kafka_registry = rt
        .block_on(contracts_testkit::TestRegistry::start(broker))
        .expect("start a registry on Tansu");
    let client = Client::new(&kafka_registry.url()).unwrap();
    let bare_client = Client::new(&serve(bare_register(), &rt)).unwrap();
    let request = |n: u64| RegisterSchemaRequest {
        schema: order_created(n),
        schema_type: Some(SchemaType::Avro),
        ..Default::default()
    };
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("loopback_http_kafka_log/contracts", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            rt.block_on(client.register(&format!("bench-{n}-value"), &request(n)))
                .unwrap()
        })
    });
    group.bench_function("loopback_http/bare_axum", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            rt.block_on(bare_client.register(&format!("bench-{n}-value"), &request(n)))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = registry;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(registry);
