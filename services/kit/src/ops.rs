//! `/health` (readiness), `/health/live` and `/metrics`, and the counters a service adds to the
//! runtime's metrics.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use contracts_runtime::Metrics;
use contracts_runtime::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
use futures_util::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::health::Health;

type LabelPairs = Vec<(String, String)>;

/// A service's counters and gauges, named at first use, in the registry of the runtime's
/// [`Metrics`]: one registry, one `/metrics` page per process.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    metrics: Metrics,
    families: Arc<Mutex<BTreeMap<String, Kind>>>,
}

#[derive(Debug)]
enum Kind {
    Counter(Family<LabelPairs, Counter>),
    Gauge(Family<LabelPairs, Gauge<f64, AtomicU64>>),
}

impl Counters {
    /// Counters in a registry of their own (for tests; a service uses [`Counters::sharing`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters in the registry of `metrics`, which the runtime's producers and consumers use.
    pub fn sharing(metrics: &Metrics) -> Self {
        Counters {
            metrics: metrics.clone(),
            families: Arc::default(),
        }
    }

    /// Adds `by` to counter `name` (which ends in `_total`) with `labels`.
    pub fn add(&self, name: &str, help: &'static str, labels: &[(&str, &str)], by: u64) {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let kind = families.entry(name.to_owned()).or_insert_with(|| {
            let family = Family::default();
            debug_assert!(
                name.ends_with("_total"),
                "counter {name} must end in _total"
            );
            // The library appends `_total` to a counter's name.
            let base = name.strip_suffix("_total").unwrap_or(name);
            self.metrics.register(base, help, family.clone());
            Kind::Counter(family)
        });
        match kind {
            Kind::Counter(family) => {
                family.get_or_create(&pairs(labels)).inc_by(by);
            }
            Kind::Gauge(_) => debug_assert!(false, "{name} is a gauge"),
        }
    }

    /// Sets gauge `name` with `labels`.
    pub fn set(&self, name: &str, help: &'static str, labels: &[(&str, &str)], value: f64) {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let kind = families.entry(name.to_owned()).or_insert_with(|| {
            let family = Family::default();
            self.metrics.register(name, help, family.clone());
            Kind::Gauge(family)
        });
        match kind {
            Kind::Gauge(family) => {
                family.get_or_create(&pairs(labels)).set(value);
            }
            Kind::Counter(_) => debug_assert!(false, "{name} is a counter"),
        }
    }

    /// The value of counter or gauge `name` with exactly `labels` (0 when never set).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let labels = pairs(labels);
        match families.get(name) {
            Some(Kind::Counter(f)) => f.get(&labels).map_or(0.0, |c| c.get() as f64),
            Some(Kind::Gauge(f)) => f.get(&labels).map_or(0.0, |g| g.get()),
            None => 0.0,
        }
    }

    /// The registry's whole page: these counters and the runtime's metrics.
    pub fn render(&self) -> String {
        self.metrics.render()
    }
}

fn pairs(labels: &[(&str, &str)]) -> LabelPairs {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

type MetricsSource = Arc<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>;

/// What the health endpoints read and what `/metrics` shows.
#[derive(Clone)]
pub struct Ops {
    health: Health,
    metrics: Vec<MetricsSource>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("health", &self.health.status())
            .finish_non_exhaustive()
    }
}

impl Ops {
    /// Health endpoints answering from `health`, the checks' cached result.
    pub fn new(health: Health) -> Self {
        Ops {
            health,
            metrics: Vec::new(),
        }
    }

    /// Appends `source`'s Prometheus text to `/metrics`: in a service, one source that renders
    /// the process's registry ([`Counters::render`]), after updating the gauges it reads.
    pub fn metrics<F>(mut self, source: impl Fn() -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = String> + Send + 'static,
    {
        self.metrics.push(Arc::new(move || {
            Box::pin(source()) as BoxFuture<'static, _>
        }));
        self
    }

    /// `GET /health` (readiness, as `/health/ready`), `GET /health/live` and `GET /metrics`,
    /// to merge into a service's router. The health endpoints answer `200` with
    /// `{"status":"SERVING"}` or `503` with `{"status":"NOT_SERVING","reasons":[...]}`, each
    /// reason `check: why`.
    pub fn router(self) -> Router {
        let metrics = self.metrics;
        let ready = {
            let health = self.health.clone();
            move || {
                let status = health.status();
                std::future::ready(answer(status.ready(), status.reasons()))
            }
        };
        let health = self.health;
        let live = move || {
            std::future::ready(match health.live(Duration::from_secs(10)) {
                Ok(()) => answer(true, Vec::new()),
                Err(reason) => answer(false, vec![format!("liveness: {reason}")]),
            })
        };
        Router::new()
            .route("/health", get(ready.clone()))
            .route("/health/ready", get(ready))
            .route("/health/live", get(live))
            .route(
                "/metrics",
                get(move || async move {
                    let mut body = String::new();
                    for source in &metrics {
                        body.push_str(&source().await);
                    }
                    ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response()
                }),
            )
    }
}

/// A health endpoint's answer.
fn answer(ok: bool, reasons: Vec<String>) -> axum::response::Response {
    let (status, body) = if ok {
        (StatusCode::OK, serde_json::json!({"status": "SERVING"}))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"status": "NOT_SERVING", "reasons": reasons}),
        )
    };
    (status, axum::Json(body)).into_response()
}

/// Binds `addr` for `what` ("HTTP", "admin API"). A service binds its ports before it touches
/// Kafka, so a port in use stops it before it joins a consumer group or publishes anything.
pub async fn listen(
    addr: std::net::SocketAddr,
    what: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{what}: listening on {addr}"))
}

/// Serves `router` on `listener` until `shutdown`, letting in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: crate::shutdown::Shutdown,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_the_runtime_metrics_from_one_registry_and_escaped() {
        let metrics = Metrics::new();
        let counters = Counters::sharing(&metrics);
        counters.add("shop_orders_created_total", "Orders stored.", &[], 2);
        counters.set(
            "shop_stock_available",
            "Units on hand.",
            &[("product", "mug \"XL\" \\ 2")],
            3.0,
        );
        assert_eq!(counters.get("shop_orders_created_total", &[]), 2.0);
        let text = metrics.render();
        assert_eq!(text, counters.render());
        assert!(
            text.contains("# TYPE shop_orders_created_total counter\n"),
            "{text}"
        );
        assert!(text.contains("\nshop_orders_created_total 2\n"), "{text}");
        assert!(
            text.contains(r#"shop_stock_available{product="mug \"XL\" \\ 2"} 3"#),
            "{text}"
        );
    }
}
