//! Start-up and graceful shutdown of a shop service: one sequence for the three binaries, so a
//! service's `main` holds only its flags and its domain wiring.
//!
//! ```text
//! let (mut service, store) = Start { name: "order-service", service: &services::order::SERVICE,
//!                                    listen, admin_listen, db, kafka, admin }
//!     .open(store::MIGRATIONS, OrderStore::new)
//!     .await?;                                                  // store, ports, signals
//! let relay = service.relay(OrderSink::new)?;                  // outbox relay
//! service
//!     .consume::<inventory::Topic>(InventoryDispatcher::new(answers))
//!     .await?;                                                  // one call per consumed topic
//! service
//!     .gauges(move |counters| async move { /* domain gauges */ })
//!     .prune("processed_events", "DELETE FROM processed_events WHERE …")
//!     .routes(router(state))
//!     .run(|admin| admin.with_orders(OrderAdmin::new(store)))   // admin API, /health, /metrics,
//!     .await                                                    // HTTP, then shutdown
//! ```
//!
//! Start-up, in this order:
//! 1. the store: the SQLite file (its directory created when missing) or the PostgreSQL database
//!    of `--database-url`, its schema brought up to date by its migrations;
//! 2. the HTTP and admin ports, so a port in use stops the service before it touches Kafka;
//! 3. SIGTERM and Ctrl-C handling, the admin API's settings, the Kafka client settings and one
//!    check of the Kafka connection (a refused SASL login or an untrusted broker certificate
//!    stops the start: see [`KafkaArgs::connect`]), and one check of the registry (an untrusted
//!    certificate or refused credentials stop the start: see [`Kafka::check_registry`]);
//! 4. the outbox relay, when the service publishes ([`Runner::relay`]);
//! 5. one consumer per topic the manifest says the service consumes ([`Runner::consume`]), in
//!    the service's consumer group; they run once the admin API knows them;
//! 6. the admin API (what the manifest says the service produces, and its consumers; with a
//!    relay, the outbox's set-aside rows), then `/health`, `/health/live` and `/metrics` beside
//!    the service's own routes. Readiness (`/health`, gRPC health) is checked in the background
//!    every `--health-check-interval-secs` ([`crate::health`]): it fails while the store does
//!    not answer, a consumer cannot reach the Kafka cluster, the registry does not answer, the
//!    outbox relay is stuck, or a consumer partition is stopped behind a record it could not
//!    dead-letter, each with its reason.
//! 7. pruning: every ten minutes, sent outbox rows and what the service registered with
//!    [`Runner::prune`] (processed event ids) older than `--retention-hours` are deleted, and
//!    each table's size is set on `/metrics` (`shop_store_rows`).
//!
//! Shutdown, once a signal arrives: the HTTP server stops taking requests and finishes those in
//! flight (tasks added with [`Runner::alongside`] finish with it), then the consumers stop
//! (in-flight records finish, offsets are committed), then the relay and the admin API.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use contracts_admin::{AdminConfig, AdminServer};
use contracts_core::source::SchemaSource;
use contracts_core::{Handle, ServiceInfo, Topic};
use contracts_runtime::{Consumer, ConsumerControl, Metrics, Publisher};
use futures_util::future::join_all;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use contracts_admin::kafka::KafkaAdminBuilder;

use crate::admin::AdminArgs;
use crate::db::{DatabaseArgs, Db, Migration};
use crate::health::{self, Health, HealthArgs};
use crate::kafka::{Kafka, KafkaArgs};
use crate::ops::{Counters, Ops};
use crate::outbox::{self, Relay, Sink};
use crate::shutdown::Shutdown;

