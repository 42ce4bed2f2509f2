//! A broker that takes only SASL_SSL with SCRAM-SHA-512, as managed clusters do.
//!
//! Tansu 0.6 checks SCRAM logins (`--authentication`) but cannot serve TLS itself, and has no
//! way to create users while authentication is on. So, as `shared/BROKER.md` describes: the
//! broker starts without authentication, the users are created with the Kafka admin API
//! (`AlterUserScramCredentials`, through PyPI confluent-kafka: rdkafka does not expose the
//! call), the broker restarts on the same data with `--authentication`, advertising the port
//! of a [`TlsProxy`] in front of it whose certificate a [`TestCa`] signed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

use crate::tls::{TestCa, TlsProxy};
use crate::{Broker, Error, Result, free_port, io};

/// The mechanism every user is created with.
pub const MECHANISM: &str = "SCRAM-SHA-512";

/// A Tansu broker behind a TLS proxy, requiring SCRAM-SHA-512 logins; stopped on drop.
#[derive(Debug)]
pub struct SecuredBroker {
    // Dropped first: the proxy, then the broker.
    proxy: TlsProxy,
    broker: Broker,
    bootstrap: String,
    ca_file: PathBuf,
    admin: (String, String),
}

impl SecuredBroker {
    /// Starts the broker with the SCRAM-SHA-512 `users` (name, password); the first one is the
    /// test's administrator (Tansu has no ACLs: every user may do everything). The TLS
    /// certificate is signed by `ca`.
    pub fn start(ca: &TestCa, users: &[(&str, &str)]) -> Result<SecuredBroker> {
        let Some((admin_user, admin_password)) = users.first() else {
            return Err(Error::Scram("give at least one user".into()));
        };
        let mut broker = Broker::start()?;
        create_scram_users(broker.bootstrap_servers(), users)?;
        let tls_port = free_port()?;
        broker.advertised_port = tls_port;
        broker.authentication = true;
        broker.restart()?;
        let upstream = ([127, 0, 0, 1], broker.port).into();
        let proxy = TlsProxy::start(tls_port, &ca.issue_for_loopback()?, upstream)?;
        let ca_file = ca.write_cert(broker.dir.path(), "ca.pem")?;
        Ok(SecuredBroker {
            proxy,
            bootstrap: format!("127.0.0.1:{tls_port}"),
            broker,
            ca_file,
            admin: ((*admin_user).to_owned(), (*admin_password).to_owned()),
        })
    }

    /// `127.0.0.1:PORT` of the TLS listener, the only address clients get.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The CA certificate (PEM) that signed the listener's certificate: `ssl.ca.location`.
    pub fn ca_location(&self) -> &Path {
        &self.ca_file
    }

    /// The port of the TLS proxy.
    pub fn tls_port(&self) -> u16 {
        self.proxy.port()
    }

    /// The broker's output.
    pub fn log_path(&self) -> PathBuf {
        self.broker.log_path()
    }

    /// librdkafka settings that log in as `user` over TLS, trusting the test CA.
    pub fn client_config(&self, user: &str, password: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", MECHANISM)
            .set("sasl.username", user)
            .set("sasl.password", password)
            .set("ssl.ca.location", self.ca_file.display().to_string());
        c
    }

    /// [`SecuredBroker::client_config`] of the administrator.
    pub fn admin_config(&self) -> ClientConfig {
        self.client_config(&self.admin.0, &self.admin.1)
    }

    /// Creates a topic as the administrator; one that exists already is left as it is.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = self
            .admin_config()
            .create()
            .map_err(|e| Error::Kafka(format!("creating an admin client: {e}")))?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        contracts_runtime::topics::create_missing(&admin, &[topic], Duration::from_secs(30))
            .await
            .map_err(|e| Error::Kafka(e.to_string()))?;
        Ok(())
    }
}

/// The Python that has PyPI confluent-kafka: `$CONFLUENT_PYTHON`, else the venv that
/// `.ci/install-clients` makes.
fn python() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CONFLUENT_PYTHON") {
        return Ok(p.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.oracles/clients/venv/bin/python");
    if venv.exists() {
        Ok(venv)
    } else {
        Err(Error::Scram(format!(
            "PyPI confluent-kafka is not installed at {}: run .ci/install-clients",
            venv.display()
        )))
    }
}

/// Upserts SCRAM-SHA-512 credentials of `users` on the broker at `bootstrap` (no
/// authentication yet). Passwords go through stdin, never the command line.
const CREATE_USERS: &str = r#"
import json, sys
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)
users = json.load(sys.stdin)
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
futures = admin.alter_user_scram_credentials(
    [UserScramCredentialUpsertion(name, info, password.encode()) for name, password in users])
for name, future in futures.items():
    future.result(timeout=30)
print("created", len(futures), "SCRAM users")
"#;

fn create_scram_users(bootstrap: &str, users: &[(&str, &str)]) -> Result<()> {
    let python = python()?;
    let mut child = Command::new(&python)
        .args(["-c", CREATE_USERS, bootstrap])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("running {}", python.display())))?;
    let input = serde_json::to_vec(users).map_err(|e| Error::Scram(e.to_string()))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(&input)
        .map_err(io("writing the users to the Python client"))?;
    let out = child
        .wait_with_output()
        .map_err(io("waiting for the Python client"))?;
    if !out.status.success() {
        return Err(Error::Scram(format!(
            "{} exited with {}: {}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}
