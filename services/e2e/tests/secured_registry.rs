//! The registry binary with users, as an operator runs it: `contracts-registry` with an auth
//! file (`REGISTRY_AUTH_FILE`) whose passwords and token were hashed by `contracts registry
//! hash-password`, HTTPS with a certificate from a private CA, and client certificates
//! (`--tls-client-ca`, `--tls-client-auth`). Then the three services against it, with the CA
//! (`SCHEMA_REGISTRY_CA`), a client certificate (`SCHEMA_REGISTRY_CERT`/`_KEY`) and their
//! credentials from files (`SCHEMA_REGISTRY_AUTH_FILE`, `SCHEMA_REGISTRY_TOKEN_FILE`): an order
//! reaches its mail; a service without the CA, without a client certificate or with a wrong
//! password stops at start with what to change. No log shows a password or token.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use contracts_process::Process;
use contracts_testkit::{TestCa, shared_broker, unique_name};
use serde_json::{Value, json};
use shop_e2e::{Backends, Service, bin_dir, free_port, service_env};

const ADMIN_PW: &str = "admin-pw-e2e-5c0d";
const READER_PW: &str = "reader-pw-e2e-91aa";
const CI_PW: &str = "ci-pw-e2e-3b7f";
const SHOP_PW: &str = "shop-pw-e2e-d2e4";
const TOKEN: &str = "svc-token-e2e-0f4c2b9a7d1e5f3a8c6b4d2e0f1a3c5b";
const SECRETS: [&str; 5] = [ADMIN_PW, READER_PW, CI_PW, SHOP_PW, TOKEN];