/// What every service is started with: its name, its contracts and the flags all three share.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    /// The binary's name, as its logs say it (`order-service`).
    pub name: &'static str,
    /// What the manifest says the service produces and consumes: the generated
    /// `events::services::<service>::SERVICE`.
    pub service: &'static ServiceInfo,
    /// Where the HTTP API, `/health` and `/metrics` listen.
    pub listen: SocketAddr,
    /// Where the gRPC admin API listens.
    pub admin_listen: SocketAddr,
    /// The SQLite database file, used unless `database` names a PostgreSQL database.
    pub db: &'a Path,
    pub database: &'a DatabaseArgs,
    pub kafka: &'a KafkaArgs,
    pub admin: &'a AdminArgs,
    pub health: &'a HealthArgs,
}

impl Start<'_> {
    /// Opens the store (SQLite or PostgreSQL), brings its schema up to date with `migrations`,
    /// and makes the service's store of it with `open`; then binds both ports and starts
    /// listening for SIGTERM and Ctrl-C. Nothing has touched Kafka yet.
    pub async fn open<S: AsRef<Db>>(
        self,
        migrations: &[Migration],
        open: impl FnOnce(Db) -> S,
    ) -> anyhow::Result<(Runner, S)> {
        let location = self.database.location(self.db)?;
        let db = Db::connect(
            &location,
            self.database.database_max_connections,
            migrations,
        )
        .await
        .with_context(|| format!("opening the {} store", self.name))?;
        tracing::info!(store = %location.describe(), backend = db.backend().name(), "store open");
        let store = open(db);
        // Ports first: a port in use stops the service before it touches Kafka.
        let listener = crate::ops::listen(self.listen, "HTTP").await?;
        let admin_listener = crate::ops::listen(self.admin_listen, "admin API").await?;
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        let admin_config = self.admin.config()?;
        // Before anything is consumed or published: a refused login stops the start here.
        let kafka = self.kafka.connect().await?;
        kafka.check_registry().await?;
        let source = kafka.schema_source()?;
        let kafka_admin = kafka.admin(source.clone()).service(self.service);
        // One registry per process: the runtime's metrics and the service's counters.
        let metrics = Metrics::new();
        let runner = Runner {
            name: self.name,
            service: self.service,
            db: store.as_ref().clone(),
            retention: self.database.retention(),
            pruned: Vec::new(),
            listener,
            admin_listener,
            kafka,
            admin_config,
            source,
            kafka_admin: Some(kafka_admin),
            counters: Counters::sharing(&metrics),
            metrics,
            shutdown,
            relay: None,
            consumers: Vec::new(),
            routes: Router::new(),
            gauges: Vec::new(),
            alongside: Vec::new(),
            metrics_listener: None,
            health: self.health.clone(),
        };
        Ok((runner, store))
    }
}

type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Gauges = Box<dyn Fn(Counters) -> Task<()> + Send + Sync>;

/// A consumer created at start-up, run once the admin API knows it.
struct Consuming {
    topic: &'static str,
    control: ConsumerControl,
    run: Task<contracts_runtime::Result<()>>,
}

