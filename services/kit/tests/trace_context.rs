//! The outbox keeps the trace a row was written in, with its `tracestate` and baggage, on SQLite
//! and on PostgreSQL, and the relay publishes the row inside that trace: a trace does not end at
//! the outbox.

use std::sync::Mutex;

use contracts_core::secret::Secret;
use contracts_core::types::DateTime;
use contracts_testkit::TestPostgres;
use events::orders::v1::OrderShipped;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use shop_service_kit::db::{Db, Location};
use shop_service_kit::outbox::{self, OutboxRow, PublishFailure, Relay, Sink};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// What the publish saw of its trace: row id, trace id, tracestate, baggage `tenant`.
type Seen = (i64, TraceId, String, Option<String>);

#[derive(Default)]
struct Traced(Mutex<Vec<Seen>>);

impl Sink for Traced {
    async fn publish(&self, row: &OutboxRow) -> Result<(), PublishFailure> {
        let cx = tracing::Span::current().context();
        let span = cx.span();
        let sc = span.span_context();
        let tenant = cx.baggage().get("tenant").map(|v| v.to_string());
        self.0
            .lock()
            .unwrap()
            .push((row.id, sc.trace_id(), sc.trace_state().header(), tenant));
        Ok(())
    }
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn a_row_is_published_in_the_trace_it_was_written_in(db: Db) {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("kit-test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let request = tracing::info_span!("request");
    request
        .set_parent(
            Context::new()
                .with_remote_span_context(SpanContext::new(
                    TraceId::from_hex(CALLER_TRACE).unwrap(),
                    SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                    TraceFlags::SAMPLED,
                    true,
                    TraceState::from_key_value([("vendor", "abc")]).unwrap(),
                ))
                .with_baggage([KeyValue::new("tenant", "acme")]),
        )
        .unwrap();
    let event = OrderShipped::new(
        "o-1".into(),
        "DHL".into(),
        DateTime::from_timestamp_millis(0).unwrap(),
    );
    let traced = async {
        let mut tx = db.begin().await.unwrap();
        let id = outbox::enqueue(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
        id
    }
    .instrument(request)
    .await;
    // Outside any span: the row's `outbox insert` span starts a trace of its own.
    let untraced = {
        let mut tx = db.begin().await.unwrap();
        let id = outbox::enqueue(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
        id
    };

    let rows = outbox::all(&db).await.unwrap();
    let stored = rows[0].trace_context.as_deref().unwrap_or_default();
    assert!(
        stored.contains(&format!("traceparent=00-{CALLER_TRACE}-")),
        "{stored}"
    );
    assert!(stored.contains("tracestate=vendor=abc"), "{stored}");
    assert!(stored.contains("baggage=tenant=acme"), "{stored}");
    let own = rows[1].trace_context.as_deref().unwrap_or_default();
    let own_trace = own
        .strip_prefix("traceparent=00-")
        .and_then(|t| TraceId::from_hex(&t[..32]).ok())
        .unwrap_or_else(|| panic!("{own}"));
    assert_ne!(own_trace, TraceId::from_hex(CALLER_TRACE).unwrap());
    assert!(!own.contains("baggage"), "{own}");

    let sink = Traced::default();
    assert_eq!(Relay::new(db.clone()).run_once(&sink).await.unwrap(), 2);
    let mut seen = sink.0.into_inner().unwrap();
    seen.sort_by_key(|s| s.0);
    assert_eq!(
        seen[0],
        (
            traced,
            TraceId::from_hex(CALLER_TRACE).unwrap(),
            "vendor=abc".to_owned(),
            Some("acme".to_owned())
        ),
        "the relay continued the row's trace"
    );
    assert_eq!(seen[1].0, untraced);
    assert_eq!(
        seen[1].1, own_trace,
        "the relay continued the row's own trace"
    );
    assert_eq!(seen[1].3, None);
}

#[tokio::test]
async fn on_sqlite_a_row_is_published_in_the_trace_it_was_written_in() {
    a_row_is_published_in_the_trace_it_was_written_in(Db::open_in_memory(&[]).await.unwrap()).await;
}

#[tokio::test]
async fn on_postgres_a_row_is_published_in_the_trace_it_was_written_in() {
    let pg = TestPostgres::start().unwrap();
    let location = Location::Url(Secret::new(pg.create_database("shop").unwrap()));
    let db = Db::connect(&location, 2, &[]).await.unwrap();
    a_row_is_published_in_the_trace_it_was_written_in(db).await;
}
