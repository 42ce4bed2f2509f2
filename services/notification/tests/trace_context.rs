//! A message keeps the trace of the event that caused it, on SQLite and PostgreSQL, so its
//! delivery (span `mail`) belongs to the order's trace.

use contracts_core::secret::Secret;
use contracts_testkit::TestPostgres;
use notification_service::domain::{Kind, Notice};
use notification_service::store::{MIGRATIONS, NotificationStore};
use opentelemetry::global;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use shop_service_kit::db::{Db, Location};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

async fn a_message_keeps_the_trace_of_its_event(store: NotificationStore) {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let handle = tracing::info_span!("handle");
    let trace_id = handle.context().span().span_context().trace_id();
    let notice = Notice {
        order_id: "o-1".into(),
        kind: Kind::Received,
        customer: Some("c@example.com".into()),
        detail: "1 x tea".into(),
    };
    assert!(store.record(&notice).instrument(handle).await.unwrap());

    let deliverable = store.deliverable_traced(10).await.unwrap();
    assert_eq!(deliverable.len(), 1);
    let trace = deliverable[0].1.as_deref().unwrap_or_default();
    assert!(
        trace.contains(&format!("traceparent=00-{trace_id}-")),
        "{trace}"
    );
}

#[tokio::test]
async fn on_sqlite_a_message_keeps_the_trace_of_its_event() {
    let store = NotificationStore::open_in_memory().await.unwrap();
    a_message_keeps_the_trace_of_its_event(store).await;
}

#[tokio::test]
async fn on_postgres_a_message_keeps_the_trace_of_its_event() {
    let pg = TestPostgres::start().unwrap();
    let location = Location::Url(Secret::new(pg.create_database("notification").unwrap()));
    let db = Db::connect(&location, 2, MIGRATIONS).await.unwrap();
    a_message_keeps_the_trace_of_its_event(NotificationStore::new(db)).await;
}
