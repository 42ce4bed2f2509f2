//! `contracts demo`: the shop on a local broker, from nothing, in one command.
//!
//! Starts a Tansu broker (installing it when missing), the schema registry and the three
//! services as child processes, registers the contracts, places orders over HTTP and prints
//! every event as it flows: the record on its topic, each consumer group that read it (from the
//! group's committed offset), each mail the customer gets, each order's new status. With
//! `--orders N` it checks that everything played out and exits; otherwise it keeps running
//! until Ctrl-C.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use contracts_model::manifest::Manifest;
use futures_util::StreamExt as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const TANSU_VERSION: &str = "0.6.0";
const SERVICES: [&str; 3] = ["order-service", "inventory-service", "notification-service"];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the broker, the services and their logs keep their data; kept between runs, so a
    /// second run continues where the first stopped. Delete it to start afresh.
    #[arg(long, env = "CONTRACTS_DEMO_DIR", default_value = ".contracts-demo")]
    data_dir: PathBuf,
    /// Place N orders, wait until each has played out, check the outcome and exit (status 0
    /// when every order was decided, every consumer read every event and every customer got
    /// every message). Without it: four orders, then the shop keeps running until Ctrl-C.
    #[arg(long, value_name = "N")]
    orders: Option<usize>,
    /// Orders placed at the same time.
    #[arg(long, default_value_t = 1, value_name = "N")]
    concurrency: usize,
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
    #[command(flatten)]
    manifest: crate::ManifestArg,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let manifest = match args.manifest.load() {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut procs = Procs::default();
        let result = tokio::select! {
            r = demo(&args, &manifest, &mut procs) => r,
            _ = tokio::signal::ctrl_c() => {
                println!("\nCtrl-C: stopping");
                Ok(true)
            }
        };
        procs.stop_all().await;
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
    Ok(contracts_testkit::free_port()?)
}

