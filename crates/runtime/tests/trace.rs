//! Trace context travels with the event: the consumer's `process` span continues the trace of
//! the span that published the event, through the headers the globally installed propagator
//! writes (W3C `traceparent`, `tracestate` and `baggage`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::events::{self, Message, OrderPaid};
use common::source::MemorySource;
use common::{eventually, header, read_all, shared_broker, unique_prefix};
use contracts_core::{Handle, HandlerError, RecordMeta};
use contracts_runtime::{Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher, headers};
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// What the handler saw of its trace: id, whether valid, `tracestate`, baggage `tenant`.
type Seen = (TraceId, bool, String, Option<String>);

#[derive(Clone, Default)]
struct TraceIds(Arc<Mutex<Vec<Seen>>>);

impl Handle<Message> for TraceIds {
    async fn handle(&self, _: Message, _: &RecordMeta) -> Result<(), HandlerError> {
        let cx = tracing::Span::current().context();
        let span = cx.span();
        let sc = span.span_context();
        let tenant = cx.baggage().get("tenant").map(|v| v.to_string());
        self.0.lock().unwrap().push((
            sc.trace_id(),
            sc.is_valid(),
            sc.trace_state().header(),
            tenant,
        ));
        Ok(())
    }
}

// Current-thread runtime: the subscriber set for this thread sees the consumer's tasks too.
#[tokio::test]
async fn the_consumer_continues_the_trace_with_its_tracestate_and_baggage() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("runtime-test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let broker = shared_broker();
    let prefix = unique_prefix("trace");
    let topic = format!("{prefix}orders");
    broker.create_topic(&topic, 1).await.unwrap();
    let source = Arc::new(MemorySource::new());
    let publisher = Publisher::new(
        &ProducerConfig::new(broker.bootstrap_servers()).topic_prefix(&prefix),
        source.clone(),
        Metrics::new(),
    )
    .unwrap();

    // The caller's trace, with a vendor's tracestate and baggage, as an HTTP request brings it.
    let caller = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "abc")]).unwrap(),
    );
    let checkout = tracing::info_span!("checkout");
    checkout
        .set_parent(
            Context::new()
                .with_remote_span_context(caller)
                .with_baggage([KeyValue::new("tenant", "acme")]),
        )
        .unwrap();
    let trace_id = checkout.context().span().span_context().trace_id();
    assert_ne!(trace_id, TraceId::INVALID, "the test's tracer is active");
    let event = OrderPaid {
        order_id: "o-1".into(),
        seq: 1,
    };
    publisher.send(&event).instrument(checkout).await.unwrap();
    // Outside any span: no trace to continue.
    publisher.send(&event).await.unwrap();

    let raw = read_all(broker.bootstrap_servers(), &topic, 2);
    let traceparent = header(&raw[0], headers::TRACEPARENT).expect("traceparent header");
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert_eq!(header(&raw[0], "tracestate").as_deref(), Some("vendor=abc"));
    assert_eq!(header(&raw[0], "baggage").as_deref(), Some("tenant=acme"));
    assert_eq!(
        header(&raw[1], "baggage"),
        None,
        "no baggage where none was set"
    );

    let seen = TraceIds::default();
    let consumer = Consumer::<events::Topic>::new(
        ConsumerConfig::new(broker.bootstrap_servers(), format!("{prefix}g")).topic_prefix(&prefix),
        source,
        Metrics::new(),
    )
    .await
    .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run(seen.clone()));
    eventually("two handled events", Duration::from_secs(60), || async {
        (seen.0.lock().unwrap().len() == 2).then_some(())
    })
    .await;
    control.shutdown();
    task.await.unwrap().unwrap();
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        (
            trace_id,
            true,
            "vendor=abc".to_owned(),
            Some("acme".to_owned())
        ),
        "continued the producer's trace, its tracestate and baggage"
    );
    assert!(
        seen[1].1,
        "a record without traceparent gets a trace of its own"
    );
    assert_eq!(seen[1].3, None);
    assert_ne!(seen[1].0, trace_id);
}
