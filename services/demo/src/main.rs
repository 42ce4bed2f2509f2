//! `shop-demo`: the shop on a local broker, from nothing, in one command
//! (`cargo run -p shop-demo`).
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, the demo stands
//! at the end: it runs the built services, the registry and a broker together, reading the manifest
//! (`contracts-model`) only to know the shop's topics and subjects.
//!
//! Starts a Tansu broker (installing it when missing), the schema registry (`contracts registry
//! serve`) and the three services as child processes (built first when run from the
//! workspace), registers the contracts, places orders over HTTP and prints every event as it
//! flows: the record on its topic, each consumer group that read it (from the group's committed
//! offset), each mail the customer gets, each order's new status. With `--orders N` it checks
//! that everything played out and exits; otherwise it keeps running until Ctrl-C. With
//! `--rate R --duration D` it is a load test instead: orders on a fixed schedule (open loop),
//! each stage's latency in HDR histograms, exit 1 when an order never got its decision mail. A
//! child process that dies stops the demo, naming it with the end of its log.
//!
//! `start` brings the shop up, `orders` places and follows the orders, `feed` prints what flows,
//! `load` runs the open loop, `summary` asks the services at the end.

mod feed;
mod load;
mod orders;
mod postgres;
mod start;
mod summary;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser as _;
use contracts_model::manifest::Manifest;
use contracts_process::Supervisor;
use contracts_runtime::client_config::Profile;
use futures_util::StreamExt as _;

use feed::{EventFeed, Topology};
use orders::{PlacedOrder, place_and_follow};
use start::{binaries, create_topics, tansu_binary, wait_for_port, wait_healthy};
use summary::{admin_answers, summary};

const SERVICES: [&str; 3] = ["order-service", "inventory-service", "notification-service"];

/// Run the shop locally: a Kafka broker, the registry and three services, with orders flowing
#[derive(Debug, clap::Parser)]
#[command(name = "shop-demo", version)]
struct Args {
    /// Where the broker, the services and their logs keep their data; kept between runs, so a
    /// second run continues where the first stopped. Delete it to start afresh.
    #[arg(long, env = "CONTRACTS_DEMO_DIR", default_value = ".contracts-demo")]
    data_dir: PathBuf,
    /// Place N orders, wait until each has played out, check the outcome and exit (status 0
    /// when every order was decided, every consumer read every event and every customer got
    /// every message). Without it: four orders, then the shop keeps running until Ctrl-C.
    #[arg(long, value_name = "N")]
    orders: Option<usize>,
    /// Orders placed at the same time (closed loop: each slot places its next order once the
    /// last one played out).
    #[arg(long, default_value_t = 1, value_name = "N")]
    concurrency: usize,
    /// Open loop: place orders at this fixed rate (orders per second) for --duration, whatever
    /// the shop answers, then report each stage's latency (POST answered, OrderCreated on
    /// `orders`, the inventory's answer on `inventory`, the decision mail) from each order's
    /// scheduled send time. Exits 0 only when every order placed got its decision mail.
    #[arg(long, value_name = "PER_SECOND", requires = "duration", conflicts_with_all = ["orders", "concurrency"])]
    rate: Option<f64>,
    /// How long the open loop places orders, e.g. `60s`, `2m` or `1m30s`.
    #[arg(long, value_name = "DURATION", requires = "rate", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Open loop: the most orders placed and not yet decided. When an order is due with this
    /// many outstanding, the shop is not keeping up with --rate: the run gives up (exit 1).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_outstanding: usize,
    /// Open loop: how long to wait after the last order for every order's decision mail; the
    /// orders still missing one are then reported and the demo exits 1.
    #[arg(long, default_value = "120s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,
    /// Print only the summary, not every event (for large --orders).
    #[arg(long)]
    quiet: bool,
    /// Starting stock for inventory-service, `product=units,...` (its default otherwise;
    /// applied only to products its store does not know yet).
    #[arg(long, value_name = "STOCK")]
    stock: Option<String>,
    /// The first of the ports the demo listens on, all on 127.0.0.1: order-service on it, the
    /// registry on +1, inventory-service +2, notification-service +3, the broker +12, and the
    /// services' gRPC admin APIs on +20, +22 and +23. 0 picks free ports.
    #[arg(long, default_value_t = 18080)]
    base_port: u16,
    /// The Kafka client profile of the registry and the services: `latency` makes each consumer
    /// hop take milliseconds on the local broker at the cost of the broker's CPU for many more
    /// fetch requests; `throughput` batches; `default` is librdkafka's own settings
    #[arg(long, value_enum, default_value_t = Profile::Latency)]
    kafka_profile: Profile,
    /// Keep the services' state in PostgreSQL instead of SQLite files under --data-dir: a server
    /// URL such as postgres://user:password@127.0.0.1:5432/postgres. The demo creates the
    /// databases shop_order, shop_inventory and shop_notification there when they are missing
    #[arg(
        long,
        env = "DEMO_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Run this many inventory-service replicas in one consumer group; more than one needs
    /// --database-url, where the replicas share the stock
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=16))]
    inventory_replicas: u16,
    /// The contracts manifest
    #[arg(
        long = "manifest",
        env = "CONTRACTS_MANIFEST",
        default_value = "schemas/contracts.toml"
    )]
    manifest: PathBuf,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1, as the `contracts` command's do.
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            // Through the redaction helper: an error quoting a setting never prints a secret.
            eprintln!(
                "error: {}",
                contracts_core::secret::redact(&format!("{e:#}"))
            );
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manifest = match Manifest::load(&args.manifest) {
        Ok(m) => m,
        Err(diagnostics) => {
            let rendered: Vec<String> = diagnostics.iter().map(|d| d.render()).collect();
            eprintln!("{}", rendered.join("\n\n"));
            return Ok(ExitCode::from(1));
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let children = Supervisor::default();
        let result = tokio::select! {
            r = demo(&args, &manifest, &children) => r,
            exited = children.exited() => Err(exited.into()),
            _ = tokio::signal::ctrl_c() => {
                println!("\nCtrl-C: stopping");
                Ok(true)
            }
        };
        if !children.is_empty() {
            println!("\nstopping the services, the registry and the broker");
        }
        for name in children.stop_all(Duration::from_secs(15)) {
            eprintln!("{name} did not stop within 15 s; killed it");
        }
        match result {
            Ok(true) => Ok(ExitCode::SUCCESS),
            Ok(false) => Ok(ExitCode::from(1)),
            Err(e) => Err(e),
        }
    })
}