/// A service between start-up and shutdown; see the [module docs](self) for the order of
/// things.
pub struct Runner {
    name: &'static str,
    service: &'static ServiceInfo,
    db: Db,
    retention: Duration,
    /// Tables pruned beside the outbox: (table, chunked DELETE with the cutoff as `$1`).
    pruned: Vec<(&'static str, &'static str)>,
    listener: TcpListener,
    admin_listener: TcpListener,
    kafka: Kafka,
    admin_config: AdminConfig,
    source: Arc<dyn SchemaSource>,
    /// Taken by each consumer added, and put back with it.
    kafka_admin: Option<KafkaAdminBuilder>,
    metrics: Metrics,
    counters: Counters,
    shutdown: Shutdown,
    relay: Option<tokio::task::JoinHandle<()>>,
    consumers: Vec<Consuming>,
    routes: Router,
    gauges: Vec<Gauges>,
    alongside: Vec<Task<()>>,
    /// When set, `/metrics` is served here (with `/health`) and not on the public listener.
    metrics_listener: Option<TcpListener>,
    health: HealthArgs,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let consumers: Vec<_> = self.consumers.iter().map(|c| c.topic).collect();
        f.debug_struct("Runner")
            .field("name", &self.name)
            .field("db", &self.db.location().describe())
            .field("relay", &self.relay.is_some())
            .field("consumers", &consumers)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// The service's counters and gauges, shown on `/metrics`.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Triggered by SIGTERM or Ctrl-C.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Starts the outbox relay of the store, publishing through the sink `sink` makes of the
    /// process's publisher, and reports the outbox's backlog on `/metrics`. Returns the handle
    /// that wakes the relay once a transaction has enqueued an event.
    pub fn relay<K: Sink + 'static>(
        &mut self,
        sink: impl FnOnce(Publisher) -> K,
    ) -> anyhow::Result<Arc<Notify>> {
        anyhow::ensure!(self.relay.is_none(), "the outbox relay is started once");
        let publisher = self.kafka.publisher(self.source.clone(), &self.metrics)?;
        let relay = Relay::new(self.db.clone());
        let waker = relay.waker();
        let sink = sink(publisher);
        let shutdown = self.shutdown.clone();
        self.relay = Some(tokio::spawn(async move { relay.run(sink, shutdown).await }));
        let db = self.db.clone();
        self.gauges.push(Box::new(move |counters| {
            let db = db.clone();
            Box::pin(async move { outbox::report_pending(&db, &counters).await })
        }));
        Ok(waker)
    }

    /// Creates the consumer of topic `T` in the service's consumer group; it hands every
    /// record to `handler` (the generated dispatcher) once [`run`](Self::run) starts it. Only a
    /// topic the manifest says the service consumes is accepted.
    pub async fn consume<T: Topic>(
        &mut self,
        handler: impl Handle<T::Message> + 'static,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.service.consumes.contains(&T::NAME),
            "{} consumes `{}`, which the manifest does not list for service `{}`",
            self.name,
            T::NAME,
            self.service.name
        );
        anyhow::ensure!(
            self.consumers.iter().all(|c| c.topic != T::NAME),
            "{} consumes `{}` twice",
            self.name,
            T::NAME
        );
        let group = self.service.consumer_group;
        let consumer = Consumer::<T>::new(
            self.kafka.consumer_config(group),
            self.source.clone(),
            self.metrics.clone(),
        )
        .await
        .with_context(|| format!("starting the {} consumer", T::NAME))?;
        self.kafka_admin = self
            .kafka_admin
            .take()
            .map(|admin| admin.consumer(T::NAME, group, &consumer));
        self.consumers.push(Consuming {
            topic: T::NAME,
            control: consumer.control(),
            run: Box::pin(consumer.run(handler)),
        });
        Ok(())
    }

    /// Sets the service's own gauges before each `/metrics` scrape.
    pub fn gauges<F>(mut self, set: impl Fn(Counters) -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.gauges
            .push(Box::new(move |counters| Box::pin(set(counters))));
        self
    }

    /// Prunes `table` with the outbox: `delete` deletes at most a few thousand rows older than
    /// the cutoff `$1` (milliseconds since the epoch) per statement, and runs until it deletes
    /// nothing. For tables that only dedupe redeliveries, such as processed event ids.
    pub fn prune(mut self, table: &'static str, delete: &'static str) -> Self {
        self.pruned.push((table, delete));
        self
    }

    /// The service's own HTTP routes, served beside `/health` and `/metrics`.
    pub fn routes(mut self, routes: Router) -> Self {
        self.routes = self.routes.merge(routes);
        self
    }

    /// Serves `/metrics` (and `/health`) on `addr` instead of the public listener, whose
    /// `/metrics` then answers 404: the metrics can stay on an internal network. Binds now, so a
    /// port in use fails the start-up.
    pub async fn metrics_listen(
        &mut self,
        addr: Option<std::net::SocketAddr>,
    ) -> anyhow::Result<()> {
        if let Some(addr) = addr {
            self.metrics_listener = Some(crate::ops::listen(addr, "metrics").await?);
        }
        Ok(())
    }

    /// Work that runs with the HTTP server until shutdown (it must watch
    /// [`shutdown`](Self::shutdown)); the consumers stop after it finished.
    pub fn alongside(mut self, task: impl Future<Output = ()> + Send + 'static) -> Self {
        self.alongside.push(Box::pin(task));
        self
    }

    /// Starts the consumers and the admin API (`domain` adds the service's own admin service),
    /// serves HTTP until SIGTERM or Ctrl-C, then shuts down in order: HTTP, consumers, relay,
    /// admin API.
    pub async fn run(self, domain: impl FnOnce(AdminServer) -> AdminServer) -> anyhow::Result<()> {
        let Runner {
            name,
            service,
            db,
            retention,
            pruned,
            listener,
            admin_listener,
            kafka,
            admin_config,
            source: _,
            kafka_admin,
            metrics: _,
            counters,
            shutdown,
            relay,
            consumers,
            routes,
            gauges,
            alongside,
            metrics_listener,
            health: health_args,
        } = self;
        let started: Vec<&str> = consumers.iter().map(|c| c.topic).collect();
        missing_consumers(name, service, &started)?;
        let kafka_admin = kafka_admin
            .expect("consume puts the admin builder back")
            .build()?;
        let mut consuming = Vec::new();
        let mut controls = Vec::new();
        for c in consumers {
            controls.push(c.control);
            consuming.push((c.topic, tokio::spawn(c.run)));
        }

        let outbox_admin = relay
            .is_some()
            .then(|| outbox::OutboxAdmin::new(db.clone()));
        let health = Health::new(health_args.interval());
        let checks =
            readiness_checks(&db, &kafka, &controls, outbox_admin.is_some(), &health_args)?;
        let checking = tokio::spawn(health.clone().run(
            checks,
            health_args.check_timeout(),
            shutdown.clone(),
        ));
        let ops = Ops::new(health.clone()).metrics({
            let gauges = Arc::new(gauges);
            let counters = counters.clone();
            move || {
                let gauges = gauges.clone();
                let counters = counters.clone();
                async move {
                    for set in gauges.iter() {
                        set(counters.clone()).await;
                    }
                    counters.render()
                }
            }
        });
        let pruning = tokio::spawn(prune_periodically(
            db.clone(),
            retention,
            pruned,
            counters.clone(),
            shutdown.clone(),
        ));
        let (app, metrics_serving) = match metrics_listener {
            Some(metrics_listener) => {
                tracing::info!(metrics_listen = %metrics_listener.local_addr()?, "/metrics served on its own listener");
                let public = routes.merge(ops.clone().router()).layer(
                    axum::middleware::from_fn(
                        |request: axum::extract::Request, next: axum::middleware::Next| async move {
                            if request.uri().path() == "/metrics" {
                                use axum::response::IntoResponse as _;
                                return (
                                    axum::http::StatusCode::NOT_FOUND,
                                    "/metrics is served on the metrics listener (--metrics-listen), not here\n",
                                )
                                    .into_response();
                            }
                            next.run(request).await
                        },
                    ),
                );
                let serving = crate::ops::serve(metrics_listener, ops.router(), shutdown.clone());
                (public, Some(serving))
            }
            None => (routes.merge(ops.router()), None),
        };
        let mut admin_server = domain(AdminServer::new(admin_config, kafka_admin));
        if let Some(outbox_admin) = outbox_admin {
            admin_server = admin_server.with_outbox(outbox_admin);
        }
        let reporting = tokio::spawn(health.report_to(
            admin_server.health(),
            admin_server.services().to_vec(),
            shutdown.clone(),
        ));
        let admin = crate::admin::serve(admin_listener, admin_server, shutdown.clone())?;
        tracing::info!(listen = %listener.local_addr()?, store = %db.location().describe(), "{name} started");
        let serving = crate::ops::serve(listener, app, shutdown.clone());
        let metrics_serving = async move {
            match metrics_serving {
                Some(serving) => serving.await,
                None => Ok(()),
            }
        };
        let (served, metrics_served, _) =
            tokio::join!(serving, metrics_serving, join_all(alongside));
        served.context("serving HTTP")?;
        metrics_served.context("serving /metrics")?;
        for control in &controls {
            control.shutdown();
        }
        for (topic, task) in consuming {
            task.await
                .with_context(|| format!("{topic} consumer"))?
                .with_context(|| format!("{topic} consumer"))?;
        }
        if let Some(relay) = relay {
            relay.await.context("outbox relay")?;
        }
        pruning.await.context("pruning")?;
        checking.await.context("health checks")?;
        reporting.await.context("gRPC health")?;
        admin.await.context("admin API")?.context("admin API")?;
        tracing::info!("{name} stopped");
        Ok(())
    }
}

