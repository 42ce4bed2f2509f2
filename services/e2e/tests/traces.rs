//! One order, one trace: the three service binaries export their spans over OTLP (order and
//! notification over gRPC, inventory over HTTP/protobuf) to a receiver in this test, and the
//! mail that confirms the order sits at the end of one chain of spans that starts at the HTTP
//! request: outbox, publish, consume, handler, outbox, publish, consume, handler, mail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use contracts_testkit::{TestRegistry, shared_broker, unique_name};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message as _;
use serde_json::json;
use shop_e2e::Service;

/// A received span: the exporting service, its name, ids.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
}

/// What the receiver has been sent, over either protocol.
#[derive(Debug, Clone, Default)]
struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    fn add(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock().unwrap();
        for rs in request.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    any_value::Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(Span {
                    service: service.clone(),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent: span.parent_span_id,
                });
            }
        }
    }

    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.add(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Starts the OTLP receiver: gRPC on one port, HTTP/protobuf (`POST /v1/traces`) on another.
async fn receiver(received: &Received) -> (u16, u16) {
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_port = grpc.local_addr().unwrap().port();
    let service = TraceServiceServer::new(received.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(grpc))
            .await
            .unwrap();
    });
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| async move {
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
            store.add(request);
            (
                [("content-type", "application/x-protobuf")],
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(http, app).await.unwrap() });
    (grpc_port, http_port)
}

/// The chain of spans from `leaf` up to its trace's root, root first: (service, name).
fn chain(spans: &[Span], leaf: &Span) -> Vec<(String, String)> {
    let by_id: HashMap<(&[u8], &[u8]), &Span> = spans
        .iter()
        .map(|s| ((s.trace_id.as_slice(), s.span_id.as_slice()), s))
        .collect();
    let mut out = vec![(leaf.service.clone(), leaf.name.clone())];
    let mut at = leaf;
    while !at.parent.is_empty() {
        let Some(parent) = by_id.get(&(at.trace_id.as_slice(), at.parent.as_slice())) else {
            // The parent has not arrived (yet): the chain is incomplete.
            out.push(("?".into(), "missing parent".into()));
            break;
        };
        out.push((parent.service.clone(), parent.name.clone()));
        at = parent;
    }
    out.reverse();
    out
}

/// What the confirmation mail's chain must hold, in this order: (service, span name prefix).
const EXPECTED: &[(&str, &str)] = &[
    ("order-service", "POST /orders"),
    ("order-service", "outbox insert"),
    ("order-service", "outbox relay"),
    ("order-service", "send "),
    ("inventory-service", "process "),
    ("inventory-service", "handle "),
    ("inventory-service", "outbox insert"),
    ("inventory-service", "outbox relay"),
    ("inventory-service", "send "),
    ("notification-service", "process "),
    ("notification-service", "handle "),
    ("notification-service", "mail confirmed"),
];