async fn demo(args: &Args, manifest: &Manifest, procs: &mut Procs) -> anyhow::Result<bool> {
    let data = absolute(&args.data_dir)?;
    let logs = data.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let ports = Ports::from_base(args.base_port)?;
    let bootstrap = format!("127.0.0.1:{}", ports.broker);
    let registry_url = format!("http://127.0.0.1:{}", ports.registry);
    let manifest_path = absolute(&args.manifest.path)?;

    println!("Event Contracts demo: a shop of three services that talk only through Kafka events.");
    println!(
        "  order-service publishes OrderCreated/OrderPaid/OrderShipped; inventory-service reserves stock and"
    );
    println!(
        "  answers InventoryReserved/InventoryRejected; notification-service mails the customer. Every event"
    );
    println!(
        "  is typed by the contracts in {} and checked by the schema registry.",
        args.manifest.path.display()
    );
    println!(
        "  Data and logs: {}  (logs/<process>.log)\n",
        data.display()
    );

    step(1, "the service binaries");
    let bin = service_binaries()?;
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
    procs.spawn("broker", cmd, &logs)?;
    wait_for_port(procs, "broker", ports.broker, Duration::from_secs(30)).await?;
    println!("   broker on {bootstrap}, data in {}", broker_dir.display());
    let topics = create_topics(&bootstrap, manifest).await?;

    step(
        3,
        "the schema registry (Confluent REST API, stored on the _schemas topic)",
    );
    let contracts = std::env::current_exe().context("locating the contracts binary")?;
    let mut cmd = Command::new(&contracts);
    cmd.args([
        "registry",
        "serve",
        "--listen",
        &format!("127.0.0.1:{}", ports.registry),
        "--bootstrap-servers",
        &bootstrap,
    ]);
    procs.spawn("registry", cmd, &logs)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    wait_healthy(
        procs,
        &http,
        "registry",
        &format!("{registry_url}/ready"),
        Duration::from_secs(60),
    )
    .await?;
    println!("   registry on {registry_url}");

    step(4, "registering the contracts (contracts register)");
    let out = Command::new(&contracts)
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
    for (name, _, env) in &services {
        let mut cmd = Command::new(bin.join(name));
        cmd.envs(common.iter().cloned()).envs(env.iter().cloned());
        if let (&"inventory-service", Some(stock)) = (name, &args.stock) {
            cmd.env("INVENTORY_STOCK", stock);
        }
        procs.spawn(name, cmd, &logs)?;
    }
    for (name, port, _) in &services {
        let health = format!("http://127.0.0.1:{port}/health");
        wait_healthy(procs, &http, name, &health, Duration::from_secs(120)).await?;
        println!("   {name} on http://127.0.0.1:{port}  (/health, /metrics)");
    }
    let [order_admin, inventory_admin, notification_admin] = ports.admin;
    println!(
        "   admin APIs (contracts admin --addr http://127.0.0.1:PORT ...): order {order_admin}, \
         inventory {inventory_admin}, notification {notification_admin}"
    );

    let flow = Flow::new(manifest, &topics, &bootstrap, &registry_url, &mailbox)?;
    let feed = Feed::start(flow, &http, args.quiet);

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
    let order_url = format!("http://127.0.0.1:{}", ports.order);
    let started = Instant::now();
    let placed: Vec<Placed> = futures_util::stream::iter(0..count)
        .map(|i| place_and_follow(&http, &order_url, &feed, i, args.quiet))
        .buffer_unordered(args.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let ok = feed.settle(&placed, Duration::from_secs(120)).await;
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

/// A service process: its binary, HTTP port and environment.
type Spec = (&'static str, u16, Vec<(&'static str, String)>);

/// An order the demo places: the customer, the lines, how far it goes once confirmed.
type Scenario = (&'static str, &'static [(&'static str, u32)], Progress);

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

/// The directory with the three service binaries, built first when the workspace is at hand.
fn service_binaries() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the contracts binary")?;
    let dir = exe
        .parent()
        .context("the contracts binary has no directory")?
        .to_path_buf();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if workspace.join("Cargo.toml").is_file() {
        println!("   cargo build -p order-service -p inventory-service -p notification-service");
        println!("   (a no-op when they are up to date; the first build takes a few minutes)");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(&workspace)
            .args(["build", "--bins", "--quiet"]);
        for s in SERVICES {
            cmd.args(["-p", s]);
        }
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().context("running cargo build")?;
        if !status.success() {
            bail!("building the services failed ({status})");
        }
    }
    for s in SERVICES {
        if !dir.join(s).is_file() {
            bail!(
                "{s} is not next to the contracts binary in {}; build it with `cargo build -p {s}`",
                dir.display()
            );
        }
    }
    println!("   {}", dir.display());
    Ok(dir)
}

/// Tansu where the test kit looks for it (`TANSU_BIN`, the `PATH`, `~/.cargo/bin`); installed
/// with cargo when missing.
async fn tansu_binary() -> anyhow::Result<PathBuf> {
    if let Ok(p) = contracts_testkit::tansu_binary() {
        println!("   {}", p.display());
        return Ok(p);
    }
    println!(
        "   Tansu (an Apache-licensed Kafka-protocol broker) is not installed. Installing it now:\n   \
         cargo install tansu --version {TANSU_VERSION} --locked --features libsql\n   \
         This happens once per machine and takes about 20 minutes on 2 cores."
    );
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "install",
            "tansu",
            "--version",
            TANSU_VERSION,
            "--locked",
            "--features",
            "libsql",
        ])
        .status()
        .await
        .context("running cargo install tansu")?;
    if !status.success() {
        bail!("installing Tansu failed ({status}); see cargo's output above");
    }
    contracts_testkit::tansu_binary()
        .context("cargo install finished, but tansu is neither on the PATH nor in ~/.cargo/bin")
}

/// The child processes, stopped in reverse order on the way out.
#[derive(Default)]
struct Procs {
    running: Vec<(String, Child, PathBuf)>,
}

impl Procs {
    fn spawn(&mut self, name: &str, mut cmd: Command, logs: &Path) -> anyhow::Result<()> {
        let log_path = logs.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.running.push((name.to_owned(), child, log_path));
        Ok(())
    }

    /// Fails with the end of the process's log when it has exited.
    fn check_alive(&mut self, name: &str) -> anyhow::Result<()> {
        let Some((_, child, log)) = self.running.iter_mut().find(|(n, ..)| n == name) else {
            return Ok(());
        };
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&*log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "{name} exited ({status}); the end of {}:\n{}",
                log.display(),
                tail.join("\n")
            );
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after 15 s, newest first.
    async fn stop_all(&mut self) {
        if !self.running.is_empty() {
            println!("\nstopping the services, the registry and the broker");
        }
        while let Some((name, mut child, _)) = self.running.pop() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            match tokio::time::timeout(Duration::from_secs(15), child.wait()).await {
                Ok(_) => {}
                Err(_) => {
                    eprintln!("{name} did not stop within 15 s; killing it");
                    let _ = child.kill().await;
                }
            }
        }
    }
}

