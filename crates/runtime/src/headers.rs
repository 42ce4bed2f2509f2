//! The Kafka headers the runtime writes and reads.
//!
//! Every record a [`crate::Producer`] sends carries its event type, schema id and a unique
//! event id (consumers deduplicate by it), and a W3C `traceparent` when the send happens inside
//! an OpenTelemetry trace. No more: each header costs the broker per record, and the contract
//! version is known from the schema id. Dead-lettered records keep their original headers and add the
//! `dlt-*` ones, which say where the record came from and why it failed. Records forwarded to a
//! retry topic keep theirs too and carry `retry-*` ones: attempts so far, when the record is
//! due, and where it was first read. A replayed dead letter names the one group that should
//! handle it again.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use rdkafka::message::Headers;

/// The event's fully-qualified name (`shop.orders.OrderCreated`).
pub const EVENT_TYPE: &str = "event_type";
/// The registry id of the writer schema, in decimal (also in the record's wire header).
pub const SCHEMA_ID: &str = "schema_id";
/// A UUID unique to this event, the key for idempotent handling.
pub const EVENT_ID: &str = "event_id";
/// W3C Trace Context.
pub const TRACEPARENT: &str = "traceparent";

/// The topic the dead-lettered record was read from.
pub const DLT_ORIGINAL_TOPIC: &str = "dlt-original-topic";
pub const DLT_ORIGINAL_PARTITION: &str = "dlt-original-partition";
pub const DLT_ORIGINAL_OFFSET: &str = "dlt-original-offset";
/// Milliseconds since the epoch, when the original record had a timestamp.
pub const DLT_ORIGINAL_TIMESTAMP: &str = "dlt-original-timestamp";
/// The consumer group that gave up on the record.
pub const DLT_CONSUMER_GROUP: &str = "dlt-consumer-group";
/// `decode`, `unknown-schema`, `handler-permanent`, `handler-retries-exhausted`, `handler-panic`.
pub const DLT_ERROR_CLASS: &str = "dlt-error-class";
pub const DLT_ERROR_MESSAGE: &str = "dlt-error-message";
/// How many times the handler was called (0 when the record could not be decoded), retry
/// topics included.
pub const DLT_ATTEMPTS: &str = "dlt-attempts";

/// Every header the runtime puts on a record it forwards to a retry topic starts with this;
/// they are replaced, not repeated, when the record moves on to the next retry topic.
pub const RETRY_PREFIX: &str = "retry-";
/// Handler calls made so far, over the source topic and every retry topic before this one.
pub const RETRY_ATTEMPTS: &str = "retry-attempts";
/// When the record may be handled again: milliseconds since the epoch.
pub const RETRY_DUE: &str = "retry-due";
/// The consumer group that scheduled the retry: other groups reading the same retry topic skip
/// the record.
pub const RETRY_CONSUMER_GROUP: &str = "retry-consumer-group";
/// Where the record was first read, before any retry topic.
pub const RETRY_ORIGINAL_TOPIC: &str = "retry-original-topic";
pub const RETRY_ORIGINAL_PARTITION: &str = "retry-original-partition";
pub const RETRY_ORIGINAL_OFFSET: &str = "retry-original-offset";
/// The original record's timestamp, milliseconds since the epoch, when it had one.
pub const RETRY_ORIGINAL_TIMESTAMP: &str = "retry-original-timestamp";
/// The error of the attempt that sent the record to this retry topic.
pub const RETRY_ERROR_MESSAGE: &str = "retry-error-message";

/// Set on a dead letter sent back to its original topic (the admin API's replay): the consumer
/// group it failed in. Only that group handles it again; the others, which handled the original
/// record, step over it.
pub const REPLAY_CONSUMER_GROUP: &str = "replay-consumer-group";

/// The value of header `name` as UTF-8, the last one when it repeats.
pub fn get<'a, H: Headers>(headers: Option<&'a H>, name: &str) -> Option<&'a str> {
    let headers = headers?;
    headers
        .iter()
        .filter(|h| h.key == name)
        .filter_map(|h| h.value)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .last()
}

/// The current span's OpenTelemetry context as a `traceparent` value, when a trace is active
/// (an OpenTelemetry layer is installed and the span is sampled into a trace).
pub(crate) fn current_traceparent() -> Option<String> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// Parses a W3C `traceparent` (version 00) into the remote span context it names.
pub(crate) fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() || trace.len() != 32 || span.len() != 16 {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let sc = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// Makes `span` a child of the producer's span named by `traceparent`, so a trace continues
/// from the publishing service into the consuming one.
pub(crate) fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if let Some(sc) = traceparent.and_then(parse_traceparent) {
        let cx = opentelemetry::Context::new().with_remote_span_context(sc);
        // Fails only when no OpenTelemetry layer is installed, when there is nothing to continue.
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_w3c_traceparent_parses_into_a_remote_sampled_span_context() {
        let sc = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid traceparent");
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled());
        assert!(sc.is_remote());
    }

    #[test]
    fn malformed_or_zero_traceparents_are_ignored() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-zz-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn without_an_active_trace_no_traceparent_is_written() {
        assert_eq!(current_traceparent(), None);
    }
}
