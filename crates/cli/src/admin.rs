//! `contracts admin`: the friendly client of a service's gRPC admin API.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use contracts_admin::Code as tonic_code;
use contracts_admin::{
    AdminClient, ClientConfig, DeadLetter, DropOutcome, Order, OrderStatus, ReplayOutcome,
    Timestamp,
};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(
    about = "Ask a running service over its gRPC admin API",
    long_about = "Ask a running service over its gRPC admin API: the contracts it produces and \
        consumes, consumer lag, dead letters (list, replay, drop), pause and resume, and the \
        service's own data (orders, stock, notifications).\n\n\
        Every service serves the admin API on its own address; the domain commands work against \
        the service that owns the data (orders: order-service, stock: inventory-service, \
        notifications: notification-service).",
    after_help = "Examples:\n  \
        contracts admin --addr http://127.0.0.1:50051 contracts\n  \
        contracts admin --addr http://127.0.0.1:50052 dlt list\n  \
        contracts admin --addr http://127.0.0.1:50052 dlt replay orders.DLT:0:42\n  \
        contracts admin --addr http://127.0.0.1:50051 orders list --status REJECTED --json\n  \
        contracts admin --addr http://127.0.0.1:50052 stock set apple 100\n  \
        CONTRACTS_ADMIN_TOKEN_FILE=/run/secrets/admin-write contracts admin --addr https://inventory:50052 \
        --ca-cert ca.pem --client-cert me.pem --client-key me.key pause inventory-events\n  \
        contracts admin --addr http://127.0.0.1:50051 outbox set-aside"
)]
pub struct Args {
    /// The service's admin address: http://HOST:PORT, or https://HOST:PORT for TLS
    #[arg(
        long,
        env = "CONTRACTS_ADMIN_ADDR",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    addr: String,
    /// A file holding the bearer token, when the server requires one; or set the token itself
    /// in CONTRACTS_ADMIN_TOKEN. Reads need the server's read or write token, changes (stock
    /// set, dlt replay/drop, pause, resume) its write token. Never a flag value: flags show in `ps`
    #[arg(long, env = "CONTRACTS_ADMIN_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
    /// PEM certificate(s) to trust for TLS instead of the system's roots (a private CA or a
    /// self-signed server)
    #[arg(long, env = "CONTRACTS_ADMIN_CA_CERT", global = true)]
    ca_cert: Option<PathBuf>,
    /// PEM client certificate chain, for a server that requires client certificates (mutual TLS)
    #[arg(
        long,
        env = "CONTRACTS_ADMIN_CLIENT_CERT",
        global = true,
        requires = "client_key"
    )]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert
    #[arg(
        long,
        env = "CONTRACTS_ADMIN_CLIENT_KEY",
        global = true,
        requires = "client_cert"
    )]
    client_key: Option<PathBuf>,
    /// The name the server's certificate is checked against, when it differs from the host
    #[arg(long, env = "CONTRACTS_ADMIN_TLS_DOMAIN", global = true)]
    tls_domain: Option<String>,
    /// Print JSON instead of tables
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// The contracts the service produces and consumes (event, version, subject, schema id, fingerprint)
    Contracts,
    /// The service's consumers, their groups and topics, and whether they are paused
    Consumers,
    /// Consumer lag per group, topic and partition
    Lag {
        /// Only this consumer group
        #[arg(long)]
        group: Option<String>,
    },
    /// Dead-letter records: list, replay, drop
    #[command(subcommand)]
    Dlt(DltCommand),
    /// Pause a consumer (a name from `consumers`); records in flight finish
    Pause { consumer: String },
    /// Resume a paused consumer
    Resume { consumer: String },
    /// Orders (order-service)
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// Stock (inventory-service)
    #[command(subcommand)]
    Stock(StockCommand),
    /// The notifications for one order and their delivery (notification-service)
    Notifications {
        /// The order id
        order: String,
    },
    /// Outbox rows set aside because they can never be published, with why (order-service,
    /// inventory-service)
    #[command(subcommand)]
    Outbox(OutboxCommand),
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Rows the outbox relay gave up on (a permanent Kafka error, or held behind an earlier row
    /// of the same key), oldest first
    SetAside {
        /// At most this many (the server's default is 100, its maximum 1000)
        #[arg(long, default_value_t = 0)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum DltCommand {
    /// Records on the service's dead-letter topics, oldest first, with why they failed
    List {
        /// Only this dead-letter topic (orders.DLT)
        #[arg(long)]
        topic: Option<String>,
        /// At most this many (the server's default is 100, its maximum 1000)
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        limit: u32,
        /// Show every header of every record
        #[arg(long)]
        headers: bool,
    },
    /// Re-validate records against the current contract and send the valid ones back to their topic
    Replay {
        /// Ids as `dlt list` shows them: TOPIC:PARTITION:OFFSET
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Mark records handled, so they are neither listed nor replayed again
    Drop {
        /// Ids as `dlt list` shows them: TOPIC:PARTITION:OFFSET
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum OrdersCommand {
    /// One order
    Get { id: String },
    /// Orders in one status, newest first
    List {
        /// PENDING, CONFIRMED, REJECTED, PAID or SHIPPED
        #[arg(long)]
        status: OrderStatus,
        /// At most this many (the server's default is 100, its maximum 1000)
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum StockCommand {
    /// One product's stock, or every product's when none is named
    Get { product: Option<String> },
    /// Set a product's available units (creates the product when it is new)
    Set {
        product: String,
        #[arg(allow_negative_numbers = true)]
        available: i64,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = ClientConfig::new(args.addr.clone());
    config.token = contracts_core::secret::resolve(
        std::env::var("CONTRACTS_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .as_deref(),
        args.token_file.as_deref(),
        "the admin token (CONTRACTS_ADMIN_TOKEN or --token-file)",
    )?;
    config.tls_domain = args.tls_domain.clone();
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        config.identity = Some(
            contracts_admin::TlsIdentity::from_pem_files(cert, key)
                .context("--client-cert/--client-key")?,
        );
    }
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading the CA certificate {}", path.display()))?;
        config.ca_cert_pem = Some(pem);
    }
    let client = AdminClient::connect(config).await?;
    let out = Out { json: args.json };
    match args.command {
        AdminCommand::Contracts => {
            let contracts = client.contracts().await.map_err(explain)?;
            out.print(&contracts, || {
                table(
                    &[
                        "ROLE",
                        "EVENT",
                        "VERSION",
                        "FORMAT",
                        "TOPIC",
                        "SUBJECT",
                        "SCHEMA ID",
                        "FINGERPRINT",
                    ],
                    contracts.iter().map(|c| {
                        vec![
                            c.role.to_string(),
                            c.event.clone(),
                            c.version.to_string(),
                            c.format.to_string(),
                            c.topic.clone(),
                            c.subject.clone(),
                            c.schema_id.map_or("-".into(), |id| id.to_string()),
                            c.fingerprint.chars().take(16).collect(),
                        ]
                    }),
                )
            })?;
        }
        AdminCommand::Consumers => {
            let consumers = client.consumers().await.map_err(explain)?;
            out.print(&consumers, || {
                table(
                    &["CONSUMER", "GROUP", "TOPICS", "STATE"],
                    consumers.iter().map(|c| {
                        vec![
                            c.name.clone(),
                            c.group.clone(),
                            c.topics.join(","),
                            state(c.paused).into(),
                        ]
                    }),
                )
            })?;
        }
        AdminCommand::Lag { group } => {
            let lag = client.lag(group.as_deref()).await.map_err(explain)?;
            out.print(&lag, || {
                let total: i64 = lag.iter().map(|l| l.lag).sum();
                let mut t = table(
                    &["GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"],
                    lag.iter().map(|l| {
                        vec![
                            l.group.clone(),
                            l.topic.clone(),
                            l.partition.to_string(),
                            l.committed_offset.map_or("-".into(), |o| o.to_string()),
                            l.high_watermark.to_string(),
                            l.lag.to_string(),
                        ]
                    }),
                );
                t.push_str(&format!("total lag: {total}\n"));
                t
            })?;
        }
        AdminCommand::Dlt(DltCommand::List {
            topic,
            limit,
            headers,
        }) => {
            let page = client
                .dead_letters(topic.as_deref(), limit)
                .await
                .map_err(explain)?;
            out.print(&page, || {
                let mut t = if headers {
                    page.dead_letters.iter().map(detail).collect::<String>()
                } else {
                    table(
                        &[
                            "ID", "FROM", "GROUP", "EVENT", "CLASS", "ATTEMPTS", "AT", "ERROR",
                        ],
                        page.dead_letters.iter().map(|d| {
                            vec![
                                d.id.to_string(),
                                format!(
                                    "{}:{}@{}",
                                    d.original_topic, d.original_partition, d.original_offset
                                ),
                                d.consumer_group.clone(),
                                d.event_type.clone(),
                                d.error_class.clone(),
                                d.attempts.to_string(),
                                time(d.dead_lettered_at.as_ref()),
                                d.error_message.clone(),
                            ]
                        }),
                    )
                };
                if page.truncated {
                    t.push_str("(more records match: raise --limit or narrow with --topic)\n");
                }
                t
            })?;
        }
        AdminCommand::Dlt(DltCommand::Replay { ids }) => {
            let results = client.replay(ids).await.map_err(explain)?;
            out.print(&results, || {
                table(
                    &["ID", "OUTCOME", "DETAIL"],
                    results
                        .iter()
                        .map(|r| vec![r.id.to_string(), r.outcome.to_string(), r.message.clone()]),
                )
            })?;
            let failed = results
                .iter()
                .filter(|r| r.outcome != ReplayOutcome::Replayed)
                .count();
            if failed > 0 {
                eprintln!(
                    "{failed} of {} dead letters were not replayed",
                    results.len()
                );
                return Ok(ExitCode::from(1));
            }
        }
        AdminCommand::Dlt(DltCommand::Drop { ids }) => {
            let results = client.drop_dead_letters(ids).await.map_err(explain)?;
            out.print(&results, || {
                table(
                    &["ID", "OUTCOME"],
                    results
                        .iter()
                        .map(|r| vec![r.id.to_string(), r.outcome.to_string()]),
                )
            })?;
            let failed = results
                .iter()
                .filter(|r| r.outcome != DropOutcome::Dropped)
                .count();
            if failed > 0 {
                eprintln!("{failed} of {} dead letters were not found", results.len());
                return Ok(ExitCode::from(1));
            }
        }
        AdminCommand::Pause { consumer } => {
            let c = client.pause(&consumer).await.map_err(explain)?;
            out.print(&c, || {
                format!("{} (group {}): {}\n", c.name, c.group, state(c.paused))
            })?;
        }
        AdminCommand::Resume { consumer } => {
            let c = client.resume(&consumer).await.map_err(explain)?;
            out.print(&c, || {
                format!("{} (group {}): {}\n", c.name, c.group, state(c.paused))
            })?;
        }
        AdminCommand::Orders(OrdersCommand::Get { id }) => {
            let order = client.order(&id).await.map_err(explain)?;
            out.print(&order, || order_detail(&order))?;
        }
        AdminCommand::Orders(OrdersCommand::List { status, limit }) => {
            let orders = client.orders(status, limit).await.map_err(explain)?;
            out.print(&orders, || {
                table(
                    &["ORDER", "CUSTOMER", "STATUS", "LINES", "CREATED", "UPDATED"],
                    orders.iter().map(|o| {
                        vec![
                            o.order_id.clone(),
                            o.customer_id.clone(),
                            o.status.to_string(),
                            lines(o),
                            time(o.created_at.as_ref()),
                            time(o.updated_at.as_ref()),
                        ]
                    }),
                )
            })?;
        }
        AdminCommand::Stock(StockCommand::Get { product }) => {
            let stock = match product {
                Some(p) => vec![client.stock(&p).await.map_err(explain)?],
                None => client.all_stock().await.map_err(explain)?,
            };
            out.print(&stock, || stock_table(&stock))?;
        }
        AdminCommand::Stock(StockCommand::Set { product, available }) => {
            let stock = client
                .set_stock(&product, available)
                .await
                .map_err(explain)?;
            out.print(&stock, || stock_table(std::slice::from_ref(&stock)))?;
        }
        AdminCommand::Notifications { order } => {
            let sent = client.notifications(&order).await.map_err(explain)?;
            out.print(&sent, || {
                table(
                    &[
                        "KIND",
                        "RECIPIENT",
                        "TRANSPORT",
                        "SENT",
                        "ATTEMPTS",
                        "DETAIL",
                    ],
                    sent.iter().map(|n| {
                        let sent = match (&n.sent_at, n.last_error.is_empty()) {
                            (Some(at), _) => time(Some(at)),
                            (None, true) => "pending".into(),
                            (None, false) => format!("pending ({})", n.last_error),
                        };
                        vec![
                            n.kind.clone(),
                            n.recipient.clone(),
                            n.transport.clone(),
                            sent,
                            n.attempts.to_string(),
                            n.detail.clone(),
                        ]
                    }),
                )
            })?;
        }
        AdminCommand::Outbox(OutboxCommand::SetAside { limit }) => {
            let page = client.set_aside_outbox(limit).await.map_err(explain)?;
            out.print(&page, || {
                let mut t = table(
                    &["ID", "EVENT", "KEY", "ATTEMPTS", "SET ASIDE", "REASON"],
                    page.rows.iter().map(|r| {
                        vec![
                            r.id.to_string(),
                            format!("{} v{}", r.event, r.version),
                            r.key.clone(),
                            r.attempts.to_string(),
                            time(r.set_aside_at.as_ref()),
                            r.reason.clone(),
                        ]
                    }),
                );
                if page.truncated {
                    t.push_str("(more rows are set aside: raise --limit)\n");
                }
                t
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds what to do next to the errors a user can fix.
fn explain(e: contracts_admin::Error) -> anyhow::Error {
    let hint = match e.code() {
        Some(tonic_code::Unauthenticated) => Some(
            "give the server's token in CONTRACTS_ADMIN_TOKEN, or in a file named by --token-file \
             (CONTRACTS_ADMIN_TOKEN_FILE)",
        ),
        Some(tonic_code::PermissionDenied) => Some(
            "this token may only read; changes need the server's write token (ADMIN_WRITE_TOKEN)",
        ),
        Some(tonic_code::Unimplemented) => Some(
            "this process does not serve that service: orders are on order-service, stock on \
             inventory-service, notifications on notification-service, the outbox on the \
             services that publish (order-service, inventory-service)",
        ),
        _ => None,
    };
    match hint {
        Some(h) => anyhow::Error::new(e).context(h),
        None => anyhow::Error::new(e),
    }
}

struct Out {
    json: bool,
}

impl Out {
    fn print<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            print!("{}", text());
        }
        Ok(())
    }
}

fn state(paused: bool) -> &'static str {
    if paused { "paused" } else { "running" }
}

fn time(t: Option<&Timestamp>) -> String {
    t.map_or("-".into(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn lines(o: &Order) -> String {
    o.lines
        .iter()
        .map(|l| format!("{}x{}", l.quantity, l.product_id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn order_detail(o: &Order) -> String {
    let mut s = format!(
        "order     {}\ncustomer  {}\nstatus    {}\ncreated   {}\nupdated   {}\n",
        o.order_id,
        o.customer_id,
        o.status,
        time(o.created_at.as_ref()),
        time(o.updated_at.as_ref()),
    );
    if !o.rejection_reason.is_empty() {
        s.push_str(&format!("rejected  {}\n", o.rejection_reason));
    }
    s.push_str(&table(
        &["PRODUCT", "QUANTITY", "UNIT PRICE"],
        o.lines.iter().map(|l| {
            vec![
                l.product_id.clone(),
                l.quantity.to_string(),
                format!("{} {}", l.unit_price, o.currency).trim().to_owned(),
            ]
        }),
    ));
    s
}

fn stock_table(stock: &[contracts_admin::Stock]) -> String {
    table(
        &["PRODUCT", "AVAILABLE", "RESERVED"],
        stock.iter().map(|s| {
            vec![
                s.product_id.clone(),
                s.available.to_string(),
                s.reserved.to_string(),
            ]
        }),
    )
}

fn detail(d: &DeadLetter) -> String {
    let mut s = format!(
        "{}  from {}:{}@{}  group {}  {} after {} attempt(s) at {}\n  error: {}\n",
        d.id,
        d.original_topic,
        d.original_partition,
        d.original_offset,
        d.consumer_group,
        d.error_class,
        d.attempts,
        time(d.dead_lettered_at.as_ref()),
        d.error_message,
    );
    for h in &d.headers {
        s.push_str(&format!("  {}: {}\n", h.key, h.value));
    }
    s
}

/// Left-aligned columns separated by two spaces; "(none)" for no rows.
fn table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows.collect();
    if rows.is_empty() {
        return "(none)\n".into();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i + 1 == headers.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_say_none_when_empty() {
        let t = table(
            &["A", "BB"],
            [vec!["long".to_string(), "x".to_string()]].into_iter(),
        );
        assert_eq!(t, "A     BB\nlong  x\n");
        assert_eq!(table(&["A"], std::iter::empty()), "(none)\n");
    }
}
