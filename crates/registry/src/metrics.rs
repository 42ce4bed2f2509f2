//! Request counters and latency histograms, rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::registry::Registry;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    /// (route, method, status) → requests.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (route, method) → latency.
    latency: BTreeMap<(String, String), Histogram>,
}

/// HTTP metrics of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *m.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let h = m
            .latency
            .entry((route.to_string(), method.to_string()))
            .or_default();
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The Prometheus text exposition of the HTTP metrics and the registry's gauges.
    pub fn render(&self, registry: &Registry) -> String {
        let mut out = String::new();
        {
            let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            out.push_str("# HELP http_server_requests_total HTTP requests answered, by route, method and status.\n# TYPE http_server_requests_total counter\n");
            for ((route, method, status), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "http_server_requests_total{{http_route=\"{route}\",http_request_method=\"{method}\",http_response_status_code=\"{status}\"}} {n}"
                );
            }
            out.push_str("# HELP http_server_request_duration_seconds Time to answer a request.\n# TYPE http_server_request_duration_seconds histogram\n");
            for ((route, method), h) in &m.latency {
                let labels = format!("http_route=\"{route}\",http_request_method=\"{method}\"");
                for (i, bound) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "http_server_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "http_server_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "http_server_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "http_server_request_duration_seconds_count{{{labels}}} {}",
                    h.count
                );
            }
        }
        let (schemas, subjects, offset, void) = {
            let st = registry.state();
            (
                st.schemas.len(),
                st.subjects.values().filter(|s| s.has_live()).count(),
                st.next_offset,
                st.void_records,
            )
        };
        let gauges = [
            (
                "registry_schemas",
                "Schemas (distinct ids) known.",
                schemas as i64,
            ),
            (
                "registry_subjects",
                "Subjects with a live version.",
                subjects as i64,
            ),
            (
                "registry_store_offset",
                "Next offset of the registry log to read.",
                offset,
            ),
            (
                "registry_store_lag_records",
                "Records in the log not yet applied, as of the last read.",
                registry.lag(),
            ),
            (
                "registry_ready",
                "1 once caught up with the log at start.",
                i64::from(registry.is_ready()),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters = [
            (
                "registry_store_writes_total",
                "Records this instance wrote and won.",
                registry.stats.writes.load(Ordering::Relaxed),
            ),
            (
                "registry_store_write_conflicts_total",
                "Writes this instance lost to another instance and retried.",
                registry.stats.conflicts.load(Ordering::Relaxed),
            ),
            (
                "registry_store_void_records_total",
                "Log records skipped because they lost their offset.",
                void,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        out
    }
}