/// What readiness depends on: the store answers; each consumer reaches the Kafka cluster; the
/// schema registry answers; the outbox relay moves (with a relay); no consumer partition is
/// stopped behind a record it could not dead-letter.
fn readiness_checks(
    db: &Db,
    kafka: &Kafka,
    controls: &[ConsumerControl],
    relay: bool,
    args: &HealthArgs,
) -> anyhow::Result<Vec<(&'static str, health::Check)>> {
    let timeout = args.check_timeout();
    let mut checks = vec![(
        "store",
        health::check({
            let db = db.clone();
            move || {
                let db = db.clone();
                async move { db.ping().await.map_err(|e| e.to_string()) }
            }
        }),
    )];
    if !controls.is_empty() {
        let controls = controls.to_vec();
        checks.push((
            "kafka",
            health::check(move || {
                let controls = controls.clone();
                async move {
                    // The bound leaves time to answer within the check's own timeout.
                    let wait = timeout.mul_f32(0.8);
                    let failures: Vec<String> =
                        join_all(controls.iter().map(|c| c.check_broker(wait)))
                            .await
                            .into_iter()
                            .filter_map(Result::err)
                            .collect();
                    match failures.first() {
                        None => Ok(()),
                        // The consumers share the cluster: one reason says it.
                        Some(first) => Err(format!("consumers cannot reach Kafka: {first}")),
                    }
                }
            }),
        ));
    }
    let registry = kafka.registry_probe(timeout)?;
    let url = kafka.registry_url();
    checks.push((
        "registry",
        health::check(move || {
            let registry = registry.clone();
            let url = url.clone();
            async move {
                registry
                    .schema_types()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("the schema registry at {url} does not answer: {e}"))
            }
        }),
    ));
    if relay {
        checks.push((
            "outbox",
            health::outbox_moves(db.clone(), args.outbox_stuck_after()),
        ));
    }
    let watched = controls.to_vec();
    // A partition stopped behind a record it could not dead-letter needs an operator.
    checks.push((
        "consumers",
        health::check(move || {
            let stopped: Vec<String> = watched
                .iter()
                .flat_map(ConsumerControl::stopped_partitions)
                .map(|p| p.to_string())
                .collect();
            std::future::ready(if stopped.is_empty() {
                Ok(())
            } else {
                Err(stopped.join("; "))
            })
        }),
    ));
    Ok(checks)
}

