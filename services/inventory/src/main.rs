//! inventory-service: reserves stock for new orders. See `inventory-service --help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use events::{orders, services};
use inventory_service::admin::InventoryAdmin;
use inventory_service::messaging::{InventorySink, Reserver};
use inventory_service::store::InventoryStore;
use shop_service_kit::admin::AdminArgs;
use shop_service_kit::db::DatabaseArgs;
use shop_service_kit::health::HealthArgs;
use shop_service_kit::kafka::KafkaArgs;
use shop_service_kit::runner::Start;
use shop_service_kit::telemetry::{self, LogFormat};

/// Reserves stock for new orders and says so.
///
/// Consumes OrderCreated from the `orders` topic in consumer group `inventory-service`. For each
/// order it reserves every line or none, exactly once per order (the processed event is
/// recorded in the same transaction as the stock change), and publishes
/// InventoryReserved or InventoryRejected (Protobuf, shop.inventory.v2) through an outbox.
///
/// Serves GET /health (ready), GET /health/live and GET /metrics, and on --admin-listen the
/// gRPC admin API: contracts, consumer lag, dead letters (list, replay, drop), pause/resume of
/// the `orders` consumer, stock per product and setting it; `contracts admin` is its client.
///
/// Every flag can also be set through the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "inventory-service", version, verbatim_doc_comment)]
struct Args {
    /// Address /health and /metrics listen on.
    #[arg(long, env = "INVENTORY_LISTEN", default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// SQLite database file (created when missing), unless --database-url names a PostgreSQL
    /// database. SQLite serves one replica; run several on PostgreSQL.
    #[arg(long, env = "INVENTORY_DB", default_value = "data/inventory.db")]
    db: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Starting stock, `product=units,...`. Applied only to products the store does not know
    /// yet, so a restart keeps what was sold.
    #[arg(long, env = "INVENTORY_STOCK", value_delimiter = ',', value_parser = parse_stock,
          default_value = "tea=100,coffee=50,mug=20,teapot=5")]
    stock: Vec<(String, i64)>,
    /// The warehouse named in InventoryReserved.
    #[arg(long, env = "INVENTORY_WAREHOUSE_ID", default_value = "main")]
    warehouse_id: String,
    /// Address the gRPC admin API (with health checking and reflection) listens on.
    #[arg(
        long,
        env = "INVENTORY_ADMIN_LISTEN",
        default_value = "127.0.0.1:50052"
    )]
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

fn parse_stock(s: &str) -> Result<(String, i64), String> {
    let (product, units) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected product=units, such as tea=100"))?;
    let units: i64 = units
        .trim()
        .parse()
        .map_err(|e| format!("{s:?}: units {units:?} is not a whole number ({e})"))?;
    if units < 0 {
        return Err(format!("{s:?}: units must be zero or more"));
    }
    Ok((product.trim().to_owned(), units))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    telemetry::exit(run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let _telemetry = telemetry::init("inventory-service", args.log_format)?;
    let (mut service, store) = Start {
        name: "inventory-service",
        service: &services::inventory::SERVICE,
        listen: args.listen,
        admin_listen: args.admin_listen,
        db: &args.db,
        database: &args.database,
        kafka: &args.kafka,
        admin: &args.admin,
        health: &args.health,
    }
    .open(inventory_service::store::MIGRATIONS, |db| {
        InventoryStore::new(db, &args.warehouse_id)
    })
    .await?;
    for (product, units) in &args.stock {
        if store.seed_stock(product, *units).await? {
            tracing::info!(product, units, "stock seeded");
        }
    }
    let relay = service.relay(InventorySink::new)?;
    let reserver = Reserver::new(store.clone(), service.counters().clone(), relay);
    service
        .consume::<orders::Topic>(services::inventory::OrdersDispatcher::new(reserver))
        .await?;
    let for_metrics = store.clone();
    service
        .gauges(move |counters| {
            let store = for_metrics.clone();
            async move {
                if let Ok(stock) = store.all_stock().await {
                    for (product, units) in stock {
                        counters.set(
                            "shop_stock_available",
                            "Units on hand per product.",
                            &[("product", &product)],
                            units as f64,
                        );
                    }
                }
            }
        })
        .prune(
            "processed_events",
            inventory_service::store::PRUNE_PROCESSED,
        )
        .run(|admin| admin.with_inventory(InventoryAdmin::new(store)))
        .await
}
