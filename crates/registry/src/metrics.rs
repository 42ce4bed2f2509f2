//! Request counters and latency histograms, and the store's state read at each scrape, in one
//! [`prometheus_client`] registry that renders the Prometheus text format.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::registry::Registry;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Request {
    http_route: String,
    http_request_method: String,
    http_response_status_code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Route {
    http_route: String,
    http_request_method: String,
}

type Latency = Family<Route, Histogram, fn() -> Histogram>;

/// HTTP metrics of one server, and the registry (one per process) that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<prometheus_client::registry::Registry>,
    requests: Family<Request, Counter>,
    latency: Latency,
    store: Arc<StoreReadings>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = prometheus_client::registry::Registry::default();
        let requests = Family::<Request, Counter>::default();
        registry.register(
            // The library appends `_total`.
            "http_server_requests",
            "HTTP requests answered, by route, method and status.",
            requests.clone(),
        );
        let latency: Latency = Family::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register(
            "http_server_request_duration_seconds",
            "Time to answer a request.",
            latency.clone(),
        );
        let store = Arc::new(StoreReadings::default());
        registry.register_collector(Box::new(store.clone()));
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            store,
        }
    }
}

/// The method as a label value: the methods of RFC 9110 and PATCH as they are, anything else
/// `_OTHER` (OpenTelemetry's convention), so that a scanner cannot create series at will.
fn method_label(method: &str) -> &str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("_OTHER")
}

impl Metrics {
    /// Counts one answer. `route` must be a route template (or one fixed value for requests
    /// that matched none), never a raw path: label values must stay few.
    pub fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        self.requests
            .get_or_create(&Request {
                http_route: route.to_string(),
                http_request_method: method.to_string(),
                http_response_status_code: status,
            })
            .inc();
        self.latency
            .get_or_create(&Route {
                http_route: route.to_string(),
                http_request_method: method.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of the HTTP metrics and the registry's gauges.
    pub fn render(&self, registry: &Registry) -> String {
        self.store.read(registry);
        let mut out = String::new();
        prometheus_text::encode(&mut out, &lock(&self.registry))
            .expect("writing to a String does not fail");
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The store's state as of the last scrape; encoded by the registry as it renders.
#[derive(Debug, Default)]
struct StoreReadings(Mutex<Readings>);

#[derive(Debug, Default, Clone, Copy)]
struct Readings {
    schemas: i64,
    subjects: i64,
    offset: i64,
    lag: i64,
    ready: i64,
    writes: u64,
    conflicts: u64,
    void: u64,
}

impl StoreReadings {
    fn read(&self, registry: &Registry) {
        let mut r = {
            let st = registry.state();
            Readings {
                schemas: st.schemas.len() as i64,
                subjects: st.subjects.values().filter(|s| s.has_live()).count() as i64,
                offset: st.next_offset,
                void: st.void_records,
                ..Readings::default()
            }
        };
        r.lag = registry.lag();
        r.ready = i64::from(registry.is_ready());
        r.writes = registry.stats.writes.load(Ordering::Relaxed);
        r.conflicts = registry.stats.conflicts.load(Ordering::Relaxed);
        *lock(&self.0) = r;
    }
}

impl Collector for StoreReadings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = *lock(&self.0);
        let gauges = [
            (
                "registry_schemas",
                "Schemas (distinct ids) known.",
                r.schemas,
            ),
            (
                "registry_subjects",
                "Subjects with a live version.",
                r.subjects,
            ),
            (
                "registry_store_offset",
                "Next offset of the registry log to read.",
                r.offset,
            ),
            (
                "registry_store_lag_records",
                "Records in the log not yet applied, as of the last read.",
                r.lag,
            ),
            (
                "registry_ready",
                "1 once caught up with the log at start.",
                r.ready,
            ),
        ];
        for (name, help, v) in gauges {
            let gauge = ConstGauge::new(v);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        // Names without `_total`: the encoder appends it to counters.
        let counters = [
            (
                "registry_store_writes",
                "Records this instance wrote and won.",
                r.writes,
            ),
            (
                "registry_store_write_conflicts",
                "Writes this instance lost to another instance and retried.",
                r.conflicts,
            ),
            (
                "registry_store_void_records",
                "Log records skipped because they lost their offset.",
                r.void,
            ),
        ];
        for (name, help, v) in counters {
            let counter = ConstCounter::new(v);
            counter.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        Ok(())
    }
}
