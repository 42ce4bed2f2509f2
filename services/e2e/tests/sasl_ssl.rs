//! The shop on a broker that takes only SASL_SSL with SCRAM-SHA-512, as managed clusters do:
//! Tansu with `--authentication` behind the test kit's TLS proxy, its certificate signed by a
//! private test CA. The shipped binaries connect as a user would: a `client.properties` file
//! (`KAFKA_PROPERTIES_FILE`), the password in a file (`KAFKA_SASL_PASSWORD_FILE`), zstd for the
//! producers (`KAFKA_PRODUCER_CONFIG`). A wrong password and an untrusted certificate each stop
//! a service and the registry with the cause, before anything is consumed or published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use contracts_testkit::{RegistryProcess, SecuredBroker, TestCa, unique_name};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use shop_e2e::{Service, bin_dir};

const USER: &str = "shop";
const PASSWORD: &str = "correct horse battery staple 7";
const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-password-3";
const TOPICS: [&str; 3] = ["orders", "inventory", "order-created-pb"];

/// One secured broker per test binary; each test uses its own topic prefix.
fn broker() -> &'static SecuredBroker {
    static BROKER: OnceLock<(TestCa, SecuredBroker)> = OnceLock::new();
    &BROKER
        .get_or_init(|| {
            let ca = TestCa::new("event-contracts test CA").expect("a test CA");
            let broker = SecuredBroker::start(&ca, &[(ADMIN, ADMIN_PASSWORD), (USER, PASSWORD)])
                .unwrap_or_else(|e| panic!("cannot start the secured broker: {e}"));
            (ca, broker)
        })
        .1
}

/// What a user writes: a `client.properties` without the password, and the password in a
/// file of its own.
struct Credentials {
    properties: PathBuf,
    password_file: PathBuf,
}

fn credentials(dir: &Path, password: &str, trust_the_ca: bool) -> Credentials {
    let broker = broker();
    let mut text = format!(
        "# The cluster, as a managed Kafka hands it out\n\
         bootstrap.servers={}\n\
         security.protocol=SASL_SSL\n\
         sasl.mechanism=SCRAM-SHA-512\n\
         sasl.username={USER}\n",
        broker.bootstrap_servers()
    );
    if trust_the_ca {
        text.push_str(&format!(
            "ssl.ca.location={}\n",
            broker.ca_location().display()
        ));
    }
    let properties = dir.join("client.properties");
    std::fs::write(&properties, text).unwrap();
    let password_file = dir.join("kafka-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    Credentials {
        properties,
        password_file,
    }
}

fn kafka_env(c: &Credentials) -> Vec<(&'static str, String)> {
    vec![
        ("KAFKA_PROPERTIES_FILE", c.properties.display().to_string()),
        (
            "KAFKA_SASL_PASSWORD_FILE",
            c.password_file.display().to_string(),
        ),
        ("KAFKA_PRODUCER_CONFIG", "compression.type=zstd".to_owned()),
    ]
}

async fn create_topics(prefix: &str) {
    for topic in TOPICS {
        broker()
            .create_topic(&format!("{prefix}{topic}"), 3)
            .await
            .unwrap();
    }
}

fn registry(c: &Credentials, topic: &str) -> contracts_testkit::Result<RegistryProcess> {
    let mut env = kafka_env(c);
    // A failed start is reported with the end of the log: the cause, not a backtrace.
    env.push(("RUST_BACKTRACE", "0".to_owned()));
    RegistryProcess::spawn_with(&bin_dir().join("contracts-registry"), &[], topic, &env)
}

