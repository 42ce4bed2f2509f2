//! Readiness and liveness, from checks that run in the background.
//!
//! A service is ready (`/health`, `/health/ready`, gRPC health `SERVING`) while every check
//! passes: the store answers, each consumer reaches the Kafka cluster, the schema registry
//! answers, the outbox relay moves, and no consumer partition is stopped. The checks run every
//! `--health-check-interval-secs` in one background task, each bounded by a timeout; a probe
//! only reads the last result, so probing costs no round trip to the broker, the registry or
//! the store. A service is live (`/health/live`) while that task keeps running: a broker or
//! registry outage makes it unready, never unlive, so an orchestrator takes it out of rotation
//! instead of restarting it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, join_all};
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::db::Db;
use crate::shutdown::Shutdown;

/// How often the health checks run and when the outbox counts as stuck; shared by the three
/// binaries.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthArgs {
    /// How often the background health checks run (store, each consumer's Kafka connection,
    /// schema registry, outbox relay); /health and gRPC health answer from the last run.
    #[arg(
        long,
        env = "HEALTH_CHECK_INTERVAL_SECS",
        default_value_t = 5,
        value_name = "SECS"
    )]
    pub health_check_interval_secs: u64,
    /// The outbox relay counts as stuck, and the service as not ready, when the oldest event
    /// waiting in the outbox is older than this and the relay published nothing since the
    /// previous check.
    #[arg(
        long,
        env = "HEALTH_OUTBOX_STUCK_SECS",
        default_value_t = 60,
        value_name = "SECS"
    )]
    pub health_outbox_stuck_secs: u64,
}

impl Default for HealthArgs {
    fn default() -> Self {
        HealthArgs {
            health_check_interval_secs: 5,
            health_outbox_stuck_secs: 60,
        }
    }
}

impl HealthArgs {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.health_check_interval_secs.max(1))
    }

    /// How long one check may take before it counts as failed.
    pub fn check_timeout(&self) -> Duration {
        self.interval()
            .clamp(Duration::from_secs(2), Duration::from_secs(10))
    }

    pub fn outbox_stuck_after(&self) -> Duration {
        Duration::from_secs(self.health_outbox_stuck_secs)
    }
}

/// A check: `Ok` while what it watches is usable, else why not.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Makes a [`Check`] of an async closure.
pub fn check<F>(f: impl Fn() -> F + Send + Sync + 'static) -> Check
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move || Box::pin(f()) as BoxFuture<'static, _>)
}

/// The result of the last round of checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// When the last round finished; `None` before the first.
    pub checked_at: Option<Instant>,
    /// The failing checks and why, as `check: reason`, in the order the checks were added.
    pub failures: Vec<String>,
}

impl Status {
    pub fn ready(&self) -> bool {
        self.checked_at.is_some() && self.failures.is_empty()
    }

    /// Why the service is not ready; empty when it is.
    pub fn reasons(&self) -> Vec<String> {
        if self.checked_at.is_none() {
            vec!["starting: the first health check has not finished".to_owned()]
        } else {
            self.failures.clone()
        }
    }
}

/// The cached health of a process: written by [`Health::run`], read by probes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    status: Arc<watch::Sender<Status>>,
    interval: Duration,
}

