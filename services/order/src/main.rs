//! order-service: the shop's front door. See `order-service --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use contracts_admin::AdminServer;
use contracts_runtime::{Consumer, Metrics};
use events::services::order::{CONSUMER_GROUP, InventoryDispatcher};
use events::{inventory, order_created_pb, orders};
use order_service::admin::OrderAdmin;
use order_service::domain::Catalog;
use order_service::http::{AppState, DEFAULT_BODY_LIMIT, router};
use order_service::messaging::{InventoryAnswers, OrderSink};
use order_service::store::OrderStore;
use shop_service_kit::admin::AdminArgs;
use shop_service_kit::kafka::KafkaArgs;
use shop_service_kit::ops::{Counters, Ops};
use shop_service_kit::outbox::{self, Relay};
use shop_service_kit::shutdown::Shutdown;
use shop_service_kit::telemetry::{self, LogFormat};

/// Takes orders over HTTP and publishes what happens to them.
///
/// Each order is stored in SQLite together with the events it causes (OrderCreated, OrderPaid,
/// OrderShipped) in one transaction; a relay publishes those events to Kafka, keyed by order id,
/// and marks them sent once the broker has them. The service also consumes the inventory's
/// answers and moves orders to CONFIRMED or REJECTED.
///
/// HTTP API (JSON):
///   POST /orders            {"customer": "alice@example.com", "line_items": [{"product": "tea", "quantity": 2}]}
///   GET  /orders/{id}       one order;  GET /orders?status=CONFIRMED  orders by status
///   POST /orders/{id}/pay   {"payment_id": "..."} (optional body)   CONFIRMED -> PAID
///   POST /orders/{id}/ship  {"carrier": "DHL", "tracking_number": "..."} (optional)  PAID -> SHIPPED
///   GET  /health, /metrics
///
/// Admin API (gRPC, on --admin-listen): contracts, consumer lag, dead letters (list, replay,
/// drop), pause/resume of the `inventory` consumer, orders by id and status; `contracts admin`
/// is its client.
///
/// Every flag can also be set through the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "order-service", version, verbatim_doc_comment)]
struct Args {
    /// Address the HTTP API, /health and /metrics listen on.
    #[arg(long, env = "ORDER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// SQLite database file (created when missing).
    #[arg(long, env = "ORDER_DB", default_value = "data/order.db")]
    db: PathBuf,
    /// The products on sale with their unit prices in EUR: `product=price,...`.
    #[arg(
        long,
        env = "ORDER_CATALOG",
        default_value = "tea=3.50,coffee=8.00,mug=12.00,teapot=25.00"
    )]
    catalog: Catalog,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "ORDER_MAX_BODY_BYTES", default_value_t = DEFAULT_BODY_LIMIT)]
    max_body_bytes: usize,
    /// Address the gRPC admin API (with health checking and reflection) listens on.
    #[arg(long, env = "ORDER_ADMIN_LISTEN", default_value = "127.0.0.1:50051")]
    admin_listen: SocketAddr,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Log lines as `text` or `json`; filter with RUST_LOG (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t)]
    log_format: LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(args.log_format);
    if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = OrderStore::open(&args.db).context("opening the order store")?;
    // Ports first: a port in use stops the service before it touches Kafka.
    let listener = shop_service_kit::ops::listen(args.listen, "HTTP").await?;
    let admin_listener = shop_service_kit::ops::listen(args.admin_listen, "admin API").await?;
    // One registry per process: the runtime's metrics and the service's counters.
    let metrics = Metrics::new();
    let counters = Counters::sharing(&metrics);
    let relay = Relay::new(store.db().clone());
    let shutdown = Shutdown::new();
    shutdown.on_signals();

    let source = args.kafka.schema_source()?;
    let publisher = args.kafka.publisher(source.clone(), &metrics)?;
    let admin_config = args.admin.config()?;
    let relaying = tokio::spawn({
        let relay = relay.clone();
        let shutdown = shutdown.clone();
        async move { relay.run(OrderSink::new(publisher), shutdown).await }
    });
    let consumer = Consumer::<inventory::Topic>::new(
        args.kafka.consumer_config(CONSUMER_GROUP),
        source.clone(),
        metrics.clone(),
    )
    .await
    .context("starting the inventory consumer")?;
    let control = consumer.control();
    let kafka_admin = args
        .kafka
        .admin(source.clone())
        .produces::<orders::v3::OrderCreated>()
        .produces::<orders::v1::OrderPaid>()
        .produces::<orders::v1::OrderShipped>()
        .produces::<order_created_pb::v1::OrderCreated>()
        .consumer("inventory", CONSUMER_GROUP, &consumer)
        .build()?;
    let consuming = tokio::spawn(consumer.run(InventoryDispatcher::new(InventoryAnswers::new(
        store.clone(),
        counters.clone(),
    ))));

    let state = AppState {
        store: store.clone(),
        catalog: Arc::new(args.catalog),
        relay: relay.waker(),
        counters: counters.clone(),
        body_limit: args.max_body_bytes,
    };
    let ops = ops(&store, &counters);
    let app = router(state).merge(ops.router());
    let admin = shop_service_kit::admin::serve(
        admin_listener,
        AdminServer::new(admin_config, kafka_admin).with_orders(OrderAdmin::new(store.clone())),
        shutdown.clone(),
    )?;
    tracing::info!(listen = %listener.local_addr()?, db = %args.db.display(), "order-service started");
    shop_service_kit::ops::serve(listener, app, shutdown.clone())
        .await
        .context("serving HTTP")?;
    control.shutdown();
    consuming
        .await
        .context("inventory consumer")?
        .context("inventory consumer")?;
    relaying.await.context("outbox relay")?;
    admin.await.context("admin API")?.context("admin API")?;
    tracing::info!("order-service stopped");
    Ok(())
}

fn ops(store: &OrderStore, counters: &Counters) -> Ops {
    let db = store.db().clone();
    let for_metrics = store.clone();
    let counters = counters.clone();
    Ops::new()
        .check("store", move || db.ping().map_err(|e| e.to_string()))
        .metrics(move || {
            outbox::report_pending(for_metrics.db(), &counters);
            if let Ok(counts) = for_metrics.count_by_status() {
                for (status, n) in counts {
                    counters.set(
                        "shop_orders",
                        "Orders by status.",
                        &[("status", status.as_str())],
                        n as f64,
                    );
                }
            }
            counters.render()
        })
}