/// Where everything listens.
#[derive(Debug, Clone, Copy)]
struct Ports {
    order: u16,
    registry: u16,
    inventory: u16,
    notification: u16,
    broker: u16,
    /// The gRPC admin APIs of order-, inventory- and notification-service.
    admin: [u16; 3],
}

impl Ports {
    fn from_base(base: u16) -> anyhow::Result<Ports> {
        if base == 0 {
            return Ok(Ports {
                order: free_port()?,
                registry: free_port()?,
                inventory: free_port()?,
                notification: free_port()?,
                broker: free_port()?,
                admin: [free_port()?, free_port()?, free_port()?],
            });
        }
        let at = |offset: u16| {
            base.checked_add(offset)
                .with_context(|| format!("--base-port {base} leaves no room for port +{offset}"))
        };
        let ports = Ports {
            order: at(0)?,
            registry: at(1)?,
            inventory: at(2)?,
            notification: at(3)?,
            broker: at(12)?,
            admin: [at(20)?, at(22)?, at(23)?],
        };
        for (what, port) in [
            ("order-service", ports.order),
            ("the registry", ports.registry),
            ("inventory-service", ports.inventory),
            ("notification-service", ports.notification),
            ("the broker", ports.broker),
            ("order-service's admin API", ports.admin[0]),
            ("inventory-service's admin API", ports.admin[1]),
            ("notification-service's admin API", ports.admin[2]),
        ] {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                bail!(
                    "port {port} (for {what}) is already in use on 127.0.0.1: is another demo \
                     still running? Stop it, or pass --base-port with another port (0 picks free ones)"
                );
            }
        }
        Ok(ports)
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(contracts_process::free_port()?)
}