impl Health {
    pub fn new(interval: Duration) -> Self {
        Health {
            status: Arc::new(
                watch::channel(Status {
                    checked_at: None,
                    failures: Vec::new(),
                })
                .0,
            ),
            interval,
        }
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Changes of the status, for the gRPC health reporter.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Whether the check loop still runs: its last round finished within a few intervals (or
    /// it has not finished its first yet, at start).
    pub fn live(&self, timeout: Duration) -> Result<(), String> {
        match self.status.borrow().checked_at {
            None => Ok(()),
            Some(at) => {
                let allowed = self.interval * 3 + timeout;
                let age = at.elapsed();
                if age <= allowed {
                    Ok(())
                } else {
                    Err(format!(
                        "the health checks last finished {}s ago (they run every {}s)",
                        age.as_secs(),
                        self.interval.as_secs()
                    ))
                }
            }
        }
    }

    /// Runs one round of `checks` now, each bounded by `timeout`, and stores the result.
    pub async fn check_now(&self, checks: &[(&'static str, Check)], timeout: Duration) {
        let results = join_all(checks.iter().map(|(name, check)| async move {
            let result = match tokio::time::timeout(timeout, check()).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {}s", timeout.as_secs())),
            };
            (*name, result)
        }))
        .await;
        let failures: Vec<String> = results
            .into_iter()
            .filter_map(|(name, result)| result.err().map(|reason| format!("{name}: {reason}")))
            .collect();
        let was = self.status.borrow().clone();
        if was.failures != failures || was.checked_at.is_none() {
            if failures.is_empty() {
                tracing::info!("ready: every health check passes");
            } else {
                tracing::warn!(reasons = %failures.join("; "), "not ready");
            }
        }
        self.status.send_replace(Status {
            checked_at: Some(Instant::now()),
            failures,
        });
    }

    /// Runs `checks` every interval until `shutdown`.
    pub async fn run(
        self,
        checks: Vec<(&'static str, Check)>,
        timeout: Duration,
        shutdown: Shutdown,
    ) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.check_now(&checks, timeout).await,
                _ = shutdown.wait() => return,
            }
        }
    }

    /// Mirrors readiness into gRPC health: the server's overall status (`""`) and each of
    /// `services` are `SERVING` while ready and `NOT_SERVING` otherwise. Waits until the admin
    /// server has registered its services (it marks them `SERVING` as it starts), so it does
    /// not overwrite a `NOT_SERVING` from here.
    pub async fn report_to(
        self,
        reporter: HealthReporter,
        services: Vec<&'static str>,
        shutdown: Shutdown,
    ) {
        if let Some(first) = services.first() {
            wait_registered(&reporter, first).await;
        }
        let mut changes = self.subscribe();
        let mut last: Option<ServingStatus> = None;
        loop {
            let status = if changes.borrow_and_update().ready() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            if last != Some(status) {
                for name in std::iter::once("").chain(services.iter().copied()) {
                    reporter.set_service_status(name, status).await;
                }
                last = Some(status);
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = shutdown.wait() => return,
            }
        }
    }
}

/// Until `service` has a status in `reporter` (the admin server sets it as it starts).
async fn wait_registered(reporter: &HealthReporter, service: &str) {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_server::Health as _;
    let health = tonic_health::server::HealthService::from_health_reporter(reporter.clone());
    for _ in 0..500 {
        let request = tonic::Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        if health.check(request).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks that the outbox relay moves: fails while the oldest pending row is older than
/// `stuck_after` and was already the oldest at the previous check (nothing was published in
/// between). Reads one row through the pending rows' index.
pub fn outbox_moves(db: Db, stuck_after: Duration) -> Check {
    let previous = Arc::new(std::sync::Mutex::new(None::<i64>));
    check(move || {
        let db = db.clone();
        let previous = previous.clone();
        async move {
            let oldest: Option<(i64, i64)> = sqlx::query_as(
                "SELECT id, created_at_ms FROM outbox
                  WHERE sent_at_ms IS NULL AND failed_at_ms IS NULL
                  ORDER BY id LIMIT 1",
            )
            .fetch_optional(db.pool())
            .await
            .map_err(|e| format!("reading the outbox: {e}"))?;
            let mut previous = previous.lock().unwrap_or_else(|p| p.into_inner());
            let was = previous.replace(oldest.map_or(-1, |(id, _)| id));
            let Some((id, created_at_ms)) = oldest else {
                return Ok(());
            };
            let age_ms = crate::now_ms().saturating_sub(created_at_ms).max(0);
            let age = Duration::from_millis(u64::try_from(age_ms).unwrap_or(0));
            if age > stuck_after && was == Some(id) {
                Err(format!(
                    "the outbox relay is stuck: event {id} has waited {}s to be published \
                     (more than --health-outbox-stuck-secs {}), and nothing was published since \
                     the last check",
                    age.as_secs(),
                    stuck_after.as_secs()
                ))
            } else {
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_check_makes_the_service_unready_with_its_reason_until_it_passes() {
        let health = Health::new(Duration::from_secs(5));
        assert!(!health.status().ready());
        assert_eq!(
            health.status().reasons(),
            ["starting: the first health check has not finished"]
        );
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = broken.clone();
        let checks = vec![
            ("store", check(|| async { Ok(()) })),
            (
                "kafka",
                check(move || {
                    let down = flag.load(std::sync::atomic::Ordering::SeqCst);
                    async move {
                        if down {
                            Err("no answer from the Kafka cluster".to_owned())
                        } else {
                            Ok(())
                        }
                    }
                }),
            ),
        ];
        health.check_now(&checks, Duration::from_secs(1)).await;
        assert_eq!(
            health.status().reasons(),
            ["kafka: no answer from the Kafka cluster"]
        );
        broken.store(false, std::sync::atomic::Ordering::SeqCst);
        health.check_now(&checks, Duration::from_secs(1)).await;
        assert!(health.status().ready());
        assert!(health.live(Duration::from_secs(1)).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_that_does_not_answer_fails_after_its_timeout() {
        let health = Health::new(Duration::from_secs(5));
        let checks = vec![(
            "registry",
            check(std::future::pending::<Result<(), String>>),
        )];
        health.check_now(&checks, Duration::from_secs(2)).await;
        assert_eq!(health.status().reasons(), ["registry: no answer within 2s"]);
    }

    #[tokio::test]
    async fn the_relay_is_stuck_only_when_an_old_head_row_stays_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::db::Location::File(dir.path().join("s.db"));
        let db = Db::connect(&location, 2, &[]).await.unwrap();
        let moves = outbox_moves(db.clone(), Duration::from_secs(60));
        assert!(moves().await.is_ok(), "an empty outbox moves");
        let old = crate::now_ms() - 120_000;
        sqlx::query(
            "INSERT INTO outbox (event, version, event_key, payload, created_at_ms)
             VALUES ('e', 1, x'00', x'00', $1), ('e', 1, x'01', x'00', $1)",
        )
        .bind(old)
        .execute(db.pool())
        .await
        .unwrap();
        assert!(moves().await.is_ok(), "first sight of an old row");
        let err = moves().await.unwrap_err();
        assert!(
            err.starts_with("the outbox relay is stuck: event 1 has waited 1"),
            "{err}"
        );
        sqlx::query("UPDATE outbox SET sent_at_ms = 1 WHERE id = 1")
            .execute(db.pool())
            .await
            .unwrap();
        assert!(moves().await.is_ok(), "the relay published the head row");
    }
}
