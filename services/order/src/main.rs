//! order-service: the shop's front door. See `order-service --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use contracts_core::secret;
use events::{inventory, services};
use order_service::admin::OrderAdmin;
use order_service::domain::Catalog;
use order_service::http::{
    ApiConfig, AppState, DEFAULT_BODY_LIMIT, DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_REQUEST_TIMEOUT, router_with,
};
use order_service::messaging::{InventoryAnswers, OrderSink};
use order_service::store::OrderStore;
use shop_service_kit::admin::AdminArgs;
use shop_service_kit::db::DatabaseArgs;
use shop_service_kit::health::HealthArgs;
use shop_service_kit::kafka::KafkaArgs;
use shop_service_kit::runner::Start;
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
///   GET  /health (ready), /health/live, /metrics   (/metrics on --metrics-listen instead)
///
/// API token: when ORDER_API_TOKEN (or ORDER_API_TOKEN_FILE, a file holding it) is set, every
/// /orders route, reads included, needs `Authorization: Bearer <token>` (an order holds the
/// customer's e-mail address); /health and /metrics stay open. Without it, anyone who reaches
/// --listen can place, read and list orders.
///
/// Admin API tokens: ADMIN_READ_TOKEN (reads) and ADMIN_WRITE_TOKEN (reads and changes), or
/// their _FILE variants; without either, the admin API has no authentication.
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
    /// SQLite database file (created when missing), unless --database-url names a PostgreSQL
    /// database. SQLite serves one replica; run several on PostgreSQL.
    #[arg(long, env = "ORDER_DB", default_value = "data/order.db")]
    db: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
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
    /// How long one API request may take, reading its body included, in milliseconds; a slower
    /// one (a client sending its body too slowly) gets 408.
    #[arg(long, env = "ORDER_REQUEST_TIMEOUT_MS", default_value_t = DEFAULT_REQUEST_TIMEOUT.as_millis() as u64)]
    request_timeout_ms: u64,
    /// How many API requests are served at once; more get 503 at once instead of queueing.
    #[arg(long, env = "ORDER_MAX_CONCURRENT_REQUESTS", default_value_t = DEFAULT_MAX_CONCURRENT_REQUESTS,
          value_parser = clap::value_parser!(usize))]
    max_concurrent_requests: usize,
    /// Serve /metrics (and /health) on this address instead of --listen, whose /metrics then
    /// answers 404: keep the metrics on an internal network.
    #[arg(long, env = "ORDER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Address the gRPC admin API (with health checking and reflection) listens on.
    #[arg(long, env = "ORDER_ADMIN_LISTEN", default_value = "127.0.0.1:50051")]
    admin_listen: SocketAddr,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    health: HealthArgs,
    /// Log lines as `text` or `json`; filter with RUST_LOG (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t)]
    log_format: LogFormat,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    telemetry::exit(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let _telemetry = telemetry::init("order-service", args.log_format)?;
    let (mut service, store) = Start {
        name: "order-service",
        service: &services::order::SERVICE,
        listen: args.listen,
        admin_listen: args.admin_listen,
        db: &args.db,
        database: &args.database,
        kafka: &args.kafka,
        admin: &args.admin,
        health: &args.health,
    }
    .open(order_service::store::MIGRATIONS, OrderStore::new)
    .await?;
    service.metrics_listen(args.metrics_listen).await?;
    let api = ApiConfig {
        token: secret::from_env("ORDER_API_TOKEN")?,
        request_timeout: std::time::Duration::from_millis(args.request_timeout_ms.max(1)),
        max_concurrent_requests: args.max_concurrent_requests.max(1),
    };
    if api.token.is_none() {
        tracing::warn!(
            "ORDER_API_TOKEN is not set: anyone who reaches the API can place, read and list orders"
        );
    }
    let counters = service.counters().clone();
    let relay = service.relay(OrderSink::new)?;
    service
        .consume::<inventory::Topic>(services::order::InventoryDispatcher::new(
            InventoryAnswers::new(store.clone(), counters.clone()),
        ))
        .await?;
    let state = AppState {
        store: store.clone(),
        catalog: Arc::new(args.catalog),
        relay,
        counters,
        body_limit: args.max_body_bytes,
    };
    let for_metrics = store.clone();
    service
        .gauges(move |counters| {
            let store = for_metrics.clone();
            async move {
                if let Ok(counts) = store.count_by_status().await {
                    for (status, n) in counts {
                        counters.set(
                            "shop_orders",
                            "Orders by status.",
                            &[("status", status.as_str())],
                            n as f64,
                        );
                    }
                }
            }
        })
        .routes(router_with(state, &api))
        .run(|admin| admin.with_orders(OrderAdmin::new(store)))
        .await
}
