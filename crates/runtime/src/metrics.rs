//! Producer and consumer metrics in the Prometheus text format.
//!
//! Names follow the OpenTelemetry messaging semantic conventions where they define one
//! (`messaging.client.sent.messages` is exported as `messaging_client_sent_messages_total`),
//! with their attribute names as labels (`messaging.destination.name` as
//! `messaging_destination_name`). Retries, dead-lettering and consumer lag have no convention
//! yet and carry a `contracts_` or `messaging_kafka_` prefix. One [`Metrics`] is shared by all
//! producers and consumers of a service, and [`Metrics::render`] is what `/metrics` serves.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Events handed to the broker, by topic and event type; failed sends carry `error_type`.
pub const SENT_MESSAGES: &str = "messaging_client_sent_messages_total";
/// How long a send took until the broker acknowledged it (or it failed), in seconds.
pub const SEND_DURATION: &str = "messaging_client_operation_duration_seconds";
/// Records received from the broker, by topic, partition and consumer group.
pub const CONSUMED_MESSAGES: &str = "messaging_client_consumed_messages_total";
/// How long the handler took per attempt, in seconds; failed attempts carry `error_type`.
pub const PROCESS_DURATION: &str = "messaging_process_duration_seconds";
/// Records that could not be handled, by error class (`decode`, `unknown-schema`,
/// `handler-retriable`, `handler-permanent`, `handler-panic`).
pub const CONSUMER_ERRORS: &str = "contracts_consumer_errors_total";
/// Handler attempts repeated after a retriable error, by `retry_level`: `0` for a retry in
/// place, `n` for a record forwarded to retry topic `n` (labelled with the topic it failed on).
pub const CONSUMER_RETRIES: &str = "contracts_consumer_retries_total";
/// Records sent to the dead-letter topic, by error class.
pub const DEAD_LETTERED: &str = "contracts_consumer_dead_lettered_total";
/// End offset minus committed offset, per topic, partition and consumer group.
pub const CONSUMER_LAG: &str = "messaging_kafka_consumer_lag";

const HELP: &[(&str, &str, &str)] = &[
    (
        SENT_MESSAGES,
        "counter",
        "Events sent to Kafka (failed sends carry error_type).",
    ),
    (
        SEND_DURATION,
        "histogram",
        "Time from send to the broker's acknowledgement, in seconds.",
    ),
    (CONSUMED_MESSAGES, "counter", "Records received from Kafka."),
    (
        PROCESS_DURATION,
        "histogram",
        "Handler duration per attempt, in seconds.",
    ),
    (
        CONSUMER_ERRORS,
        "counter",
        "Records that failed decoding or handling, by error class.",
    ),
    (
        CONSUMER_RETRIES,
        "counter",
        "Handler attempts repeated after a retriable error, by retry_level (0: in place, n: through retry topic n).",
    ),
    (
        DEAD_LETTERED,
        "counter",
        "Records sent to the dead-letter topic, by error class.",
    ),
    (
        CONSUMER_LAG,
        "gauge",
        "End offset minus committed offset, per partition.",
    ),
];