async fn wait_for_port(
    procs: &mut Procs,
    name: &str,
    port: u16,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        procs.check_alive(name)?;
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{name} did not listen on {addr} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_healthy(
    procs: &mut Procs,
    http: &reqwest::Client,
    name: &str,
    url: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        procs.check_alive(name)?;
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{name} was not healthy at {url} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates the manifest's topics (partitions as declared, 3 otherwise); existing ones stay.
async fn create_topics(
    bootstrap: &str,
    manifest: &Manifest,
) -> anyhow::Result<BTreeMap<String, i32>> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating the Kafka admin client")?;
    let topics: BTreeMap<String, i32> = manifest
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.unwrap_or(3) as i32))
        .collect();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .context("creating the topics")?;
    for result in results {
        match result {
            Ok(name) => println!("   created topic {name} ({} partitions)", topics[&name]),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                println!("   topic {name} exists")
            }
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok(topics)
}

/// What the manifest says of one registry subject.
struct Subject {
    /// The event's short name (`OrderCreated`).
    event: String,
    format: &'static str,
    /// The contract version of each registered subject version, oldest first.
    versions: Vec<u32>,
    /// The services that produce the event (`order-service`).
    producers: String,
}

/// Who produces and who consumes what, from the manifest.
struct Flow {
    /// Topic → the consumer groups that read it (service name, group).
    readers: BTreeMap<String, Vec<(String, String)>>,
    partitions: BTreeMap<String, i32>,
    subjects: HashMap<String, Subject>,
    bootstrap: String,
    registry_url: String,
    mailbox: PathBuf,
}

impl Flow {
    fn new(
        manifest: &Manifest,
        partitions: &BTreeMap<String, i32>,
        bootstrap: &str,
        registry_url: &str,
        mailbox: &Path,
    ) -> anyhow::Result<Flow> {
        let mut readers: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for service in &manifest.services {
            let group = service
                .consumer_group
                .clone()
                .unwrap_or_else(|| service.name.clone());
            let topics: BTreeSet<&str> = manifest
                .events
                .iter()
                .filter(|e| e.consumers.contains(&service.name))
                .map(|e| e.topic.as_str())
                .collect();
            for topic in topics {
                readers
                    .entry(topic.to_owned())
                    .or_default()
                    .push((format!("{}-service", service.name), group.clone()));
            }
        }
        let mut subjects = HashMap::new();
        for event in &manifest.events {
            let producers: Vec<String> = event
                .producers
                .iter()
                .map(|p| format!("{p}-service"))
                .collect();
            let short = event
                .name
                .rsplit('.')
                .next()
                .unwrap_or(&event.name)
                .to_owned();
            let format = match event.format {
                contracts_model::Format::Avro => "Avro",
                contracts_model::Format::Protobuf => "Protobuf",
            };
            for h in event.histories() {
                let subject = Subject {
                    event: short.clone(),
                    format,
                    versions: h.versions.iter().map(|v| v.number).collect(),
                    producers: producers.join(", "),
                };
                subjects.insert(h.subject, subject);
            }
        }
        Ok(Flow {
            readers,
            subjects,
            partitions: partitions.clone(),
            bootstrap: bootstrap.to_owned(),
            registry_url: registry_url.to_owned(),
            mailbox: mailbox.to_owned(),
        })
    }
}

