//! Producer and consumer metrics, kept in a [`prometheus_client`] registry.
//!
//! Names follow the OpenTelemetry messaging semantic conventions where they define one
//! (`messaging.client.sent.messages` is exported as `messaging_client_sent_messages_total`),
//! with their attribute names as labels (`messaging.destination.name` as
//! `messaging_destination_name`). Retries, dead-lettering and consumer lag have no convention
//! yet and carry a `contracts_` or `messaging_kafka_` prefix. One [`Metrics`] is shared by all
//! producers and consumers of a service; it holds the process's one registry, where a service
//! adds its own metrics ([`Metrics::register`]), and [`Metrics::render`] is what `/metrics`
//! serves. The library writes the text format, label escaping included.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter as CounterValue;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Metric, Registry};

/// The `Content-Type` of [`Metrics::render`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

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
/// Time from a record's timestamp to the end of its successful handling, in seconds: the
/// end-to-end latency of one hop, producer to handled (Kafka Streams' `record-e2e-latency`).
pub const RECORD_LATENCY: &str = "contracts_consumer_record_latency_seconds";
/// End offset minus committed offset, per topic, partition and consumer group.
pub const CONSUMER_LAG: &str = "messaging_kafka_consumer_lag";
/// 1 for a partition stopped behind a record that could not be dead-lettered (or forwarded to a
/// retry topic) for a permanent reason, per topic, partition and consumer group; 0 once it goes
/// on again.
pub const CONSUMER_STOPPED_PARTITIONS: &str = "contracts_consumer_stopped_partitions";

const COUNTERS: [(&str, &str); 5] = [
    (
        SENT_MESSAGES,
        "Events sent to Kafka (failed sends carry error_type).",
    ),
    (CONSUMED_MESSAGES, "Records received from Kafka."),
    (
        CONSUMER_ERRORS,
        "Records that failed decoding or handling, by error class.",
    ),
    (
        CONSUMER_RETRIES,
        "Handler attempts repeated after a retriable error, by retry_level (0: in place, n: through retry topic n).",
    ),
    (
        DEAD_LETTERED,
        "Records sent to the dead-letter topic, by error class.",
    ),
];

const HISTOGRAMS: [(&str, &str); 3] = [
    (
        SEND_DURATION,
        "Time from send to the broker's acknowledgement, in seconds.",
    ),
    (
        PROCESS_DURATION,
        "Handler duration per attempt, in seconds.",
    ),
    (
        RECORD_LATENCY,
        "Time from a record's timestamp to the end of its successful handling, in seconds.",
    ),
];

const GAUGES: [(&str, &str); 2] = [
    (
        CONSUMER_LAG,
        "End offset minus committed offset, per partition.",
    ),
    (
        CONSUMER_STOPPED_PARTITIONS,
        "1 for a partition stopped because a record could not be dead-lettered (see /health).",
    ),
];

/// Upper bounds of the duration buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Label pairs, in a fixed order so that equal label sets compare equal.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// A counter with its labels resolved once: incrementing it is one atomic add, for hot paths.
#[derive(Debug, Clone)]
pub(crate) struct Counter(CounterValue);

impl Counter {
    pub(crate) fn inc(&self) {
        self.0.inc();
    }
}

/// A histogram with its labels resolved once. Not the library's `Histogram`, which takes a
/// lock per observation: here one observation is two atomic adds, so partitions that share
/// a series do not wait for each other.
#[derive(Debug, Clone, Default)]
pub(crate) struct HistogramHandle(Arc<AtomicHistogram>);

#[derive(Debug, Default)]
struct AtomicHistogram {
    /// Observations per bucket, not cumulative (the last one is above every bound); the
    /// encoder sums them into the text format's cumulative counts.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl HistogramHandle {
    pub(crate) fn observe(&self, elapsed: Duration) {
        let h = &self.0;
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(BUCKETS.len());
        h.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        h.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.0
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }
}

impl TypedMetric for HistogramHandle {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for HistogramHandle {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // Read each bucket once: updates may land meanwhile, and +Inf must equal _count.
        let counts: Vec<u64> = self
            .0
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count = counts.iter().sum();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let finite: Vec<(f64, u64)> = BUCKETS.iter().copied().zip(counts).collect();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &finite, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// A family of series in the registry, and the label sets it holds: the library's `Family`
/// cannot be listed, and [`Metrics::count`] and [`Metrics::set_gauges`] need to.
#[derive(Debug)]
struct Series<M> {
    name: &'static str,
    family: Family<Labels, M>,
    known: Mutex<BTreeSet<Labels>>,
}

impl<M: Clone + Default> Series<M> {
    fn new(name: &'static str) -> Self {
        Series {
            name,
            family: Family::default(),
            known: Mutex::default(),
        }
    }

    /// The series with `labels`, created at zero when new.
    fn get(&self, labels: Labels) -> M {
        let metric = self.family.get_or_create_owned(&labels);
        lock(&self.known).insert(labels);
        metric
    }

    /// Every series whose labels contain all of `wanted`.
    fn matching(&self, wanted: &[(&str, &str)]) -> Vec<M> {
        lock(&self.known)
            .iter()
            .filter(|labels| matches_str(labels, wanted))
            .filter_map(|labels| self.family.get(labels).map(|m| m.clone()))
            .collect()
    }
}

#[derive(Debug)]
struct MetricFamilies {
    /// The process's registry: the families below, and what a service registers.
    registry: Mutex<Registry>,
    counters: Vec<Series<CounterValue>>,
    histograms: Vec<Series<HistogramHandle>>,
    gauges: Vec<Series<Gauge>>,
    /// librdkafka's latest statistics per client, rendered by the registry on each scrape.
    statistics: Arc<crate::statistics::Reports>,
}

impl MetricFamilies {
    fn counters(&self, name: &str) -> &Series<CounterValue> {
        find(&self.counters, name)
    }

