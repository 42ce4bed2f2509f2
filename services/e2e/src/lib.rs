//! End-to-end tests of the shop (`tests/`), and the harness they share: the three service
//! binaries as child processes that a test can start, kill -9 and restart.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, these tests stand
//! at the end: they drive the shipped service binaries as a user would.
//!
//! - `in_process.rs` runs the services' handlers, stores and outboxes together over an
//!   in-memory log with redeliveries and re-published outbox rows;
//! - `on_broker.rs` runs the real binaries against Tansu and the registry (from
//!   `contracts-testkit`).
//!
//! The processes are `contracts-process`'s, as the demo's and the test kit's are: a service that
//! dies is reported by name with the end of its log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use contracts_process::Process;

/// The directory holding the service binaries, built on first use (`cargo build --bins` is a
/// no-op when they are fresh). Test binaries live in `<target>/<profile>/deps`.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--bins",
                "-p",
                "order-service",
                "-p",
                "inventory-service",
                "-p",
                "notification-service",
                "-p",
                "contracts-registry",
                // `contracts admin`, the admin API's command-line client.
                "-p",
                "contracts-cli",
            ])
            .status()
            .expect("running cargo build for the service binaries");
        assert!(status.success(), "building the service binaries failed");
        let exe = std::env::current_exe().expect("the test binary's path");
        exe.parent()
            .and_then(Path::parent)
            .expect("<target>/<profile>/deps/<test>")
            .to_path_buf()
    })
}

/// A free TCP port on 127.0.0.1 for a service to bind (see [`contracts_process::free_port`]).
pub fn free_port() -> u16 {
    contracts_process::free_port().expect("a free port")
}

/// Where a test's services find Kafka and the registry, and the topic prefix that keeps the
/// test's topics apart from other tests' on the shared broker.
#[derive(Debug, Clone, Copy)]
pub struct Backends<'a> {
    pub bootstrap_servers: &'a str,
    pub registry_url: &'a str,
    pub topic_prefix: &'a str,
}

/// The settings every test gives `service` (`order-service`, `inventory-service` or
/// `notification-service`): its database in `dir` (`ORDER_DB=<dir>/order.db`),
/// notification-service's mailbox in `<dir>/mailbox`, and with `backends` the broker, the
/// registry and the topic prefix (`KAFKA_BOOTSTRAP_SERVERS`, `SCHEMA_REGISTRY_URL`,
/// `KAFKA_TOPIC_PREFIX`). Every service runs with the `latency` profile (`KAFKA_PROFILE`), as
/// in the demo, so a hop takes milliseconds instead of Tansu's fetch wait. A test extends the
/// list with what it is about.
pub fn service_env(
    service: &str,
    dir: &Path,
    backends: Option<&Backends<'_>>,
) -> Vec<(&'static str, String)> {
    let path = |name: &str| dir.join(name).display().to_string();
    let mut env = match service {
        "order-service" => vec![("ORDER_DB", path("order.db"))],
        "inventory-service" => vec![("INVENTORY_DB", path("inventory.db"))],
        "notification-service" => vec![
            ("NOTIFICATION_DB", path("notification.db")),
            ("NOTIFICATION_MAILBOX_DIR", path("mailbox")),
        ],
        other => panic!("{other}: not one of the shop's services"),
    };
    env.push(("KAFKA_PROFILE", "latency".to_owned()));
    if let Some(b) = backends {
        env.extend([
            ("KAFKA_BOOTSTRAP_SERVERS", b.bootstrap_servers.to_owned()),
            ("SCHEMA_REGISTRY_URL", b.registry_url.to_owned()),
            ("KAFKA_TOPIC_PREFIX", b.topic_prefix.to_owned()),
        ]);
    }
    env
}