/// A record seen on a topic, waiting for its consumer groups to commit past it.
#[derive(Debug, Clone)]
struct Seen {
    topic: String,
    partition: i32,
    offset: i64,
    label: String,
    waiting: Vec<(String, String)>,
}

#[derive(Default)]
struct FeedState {
    pending: Vec<Seen>,
    records: usize,
    /// Mail files already reported, with when they were written.
    mails: HashMap<PathBuf, SystemTime>,
    /// Per order id: (customer, kind, written).
    mail_by_order: BTreeMap<String, Vec<(String, String, SystemTime)>>,
}

/// Watches the topics, the consumer groups' offsets and the mailbox, and prints what happens.
struct Feed {
    state: Arc<Mutex<FeedState>>,
    started: Instant,
    quiet: bool,
    task: tokio::task::JoinHandle<()>,
}

impl Feed {
    fn start(flow: Flow, http: &reqwest::Client, quiet: bool) -> Feed {
        let state = Arc::new(Mutex::new(FeedState::default()));
        let started = Instant::now();
        let task = tokio::spawn(watch(flow, http.clone(), state.clone(), started, quiet));
        Feed {
            state,
            started,
            quiet,
            task,
        }
    }

    fn say(&self, line: &str) {
        if !self.quiet {
            say(self.started, line);
        }
    }