/// How often old rows are deleted and table sizes measured.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Deletes sent outbox rows and the `pruned` tables' rows older than `retention`, at start and
/// every [`PRUNE_EVERY`], and sets each table's size on `/metrics`, until shutdown.
async fn prune_periodically(
    db: Db,
    retention: Duration,
    pruned: Vec<(&'static str, &'static str)>,
    counters: Counters,
    shutdown: Shutdown,
) {
    loop {
        prune_once(&db, retention, &pruned, &counters).await;
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// One round of [`prune_periodically`]; a failure is logged and retried next round.
pub async fn prune_once(
    db: &Db,
    retention: Duration,
    pruned: &[(&'static str, &'static str)],
    counters: &Counters,
) {
    let cutoff =
        crate::now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    let outbox = ("outbox", None);
    for (table, delete) in std::iter::once(outbox).chain(pruned.iter().map(|(t, d)| (*t, Some(*d))))
    {
        let deleted = match delete {
            None => outbox::prune(db, cutoff).await,
            Some(delete) => crate::db::delete_in_chunks(db, delete, cutoff).await,
        };
        match deleted {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    table,
                    rows = n,
                    ?retention,
                    "pruned rows past their retention"
                );
                counters.add(
                    "shop_store_pruned_rows_total",
                    "Rows deleted because they outlived --retention-hours, per table.",
                    &[("table", table)],
                    n,
                );
            }
            Err(error) => tracing::warn!(table, %error, "pruning failed; trying again later"),
        }
        if let Ok(rows) = db.count(table).await {
            counters.set(
                "shop_store_rows",
                "Rows per table of the service's store, measured when pruning.",
                &[("table", table)],
                rows as f64,
            );
        }
    }
}

