//! inventory-service: reserves stock for new orders. See `inventory-service --help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use contracts_admin::AdminServer;
use contracts_runtime::{Consumer, Metrics};
use events::services::inventory::{CONSUMER_GROUP, OrdersDispatcher};
use events::{inventory, orders};
use inventory_service::admin::InventoryAdmin;
use inventory_service::messaging::{InventorySink, Reserver};
use inventory_service::store::InventoryStore;
use shop_service_kit::admin::AdminArgs;
use shop_service_kit::kafka::KafkaArgs;
use shop_service_kit::ops::{Counters, Ops};
use shop_service_kit::outbox::{self, Relay};
use shop_service_kit::shutdown::Shutdown;
use shop_service_kit::telemetry::{self, LogFormat};

/// Reserves stock for new orders and says so.
///
/// Consumes OrderCreated from the `orders` topic in consumer group `inventory-service`. For each
/// order it reserves every line or none, exactly once per order (the processed event is
/// recorded in the same SQLite transaction as the stock change), and publishes
/// InventoryReserved or InventoryRejected (Protobuf, shop.inventory.v2) through an outbox.
///
/// Serves GET /health and GET /metrics, and the gRPC admin API on --admin-listen: contracts,
/// consumer lag, dead letters (list, replay, drop), pause/resume of the `orders` consumer,
/// stock per product and setting it; `contracts admin` is its client.
///
/// Every flag can also be set through the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "inventory-service", version, verbatim_doc_comment)]
struct Args {
    /// Address /health and /metrics listen on.
    #[arg(long, env = "INVENTORY_LISTEN", default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// SQLite database file (created when missing).
    #[arg(long, env = "INVENTORY_DB", default_value = "data/inventory.db")]
    db: PathBuf,
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
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(args.log_format);
    if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = InventoryStore::open(&args.db, &args.warehouse_id)
        .context("opening the inventory store")?;
    // Ports first: a port in use stops the service before it touches Kafka.
    let listener = shop_service_kit::ops::listen(args.listen, "HTTP").await?;
    let admin_listener = shop_service_kit::ops::listen(args.admin_listen, "admin API").await?;
    for (product, units) in &args.stock {
        if store.seed_stock(product, *units)? {
            tracing::info!(product, units, "stock seeded");
        }
    }
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
        async move { relay.run(InventorySink::new(publisher), shutdown).await }
    });
    let consumer = Consumer::<orders::Topic>::new(
        args.kafka.consumer_config(CONSUMER_GROUP),
        source.clone(),
        metrics.clone(),
    )
    .await
    .context("starting the orders consumer")?;
    let control = consumer.control();
    let kafka_admin = args
        .kafka
        .admin(source)
        .produces::<inventory::v2::InventoryReserved>()
        .produces::<inventory::v2::InventoryRejected>()
        .consumer("orders", CONSUMER_GROUP, &consumer)
        .build()?;
    let consuming = tokio::spawn(consumer.run(OrdersDispatcher::new(Reserver::new(
        store.clone(),
        counters.clone(),
        relay.waker(),
    ))));

    let ops = ops(&store, &counters);
    let admin = shop_service_kit::admin::serve(
        admin_listener,
        AdminServer::new(admin_config, kafka_admin)
            .with_inventory(InventoryAdmin::new(store.clone())),
        shutdown.clone(),
    )?;
    tracing::info!(listen = %listener.local_addr()?, db = %args.db.display(), "inventory-service started");
    shop_service_kit::ops::serve(listener, ops.router(), shutdown.clone())
        .await
        .context("serving HTTP")?;
    control.shutdown();
    consuming
        .await
        .context("orders consumer")?
        .context("orders consumer")?;
    relaying.await.context("outbox relay")?;
    admin.await.context("admin API")?.context("admin API")?;
    tracing::info!("inventory-service stopped");
    Ok(())
}

fn ops(store: &InventoryStore, counters: &Counters) -> Ops {
    let db = store.db().clone();
    let for_metrics = store.clone();
    let counters = counters.clone();
    Ops::new()
        .check("store", move || db.ping().map_err(|e| e.to_string()))
        .metrics(move || {
            outbox::report_pending(for_metrics.db(), &counters);
            if let Ok(stock) = for_metrics.all_stock() {
                for (product, units) in stock {
                    counters.set(
                        "shop_stock_available",
                        "Units on hand per product.",
                        &[("product", &product)],
                        units as f64,
                    );
                }
            }
            counters.render()
        })
}