    /// Waits until every record seen was read by every consumer group and every order's mails
    /// arrived; reports what is missing when `timeout` passes.
    async fn settle(&self, placed: &[Placed], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let (unread, missing) = {
                let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let unread: Vec<Seen> = s.pending.clone();
                let missing: Vec<(String, Vec<String>)> = placed
                    .iter()
                    .filter_map(|p| {
                        let got: BTreeSet<&str> = s
                            .mail_by_order
                            .get(&p.id)
                            .map(|m| m.iter().map(|(_, k, _)| k.as_str()).collect())
                            .unwrap_or_default();
                        let lacking: Vec<String> = p
                            .expected_mail()
                            .into_iter()
                            .filter(|k| !got.contains(k))
                            .map(str::to_owned)
                            .collect();
                        (!lacking.is_empty()).then(|| (p.id.clone(), lacking))
                    })
                    .collect();
                (unread, missing)
            };
            let undecided: Vec<&Placed> = placed.iter().filter(|p| !p.decided()).collect();
            if unread.is_empty() && missing.is_empty() && undecided.is_empty() {
                return true;
            }
            if Instant::now() > deadline {
                println!("\nNOT everything played out within {timeout:?}:");
                for p in undecided {
                    println!("  order {} is still {}", short(&p.id), p.status);
                }
                for s in unread {
                    let groups: Vec<&str> = s.waiting.iter().map(|(svc, _)| svc.as_str()).collect();
                    println!(
                        "  {}[{}]@{} ({}) not yet read by {}",
                        s.topic,
                        s.partition,
                        s.offset,
                        s.label,
                        groups.join(", ")
                    );
                }
                for (id, kinds) in missing {
                    println!(
                        "  order {}: no mail yet for {}",
                        short(&id),
                        kinds.join(", ")
                    );
                }
                println!("  (the logs are in the data directory's logs/)");
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Feed {
    // Stop watching before the broker goes away, so Ctrl-C does not end in connection errors.
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn say(started: Instant, line: &str) {
    println!("   [{:>6.2}s] {line}", started.elapsed().as_secs_f64());
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

async fn watch(
    flow: Flow,
    http: reqwest::Client,
    state: Arc<Mutex<FeedState>>,
    started: Instant,
    quiet: bool,
) {
    if let Err(e) = watch_inner(&flow, &http, &state, started, quiet).await {
        eprintln!("   (the event feed stopped: {e:#})");
    }
}

async fn watch_inner(
    flow: &Flow,
    http: &reqwest::Client,
    state: &Mutex<FeedState>,
    started: Instant,
    quiet: bool,
) -> anyhow::Result<()> {
    // The tap reads every partition from its current end, outside any consumer group.
    let tap: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &flow.bootstrap)
        .set("group.id", "contracts-demo-tap")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for (topic, n) in &flow.partitions {
        for p in 0..*n {
            let (_, high) = tap
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .with_context(|| format!("reading the end of {topic}[{p}]"))?;
            tpl.add_partition_offset(topic, p, Offset::Offset(high))?;
        }
    }
    tap.assign(&tpl)?;
    // One offset reader per consumer group; they never join their group.
    let mut groups: BTreeMap<String, BaseConsumer> = BTreeMap::new();
    for readers in flow.readers.values() {
        for (_, group) in readers {
            if !groups.contains_key(group) {
                let c: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", &flow.bootstrap)
                    .set("group.id", group)
                    .set("enable.auto.commit", "false")
                    .create()?;
                groups.insert(group.clone(), c);
            }
        }
    }
    let groups = Arc::new(groups);
    let mut schema_names: HashMap<i32, (String, String)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let print = |line: &str| {
        if !quiet {
            say(started, line);
        }
    };
    loop {
        tokio::select! {
            m = tap.recv() => {
                let m = m?.detach();
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                let header = |name: &str| {
                    m.headers().and_then(|h| {
                        h.iter()
                            .find(|h| h.key == name)
                            .and_then(|h| h.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    })
                };
                let schema_id = m
                    .payload()
                    .filter(|p| p.len() >= 5 && p[0] == 0)
                    .map(|p| i32::from_be_bytes([p[1], p[2], p[3], p[4]]));
                let (producer, event) = match schema_id {
                    Some(id) => {
                        match schema_names.get(&id) {
                            Some(name) => name.clone(),
                            None => {
                                let name = describe_schema(http, flow, id).await;
                                schema_names.insert(id, name.clone());
                                name
                            }
                        }
                    }
                    None => (
                        "?".to_owned(),
                        header("event_type").unwrap_or_else(|| "a record without the wire header".into()),
                    ),
                };
                let label = format!("{} key {}", event, short(&key));
                let topic = m.topic().to_owned();
                print(&format!("▸ {producer} → {topic}[{}]@{}  {label}", m.partition(), m.offset()));
                let waiting = flow.readers.get(&topic).cloned().unwrap_or_default();
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                s.records += 1;
                if !waiting.is_empty() {
                    s.pending.push(Seen { topic, partition: m.partition(), offset: m.offset(), label, waiting });
                }
            }
            _ = tick.tick() => {
                let pending = state.lock().unwrap_or_else(|p| p.into_inner()).pending.clone();
                if !pending.is_empty() {
                    let committed = committed(groups.clone(), &pending).await;
                    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                    for seen in s.pending.iter_mut() {
                        seen.waiting.retain(|(service, group)| {
                            let done = committed
                                .get(&(group.clone(), seen.topic.clone(), seen.partition))
                                .is_some_and(|c| *c > seen.offset);
                            if done {
                                print(&format!("    ✓ {service} read {}[{}]@{}", seen.topic, seen.partition, seen.offset));
                            }
                            !done
                        });
                    }
                    s.pending.retain(|seen| !seen.waiting.is_empty());
                }
                scan_mailbox(&flow.mailbox, state, &print);
            }
        }
    }
}

/// Who produces a schema id's event and `OrderCreated v3 (Avro, schema id 5)`: the registry
/// names its subject and version, the manifest the producers and the contract version that
/// subject version holds (registered oldest first).
async fn describe_schema(http: &reqwest::Client, flow: &Flow, id: i32) -> (String, String) {
    let url = format!("{}/schemas/ids/{id}/versions", flow.registry_url);
    let versions: Option<Value> = match http.get(&url).send().await {
        Ok(r) if r.status().is_success() => r.json().await.ok(),
        _ => None,
    };
    versions
        .as_ref()
        .and_then(|v| v.as_array())
        .and_then(|a| a.first())
        .map(|v| {
            let subject = v["subject"].as_str().unwrap_or("?");
            let version = v["version"].as_u64().unwrap_or(0) as usize;
            let Some(known) = flow.subjects.get(subject) else {
                return (
                    "?".into(),
                    format!("{subject} version {version} (schema id {id})"),
                );
            };
            let (event, format) = (&known.event, known.format);
            let description = match known.versions.get(version.wrapping_sub(1)) {
                Some(contract) => format!("{event} v{contract} ({format}, schema id {id})"),
                None => format!("{event} ({format}, {subject} version {version}, schema id {id})"),
            };
            (known.producers.clone(), description)
        })
        .unwrap_or_else(|| {
            (
                "?".into(),
                format!("schema id {id}, unknown to the registry"),
            )
        })
}

/// Each group's committed offset per (group, topic, partition) of the records waiting.
async fn committed(
    groups: Arc<BTreeMap<String, BaseConsumer>>,
    pending: &[Seen],
) -> HashMap<(String, String, i32), i64> {
    let mut wanted: BTreeMap<String, BTreeSet<(String, i32)>> = BTreeMap::new();
    for s in pending {
        for (_, group) in &s.waiting {
            wanted
                .entry(group.clone())
                .or_default()
                .insert((s.topic.clone(), s.partition));
        }
    }
    tokio::task::spawn_blocking(move || {
        let mut out = HashMap::new();
        for (group, partitions) in wanted {
            let Some(consumer) = groups.get(&group) else {
                continue;
            };
            let mut tpl = TopicPartitionList::new();
            for (topic, p) in &partitions {
                tpl.add_partition(topic, *p);
            }
            if let Ok(c) = consumer.committed_offsets(tpl, Duration::from_secs(5)) {
                for e in c.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        out.insert((group.clone(), e.topic().to_owned(), e.partition()), o);
                    }
                }
            }
        }
        out
    })
    .await
    .unwrap_or_default()
}

/// New `<customer>/<order>.<step>.<kind>.eml` files in the mailbox.
fn scan_mailbox(dir: &Path, state: &Mutex<FeedState>, print: &dyn Fn(&str)) {
    let Ok(folders) = std::fs::read_dir(dir) else {
        return;
    };
    for folder in folders.flatten() {
        let Ok(files) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            if s.mails.contains_key(&path) {
                continue;
            }
            let written = file
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or_else(|_| SystemTime::now());
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let field = |name: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            let (to, subject, order, kind) = (
                field("To:"),
                field("Subject:"),
                field("X-Order-Id:"),
                field("X-Notification:"),
            );
            print(&format!(
                "    ✉ notification-service mailed {to}: \"{subject}\""
            ));
            s.mails.insert(path, written);
            s.mail_by_order
                .entry(order)
                .or_default()
                .push((to, kind, written));
        }
    }
}

/// One order the demo placed, and what became of it.
#[derive(Debug)]
struct Placed {
    id: String,
    posted: SystemTime,
    status: String,
    paid: bool,
    shipped: bool,
}

impl Placed {
    fn decided(&self) -> bool {
        self.status != "PENDING"
    }

    /// The mails the customer must get, by `X-Notification` kind.
    fn expected_mail(&self) -> Vec<&'static str> {
        let mut kinds = vec!["received"];
        match self.status.as_str() {
            "REJECTED" => kinds.push("rejected"),
            "PENDING" => {}
            _ => kinds.push("confirmed"),
        }
        if self.paid {
            kinds.push("paid");
        }
        if self.shipped {
            kinds.push("shipped");
        }
        kinds
    }
}

/// The orders the demo cycles through: who, what, and how far the order goes once confirmed.
const SCENARIOS: [Scenario; 4] = [
    (
        "alice@example.com",
        &[("tea", 2), ("mug", 1)],
        Progress::Ship,
    ),
    ("bob@example.com", &[("teapot", 6)], Progress::Ship),
    ("carol@example.com", &[("coffee", 1)], Progress::Pay),
    ("dave@example.com", &[("tea", 1)], Progress::Confirm),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Progress {
    Confirm,
    Pay,
    Ship,
}

async fn place_and_follow(
    http: &reqwest::Client,
    base: &str,
    feed: &Feed,
    i: usize,
    quiet: bool,
) -> anyhow::Result<Placed> {
    let (customer, lines, progress) = SCENARIOS[i % SCENARIOS.len()];
    let body = json!({
        "customer": customer,
        "line_items": lines.iter().map(|(p, q)| json!({"product": p, "quantity": q})).collect::<Vec<_>>(),
    });
    let what: Vec<String> = lines.iter().map(|(p, q)| format!("{q}× {p}")).collect();
    let posted = SystemTime::now();
    let r = http
        .post(format!("{base}/orders"))
        .json(&body)
        .send()
        .await
        .context("POST /orders")?;
    let status = r.status();
    let order: Value = r.json().await.context("reading the order")?;
    if !status.is_success() {
        bail!("POST /orders answered {status}: {order}");
    }
    let id = order["id"]
        .as_str()
        .context("the order has no id")?
        .to_owned();
    feed.say(&format!(
        "order-service: POST /orders from {customer} for {} → {} order {} {}",
        what.join(", "),
        status.as_u16(),
        short(&id),
        order["status"].as_str().unwrap_or("?")
    ));
    let mut placed = Placed {
        id,
        posted,
        status: "PENDING".into(),
        paid: false,
        shipped: false,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !placed.decided() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let o: Value = http
            .get(format!("{base}/orders/{}", placed.id))
            .send()
            .await?
            .json()
            .await?;
        placed.status = o["status"].as_str().unwrap_or("PENDING").to_owned();
    }
    if !placed.decided() {
        return Ok(placed);
    }
    feed.say(&format!(
        "order-service: order {} is {}",
        short(&placed.id),
        placed.status
    ));
    if placed.status != "CONFIRMED" {
        return Ok(placed);
    }
    for (step, body, needed) in [
        (
            "pay",
            json!({"payment_id": format!("psp-{i}")}),
            Progress::Pay,
        ),
        ("ship", json!({"carrier": "DHL"}), Progress::Ship),
    ] {
        if progress < needed {
            break;
        }
        let r = http
            .post(format!("{base}/orders/{}/{step}", placed.id))
            .json(&body)
            .send()
            .await?;
        let code = r.status();
        let o: Value = r.json().await?;
        if !code.is_success() {
            bail!("POST /orders/{}/{step} answered {code}: {o}", placed.id);
        }
        placed.status = o["status"].as_str().unwrap_or("?").to_owned();
        match step {
            "pay" => placed.paid = true,
            _ => placed.shipped = true,
        }
        if !quiet {
            feed.say(&format!(
                "order-service: POST /orders/{}/{step} → order is {}",
                short(&placed.id),
                placed.status
            ));
        }
    }
    Ok(placed)
}

async fn summary(
    http: &reqwest::Client,
    order_url: &str,
    placed: &[Placed],
    feed: &Feed,
    elapsed: Duration,
) {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for p in placed {
        *by_status.entry(p.status.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!("   this run's orders: {}", counts.join(", "));
    for status in ["CONFIRMED", "REJECTED", "PAID", "SHIPPED"] {
        if let Ok(r) = http
            .get(format!("{order_url}/orders?status={status}&limit=1000"))
            .send()
            .await
            && let Ok(v) = r.json::<Value>().await
        {
            let n = v["orders"].as_array().map_or(0, Vec::len);
            println!("   GET /orders?status={status}: {n} order(s) in the store");
        }
    }
    let s = feed.state.lock().unwrap_or_else(|p| p.into_inner());
    let mut latencies: Vec<Duration> = placed
        .iter()
        .filter_map(|p| {
            let mails = s.mail_by_order.get(&p.id)?;
            let decision = mails
                .iter()
                .find(|(_, k, _)| k == "confirmed" || k == "rejected")?;
            decision.2.duration_since(p.posted).ok()
        })
        .collect();
    latencies.sort();
    println!(
        "   {} record(s) on the topics, {} mail(s) sent",
        s.records,
        s.mails.len()
    );
    if !latencies.is_empty() {
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        println!(
            "   {} orders in {:.1} s ({:.1} orders/s); POST /orders → the confirmed/rejected mail: p50 {} ms, p99 {} ms",
            placed.len(),
            elapsed.as_secs_f64(),
            placed.len() as f64 / elapsed.as_secs_f64(),
            at(0.5).as_millis(),
            at(0.99).as_millis()
        );
    }
}

/// What each service's gRPC admin API says: its contracts with their registry ids, its consumer
/// groups' lag, its dead letters; and the stock, from inventory-service.
async fn admin_answers(ports: &Ports) {
    use contracts_admin::{AdminClient, ClientConfig, ContractRole};
    println!(
        "   the gRPC admin APIs (the same as `contracts admin --addr URL contracts|lag|dlt list|stock list`):"
    );
    let services = ["order-service", "inventory-service", "notification-service"];
    for (service, port) in services.into_iter().zip(ports.admin) {
        let url = format!("http://127.0.0.1:{port}");
        let client = match AdminClient::connect(ClientConfig::new(&url)).await {
            Ok(c) => c,
            Err(e) => {
                println!("     {service} ({url}): {e}");
                continue;
            }
        };
        println!("     {service} ({url}):");
        if let Ok(contracts) = client.contracts().await {
            for role in [ContractRole::Produced, ContractRole::Consumed] {
                let list: Vec<String> = contracts
                    .iter()
                    .filter(|c| c.role == role)
                    .map(|c| {
                        let name = c.event.rsplit('.').next().unwrap_or(&c.event);
                        let id = c.schema_id.map_or("-".into(), |id| id.to_string());
                        format!("{name} v{} ({}, id {id})", c.version, c.format)
                    })
                    .collect();
                if !list.is_empty() {
                    println!("       {role}: {}", list.join(", "));
                }
            }
        }
        if let Ok(lag) = client.lag(None).await {
            let mut by_group: BTreeMap<(String, String), (i64, usize)> = BTreeMap::new();
            for p in lag {
                let e = by_group.entry((p.group, p.topic)).or_default();
                e.0 += p.lag;
                e.1 += 1;
            }
            for ((group, topic), (lag, partitions)) in by_group {
                println!("       group {group} on {topic}: lag {lag} over {partitions} partitions");
            }
        }
        if let Ok(page) = client.dead_letters(None, 100).await {
            println!("       dead letters: {}", page.dead_letters.len());
        }
        if service == "inventory-service"
            && let Ok(stock) = client.all_stock().await
        {
            let list: Vec<String> = stock
                .iter()
                .map(|s| {
                    format!(
                        "{} {} available, {} reserved",
                        s.product_id, s.available, s.reserved
                    )
                })
                .collect();
            println!("       stock: {}", list.join("; "));
        }
    }
}