fn service(
    name: &'static str,
    var: &str,
    dir: &Path,
    env: &[(&'static str, String)],
    own: &[(&'static str, String)],
) -> Service {
    let all: Vec<(&str, String)> = env.iter().chain(own).cloned().collect();
    Service::new(name, var, dir, &all)
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_flow_to_their_mail_over_sasl_ssl_with_scram_and_zstd() {
    let prefix = format!("{}.", unique_name("secure"));
    create_topics(&prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials(dir.path(), PASSWORD, true);
    let registry = registry(&creds, &format!("{prefix}_schemas")).unwrap();
    let mut env = kafka_env(&creds);
    env.extend([
        ("SCHEMA_REGISTRY_URL", registry.url().to_owned()),
        ("KAFKA_TOPIC_PREFIX", prefix.clone()),
    ]);
    let d = dir.path();
    let mut order = service(
        "order-service",
        "ORDER_LISTEN",
        d,
        &env,
        &[("ORDER_DB", path(d, "order.db"))],
    );
    let mut inventory = service(
        "inventory-service",
        "INVENTORY_LISTEN",
        d,
        &env,
        &[
            ("INVENTORY_DB", path(d, "inventory.db")),
            ("INVENTORY_STOCK", "tea=10,coffee=0".into()),
        ],
    );
    let mut notification = service(
        "notification-service",
        "NOTIFICATION_LISTEN",
        d,
        &env,
        &[
            ("NOTIFICATION_DB", path(d, "notification.db")),
            ("NOTIFICATION_MAILBOX_DIR", path(d, "mailbox")),
        ],
    );
    for s in [&mut order, &mut inventory, &mut notification] {
        s.start();
    }
    for s in [&mut order, &mut inventory, &mut notification] {
        s.wait_healthy(Duration::from_secs(120)).await;
        let log = s.log_text();
        assert!(log.contains("connected to Kafka"), "{}: {log}", s.name);
        assert!(!log.contains(PASSWORD), "{} logged the password", s.name);
    }

    let client = reqwest::Client::new();
    let mut placed = BTreeMap::new();
    for (customer, product, outcome) in [
        ("ada@example.com", "tea", "confirmed"),
        ("bob@example.com", "coffee", "rejected"),
    ] {
        let r = client
            .post(format!("{}/orders", order.url()))
            .json(
                &json!({"customer": customer, "line_items": [{"product": product, "quantity": 1}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        placed.insert(
            customer.to_owned(),
            vec![
                format!("{id}.0.received.eml"),
                format!("{id}.1.{outcome}.eml"),
            ],
        );
    }
    let mailbox = dir.path().join("mailbox");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = mail(&mailbox);
        if got == placed || Instant::now() > deadline {
            assert_eq!(got, placed, "each customer's mail");
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for s in [&order, &inventory, &notification] {
        assert!(
            !s.log_text().contains(PASSWORD),
            "{} logged the password",
            s.name
        );
    }
    assert!(!registry.log_text().contains(PASSWORD));
}

/// Every `.eml` file under the mailbox, per customer, sorted.
fn mail(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let Ok(customers) = std::fs::read_dir(dir) else {
        return out;
    };
    for c in customers {
        let c = c.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(c.path())
            .unwrap()
            .map(|f| f.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".eml"))
            .collect();
        names.sort();
        out.insert(c.file_name().into_string().unwrap(), names);
    }
    out
}

/// Runs inventory-service (it consumes `orders` and publishes to `inventory`) with `creds`,
/// after one record was put on `orders` for it to consume; returns its log once it exited,
/// having checked that it exited with a failure and that it consumed and published nothing.
async fn inventory_refused(prefix: &str, dir: &Path, creds: &Credentials) -> String {
    create_topics(prefix).await;
    let orders = format!("{prefix}orders");
    let producer: FutureProducer = broker().admin_config().create().unwrap();
    producer
        .send(
            FutureRecord::to(&orders)
                .key("k")
                .payload("not even a valid event"),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let mut env = kafka_env(creds);
    env.extend([
        ("KAFKA_TOPIC_PREFIX", prefix.to_owned()),
        // Nothing may get as far as the registry.
        ("SCHEMA_REGISTRY_URL", "http://127.0.0.1:9".to_owned()),
    ]);
    let mut inventory = service(
        "inventory-service",
        "INVENTORY_LISTEN",
        dir,
        &env,
        &[("INVENTORY_DB", path(dir, "inventory.db"))],
    );
    inventory.start();
    let status = inventory
        .wait_exit(Duration::from_secs(120))
        .await
        .unwrap_or_else(|| panic!("still running: {}", inventory.log_text()));
    assert!(!status.success(), "{status}");
    let log = inventory.log_text();
    assert!(!log.contains(PASSWORD), "{log}");
    assert!(!log.contains("inventory-service started"), "{log}");

    // Nothing consumed: the group committed nothing; nothing published or provisioned.
    let group = events::services::inventory::SERVICE.consumer_group;
    let admin: BaseConsumer = broker()
        .admin_config()
        .set("group.id", group)
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    for p in 0..3 {
        partitions.add_partition(&orders, p);
    }
    let committed = admin
        .committed_offsets(partitions, Duration::from_secs(30))
        .unwrap();
    for e in committed.elements() {
        assert_eq!(e.offset(), Offset::Invalid, "{} committed", e.partition());
    }
    for p in 0..3 {
        let (_, high) = admin
            .fetch_watermarks(&format!("{prefix}inventory"), p, Duration::from_secs(30))
            .unwrap();
        assert_eq!(high, 0, "inventory partition {p} was written");
    }
    let metadata = admin.fetch_metadata(None, Duration::from_secs(30)).unwrap();
    let dlt = format!("{orders}.DLT");
    assert!(
        metadata.topics().iter().all(|t| t.name() != dlt),
        "the dead-letter topic was created"
    );
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_stops_a_service_and_the_registry_with_the_cause_having_done_nothing() {
    let prefix = format!("{}.", unique_name("wrong-pw"));
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials(dir.path(), "not the password", true);
    let cause = "Kafka SASL authentication failed for user 'shop' (SCRAM-SHA-512): check \
                 sasl.username / the password";

    let log = inventory_refused(&prefix, dir.path(), &creds).await;
    assert!(log.contains(cause), "{log}");
    assert!(!log.contains("not the password"), "{log}");

    let err = registry(&creds, &format!("{prefix}_schemas")).unwrap_err();
    let err = err.to_string();
    assert!(err.contains(cause), "{err}");
    let metadata = broker()
        .admin_config()
        .create::<BaseConsumer>()
        .unwrap()
        .fetch_metadata(None, Duration::from_secs(30))
        .unwrap();
    assert!(
        metadata
            .topics()
            .iter()
            .all(|t| t.name() != format!("{prefix}_schemas")),
        "the registry created its topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_broker_certificate_stops_a_service_with_the_cause_having_done_nothing() {
    let prefix = format!("{}.", unique_name("untrusted"));
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials(dir.path(), PASSWORD, false);
    let log = inventory_refused(&prefix, dir.path(), &creds).await;
    let cause = format!(
        "the broker's TLS certificate at {} is not trusted (certificate verify failed): set \
         ssl.ca.location to the CA that signed it",
        broker().bootstrap_servers()
    );
    assert!(log.contains(&cause), "{log}");
}