/// Whether `expected` appears in `chain` in order (other spans may sit between).
fn holds_in_order(chain: &[(String, String)], expected: &[(&str, &str)]) -> bool {
    let mut want = expected.iter().peekable();
    for (service, name) in chain {
        if let Some((s, prefix)) = want.peek()
            && service == s
            && name.starts_with(prefix)
        {
            want.next();
        }
    }
    want.peek().is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_makes_one_trace_across_the_three_services_from_the_http_request_to_the_mail() {
    let received = Received::default();
    let (grpc_port, http_port) = receiver(&received).await;

    let broker = shared_broker();
    let prefix = format!("{}.", unique_name("traces"));
    for topic in ["orders", "inventory", "order-created-pb"] {
        broker
            .create_topic(&format!("{prefix}{topic}"), 1)
            .await
            .unwrap();
    }
    let registry = TestRegistry::start(broker).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let grpc = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{grpc_port}"),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
    ];
    let http = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{http_port}"),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
    ];
    let with = |exporter: &[(&'static str, String)], own: &[(&'static str, String)]| {
        let common = [
            (
                "KAFKA_BOOTSTRAP_SERVERS",
                broker.bootstrap_servers().to_owned(),
            ),
            ("SCHEMA_REGISTRY_URL", registry.url()),
            ("KAFKA_TOPIC_PREFIX", prefix.clone()),
            ("KAFKA_PROFILE", "latency".to_owned()),
            // Spans leave a service 100 ms after they end instead of 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
        ];
        common
            .into_iter()
            .chain(exporter.iter().cloned())
            .chain(own.iter().cloned())
            .collect::<Vec<_>>()
    };
    let mut order = Service::new(
        "order-service",
        "ORDER_LISTEN",
        dir.path(),
        &with(&grpc, &[("ORDER_DB", path("order.db"))]),
    );
    let mut inventory = Service::new(
        "inventory-service",
        "INVENTORY_LISTEN",
        dir.path(),
        &with(
            &http,
            &[
                ("INVENTORY_DB", path("inventory.db")),
                ("INVENTORY_STOCK", "tea=100".to_owned()),
            ],
        ),
    );
    let mut notification = Service::new(
        "notification-service",
        "NOTIFICATION_LISTEN",
        dir.path(),
        &with(
            &grpc,
            &[
                ("NOTIFICATION_DB", path("notification.db")),
                ("NOTIFICATION_MAILBOX_DIR", path("mailbox")),
            ],
        ),
    );
    for s in [&mut order, &mut inventory, &mut notification] {
        s.start();
    }
    for s in [&mut order, &mut inventory, &mut notification] {
        s.wait_healthy(Duration::from_secs(120)).await;
    }

    let r = reqwest::Client::new()
        .post(format!("{}/orders", order.url()))
        .json(&json!({"customer": "trace@example.com", "line_items": [{"product": "tea", "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    let deadline = Instant::now() + Duration::from_secs(120);
    let (mail_chain, spans) = loop {
        let spans = received.spans();
        let found = spans
            .iter()
            .filter(|s| s.service == "notification-service" && s.name == "mail confirmed")
            .map(|s| chain(&spans, s))
            .find(|c| holds_in_order(c, EXPECTED));
        if let Some(found) = found {
            break (found, spans);
        }
        assert!(
            Instant::now() < deadline,
            "no trace from the request to the confirmation mail within 120 s; chains ending in a \
             mail: {:#?}\nservices that exported: {:?}\norder log: {}",
            spans
                .iter()
                .filter(|s| s.name.starts_with("mail"))
                .map(|s| chain(&spans, s))
                .collect::<Vec<_>>(),
            spans
                .iter()
                .map(|s| s.service.as_str())
                .collect::<std::collections::BTreeSet<_>>(),
            order.log_text(),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        mail_chain.first().map(|(s, n)| (s.as_str(), n.as_str())),
        Some(("order-service", "POST /orders")),
        "the trace starts at the HTTP request: {mail_chain:#?}"
    );

    // The same trace also holds the received mail, straight from the order's event.
    let trace = spans
        .iter()
        .find(|s| s.service == "notification-service" && s.name == "mail confirmed")
        .map(|s| s.trace_id.clone())
        .unwrap();
    let in_trace = |service: &str, name: &str| {
        spans
            .iter()
            .any(|s| s.trace_id == trace && s.service == service && s.name == name)
    };
    assert!(
        in_trace("notification-service", "mail received"),
        "{mail_chain:#?}"
    );

    // The services' JSON log lines name the same trace.
    let trace_hex: String = trace.iter().map(|b| format!("{b:02x}")).collect();
    for service in [&order, &inventory, &notification] {
        let log = service.log_text();
        let line = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["trace_id"] == trace_hex.as_str());
        assert!(
            line.is_some_and(|l| l["span_id"].as_str().is_some_and(|s| s.len() == 16)),
            "{}: no JSON log line with trace_id {trace_hex}: {log}",
            service.name
        );
    }

    // With an exporter to flush, each still stops gracefully.
    for service in [&mut order, &mut inventory, &mut notification] {
        assert!(
            service.terminate(),
            "{}: {}",
            service.name,
            service.log_text()
        );
    }
}
