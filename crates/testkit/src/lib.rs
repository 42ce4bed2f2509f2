//! Real infrastructure for integration tests: a Kafka-protocol broker (Tansu 0.6.0 with sqlite
//! storage) on a free loopback port, topics with random names, and schema registries (in-process
//! or as child processes) against that broker. Everything is torn down on drop, also when a test
//! panics; a broker held in a `static` (see [`shared_broker`]) is stopped by a watchdog when the
//! test process exits. The processes are `contracts-process`'s: one that dies while starting
//! fails at once, named, with the end of its log.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, this crate is
//! test tooling beside the flow: the tests of the registry, the runtime, the CLI and the services
//! start real infrastructure through it; no shipped binary links it.
//!
//! ```no_run
//! # async fn demo() {
//! let broker = contracts_testkit::shared_broker();
//! let topic = contracts_testkit::unique_name("orders");
//! broker.create_topic(&topic, 3).await.unwrap();
//! let registry = contracts_testkit::TestRegistry::start(broker).await.unwrap();
//! println!("{} {}", broker.bootstrap_servers(), registry.url());
//! # }
//! ```
//!
//! [`SecuredBroker`] is a broker that takes only SASL_SSL with SCRAM-SHA-512: Tansu with
//! `--authentication` behind a [`TlsProxy`] whose certificate a private [`TestCa`] signed (the
//! users are created with PyPI confluent-kafka from `.oracles/clients/venv`).
//!
//! [`TestPostgres`] is a PostgreSQL server of a test's own (Debian's `postgresql` package).
//!
//! [`parse_prometheus_text`] reads a `/metrics` page with the Prometheus project's own parser.
//!
//! The broker binary is `$TANSU_BIN`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`
//! (install it with `cargo install tansu --version 0.6.0 --locked --features libsql`).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use contracts_process::Process;
use contracts_registry::kafka::KafkaConfig;
use contracts_registry::{Server, ServerConfig};
use rand::Rng;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use tracing::warn;

pub mod postgres;
mod prometheus;
mod secured;
mod tls;
pub use postgres::TestPostgres;
pub use prometheus::{MetricFamily, MetricsPage, Sample, parse_prometheus_text};
pub use secured::SecuredBroker;
pub use tls::{Issued, TestCa, TlsProxy};

/// What went wrong starting test infrastructure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Tansu is missing, or a process could not start or died (with the end of its log).
    #[error(transparent)]
    Process(#[from] contracts_process::Error),
    #[error("{0} did not come up within {1:?}; its output is in {2}")]
    NotReady(&'static str, Duration, PathBuf),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error("registry: {0}")]
    Registry(#[from] contracts_registry::Error),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("TLS: {0}")]
    Tls(String),
    /// Creating SCRAM users with PyPI confluent-kafka failed.
    #[error("creating SCRAM users: {0}")]
    Scram(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// A name no other test uses: `prefix-<16 hex digits>`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::rng().random::<u64>())
}

/// A free TCP port on 127.0.0.1 for a process that binds it later, never the same one twice in
/// this process. Offered here so that tests take all their infrastructure from the kit.
pub fn free_port() -> Result<u16> {
    Ok(contracts_process::free_port()?)
}

/// Waits until `ready` holds, failing early with the end of its log when `process` exits.
fn wait_until(
    process: &mut Process,
    what: &'static str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        process.check_alive()?;
        if Instant::now() > deadline {
            return Err(Error::NotReady(
                what,
                timeout,
                process.log_path().to_path_buf(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long a broker or registry gets to stop after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(8);

/// `program` (the Tansu binary) run in `dir`, without the settings from the developer's
/// environment that would change the broker under test.
pub fn broker_command(program: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    for var in [
        "SCHEMA_REGISTRY",
        "STORAGE_ENGINE",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "CLUSTER_ID",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A Tansu broker with sqlite storage in a temporary directory on a free loopback port.
#[derive(Debug)]
pub struct Broker {
    process: Option<Process>,
    dir: tempfile::TempDir,
    port: u16,
    bootstrap: String,
    /// The port the broker names in its metadata: its own, or a proxy's in front of it.
    advertised_port: u16,
    /// Whether every connection must log in with SASL (`--authentication`).
    authentication: bool,
}

impl Broker {
    /// Starts a broker and waits until its port accepts connections.
    pub fn start() -> Result<Broker> {
        let dir = tempfile::Builder::new()
            .prefix("contracts-tansu-")
            .tempdir()
            .map_err(io("creating the broker's data directory"))?;
        let port = free_port()?;
        let mut broker = Broker {
            process: None,
            dir,
            port,
            bootstrap: format!("127.0.0.1:{port}"),
            advertised_port: port,
            authentication: false,
        };
        broker.launch()?;
        Ok(broker)
    }

    fn launch(&mut self) -> Result<()> {
        let bin = contracts_process::tansu_binary()?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised_port);
        let mut cmd = broker_command(&bin, self.dir.path());
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &advertised,
            // A relative path: sqlite paths resolve against the working directory.
            "--storage-engine",
            "sqlite://broker.db?maintenance_interval=5s",
        ]);
        if self.authentication {
            cmd.arg("--authentication");
        }
        let process = self
            .process
            .insert(Process::spawn("tansu", cmd, &self.log_path())?);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        wait_until(process, "the Tansu broker", Duration::from_secs(30), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        })?;
        // Without it every fetch scans all the headers the broker holds.
        contracts_process::index_record_headers_blocking(&self.database_path())?;
        Ok(())
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The broker's SQLite database.
    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("broker.db")
    }

    /// The broker's output.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("tansu.log")
    }

    /// A client config pointing at this broker, for producers, consumers and admin clients.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c
    }

    /// Creates a topic (Tansu does not create topics on first use).
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.create_topic_with(name, partitions, &[]).await
    }

    /// Creates a topic with topic configs such as `("cleanup.policy", "compact")`; one that
    /// exists already is left as it is.
    pub async fn create_topic_with(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = self
            .client_config()
            .create()
            .map_err(|e| Error::Kafka(format!("creating an admin client: {e}")))?;
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        contracts_runtime::topics::create_missing(&admin, &[topic], Duration::from_secs(30))
            .await
            .map_err(|e| Error::Kafka(e.to_string()))?;
        Ok(())
    }

    /// Kills the broker (SIGKILL), as in a crash; [`Broker::start_again`] brings it back.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill9();
        }
    }

    /// Starts a stopped or killed broker again on the same port and data, and waits until its
    /// port accepts connections.
    pub fn start_again(&mut self) -> Result<()> {
        if let Some(mut p) = self.process.take() {
            p.stop(GRACE);
        }
        self.launch()
    }

    /// Stops the broker (SIGTERM, then SIGKILL) and starts it again on the same port and data.
    pub fn restart(&mut self) -> Result<()> {
        if let Some(mut p) = self.process.take() {
            p.stop(GRACE);
        }
        self.launch()
    }
}

/// One broker for every test in this test binary, started on first use. Tests sharing it must
/// use their own topics ([`unique_name`]).
pub fn shared_broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| match Broker::start() {
        Ok(b) => b,
        Err(e) => panic!("cannot start the test broker: {e}"),
    })
}

