//! notification-service: tells customers about their orders. See `notification-service --help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use contracts_core::secret;
use events::{inventory, orders, services};
use notification_service::admin::NotificationAdmin;
use notification_service::messaging::Notifier;
use notification_service::postman::Postman;
use notification_service::store::NotificationStore;
use notification_service::transport::{AnyTransport, Mailbox, Smtp, Transport as _};
use shop_service_kit::admin::AdminArgs;
use shop_service_kit::db::DatabaseArgs;
use shop_service_kit::health::HealthArgs;
use shop_service_kit::kafka::KafkaArgs;
use shop_service_kit::runner::Start;
use shop_service_kit::telemetry::{self, LogFormat};

/// Tells customers about their orders, once per event.
///
/// Consumes the `orders` and `inventory` topics in consumer group `notification-service` and
/// sends the customer one message per event: order received, confirmed or rejected, paid,
/// shipped, always in that order per order. Each event is recorded once (SQLite), so a
/// redelivered event sends nothing more.
///
/// Messages go to an SMTP server when SMTP_URL (or SMTP_URL_FILE, or --smtp-url-file) is set,
/// otherwise into a mailbox directory: one file per message under
/// <mailbox-dir>/<customer>/<order>.<step>.<kind>.eml.
/// The SMTP URL may hold a password, so it is never a flag value: set SMTP_URL to it, such as
/// smtp://user:password@mail.example.com:587?tls=required (or smtp://localhost:2525 for a local
/// relay without TLS), or SMTP_URL_FILE to a file holding it. Its password is never logged.
///
/// Serves GET /health (ready), GET /health/live and GET /metrics, and on --admin-listen the
/// gRPC admin API: contracts, consumer lag, dead letters (list, replay, drop), pause/resume of
/// the `orders` and `inventory` consumers, notifications per order; `contracts admin` is its
/// client.
///
/// Every flag can also be set through the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "notification-service", version, verbatim_doc_comment)]
struct Args {
    /// Address /health and /metrics listen on.
    #[arg(long, env = "NOTIFICATION_LISTEN", default_value = "127.0.0.1:8083")]
    listen: SocketAddr,
    /// SQLite database file (created when missing), unless --database-url names a PostgreSQL
    /// database. SQLite serves one replica; run several on PostgreSQL.
    #[arg(long, env = "NOTIFICATION_DB", default_value = "data/notification.db")]
    db: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Where messages are written when no SMTP server is configured.
    #[arg(long, env = "NOTIFICATION_MAILBOX_DIR", default_value = "data/mailbox")]
    mailbox_dir: PathBuf,
    /// A file holding the SMTP server's URL, such as
    /// smtp://user:password@mail.example.com:587?tls=required (a mounted secret). Or set the
    /// URL itself in SMTP_URL.
    #[arg(long, env = "SMTP_URL_FILE")]
    smtp_url_file: Option<PathBuf>,
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
    let _telemetry = telemetry::init("notification-service", args.log_format)?;
    let (mut service, store) = Start {
        name: "notification-service",
        service: &services::notification::SERVICE,
        listen: args.listen,
        admin_listen: args.admin_listen,
        db: &args.db,
        database: &args.database,
        kafka: &args.kafka,
        admin: &args.admin,
        health: &args.health,
    }
    .open(
        notification_service::store::MIGRATIONS,
        NotificationStore::new,
    )
    .await?;
    anyhow::ensure!(
        std::env::var_os("NOTIFICATION_SMTP_URL").is_none(),
        "NOTIFICATION_SMTP_URL is no longer read: set SMTP_URL (or SMTP_URL_FILE) instead"
    );
    let smtp_url = secret::resolve(
        std::env::var("SMTP_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .as_deref(),
        args.smtp_url_file.as_deref(),
        "the SMTP URL (SMTP_URL or SMTP_URL_FILE)",
    )?;
    let transport_name = if smtp_url.is_some() {
        "smtp"
    } else {
        "mailbox"
    };
    let transport = match &smtp_url {
        Some(url) => AnyTransport::Smtp(Box::new(
            Smtp::new(url, &args.mail_from).context("the SMTP URL (SMTP_URL or SMTP_URL_FILE)")?,
        )),
        None => AnyTransport::Mailbox(Mailbox::new(&args.mailbox_dir)),
    };
    tracing::info!(transport = %transport.describe(), "notification transport");
    let counters = service.counters().clone();
    let postman = Postman::new(store.clone(), transport, counters.clone());
    let notifier = Notifier::new(store.clone(), counters, postman.waker());
    service
        .consume::<orders::Topic>(services::notification::OrdersDispatcher::new(
            notifier.clone(),
        ))
        .await?;
    service
        .consume::<inventory::Topic>(services::notification::InventoryDispatcher::new(notifier))
        .await?;
    let shutdown = service.shutdown().clone();
    let for_metrics = store.clone();
    service
        .gauges(move |counters| {
            let store = for_metrics.clone();
            async move {
                if let Ok(n) = store.undelivered_count().await {
                    counters.set(
                        "shop_notifications_undelivered",
                        "Messages recorded but not delivered yet.",
                        &[],
                        n as f64,
                    );
                }
            }
        })
        .prune("messages", notification_service::store::PRUNE_DELIVERED)
        .alongside(async move { postman.run(shutdown).await })
        .run(|admin| admin.with_notifications(NotificationAdmin::new(store, transport_name)))
        .await
}
