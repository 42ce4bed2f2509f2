//! Trace context travels with the event: the consumer's `process` span continues the trace of
//! the span that published the event, through the record's W3C `traceparent` header.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::events::{self, Message, OrderPaid};
use common::source::MemorySource;
use common::{eventually, header, read_all, shared_broker, unique_prefix};
use contracts_core::{Handle, HandlerError, RecordMeta};
use contracts_runtime::{Consumer, ConsumerConfig, Metrics, ProducerConfig, Publisher, headers};
use opentelemetry::trace::{TraceContextExt as _, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Clone, Default)]
struct TraceIds(Arc<Mutex<Vec<(TraceId, bool)>>>);

impl Handle<Message> for TraceIds {
    async fn handle(&self, _: Message, _: &RecordMeta) -> Result<(), HandlerError> {
        let cx = tracing::Span::current().context();
        let span = cx.span();
        let sc = span.span_context();
        self.0.lock().unwrap().push((sc.trace_id(), sc.is_valid()));
        Ok(())
    }
}

// Current-thread runtime: the subscriber set for this thread sees the consumer's tasks too.
#[tokio::test]
async fn the_consumer_continues_the_trace_the_producer_sent_in() {
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

    let checkout = tracing::info_span!("checkout");
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
    assert_eq!(seen[0], (trace_id, true), "continued the producer's trace");
    assert!(
        seen[1].1,
        "a record without traceparent gets a trace of its own"
    );
    assert_ne!(seen[1].0, trace_id);
}