/// Upper bounds of the duration buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Label pairs, in a fixed order so that equal label sets compare equal.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// Atomics, so that a handle updates it without the registry's lock.
#[derive(Debug, Default)]
struct Histogram {
    /// Observations per bucket, not cumulative (the last one is above every bound): one
    /// atomic add per observation; the text format's cumulative counts are summed at render.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Inner {
    counters: BTreeMap<(&'static str, Labels), Arc<AtomicU64>>,
    histograms: BTreeMap<(&'static str, Labels), Arc<Histogram>>,
    gauges: BTreeMap<(&'static str, Labels), i64>,
}

/// A counter with its labels resolved once: incrementing it is one atomic add, for hot paths.
#[derive(Debug, Clone)]
pub(crate) struct Counter(Arc<AtomicU64>);

impl Counter {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A histogram with its labels resolved once.
#[derive(Debug, Clone)]
pub(crate) struct HistogramHandle(Arc<Histogram>);

impl HistogramHandle {
    pub(crate) fn observe(&self, elapsed: Duration) {
        self.0.observe(elapsed);
    }
}

/// The metrics of every producer and consumer that shares this handle (cheap to clone).
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Metrics stay usable after a panic elsewhere: every update is a single assignment.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn inc(&self, name: &'static str, labels: Labels) {
        self.counter(name, labels).inc();
    }

    pub(crate) fn observe(&self, name: &'static str, labels: Labels, elapsed: Duration) {
        self.histogram(name, labels).observe(elapsed);
    }

    /// The counter `name` with `labels`, created at zero when new; keep the handle to update it
    /// without looking it up again.
    pub(crate) fn counter(&self, name: &'static str, labels: Labels) -> Counter {
        Counter(
            self.lock()
                .counters
                .entry((name, labels))
                .or_default()
                .clone(),
        )
    }

    pub(crate) fn histogram(&self, name: &'static str, labels: Labels) -> HistogramHandle {
        HistogramHandle(
            self.lock()
                .histograms
                .entry((name, labels))
                .or_default()
                .clone(),
        )
    }

    /// Replaces every gauge `name` whose labels contain all of `scope` with `values`.
    pub(crate) fn set_gauges(
        &self,
        name: &'static str,
        scope: &[(&'static str, String)],
        values: impl IntoIterator<Item = (Labels, i64)>,
    ) {
        let mut inner = self.lock();
        inner
            .gauges
            .retain(|(n, labels), _| *n != name || !matches(labels, scope));
        for (labels, value) in values {
            inner.gauges.insert((name, labels), value);
        }
    }

    /// The sum of counter `name` over every label set that contains all of `labels`: for
    /// dashboards in code and for tests. Histograms answer with their count.
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let inner = self.lock();
        let counters = inner
            .counters
            .iter()
            .filter(|((n, l), _)| *n == name && matches_str(l, labels))
            .map(|(_, v)| v.load(Ordering::Relaxed));
        let histograms = inner
            .histograms
            .iter()
            .filter(|((n, l), _)| *n == name && matches_str(l, labels))
            .map(|(_, h)| h.count.load(Ordering::Relaxed));
        counters.chain(histograms).sum()
    }

    /// The value of gauge `name` with all of `labels`, when exactly one such gauge exists.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<i64> {
        let inner = self.lock();
        let mut hits = inner
            .gauges
            .iter()
            .filter(|((n, l), _)| *n == name && matches_str(l, labels))
            .map(|(_, v)| *v);
        let first = hits.next()?;
        hits.next().is_none().then_some(first)
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((_, labels), v) in inner.counters.iter().filter(|((n, _), _)| n == name) {
                let v = v.load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{} {v}", render_labels(labels, None));
            }
            for ((_, labels), v) in inner.gauges.iter().filter(|((n, _), _)| n == name) {
                let _ = writeln!(out, "{name}{} {v}", render_labels(labels, None));
            }
            for ((_, labels), h) in inner.histograms.iter().filter(|((n, _), _)| n == name) {
                let base = name.trim_end_matches("_seconds");
                let base = format!("{base}_seconds");
                // Read once: updates may land meanwhile, and +Inf must equal _count.
                let buckets: Vec<u64> = h
                    .buckets
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect();
                let count: u64 = buckets.iter().sum();
                let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
                let mut cumulative = 0;
                for (n, bound) in buckets.iter().zip(BUCKETS) {
                    cumulative += n;
                    let le = bound.to_string();
                    let _ = writeln!(
                        out,
                        "{base}_bucket{} {cumulative}",
                        render_labels(labels, Some(&le))
                    );
                }
                let _ = writeln!(
                    out,
                    "{base}_bucket{} {count}",
                    render_labels(labels, Some("+Inf")),
                );
                let _ = writeln!(out, "{base}_sum{} {sum}", render_labels(labels, None));
                let _ = writeln!(out, "{base}_count{} {count}", render_labels(labels, None));
            }
        }
        out
    }
}

fn matches(labels: &Labels, scope: &[(&'static str, String)]) -> bool {
    scope
        .iter()
        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
}

fn matches_str(labels: &Labels, wanted: &[(&str, &str)]) -> bool {
    wanted
        .iter()
        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_prometheus_text_format() {
        let m = Metrics::new();
        let labels = || vec![("messaging_destination_name", "orders".to_string())];
        m.inc(SENT_MESSAGES, labels());
        m.inc(SENT_MESSAGES, labels());
        m.observe(PROCESS_DURATION, labels(), Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("# TYPE messaging_client_sent_messages_total counter"));
        assert!(
            text.contains(
                "messaging_client_sent_messages_total{messaging_destination_name=\"orders\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "messaging_process_duration_seconds_bucket{messaging_destination_name=\"orders\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "messaging_process_duration_seconds_bucket{messaging_destination_name=\"orders\",le=\"0.001\"} 0"
        ));
        assert!(text.contains(
            "messaging_process_duration_seconds_count{messaging_destination_name=\"orders\"} 1"
        ));
        assert_eq!(
            m.count(SENT_MESSAGES, &[("messaging_destination_name", "orders")]),
            2
        );
        assert_eq!(m.count(PROCESS_DURATION, &[]), 1);
    }

    #[test]
    fn handles_update_the_series_a_lookup_names_and_slow_observations_count_only_in_inf() {
        let m = Metrics::new();
        let labels = || vec![("messaging_destination_name", "orders".to_string())];
        let sent = m.counter(SENT_MESSAGES, labels());
        let took = m.histogram(SEND_DURATION, labels());
        sent.inc();
        m.inc(SENT_MESSAGES, labels());
        took.observe(Duration::from_millis(2));
        took.observe(Duration::from_secs(20));
        assert_eq!(m.count(SENT_MESSAGES, &[]), 2);
        let text = m.render();
        for line in [
            "messaging_client_operation_duration_seconds_bucket{messaging_destination_name=\"orders\",le=\"0.0025\"} 1",
            "messaging_client_operation_duration_seconds_bucket{messaging_destination_name=\"orders\",le=\"10\"} 1",
            "messaging_client_operation_duration_seconds_bucket{messaging_destination_name=\"orders\",le=\"+Inf\"} 2",
            "messaging_client_operation_duration_seconds_sum{messaging_destination_name=\"orders\"} 20.002",
            "messaging_client_operation_duration_seconds_count{messaging_destination_name=\"orders\"} 2",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.inc(CONSUMER_ERRORS, vec![("error_type", "a\"b\\c\nd".into())]);
        assert!(m.render().contains(r#"error_type="a\"b\\c\nd""#));
    }

    #[test]
    fn a_gauge_update_replaces_the_partitions_of_its_scope_only() {
        let m = Metrics::new();
        let lag = |topic: &str, p: i32| {
            vec![
                ("messaging_destination_name", topic.to_string()),
                ("messaging_destination_partition_id", p.to_string()),
            ]
        };
        let scope = |topic: &str| vec![("messaging_destination_name", topic.to_string())];
        m.set_gauges(
            CONSUMER_LAG,
            &scope("a"),
            [(lag("a", 0), 5), (lag("a", 1), 7)],
        );
        m.set_gauges(CONSUMER_LAG, &scope("b"), [(lag("b", 0), 1)]);
        m.set_gauges(CONSUMER_LAG, &scope("a"), [(lag("a", 1), 0)]);
        assert_eq!(
            m.gauge(CONSUMER_LAG, &[("messaging_destination_name", "a")]),
            Some(0)
        );
        assert_eq!(
            m.gauge(CONSUMER_LAG, &[("messaging_destination_name", "b")]),
            Some(1)
        );
    }
}