/// Consumer-group timings for tests that kill services: a killed member's partitions move on
/// after 6 s instead of 45 s, and a member left without partitions rejoins after 10 s.
pub fn fast_rebalance() -> [(&'static str, String); 2] {
    [
        (
            "KAFKA_CONFIG",
            "session.timeout.ms=6000,heartbeat.interval.ms=1000".to_owned(),
        ),
        ("KAFKA_REJOIN_UNASSIGNED_SECS", "10".to_owned()),
    ]
}

/// The lines of test order `i` and whether they fit the stock `tea` and `teapot` plenty,
/// `mug=5`, `coffee=0`: coffee is never in stock and 10 mugs never fit in 5, so the outcome is
/// known however the orders interleave.
pub fn order_lines(i: usize) -> (serde_json::Value, bool) {
    use serde_json::json;
    match i % 5 {
        0 => (
            json!([{"product": "tea", "quantity": 1}, {"product": "coffee", "quantity": 1}]),
            false,
        ),
        1 => (json!([{"product": "mug", "quantity": 10}]), false),
        _ => (
            json!([{"product": "tea", "quantity": i % 3 + 1}, {"product": "teapot", "quantity": 1}]),
            true,
        ),
    }
}

/// One service binary run as a child process.
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    env: Vec<(String, String)>,
    pub port: u16,
    /// Where its gRPC admin API listens.
    pub admin_port: u16,
    log: PathBuf,
    process: Option<Process>,
    starts: u32,
}

impl Service {
    /// `name` is the binary (`order-service`); `env` its configuration; the listen address is
    /// set to a free port through `<listen_var>` (`ORDER_LISTEN`), and the admin API's to
    /// another through `<SVC>_ADMIN_LISTEN` (`ORDER_ADMIN_LISTEN`), so tests running side by
    /// side never share a port; output goes to `<dir>/<name>.log`.
    pub fn new(
        name: &'static str,
        listen_var: &str,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Service {
        let port = free_port();
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        env.push((listen_var.to_owned(), format!("127.0.0.1:{port}")));
        let admin_port = free_port();
        let admin_var = match listen_var.strip_suffix("_LISTEN") {
            Some(svc) => format!("{svc}_ADMIN_LISTEN"),
            None => panic!("{listen_var}: expected <SVC>_LISTEN"),
        };
        env.push((admin_var, format!("127.0.0.1:{admin_port}")));
        Service {
            name,
            env,
            port,
            admin_port,
            log: dir.join(format!("{name}.log")),
            process: None,
            starts: 0,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The admin API's address, for `contracts_admin::ClientConfig::new`.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn start(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.name);
        let mut cmd = Command::new(bin_dir().join(self.name));
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info,rdkafka=warn");
        let process = Process::spawn(self.name, cmd, &self.log)
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.process = Some(process);
        self.starts += 1;
    }

    /// SIGKILL: no shutdown code runs, as in a crash.
    pub fn kill9(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill9();
        }
    }

    /// SIGTERM, then waits for a graceful exit; returns whether it exited with success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut process) = self.process.take() else {
            return true;
        };
        process
            .stop(Duration::from_secs(30))
            .is_some_and(|status| status.success())
    }

    /// Waits until `GET /health` answers 200: the service is ready (its store, Kafka, the
    /// registry and its outbox relay all work).
    pub async fn wait_healthy(&mut self, timeout: Duration) {
        self.wait_for("/health", timeout).await;
    }

    /// Waits until `GET /health/live` answers 200: the service runs, whether or not Kafka and
    /// the registry are there.
    pub async fn wait_live(&mut self, timeout: Duration) {
        self.wait_for("/health/live", timeout).await;
    }

    async fn wait_for(&mut self, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}{path}", self.url())).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(process) = self.process.as_mut()
                && let Err(exited) = process.check_alive()
            {
                panic!("{exited}");
            }
            assert!(
                Instant::now() < deadline,
                "{} {path} not 200 within {timeout:?}; log: {}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the process exits by itself; its exit status, or `None` when it still runs
    /// after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let process = self.process.as_mut()?;
            if let Some(status) = process.exit_status() {
                self.process = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// What an image of `deploy/docker/` runs, from its Dockerfile's text: the binary its
/// `ENTRYPOINT ["/usr/local/bin/<binary>"]` names, and the settings of its `ENV` lines.
/// `path` only names the file in a panic.
pub fn image_entry_and_env(
    text: &str,
    path: &Path,
) -> (String, std::collections::BTreeMap<String, String>) {
    let binary = text
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT [\"/usr/local/bin/"))
        .and_then(|l| l.split('"').next())
        .unwrap_or_else(|| panic!("{}: no ENTRYPOINT", path.display()))
        .to_owned();
    let env = text
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (binary, env)
}
