//! notification-service: tells customers about their orders. See `notification-service --help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use contracts_admin::AdminServer;
use contracts_runtime::{Consumer, Metrics};
use events::services::notification::{CONSUMER_GROUP, InventoryDispatcher, OrdersDispatcher};
use events::{inventory, orders};
use notification_service::admin::NotificationAdmin;
use notification_service::messaging::Notifier;
use notification_service::postman::Postman;
use notification_service::store::NotificationStore;
use notification_service::transport::{AnyTransport, Mailbox, Smtp};
use shop_service_kit::admin::AdminArgs;
use shop_service_kit::kafka::KafkaArgs;
use shop_service_kit::ops::{Counters, Ops};
use shop_service_kit::shutdown::Shutdown;
use shop_service_kit::telemetry::{self, LogFormat};

/// Tells customers about their orders, once per event.
///
/// Consumes the `orders` and `inventory` topics in consumer group `notification-service` and
/// sends the customer one message per event: order received, confirmed or rejected, paid,
/// shipped, always in that order per order. Each event is recorded once (SQLite), so a
/// redelivered event sends nothing more.
///
/// Messages go to an SMTP server when --smtp-url is set, otherwise into a mailbox directory:
/// one file per message under <mailbox-dir>/<customer>/<order>.<step>.<kind>.eml.
///
/// Serves GET /health and GET /metrics, and the gRPC admin API on --admin-listen: contracts,
/// consumer lag, dead letters (list, replay, drop), pause/resume of the `orders` and
/// `inventory` consumers, notifications per order; `contracts admin` is its client.
///
/// Every flag can also be set through the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "notification-service", version, verbatim_doc_comment)]
struct Args {
    /// Address /health and /metrics listen on.
    #[arg(long, env = "NOTIFICATION_LISTEN", default_value = "127.0.0.1:8083")]
    listen: SocketAddr,
    /// SQLite database file (created when missing).
    #[arg(long, env = "NOTIFICATION_DB", default_value = "data/notification.db")]
    db: PathBuf,
    /// Where messages are written when no SMTP server is configured.
    #[arg(long, env = "NOTIFICATION_MAILBOX_DIR", default_value = "data/mailbox")]
    mailbox_dir: PathBuf,
    /// SMTP server, such as smtp://user:password@mail.example.com:587?tls=required or
    /// smtp://localhost:2525 for a local relay without TLS.
    #[arg(long, env = "NOTIFICATION_SMTP_URL")]
    smtp_url: Option<String>,
    /// Sender address of every message.
    #[arg(
        long,
        env = "NOTIFICATION_MAIL_FROM",
        default_value = "The Shop <shop@example.com>"
    )]
    mail_from: String,
    /// Address the gRPC admin API (with health checking and reflection) listens on.
    #[arg(
        long,
        env = "NOTIFICATION_ADMIN_LISTEN",
        default_value = "127.0.0.1:50053"
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    telemetry::init(args.log_format);
    if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = NotificationStore::open(&args.db).context("opening the notification store")?;
    // Ports first: a port in use stops the service before it touches Kafka.
    let listener = shop_service_kit::ops::listen(args.listen, "HTTP").await?;
    let admin_listener = shop_service_kit::ops::listen(args.admin_listen, "admin API").await?;
    let admin_config = args.admin.config()?;
    let transport_name = if args.smtp_url.is_some() {
        "smtp"
    } else {
        "mailbox"
    };
    let transport = match &args.smtp_url {
        Some(url) => AnyTransport::Smtp(Box::new(
            Smtp::new(url, &args.mail_from).context("--smtp-url")?,
        )),
        None => AnyTransport::Mailbox(Mailbox::new(&args.mailbox_dir)),
    };
    // One registry per process: the runtime's metrics and the service's counters.
    let metrics = Metrics::new();
    let counters = Counters::sharing(&metrics);
    let postman = Postman::new(store.clone(), transport, counters.clone());
    let shutdown = Shutdown::new();
    shutdown.on_signals();

    let source = args.kafka.schema_source()?;
    let notifier = Notifier::new(store.clone(), counters.clone(), postman.waker());
    let orders_consumer = Consumer::<orders::Topic>::new(
        args.kafka.consumer_config(CONSUMER_GROUP),
        source.clone(),
        metrics.clone(),
    )
    .await
    .context("starting the orders consumer")?;
    let inventory_consumer = Consumer::<inventory::Topic>::new(
        args.kafka.consumer_config(CONSUMER_GROUP),
        source.clone(),
        metrics.clone(),
    )
    .await
    .context("starting the inventory consumer")?;
    let controls = [orders_consumer.control(), inventory_consumer.control()];
    let kafka_admin = args
        .kafka
        .admin(source)
        .consumer("orders", CONSUMER_GROUP, &orders_consumer)
        .consumer("inventory", CONSUMER_GROUP, &inventory_consumer)
        .build()?;
    let consuming_orders =
        tokio::spawn(orders_consumer.run(OrdersDispatcher::new(notifier.clone())));
    let consuming_inventory =
        tokio::spawn(inventory_consumer.run(InventoryDispatcher::new(notifier)));

    let ops = ops(&store, &counters);
    let admin = shop_service_kit::admin::serve(
        admin_listener,
        AdminServer::new(admin_config, kafka_admin)
            .with_notifications(NotificationAdmin::new(store.clone(), transport_name)),
        shutdown.clone(),
    )?;
    tracing::info!(listen = %listener.local_addr()?, db = %args.db.display(), "notification-service started");
    let delivering = {
        let shutdown = shutdown.clone();
        async move { postman.run(shutdown).await }
    };
    let (served, ()) = tokio::join!(
        shop_service_kit::ops::serve(listener, ops.router(), shutdown.clone()),
        delivering
    );
    served.context("serving HTTP")?;
    for control in &controls {
        control.shutdown();
    }
    consuming_orders
        .await
        .context("orders consumer")?
        .context("orders consumer")?;
    consuming_inventory
        .await
        .context("inventory consumer")?
        .context("inventory consumer")?;
    admin.await.context("admin API")?.context("admin API")?;
    tracing::info!("notification-service stopped");
    Ok(())
}

fn ops(store: &NotificationStore, counters: &Counters) -> Ops {
    let db = store.db().clone();
    let for_metrics = store.clone();
    let counters = counters.clone();
    Ops::new()
        .check("store", move || db.ping().map_err(|e| e.to_string()))
        .metrics(move || {
            if let Ok(n) = for_metrics.undelivered_count() {
                counters.set(
                    "shop_notifications_undelivered",
                    "Messages recorded but not delivered yet.",
                    &[],
                    n as f64,
                );
            }
            counters.render()
        })
}