/// A schema registry served in-process (on the test's tokio runtime) against a broker, with its
/// own registry topic.
#[derive(Debug)]
pub struct TestRegistry {
    server: Server,
    topic: String,
    bootstrap: String,
}

impl TestRegistry {
    /// A registry on a new, randomly named registry topic.
    pub async fn start(broker: &Broker) -> Result<TestRegistry> {
        Self::start_on(broker, &unique_name("_schemas")).await
    }

    /// A registry instance on an existing registry topic: another instance of the same registry.
    pub async fn start_on(broker: &Broker, topic: &str) -> Result<TestRegistry> {
        Self::start_with(broker, topic, ServerConfig::default()).await
    }

    /// As [`TestRegistry::start_on`], with server settings (auth, limits, level).
    pub async fn start_with(
        broker: &Broker,
        topic: &str,
        config: ServerConfig,
    ) -> Result<TestRegistry> {
        let server =
            Server::start_kafka(KafkaConfig::new(broker.bootstrap_servers(), topic), config)
                .await?;
        Ok(TestRegistry {
            server,
            topic: topic.to_string(),
            bootstrap: broker.bootstrap_servers().to_string(),
        })
    }

    /// A second (third, ...) instance sharing this one's topic.
    pub async fn another_instance(&self) -> Result<TestRegistry> {
        let server = Server::start_kafka(
            KafkaConfig::new(&self.bootstrap, &self.topic),
            ServerConfig::default(),
        )
        .await?;
        Ok(TestRegistry {
            server,
            topic: self.topic.clone(),
            bootstrap: self.bootstrap.clone(),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn server(&self) -> &Server {
        &self.server
    }
}

/// A registry running as a child process (for crash tests: [`RegistryProcess::kill9`]).
#[derive(Debug)]
pub struct RegistryProcess {
    process: Process,
    url: String,
    _dir: tempfile::TempDir,
}

impl RegistryProcess {
    /// Runs `program` (a binary that accepts `--listen`, `--bootstrap-servers` and `--topic`,
    /// such as `contracts-registry` or `contracts registry serve` given as `args_before`) and
    /// waits until `/health` answers 200.
    pub fn spawn(
        program: &Path,
        args_before: &[&str],
        broker: &Broker,
        topic: &str,
    ) -> Result<RegistryProcess> {
        let bootstrap = ["--bootstrap-servers", broker.bootstrap_servers()];
        let args: Vec<&str> = args_before.iter().copied().chain(bootstrap).collect();
        Self::spawn_with(program, &args, topic, &[])
    }

    /// As [`RegistryProcess::spawn`], with the Kafka connection given by `args` and `env` (a
    /// properties file, a password file: see [`SecuredBroker`]).
    pub fn spawn_with(
        program: &Path,
        args: &[&str],
        topic: &str,
        env: &[(&str, String)],
    ) -> Result<RegistryProcess> {
        let args_before = args;
        let dir = tempfile::Builder::new()
            .prefix("contracts-registry-")
            .tempdir()
            .map_err(io("creating the registry's log directory"))?;
        let port = free_port()?;
        let mut args: Vec<String> = args_before.iter().map(|s| s.to_string()).collect();
        args.extend([
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--topic".into(),
            topic.into(),
        ]);
        let mut cmd = broker_command(program, dir.path());
        cmd.args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let mut process = Process::spawn("registry", cmd, &dir.path().join("registry.log"))?;
        let url = format!("http://127.0.0.1:{port}");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until(
            &mut process,
            "the registry process",
            Duration::from_secs(60),
            || health_ok(addr),
        )?;
        Ok(RegistryProcess {
            process,
            url,
            _dir: dir,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Everything in its log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// SIGKILL: the process ends without flushing or answering in-flight requests.
    pub fn kill9(mut self) {
        self.process.kill9();
    }
}

/// `GET /health` answers 200 (a minimal HTTP/1.1 exchange, to keep this crate free of an HTTP
/// client).
fn health_ok(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    match s.read_exact(&mut buf) {
        Ok(()) => buf.ends_with(b"200"),
        Err(e) => {
            warn!(error = %e, "health check read failed");
            false
        }
    }
}
