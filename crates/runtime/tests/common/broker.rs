//! A Tansu broker for the tests of this crate, started once per test binary.
//! (Stand-in for `contracts-testkit`, which will replace it.)

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

#[derive(Debug)]
pub struct Broker {
    bootstrap: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("admin client");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin
            .create_topics([&topic], &AdminOptions::new())
            .await
            .expect("create topic");
        for r in results {
            r.expect("topic created");
        }
    }
}

fn tansu() -> PathBuf {
    if let Ok(p) = std::env::var("TANSU_BIN") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cargo/bin/tansu")
}

/// The broker shared by the tests of one test binary; a watchdog stops it when the test
/// process exits.
pub fn shared() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("tcp://127.0.0.1:{port}");
        let script = format!(
            "'{bin}' broker --listener-url {url} --advertised-listener-url {url} \
             --storage-engine 'sqlite://broker.db?maintenance_interval=5s' >broker.log 2>&1 & b=$!; \
             while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
             kill $b; sleep 3; kill -9 $b 2>/dev/null",
            bin = tansu().display(),
            parent = std::process::id()
        );
        // The shell outlives this call on purpose: it is the watchdog that stops the broker.
        // A thread reaps it when it ends.
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .spawn()
            .expect("start tansu");
        std::thread::spawn(move || watchdog.wait());
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            bootstrap: format!("127.0.0.1:{port}"),
            _dir: dir,
        }
    })
}