/// What the auth file stores for one user, printed by `contracts registry hash-password`.
fn hashed_user(name: &str, secret: &str, token: bool) -> Value {
    let mut args = vec!["registry", "hash-password", "--user", name];
    if token {
        args.push("--token");
    }
    let mut child = Command::new(bin_dir().join("contracts"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(secret), "hash-password printed the secret");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Users: admin (everything), reader (reads), ci (writes `orders-*`), shop (writes every
/// subject, for the services), svc (a bearer token, writes every subject), and two users named
/// by client certificates: orders-service (reads `orders-*`), notification-service (reads).
fn auth_file(path: &Path) {
    let file = json!({
        "users": [
            hashed_user("admin", ADMIN_PW, false),
            hashed_user("reader", READER_PW, false),
            hashed_user("ci", CI_PW, false),
            hashed_user("shop", SHOP_PW, false),
            hashed_user("svc", TOKEN, true),
            {"username": "orders-service"},
            {"username": "notification-service"}
        ],
        "permissions": [
            {"username": "admin", "operation": "admin", "resource": "Config:"},
            {"username": "admin", "operation": "admin", "resource": "Subject:*"},
            {"username": "reader", "operation": "read", "resource": "Subject:*"},
            {"username": "ci", "operation": "write", "resource": "Subject:orders-*"},
            {"username": "shop", "operation": "write", "resource": "Subject:*"},
            {"username": "svc", "operation": "write", "resource": "Subject:*"},
            {"username": "orders-service", "operation": "read", "resource": "Subject:orders-*"},
            {"username": "notification-service", "operation": "read", "resource": "Subject:*"}
        ]
    });
    std::fs::write(path, file.to_string()).unwrap();
}

/// The private CA, the registry's certificate and two client certificates, as PEM files.
struct Pki {
    _ca: TestCa,
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let ca = TestCa::new("shop private CA").unwrap();
        ca.write_cert(dir, "ca.pem").unwrap();
        let server = ca.issue_for_loopback().unwrap();
        std::fs::write(dir.join("registry.pem"), &server.chain_pem).unwrap();
        std::fs::write(dir.join("registry.key"), &server.key_pem).unwrap();
        for cn in ["orders-service", "notification-service"] {
            let client = ca.issue_client(cn).unwrap();
            std::fs::write(dir.join(format!("{cn}.pem")), &client.chain_pem).unwrap();
            std::fs::write(dir.join(format!("{cn}.key")), &client.key_pem).unwrap();
        }
        Pki {
            _ca: ca,
            dir: dir.to_owned(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// An HTTPS client trusting the CA, presenting the certificate of `cn` if given.
    fn http(&self, cn: Option<&str>) -> reqwest::Client {
        let ca = std::fs::read(self.path("ca.pem")).unwrap();
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
        if let Some(cn) = cn {
            let mut pem = std::fs::read(self.path(&format!("{cn}.pem"))).unwrap();
            pem.extend(std::fs::read(self.path(&format!("{cn}.key"))).unwrap());
            builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    }
}

/// `contracts-registry` on the shared broker, serving HTTPS with the auth file, client
/// certificates `client_auth` (`optional` or `required`), JSON logs.
struct Registry {
    process: Process,
    url: String,
}

async fn start_registry(pki: &Pki, client_auth: &str) -> Registry {
    let auth = pki.dir.join("auth.json");
    auth_file(&auth);
    let port = free_port();
    let mut cmd = Command::new(bin_dir().join("contracts-registry"));
    cmd.args([
        "--bootstrap-servers".to_owned(),
        shared_broker().bootstrap_servers().to_owned(),
        "--topic".to_owned(),
        unique_name("_schemas"),
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
        "--tls-cert".to_owned(),
        pki.path("registry.pem"),
        "--tls-key".to_owned(),
        pki.path("registry.key"),
        "--tls-client-ca".to_owned(),
        pki.path("ca.pem"),
        "--tls-client-auth".to_owned(),
        client_auth.to_owned(),
    ])
    .env("REGISTRY_AUTH_FILE", &auth)
    .env("LOG_FORMAT", "json")
    .env("RUST_LOG", "info")
    .env("RUST_BACKTRACE", "0");
    let mut process =
        Process::spawn("contracts-registry", cmd, &pki.dir.join("registry.log")).unwrap();
    let url = format!("https://127.0.0.1:{port}");
    // /health is open; with client certificates required, the handshake still needs one.
    let http = pki.http(Some("orders-service"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{url}/health")).send().await
            && r.status() == 200
        {
            break;
        }
        if let Err(exited) = process.check_alive() {
            panic!("{exited}");
        }
        assert!(
            Instant::now() < deadline,
            "the registry is not healthy: {}",
            process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Registry { process, url }
}

fn record(fields: &[&str]) -> Value {
    let fields: Vec<Value> = fields
        .iter()
        .map(|f| json!({"name": f, "type": "string", "default": ""}))
        .collect();
    json!({"schema": json!({"type": "record", "name": "Order", "fields": fields}).to_string()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_binary_checks_users_tokens_and_client_certificates_and_audits_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let mut registry = start_registry(&pki, "optional").await;
    let url = registry.url.clone();
    let http = pki.http(None);
    let status = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap().status() };
    let register = |subject: &str| {
        http.post(format!("{url}/subjects/{subject}/versions"))
            .json(&record(&["id"]))
    };

    assert_eq!(status(http.get(format!("{url}/health"))).await, 200);
    assert_eq!(status(register("orders-value")).await, 401);
    let reader = |req: reqwest::RequestBuilder| req.basic_auth("reader", Some(READER_PW));
    assert_eq!(status(reader(register("orders-value"))).await, 403);
    let ci = |req: reqwest::RequestBuilder| req.basic_auth("ci", Some(CI_PW));
    assert_eq!(status(ci(register("orders-value"))).await, 200);
    assert_eq!(status(ci(register("payments-value"))).await, 403);
    let none = json!({"compatibility": "NONE"});
    let readonly = json!({"mode": "READONLY"});
    // Neither reading nor writing lets a user delete or change a level or mode.
    for (user, pw) in [("reader", READER_PW), ("ci", CI_PW)] {
        let delete = http.delete(format!("{url}/subjects/orders-value"));
        assert_eq!(status(delete.basic_auth(user, Some(pw))).await, 403);
        let config = http.put(format!("{url}/config/orders-value")).json(&none);
        assert_eq!(status(config.basic_auth(user, Some(pw))).await, 403);
        let mode = http.put(format!("{url}/mode/orders-value")).json(&readonly);
        assert_eq!(status(mode.basic_auth(user, Some(pw))).await, 403);
    }

    // A bearer token, and a client certificate naming its user.
    let subjects = http
        .get(format!("{url}/subjects"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(subjects.status(), 200);
    assert_eq!(
        subjects.json::<Value>().await.unwrap(),
        json!(["orders-value"])
    );
    let wrong = http
        .get(format!("{url}/subjects"))
        .bearer_auth("x".repeat(40));
    assert_eq!(status(wrong).await, 401);
    let by_cert = pki.http(Some("orders-service"));
    let versions = by_cert
        .get(format!("{url}/subjects/orders-value/versions"))
        .send()
        .await
        .unwrap();
    assert_eq!(versions.status(), 200);
    assert_eq!(versions.json::<Value>().await.unwrap(), json!([1]));
    let cert_write = by_cert
        .post(format!("{url}/subjects/orders-value/versions"))
        .json(&record(&["id", "note"]));
    assert_eq!(
        status(cert_write).await,
        403,
        "the certificate's user only reads"
    );

    let admin = |req: reqwest::RequestBuilder| req.basic_auth("admin", Some(ADMIN_PW));
    let global = http
        .put(format!("{url}/config"))
        .json(&json!({"compatibility": "FULL"}));
    assert_eq!(status(admin(global)).await, 200);
    let mode = http
        .put(format!("{url}/mode/orders-value"))
        .json(&json!({"mode": "READWRITE"}));
    assert_eq!(status(admin(mode)).await, 200);
    let delete = http.delete(format!("{url}/subjects/orders-value"));
    assert_eq!(status(admin(delete)).await, 200);

    assert!(registry.process.stop(Duration::from_secs(10)).is_some());
    let log = registry.process.log_text();
    let audit: Vec<(String, String, String, u64)> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "audit")
        .map(|l| {
            let f = &l;
            (
                f["user"].as_str().unwrap().to_owned(),
                f["method"].as_str().unwrap().to_owned(),
                f["subject"].as_str().unwrap().to_owned(),
                f["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let line = |user: &str, method: &str, subject: &str, status: u64| {
        (
            user.to_owned(),
            method.to_owned(),
            subject.to_owned(),
            status,
        )
    };
    for want in [
        line("anonymous", "POST", "orders-value", 401),
        line("reader", "POST", "orders-value", 403),
        line("ci", "POST", "orders-value", 200),
        line("ci", "POST", "payments-value", 403),
        line("reader", "DELETE", "orders-value", 403),
        line("ci", "PUT", "orders-value", 403),
        line("orders-service", "POST", "orders-value", 403),
        line("admin", "PUT", "", 200),
        line("admin", "PUT", "orders-value", 200),
        line("admin", "DELETE", "orders-value", 200),
    ] {
        assert!(audit.contains(&want), "no audit line {want:?} in {audit:?}");
    }
    // One line per change: 5 registrations (1 allowed), 6 refused deletes, levels and modes,
    // 3 by the admin; reads leave none.
    assert_eq!(audit.len(), 14, "{audit:?}");
    for secret in SECRETS {
        assert!(
            !log.contains(secret),
            "the registry logged a secret:\n{log}"
        );
    }
}

/// Every `.eml` file name under `dir`, at any depth.
fn mail(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(mail(&path));
        } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && name.ends_with(".eml")
        {
            out.push(name.to_owned());
        }
    }
    out
}

/// Runs `service` with `env` until it exits by itself; its log, having checked it failed.
async fn refused_start(
    name: &'static str,
    listen: &str,
    dir: &Path,
    env: &[(&str, String)],
) -> String {
    let mut service = Service::new(name, listen, dir, env);
    service.start();
    let status = service
        .wait_exit(Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("{name} still runs: {}", service.log_text()));
    assert!(!status.success(), "{status}");
    let log = service.log_text();
    assert!(!log.contains(&format!("{name} started")), "{log}");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_use_a_registry_with_users_and_stop_at_start_without_its_ca_a_client_certificate_or_the_right_password()
 {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new(d);
    let registry = start_registry(&pki, "required").await;
    let broker = shared_broker();
    let prefix = format!("{}.", unique_name("registry-users"));
    for topic in ["orders", "inventory", "order-created-pb"] {
        broker
            .create_topic(&format!("{prefix}{topic}"), 1)
            .await
            .unwrap();
    }
    std::fs::write(d.join("registry-auth"), format!("shop:{SHOP_PW}\n")).unwrap();
    std::fs::write(d.join("registry-token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(d.join("wrong-auth"), "shop:not-the-shop-password\n").unwrap();
    let backends = Backends {
        bootstrap_servers: broker.bootstrap_servers(),
        registry_url: &registry.url,
        topic_prefix: &prefix,
    };
    // Every service trusts the CA and presents a client certificate (required here); order-
    // and inventory-service log in with a password and a token, notification-service as the
    // user its certificate names.
    let env = |service: &str, cn: &str, sub: &str| {
        let dir = d.join(sub);
        std::fs::create_dir_all(&dir).unwrap();
        let mut env = service_env(service, &dir, Some(&backends));
        env.extend([
            ("SCHEMA_REGISTRY_CA", pki.path("ca.pem")),
            ("SCHEMA_REGISTRY_CERT", pki.path(&format!("{cn}.pem"))),
            ("SCHEMA_REGISTRY_KEY", pki.path(&format!("{cn}.key"))),
        ]);
        env
    };
    let mut order_env = env("order-service", "orders-service", "order");
    order_env.push(("SCHEMA_REGISTRY_AUTH_FILE", path(d, "registry-auth")));
    let mut inventory_env = env("inventory-service", "orders-service", "inventory");
    inventory_env.extend([
        ("SCHEMA_REGISTRY_TOKEN_FILE", path(d, "registry-token")),
        ("INVENTORY_STOCK", "tea=10".to_owned()),
    ]);
    let notification_env = env(
        "notification-service",
        "notification-service",
        "notification",
    );
    let mut order = Service::new("order-service", "ORDER_LISTEN", d, &order_env);
    let mut inventory = Service::new("inventory-service", "INVENTORY_LISTEN", d, &inventory_env);
    let mut notification = Service::new(
        "notification-service",
        "NOTIFICATION_LISTEN",
        d,
        &notification_env,
    );
    for s in [&mut order, &mut inventory, &mut notification] {
        s.start();
    }
    for s in [&mut order, &mut inventory, &mut notification] {
        s.wait_healthy(Duration::from_secs(120)).await;
        let log = s.log_text();
        assert!(
            log.contains("connected to the schema registry"),
            "{}: {log}",
            s.name
        );
    }

    let placed = reqwest::Client::new()
        .post(format!("{}/orders", order.url()))
        .json(&json!({"customer": "ada@example.com", "line_items": [{"product": "tea", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);
    let id = placed.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let want = vec![
        format!("{id}.0.received.eml"),
        format!("{id}.1.confirmed.eml"),
    ];
    let mailbox = d.join("notification").join("mailbox");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut got = mail(&mailbox);
        got.sort();
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the order's mail: {got:?}; notification-service log:\n{}",
            notification.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Without the CA: the registry's certificate is not trusted, and the error says what to set.
    let mut no_ca = env("inventory-service", "orders-service", "no-ca");
    no_ca.retain(|(k, _)| *k != "SCHEMA_REGISTRY_CA");
    no_ca.push(("SCHEMA_REGISTRY_TOKEN_FILE", path(d, "registry-token")));
    let log = refused_start(
        "inventory-service",
        "INVENTORY_LISTEN",
        &d.join("no-ca"),
        &no_ca,
    )
    .await;
    assert!(
        log.contains(&format!(
            "the schema registry's TLS certificate at {} is not trusted",
            registry.url
        )) && log.contains("SCHEMA_REGISTRY_CA"),
        "{log}"
    );

    // No client certificate where the registry requires one: the TLS connection is refused.
    let mut no_cert = env("inventory-service", "orders-service", "no-cert");
    no_cert.retain(|(k, _)| !matches!(*k, "SCHEMA_REGISTRY_CERT" | "SCHEMA_REGISTRY_KEY"));
    no_cert.push(("SCHEMA_REGISTRY_TOKEN_FILE", path(d, "registry-token")));
    let log = refused_start(
        "inventory-service",
        "INVENTORY_LISTEN",
        &d.join("no-cert"),
        &no_cert,
    )
    .await;
    assert!(
        log.contains(&format!(
            "the schema registry at {} refused the TLS connection",
            registry.url
        )) && log.contains("SCHEMA_REGISTRY_CERT"),
        "{log}"
    );

    // A wrong password: 401, the registry's URL, not the password.
    let mut wrong = env("order-service", "orders-service", "wrong");
    wrong.push(("SCHEMA_REGISTRY_AUTH_FILE", path(d, "wrong-auth")));
    let log = refused_start("order-service", "ORDER_LISTEN", &d.join("wrong"), &wrong).await;
    assert!(
        log.contains(&format!(
            "the schema registry at {} refused the credentials (401",
            registry.url
        )),
        "{log}"
    );
    assert!(!log.contains("not-the-shop-password"), "{log}");

    for s in [&order, &inventory, &notification] {
        let log = s.log_text();
        for secret in SECRETS {
            assert!(!log.contains(secret), "{} logged a secret:\n{log}", s.name);
        }
    }
    let registry_log = registry.process.log_text();
    for secret in SECRETS {
        assert!(!registry_log.contains(secret), "{registry_log}");
    }
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}