/// Fails when the manifest says the service consumes a topic no consumer was started for.
fn missing_consumers(name: &str, service: &ServiceInfo, started: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = service
        .consumes
        .iter()
        .copied()
        .filter(|topic| !started.contains(topic))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the manifest says service `{}` consumes {}, but {name} started no consumer for it",
        service.name,
        missing
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;
    use contracts_core::{HandlerError, ProducedEvent, RecordMeta};

    #[derive(Debug, clap::Parser)]
    struct Flags {
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        health: HealthArgs,
    }

    fn start<'a>(flags: &'a Flags, db: &'a Path, admin_listen: SocketAddr) -> Start<'a> {
        Start {
            name: "order-service",
            service: &events::services::order::SERVICE,
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen,
            db,
            database: &flags.database,
            kafka: &flags.kafka,
            admin: &flags.admin,
            health: &flags.health,
        }
    }

    #[tokio::test]
    async fn a_port_in_use_stops_the_start_once_the_store_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("order.db");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let flags = Flags::parse_from(["order-service"]);
        let err = start(&flags, &db, addr)
            .open(&[], |db| db)
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").starts_with(&format!("admin API: listening on {addr}")),
            "{err:#}"
        );
        assert!(
            db.exists(),
            "the store opens (and its directory is made) first"
        );
    }

    struct Ignore;

    impl Handle<events::orders::Message> for Ignore {
        async fn handle(
            &self,
            _: events::orders::Message,
            _: &RecordMeta,
        ) -> Result<(), HandlerError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_topic_the_manifest_does_not_list_for_the_service_is_not_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("order.db");
        let flags = Flags::parse_from(["order-service"]);
        let (mut service, _db) = start(&flags, &db, "127.0.0.1:0".parse().unwrap())
            .open(&[], |db| db)
            .await
            .unwrap();
        let err = service
            .consume::<events::orders::Topic>(Ignore)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "order-service consumes `orders`, which the manifest does not list for service `order`"
        );
    }

    const NOTIFIER: ServiceInfo = ServiceInfo {
        name: "notification",
        consumer_group: "notification",
        produces: &[] as &[ProducedEvent],
        consumes: &["orders", "inventory"],
    };

    #[test]
    fn a_topic_the_manifest_says_the_service_consumes_needs_a_consumer() {
        assert!(
            missing_consumers("notification-service", &NOTIFIER, &["inventory", "orders"]).is_ok()
        );
        let err = missing_consumers("notification-service", &NOTIFIER, &["orders"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the manifest says service `notification` consumes `inventory`, but \
             notification-service started no consumer for it"
        );
    }
}
