//! The Kafka headers the runtime writes and reads.
//!
//! Every record a [`crate::Producer`] sends carries its event type, schema id and a unique
//! event id (consumers deduplicate by it), and when the send happens inside an OpenTelemetry
//! trace, the fields of the globally installed propagator (W3C `traceparent`, `tracestate` and
//! `baggage` by default), which the consumer reads back to continue the trace. No more: each header costs the broker per record, and the contract
//! version is known from the schema id. Dead-lettered records keep their original headers and add the
//! `dlt-*` ones, which say where the record came from and why it failed. Records forwarded to a
//! retry topic keep theirs too and carry `retry-*` ones: attempts so far, when the record is
//! due, and where it was first read. A replayed dead letter names the one group that should
//! handle it again.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::{Context, global};
use rdkafka::message::{Header, Headers, OwnedHeaders};

/// The event's fully-qualified name (`shop.orders.OrderCreated`).
pub const EVENT_TYPE: &str = "event_type";
/// The registry id of the writer schema, in decimal (also in the record's wire header).
pub const SCHEMA_ID: &str = "schema_id";
/// A UUID unique to this event, the key for idempotent handling.
pub const EVENT_ID: &str = "event_id";
/// W3C Trace Context, written by the default propagator (with `tracestate` and `baggage`).
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

/// Collects what a propagator writes, for Kafka headers or an outbox row.
struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Injector for Fields<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` says nothing and would cost every record a header.
        if !value.is_empty() {
            self.0.push((key.to_owned(), value));
        }
    }
}

/// Reads a propagator's fields from a record's headers (the last value of a repeated header).
struct HeaderFields<'a, H>(&'a H);

impl<H: Headers> Extractor for HeaderFields<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        get(Some(self.0), key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|h| h.key).collect()
    }
}

/// Reads a propagator's fields from `key`/`value` pairs.
struct PairFields<'a>(&'a [(String, String)]);

impl Extractor for PairFields<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// The current `tracing` span's OpenTelemetry context (its span, its baggage) as the fields the
/// globally installed propagator writes (`opentelemetry::global::set_text_map_propagator`;
/// W3C `traceparent`, `tracestate` and `baggage` with `contracts_runtime::telemetry`). Empty
/// when no propagator is installed or there is no trace to continue.
pub fn current_trace_fields() -> Vec<(String, String)> {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    trace_fields(&tracing::Span::current().context())
}

/// `cx` as the fields the globally installed propagator writes.
pub fn trace_fields(cx: &Context) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut Fields(&mut fields)));
    fields
}

/// The context the globally installed propagator reads from `fields` (as
/// [`current_trace_fields`] wrote them): a remote parent span and baggage, or an empty context.
pub fn context_from_fields(fields: &[(String, String)]) -> Context {
    global::get_text_map_propagator(|p| p.extract(&PairFields(fields)))
}

/// The context the globally installed propagator reads from a record's headers.
pub fn context_from_headers<H: Headers>(headers: Option<&H>) -> Context {
    match headers {
        Some(h) => global::get_text_map_propagator(|p| p.extract(&HeaderFields(h))),
        None => Context::new(),
    }
}

/// `headers` plus the current span's trace context, as the global propagator writes it.
pub(crate) fn with_current_trace(mut headers: OwnedHeaders) -> OwnedHeaders {
    for (key, value) in current_trace_fields() {
        headers = headers.insert(Header {
            key: &key,
            value: Some(&value),
        });
    }
    headers
}

/// Makes `cx` (a remote parent and its baggage, from [`context_from_headers`] or
/// [`context_from_fields`]) the parent of `span`, so a trace continues from the publishing
/// service (or the outbox row) into this span. Nothing happens when `cx` holds no span.
pub fn continue_trace(span: &tracing::Span, cx: Context) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if cx.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed, when there is nothing to continue.
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_active_trace_no_trace_field_is_written() {
        assert!(current_trace_fields().is_empty());
    }
}