    fn histograms(&self, name: &str) -> &Series<HistogramHandle> {
        find(&self.histograms, name)
    }

    fn gauges(&self, name: &str) -> &Series<Gauge> {
        find(&self.gauges, name)
    }
}

fn find<'a, M>(all: &'a [Series<M>], name: &str) -> &'a Series<M> {
    all.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is not one of the runtime's metrics"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Metrics stay usable after a panic elsewhere: every update is a single step.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The metrics of every producer and consumer that shares this handle (cheap to clone), in
/// the registry that `/metrics` renders.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<MetricFamilies>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let counters = COUNTERS.map(|(name, help)| {
            let series = Series::new(name);
            // The library appends `_total` to a counter's name.
            let base = name.strip_suffix("_total").unwrap_or(name);
            registry.register(base, help, series.family.clone());
            series
        });
        let histograms = HISTOGRAMS.map(|(name, help)| {
            let series = Series::new(name);
            registry.register(name, help, series.family.clone());
            series
        });
        let gauges = GAUGES.map(|(name, help)| {
            let series = Series::new(name);
            registry.register(name, help, series.family.clone());
            series
        });
        let statistics = Arc::new(crate::statistics::Reports::default());
        registry.register_collector(Box::new(statistics.clone()));
        Metrics {
            inner: Arc::new(MetricFamilies {
                registry: Mutex::new(registry),
                counters: counters.into(),
                histograms: histograms.into(),
                gauges: gauges.into(),
                statistics,
            }),
        }
    }

    /// Adds `metric` to this registry as `name`, so that [`Metrics::render`] shows it beside
    /// the runtime's metrics: one registry per process. The library appends `_total` to a
    /// counter's name, so give a counter's name without it.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        lock(&self.inner.registry).register(name, help, metric);
    }

    /// Keeps `statistics`, a client's latest librdkafka report, for `/metrics` (see
    /// [`crate::statistics`]); `group` is a consumer's group.
    pub fn record_statistics(
        &self,
        statistics: rdkafka::statistics::Statistics,
        group: Option<&str>,
    ) {
        self.inner.statistics.record(statistics, group);
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
        Counter(self.inner.counters(name).get(labels))
    }

    pub(crate) fn histogram(&self, name: &'static str, labels: Labels) -> HistogramHandle {
        self.inner.histograms(name).get(labels)
    }

    /// Sets gauge `name` with `labels` to `value`.
    pub(crate) fn set_gauge(&self, name: &'static str, labels: Labels, value: i64) {
        self.inner.gauges(name).get(labels).set(value);
    }

    /// Replaces every gauge `name` whose labels contain all of `scope` with `values`.
    pub(crate) fn set_gauges(
        &self,
        name: &'static str,
        scope: &[(&'static str, String)],
        values: impl IntoIterator<Item = (Labels, i64)>,
    ) {
        let series = self.inner.gauges(name);
        let scope: Vec<(&str, &str)> = scope.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // Held throughout, so that two updates of one scope do not interleave.
        let mut known = lock(&series.known);
        known.retain(|labels| {
            let stale = matches_str(labels, &scope);
            if stale {
                series.family.remove(labels);
            }
            !stale
        });
        for (labels, value) in values {
            series.family.get_or_create(&labels).set(value);
            known.insert(labels);
        }
    }

    /// The sum of counter `name` over every label set that contains all of `labels`: for
    /// dashboards in code and for tests. Histograms answer with their count.
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let inner = &self.inner;
        if inner.counters.iter().any(|s| s.name == name) {
            inner
                .counters(name)
                .matching(labels)
                .iter()
                .map(CounterValue::get)
                .sum()
        } else if inner.histograms.iter().any(|s| s.name == name) {
            inner
                .histograms(name)
                .matching(labels)
                .iter()
                .map(HistogramHandle::count)
                .sum()
        } else {
            0
        }
    }

    /// The value of gauge `name` with all of `labels`, when exactly one such gauge exists.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<i64> {
        let series = self.inner.gauges.iter().find(|s| s.name == name)?;
        match series.matching(labels).as_slice() {
            [one] => Some(one.get()),
            _ => None,
        }
    }

    /// Every metric of the registry in the Prometheus text exposition format (version 0.0.4),
    /// served as [`CONTENT_TYPE`].
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &lock(&self.inner.registry))
            .expect("writing to a String does not fail");
        out
    }
}

fn matches_str(labels: &Labels, wanted: &[(&str, &str)]) -> bool {
    wanted
        .iter()
        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
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
    fn a_metric_a_service_registers_renders_on_the_same_page() {
        let m = Metrics::new();
        let created = CounterValue::<u64>::default();
        m.register("shop_orders_created", "Orders stored.", created.clone());
        created.inc();
        m.inc(SENT_MESSAGES, vec![]);
        let text = m.render();
        assert!(text.contains("\nshop_orders_created_total 1\n"), "{text}");
        assert!(
            text.contains("\nmessaging_client_sent_messages_total 1\n"),
            "{text}"
        );
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
        let text = m.render();
        assert!(
            !text.contains("messaging_destination_partition_id=\"0\"} 5"),
            "{text}"
        );
    }
}