async fn demo(args: &Args, manifest: &Manifest, children: &Supervisor) -> anyhow::Result<bool> {
    let plan = open_loop(args)?;
    if args.inventory_replicas > 1 && args.database_url.is_none() {
        bail!(
            "--inventory-replicas {} needs --database-url: replicas share their stock in \
             PostgreSQL, and each SQLite file belongs to one process",
            args.inventory_replicas
        );
    }
    let data = absolute(&args.data_dir)?;
    let logs = data.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let ports = Ports::from_base(args.base_port)?;
    let bootstrap = format!("127.0.0.1:{}", ports.broker);
    let registry_url = format!("http://127.0.0.1:{}", ports.registry);
    let manifest_path = absolute(&args.manifest)?;

    println!("Event Contracts demo: a shop of three services that talk only through Kafka events.");
    println!(
        "  order-service publishes OrderCreated/OrderPaid/OrderShipped; inventory-service reserves stock and"
    );
    println!(
        "  answers InventoryReserved/InventoryRejected; notification-service mails the customer. Every event"
    );
    println!(
        "  is typed by the contracts in {} and checked by the schema registry.",
        args.manifest.display()
    );
    println!(
        "  Data and logs: {}  (logs/<process>.log)\n",
        data.display()
    );

    step(1, "the service binaries");
    let bin = binaries()?;
    step(2, "the Kafka broker (Tansu, SQLite storage)");
    let tansu = tansu_binary().await?;
    let broker_dir = data.join("broker");
    std::fs::create_dir_all(&broker_dir)?;
    let url = format!("tcp://{bootstrap}");
    let mut cmd = Command::new(&tansu);
    cmd.current_dir(&broker_dir).args([
        "broker",
        "--listener-url",
        &url,
        "--advertised-listener-url",
        &url,
        "--storage-engine",
        "sqlite://broker.db?maintenance_interval=5s",
    ]);
    children.spawn("broker", cmd, &log(&logs, "broker"))?;
    wait_for_port("broker", ports.broker, Duration::from_secs(30)).await?;
    // Tansu 0.6 keeps record headers unindexed: without this each fetch scans all of them.
    if contracts_process::index_record_headers(&broker_dir.join("broker.db")).await? {
        println!(
            "   indexed the broker's record headers (Tansu's SQLite schema has no such index)"
        );
    }
    println!("   broker on {bootstrap}, data in {}", broker_dir.display());
    let topics = create_topics(&bootstrap, manifest).await?;

    step(
        3,
        "the schema registry (Confluent REST API, stored on the _schemas topic)",
    );
    let contracts = bin.join("contracts");
    let mut cmd = Command::new(&contracts);
    cmd.args([
        "registry",
        "serve",
        "--listen",
        &format!("127.0.0.1:{}", ports.registry),
        "--bootstrap-servers",
        &bootstrap,
    ]);
    cmd.env("KAFKA_PROFILE", args.kafka_profile.name());
    children.spawn("registry", cmd, &log(&logs, "registry"))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    wait_healthy(
        &http,
        "registry",
        &format!("{registry_url}/ready"),
        Duration::from_secs(60),
    )
    .await?;
    println!("   registry on {registry_url}");

    step(4, "registering the contracts (contracts register)");
    let out = tokio::process::Command::new(&contracts)
        .arg("register")
        .arg("--manifest")
        .arg(&manifest_path)
        .args(["--registry", &registry_url])
        .output()
        .await
        .context("running contracts register")?;
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        println!("   {line}");
    }
    if !out.status.success() {
        bail!("registering the contracts failed ({})", out.status);
    }

    step(5, "the three services");
    let common = [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.clone()),
        ("SCHEMA_REGISTRY_URL", registry_url.clone()),
        // A member of a previous run that was killed gives its partitions up after 10 s.
        (
            "KAFKA_CONFIG",
            "session.timeout.ms=10000,heartbeat.interval.ms=2000".into(),
        ),
        ("RUST_LOG", "info,rdkafka=warn".into()),
        ("KAFKA_PROFILE", args.kafka_profile.name().into()),
    ];
    let mailbox = data.join("notification").join("mailbox");
    let services: [Spec; 3] = [
        (
            "order-service",
            ports.order,
            vec![
                ("ORDER_LISTEN", format!("127.0.0.1:{}", ports.order)),
                (
                    "ORDER_ADMIN_LISTEN",
                    format!("127.0.0.1:{}", ports.admin[0]),
                ),
                ("ORDER_DB", path(&data.join("order").join("order.db"))),
            ],
        ),
        (
            "inventory-service",
            ports.inventory,
            vec![
                ("INVENTORY_LISTEN", format!("127.0.0.1:{}", ports.inventory)),
                (
                    "INVENTORY_ADMIN_LISTEN",
                    format!("127.0.0.1:{}", ports.admin[1]),
                ),
                (
                    "INVENTORY_DB",
                    path(&data.join("inventory").join("inventory.db")),
                ),
            ],
        ),
        (
            "notification-service",
            ports.notification,
            vec![
                (
                    "NOTIFICATION_LISTEN",
                    format!("127.0.0.1:{}", ports.notification),
                ),
                (
                    "NOTIFICATION_DB",
                    path(&data.join("notification").join("notification.db")),
                ),
                ("NOTIFICATION_MAILBOX_DIR", path(&mailbox)),
                (
                    "NOTIFICATION_ADMIN_LISTEN",
                    format!("127.0.0.1:{}", ports.admin[2]),
                ),
            ],
        ),
    ];
    let databases = match &args.database_url {
        Some(url) => Some(postgres::databases(url).await?),
        None => None,
    };
    // Each with its name in logs; the other inventory replicas join the same group on ports of
    // their own.
    let mut services: Vec<(String, Spec)> = services
        .into_iter()
        .map(|spec| (spec.0.to_owned(), spec))
        .collect();
    for replica in 2..=args.inventory_replicas {
        let (listen, admin) = (free_port()?, free_port()?);
        services.push((
            format!("inventory-service {replica}"),
            (
                "inventory-service",
                listen,
                vec![
                    ("INVENTORY_LISTEN", format!("127.0.0.1:{listen}")),
                    ("INVENTORY_ADMIN_LISTEN", format!("127.0.0.1:{admin}")),
                ],
            ),
        ));
    }
    for (name, (binary, _, env)) in &services {
        let mut cmd = Command::new(bin.join(binary));
        cmd.envs(common.iter().cloned()).envs(env.iter().cloned());
        if let Some(databases) = &databases {
            cmd.env("DATABASE_URL", databases.url_for(binary)?);
        }
        if let ("inventory-service", Some(stock)) = (*binary, &args.stock) {
            cmd.env("INVENTORY_STOCK", stock);
        }
        children.spawn(name.as_str(), cmd, &log(&logs, &name.replace(' ', "-")))?;
    }
    for (name, (_, port, _)) in &services {
        let health = format!("http://127.0.0.1:{port}/health");
        wait_healthy(&http, name, &health, Duration::from_secs(120)).await?;
        println!("   {name} on http://127.0.0.1:{port}  (/health, /metrics)");
    }
    if let Some(databases) = &databases {
        println!("   state in PostgreSQL: {}", databases.describe());
    }
    let [order_admin, inventory_admin, notification_admin] = ports.admin;
    println!(
        "   admin APIs (contracts admin --addr http://127.0.0.1:PORT ...): order {order_admin}, \
         inventory {inventory_admin}, notification {notification_admin}"
    );

    let topology = Topology::new(manifest, &topics, &bootstrap, &registry_url, &mailbox)?;
    let order_url = format!("http://127.0.0.1:{}", ports.order);
    if let Some(plan) = plan {
        step(
            6,
            &format!(
                "placing {} orders at {} orders/s for {} (open loop), timing each stage",
                plan.orders(),
                plan.rate,
                humantime::format_duration(plan.duration)
            ),
        );
        let ok = load::run(plan, topology, &order_url).await?;
        step(7, "what the services say");
        admin_answers(&ports).await;
        return Ok(ok);
    }
    let feed = EventFeed::start(topology, &http, args.quiet);

    let count = args.orders.unwrap_or(4);
    step(
        6,
        &format!("placing {count} order(s) over HTTP and following their events"),
    );
    if !args.quiet {
        println!(
            "   ▸ a record on a topic (partition@offset, event, schema, key)   ✓ a consumer group read it   ✉ a mail was sent\n"
        );
    }
    let started = Instant::now();
    let placed: Vec<PlacedOrder> = futures_util::stream::iter(0..count)
        .map(|i| place_and_follow(&http, &order_url, &feed, i, args.quiet))
        .buffer_unordered(args.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let awaited: Vec<_> = placed.iter().map(PlacedOrder::awaited).collect();
    let ok = feed.settle(&awaited, Duration::from_secs(120)).await;
    let elapsed = started.elapsed();

    step(7, "what the services say");
    summary(&http, &order_url, &placed, &feed, elapsed).await;
    admin_answers(&ports).await;

    if args.orders.is_some() {
        return Ok(ok);
    }
    println!(
        "\nThe shop keeps running; events you cause show up here too. Try:\n  \
         curl -s -XPOST {order_url}/orders -d '{{\"customer\":\"you@example.com\",\"line_items\":[{{\"product\":\"tea\",\"quantity\":1}}]}}'\n  \
         curl -s {order_url}/orders?status=CONFIRMED\n\
         Ctrl-C stops everything (the data stays in {}).",
        data.display()
    );
    std::future::pending::<()>().await;
    Ok(ok)
}
/// The open-loop plan, when `--rate` and `--duration` ask for one.
fn open_loop(args: &Args) -> anyhow::Result<Option<load::Plan>> {
    let (Some(rate), Some(duration)) = (args.rate, args.duration) else {
        return Ok(None);
    };
    if !(rate.is_finite() && rate > 0.0) {
        bail!("--rate {rate}: give a positive number of orders per second");
    }
    let plan = load::Plan {
        rate,
        duration,
        max_outstanding: args.max_outstanding.max(1),
        drain_timeout: args.drain_timeout,
    };
    if plan.orders() == 0 {
        bail!(
            "--rate {rate} for --duration {} places no order: raise one of them",
            humantime::format_duration(duration)
        );
    }
    Ok(Some(plan))
}

/// A service process: its binary, HTTP port and environment.
type Spec = (&'static str, u16, Vec<(&'static str, String)>);

fn step(n: u32, what: &str) {
    println!("\n[{n}/7] {what}");
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `<logs>/<process>.log`.
fn log(logs: &Path, process: &str) -> PathBuf {
    logs.join(format!("{process}.log"))
}
