//! Real infrastructure for integration tests: a Kafka-protocol broker (Tansu 0.6.0 with sqlite
//! storage) on a free loopback port, topics with random names, and schema registries (in-process
//! or as child processes) against that broker. Everything is torn down on drop, also when a test
//! panics; a broker held in a `static` (see [`shared_broker`]) is stopped by a watchdog when the
//! test process exits.
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
//! [`parse_prometheus_text`] reads a `/metrics` page with the Prometheus project's own parser.
//!
//! The broker binary is `$TANSU_BIN`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`
//! (install it with `cargo install tansu --version 0.6.0 --locked --features libsql`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use contracts_registry::kafka::KafkaConfig;
use contracts_registry::{Server, ServerConfig};
use rand::Rng;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use tracing::{debug, warn};

mod prometheus;
pub use prometheus::{MetricFamily, MetricsPage, Sample, parse_prometheus_text};

/// What went wrong starting test infrastructure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "the Tansu broker binary was not found (looked at $TANSU_BIN, PATH and ~/.cargo/bin/tansu); install it with `cargo install tansu --version 0.6.0 --locked --features libsql`"
    )]
    TansuMissing,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} did not come up within {1:?}; its output is in {2}")]
    NotReady(&'static str, Duration, PathBuf),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error("registry: {0}")]
    Registry(#[from] contracts_registry::Error),
    #[error("metrics: {0}")]
    Metrics(String),
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
/// this process.
///
/// It comes from below the kernel's ephemeral range: a port the kernel picked for `bind(0)` is
/// also one it may give the next outgoing connection (to the broker, say) before the process it
/// was meant for binds it, which failed test runs with "Address already in use".
pub fn free_port() -> Result<u16> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let (low, high) = ports_for_listeners();
    let span = u32::from(high - low);
    if span < 1000 {
        let l = TcpListener::bind("127.0.0.1:0").map_err(io("binding a free port"))?;
        return Ok(l.local_addr().map_err(io("reading the bound port"))?.port());
    }
    // Start at a random place so that concurrent test processes rarely walk the same ports.
    let _ = NEXT.compare_exchange(
        0,
        rand::rng().random_range(1..=span),
        std::sync::atomic::Ordering::SeqCst,
        std::sync::atomic::Ordering::SeqCst,
    );
    for _ in 0..span {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = low + u16::try_from(n % span).expect("below the span");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Io {
        what: format!("finding a free port in {low}..{high}"),
        source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
    })
}

/// Ports from 10000 up to the start of the ephemeral range (Linux's
/// `ip_local_port_range`, 32768 by default).
fn ports_for_listeners() -> (u16, u16) {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    (10000, ephemeral_start.max(10000))
}

/// The Tansu broker binary: `$TANSU_BIN`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`.
pub fn tansu_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("TANSU_BIN") {
        return Ok(PathBuf::from(p));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let candidate = Path::new(&home).join(".cargo/bin/tansu");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::TansuMissing)
}

/// A child process in its own process group, under a shell watchdog that stops it (SIGTERM,
/// then SIGKILL) when the test process goes away without dropping it.
#[derive(Debug)]
struct Supervised {
    child: Child,
    name: &'static str,
}

impl Supervised {
    fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        dir: &Path,
        log: &Path,
        env: &[(&str, String)],
    ) -> Result<Self> {
        let out = std::fs::File::create(log).map_err(io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("opening {}", log.display())))?;
        // The watchdog polls the test process and stops the service once it is gone. It runs
        // the service in the background so that it can wait for either to exit.
        let script = r#"owner=$1; shift
"$@" &
svc=$!
stop() { kill -TERM "$svc" 2>/dev/null; for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$svc" 2>/dev/null || exit 0; sleep 0.5; done; kill -KILL "$svc" 2>/dev/null; exit 0; }
trap stop TERM INT
while kill -0 "$owner" 2>/dev/null && kill -0 "$svc" 2>/dev/null; do sleep 0.5; done
stop"#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // Settings from the developer's environment must not change the broker under test.
        for var in [
            "SCHEMA_REGISTRY",
            "STORAGE_ENGINE",
            "LISTENER_URL",
            "ADVERTISED_LISTENER_URL",
            "CLUSTER_ID",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(io(format!("starting {}", program.display())))?;
        Ok(Supervised { child, name })
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// SIGKILL to the whole group: no flush, no goodbye.
    fn kill9(&mut self) {
        self.signal_group("-KILL");
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL after `grace`.
    fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            // The watchdog is gone; make sure nothing of the group is left.
            self.signal_group("-KILL");
            return;
        }
        self.signal_group("-TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                self.signal_group("-KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        debug!(process = self.name, "did not stop in time; killing");
        self.kill9();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(8));
    }
}

fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A Tansu broker with sqlite storage in a temporary directory on a free loopback port.
#[derive(Debug)]
pub struct Broker {
    process: Option<Supervised>,
    dir: tempfile::TempDir,
    port: u16,
    bootstrap: String,
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
        };
        broker.launch()?;
        Ok(broker)
    }

    fn launch(&mut self) -> Result<()> {
        let bin = tansu_binary()?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let args = [
            "broker".to_string(),
            "--listener-url".into(),
            url.clone(),
            "--advertised-listener-url".into(),
            url,
            // A relative path: sqlite paths resolve against the working directory.
            "--storage-engine".into(),
            "sqlite://broker.db?maintenance_interval=5s".into(),
        ];
        let log = self.log_path();
        self.process = Some(Supervised::spawn(
            "tansu",
            &bin,
            &args,
            self.dir.path(),
            &log,
            &[],
        )?);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let timeout = Duration::from_secs(30);
        if !wait_for_port(addr, timeout) {
            return Err(Error::NotReady("the Tansu broker", timeout, log));
        }
        Ok(())
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
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

    /// Stops the broker (SIGTERM, then SIGKILL) and starts it again on the same port and data.
    pub fn restart(&mut self) -> Result<()> {
        if let Some(mut p) = self.process.take() {
            p.stop(Duration::from_secs(8));
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
    process: Supervised,
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
        let dir = tempfile::Builder::new()
            .prefix("contracts-registry-")
            .tempdir()
            .map_err(io("creating the registry's log directory"))?;
        let port = free_port()?;
        let mut args: Vec<String> = args_before.iter().map(|s| s.to_string()).collect();
        args.extend([
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--bootstrap-servers".into(),
            broker.bootstrap_servers().into(),
            "--topic".into(),
            topic.into(),
        ]);
        let log = dir.path().join("registry.log");
        let process = Supervised::spawn(
            "registry",
            program,
            &args,
            dir.path(),
            &log,
            &[("RUST_LOG", "info".to_string())],
        )?;
        let url = format!("http://127.0.0.1:{port}");
        let timeout = Duration::from_secs(60);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + timeout;
        loop {
            if health_ok(addr) {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady("the registry process", timeout, log));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(RegistryProcess {
            process,
            url,
            _dir: dir,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_lie_below_the_ephemeral_range_are_bindable_and_never_repeat() {
        let (low, high) = ports_for_listeners();
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        for port in &ports {
            assert!((low..high).contains(port), "{port} outside {low}..{high}");
            TcpListener::bind(("127.0.0.1", *port)).expect("the port is free");
        }
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }
}
