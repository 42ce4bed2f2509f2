//! End-to-end tests of the shop (`tests/`), and the harness they share: the three service
//! binaries as child processes that a test can start, kill -9 and restart.
//!
//! - `in_process.rs` runs the services' handlers, stores and outboxes together over an
//!   in-memory log with redeliveries and re-published outbox rows;
//! - `on_broker.rs` runs the real binaries against Tansu and the registry (from
//!   `contracts-testkit`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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

/// A free TCP port on 127.0.0.1 for a service to bind (see [`contracts_testkit::free_port`]).
pub fn free_port() -> u16 {
    contracts_testkit::free_port().expect("a free port")
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
    child: Option<Child>,
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
            child: None,
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
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("opening the service log");
        let child = Command::new(bin_dir().join(self.name))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info,rdkafka=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.child = Some(child);
        self.starts += 1;
    }

    /// SIGKILL: no shutdown code runs, as in a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a graceful exit; returns whether it exited with success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `GET /health` answers 200.
    pub async fn wait_healthy(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{}/health", self.url())).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} exited with {status}; log: {}",
                    self.name,
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not healthy within {timeout:?}; log: {}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}
