//! Users, permissions, client certificates and the audit log, over real sockets: each role
//! against each route, bearer tokens, mTLS identities, and PyPI confluent-kafka's client with
//! basic auth against a registry whose HTTPS certificate comes from a private CA.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use contracts_core::secret::Secret;
use contracts_registry::auth::{hash_password, token_digest};
use contracts_registry::{Auth, RouterOptions, Server, ServerConfig, TlsFiles};
use contracts_registry_client::client::Client;
use serde_json::{Value, json};

const TOKEN: &str = "tok-4f1c9a7e0b2d45c6a8e3f7b1c9d2e6a0";

fn order_schema(fields: &[&str]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|f| json!({"name": f, "type": "string", "default": ""}))
        .collect();
    json!({"type": "record", "name": "Order", "fields": fields}).to_string()
}

/// Users: admin (everything), reader (reads every subject), ci (writes `orders-*`), svc (a
/// bearer token reading `orders-*`), orders-service (a client certificate reading `orders-*`).
fn auth_file() -> String {
    let admin = hash_password(&Secret::new("admin-pw")).unwrap();
    let reader = hash_password(&Secret::new("reader-pw")).unwrap();
    let ci = hash_password(&Secret::new("ci-password")).unwrap();
    json!({
        "users": [
            {"username": "admin", "password_hash": admin},
            {"username": "reader", "password_hash": reader},
            {"username": "ci", "password_hash": ci},
            {"username": "svc", "token_sha256": [token_digest(&Secret::new(TOKEN))]},
            {"username": "orders-service"}
        ],
        "permissions": [
            {"username": "admin", "operation": "admin", "resource": "Config:"},
            {"username": "admin", "operation": "admin", "resource": "Subject:*"},
            {"username": "reader", "operation": "read", "resource": "Subject:*"},
            {"username": "ci", "operation": "write", "resource": "Subject:orders-*"},
            {"username": "svc", "operation": "read", "resource": "Subject:orders-*"},
            {"username": "orders-service", "operation": "read", "resource": "Subject:orders-*"}
        ]
    })
    .to_string()
}

fn auth() -> Arc<Auth> {
    static AUTH: OnceLock<String> = OnceLock::new();
    Arc::new(Auth::parse(AUTH.get_or_init(auth_file)).unwrap())
}

/// A registry with the auth file, holding orders-value v1 (id 1) and payments-value v1 (id 2).
async fn seeded(config: ServerConfig) -> Server {
    let server = Server::start_in_memory(config).await.unwrap();
    let r = server.registry();
    for (subject, schema) in [
        ("orders-value", order_schema(&["id"])),
        ("payments-value", order_schema(&["payment"])),
    ] {
        let req = contracts_registry_client::api::RegisterSchemaRequest {
            schema,
            ..Default::default()
        };
        r.register(subject, &req, false).await.unwrap();
    }
    server
}

fn with_auth() -> ServerConfig {
    ServerConfig {
        router: RouterOptions {
            auth: Some(auth()),
            ..RouterOptions::default()
        },
        ..ServerConfig::default()
    }
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Anonymous,
    Reader,
    Writer,
    Admin,
}

impl Who {
    fn apply(self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Who::Anonymous => req,
            Who::Reader => req.basic_auth("reader", Some("reader-pw")),
            Who::Writer => req.basic_auth("ci", Some("ci-password")),
            Who::Admin => req.basic_auth("admin", Some("admin-pw")),
        }
    }
}

/// One request and the status each role gets: [anonymous, reader, writer on orders-*, admin].
struct Row(&'static str, &'static str, Option<Value>, [u16; 4]);

fn table() -> Vec<Row> {
    let v2 = json!({"schema": order_schema(&["id", "note"])});
    let v1 = json!({"schema": order_schema(&["id"])});
    let pay = json!({"schema": order_schema(&["payment", "note"])});
    let none = json!({"compatibility": "NONE"});
    let rw = json!({"mode": "READWRITE"});
    // 401 without credentials everywhere but /health and /metrics; 403 when not permitted.
    vec![
        Row("GET", "/health", None, [200, 200, 200, 200]),
        Row("GET", "/ready", None, [200, 200, 200, 200]),
        Row("GET", "/metrics", None, [200, 200, 200, 200]),
        Row("GET", "/", None, [401, 200, 200, 200]),
        Row("GET", "/schemas", None, [401, 200, 200, 200]),
        Row("GET", "/schemas/types", None, [401, 200, 200, 200]),
        Row("GET", "/schemas/ids/1", None, [401, 200, 200, 200]),
        Row("GET", "/schemas/ids/1/schema", None, [401, 200, 200, 200]),
        Row("GET", "/schemas/ids/1/subjects", None, [401, 200, 200, 200]),
        Row("GET", "/schemas/ids/1/versions", None, [401, 200, 200, 200]),
        Row("GET", "/schemas/ids/2", None, [401, 200, 403, 200]),
        Row("GET", "/subjects", None, [401, 200, 200, 200]),
        Row(
            "POST",
            "/subjects/orders-value",
            Some(v1),
            [401, 200, 200, 200],
        ),
        Row(
            "GET",
            "/subjects/orders-value/versions",
            None,
            [401, 200, 200, 200],
        ),
        Row(
            "GET",
            "/subjects/payments-value/versions",
            None,
            [401, 200, 403, 200],
        ),
        Row(
            "GET",
            "/subjects/orders-value/versions/1",
            None,
            [401, 200, 200, 200],
        ),
        Row(
            "GET",
            "/subjects/orders-value/versions/1/schema",
            None,
            [401, 200, 200, 200],
        ),
        Row(
            "GET",
            "/subjects/orders-value/versions/1/referencedby",
            None,
            [401, 200, 200, 200],
        ),
        Row(
            "POST",
            "/compatibility/subjects/orders-value/versions",
            Some(v2.clone()),
            [401, 200, 200, 200],
        ),
        Row(
            "POST",
            "/compatibility/subjects/orders-value/versions/1",
            Some(v2.clone()),
            [401, 200, 200, 200],
        ),
        Row(
            "POST",
            "/compatibility/subjects/payments-value/versions",
            Some(pay.clone()),
            [401, 200, 403, 200],
        ),
        // Registering needs write on the subject.
        Row(
            "POST",
            "/subjects/orders-value/versions",
            Some(v2),
            [401, 403, 200, 200],
        ),
        Row(
            "POST",
            "/subjects/payments-value/versions",
            Some(pay),
            [401, 403, 403, 200],
        ),
        Row("GET", "/config", None, [401, 200, 200, 200]),
        Row("GET", "/mode", None, [401, 200, 200, 200]),
        Row(
            "GET",
            "/config/orders-value?defaultToGlobal=true",
            None,
            [401, 200, 200, 200],
        ),
        Row(
            "GET",
            "/mode/orders-value?defaultToGlobal=true",
            None,
            [401, 200, 200, 200],
        ),
        // Levels, modes and deletes need admin.
        Row(
            "PUT",
            "/config/orders-value",
            Some(none.clone()),
            [401, 403, 403, 200],
        ),
        Row("DELETE", "/config/orders-value", None, [401, 403, 403, 200]),
        Row(
            "PUT",
            "/mode/orders-value",
            Some(rw.clone()),
            [401, 403, 403, 200],
        ),
        Row("DELETE", "/mode/orders-value", None, [401, 403, 403, 200]),
        Row("PUT", "/config", Some(none), [401, 403, 403, 200]),
        Row("DELETE", "/config", None, [401, 403, 403, 200]),
        Row("PUT", "/mode", Some(rw), [401, 403, 403, 200]),
        Row("DELETE", "/mode", None, [401, 403, 403, 200]),
        Row(
            "DELETE",
            "/subjects/orders-value/versions/1",
            None,
            [401, 403, 403, 200],
        ),
        Row(
            "DELETE",
            "/subjects/orders-value",
            None,
            [401, 403, 403, 200],
        ),
        Row(
            "DELETE",
            "/subjects/payments-value",
            None,
            [401, 403, 403, 200],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_gets_what_its_permissions_allow_on_each_route() {
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    for (i, who) in [Who::Anonymous, Who::Reader, Who::Writer, Who::Admin]
        .into_iter()
        .enumerate()
    {
        // A fresh registry per role, so one role's changes do not decide another's answers.
        let server = seeded(with_auth()).await;
        for Row(method, path, body, expected) in table() {
            let mut req = http.request(method.parse().unwrap(), format!("{}{path}", server.url()));
            if let Some(body) = &body {
                req = req
                    .header("content-type", "application/vnd.schemaregistry.v1+json")
                    .body(body.to_string());
            }
            let res = who.apply(req).send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            if status != expected[i] {
                failures.push(format!(
                    "{who:?} {method} {path}: {status} (expected {}): {text}",
                    expected[i]
                ));
            }
            if status == 403 {
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["error_code"], 40301, "{text}");
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains("is denied operation"),
                    "{text}"
                );
            }
            if status == 401 {
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["error_code"], 401, "{text}");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn lists_show_only_the_subjects_a_user_may_read() {
    let server = seeded(with_auth()).await;
    let http = reqwest::Client::new();
    let get = |user: &'static str, pw: &'static str, path: &'static str| {
        http.get(format!("{}{path}", server.url()))
            .basic_auth(user, Some(pw))
            .send()
    };
    let subjects: Value = get("ci", "ci-password", "/subjects")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(subjects, json!(["orders-value"]));
    let subjects: Value = get("reader", "reader-pw", "/subjects")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(subjects, json!(["orders-value", "payments-value"]));
    let schemas: Value = get("ci", "ci-password", "/schemas")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = schemas
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subject"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders-value"]);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_tokens_get_401_and_a_known_token_its_permissions() {
    let server = seeded(with_auth()).await;
    let url = format!("{}/subjects/orders-value/versions", server.url());
    let http = reqwest::Client::new();
    let wrong = http
        .get(&url)
        .basic_auth("ci", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().contains_key("www-authenticate"));
    let unknown_user = http
        .get(&url)
        .basic_auth("mallory", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_user.status(), 401);
    let unknown_token = http
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_token.status(), 401);
    let other_scheme = http
        .get(&url)
        .header("authorization", "Digest username=ci")
        .send()
        .await
        .unwrap();
    assert_eq!(other_scheme.status(), 401);

    // The registry client with a bearer token: reads orders-*, nothing else.
    let svc = Client::builder(&server.url())
        .bearer_token(Secret::new(TOKEN))
        .build()
        .unwrap();
    assert_eq!(svc.versions("orders-value").await.unwrap(), vec![1]);
    let e = svc.versions("payments-value").await.unwrap_err();
    assert_eq!(
        (e.status(), e.error_code()),
        (Some(403), Some(40301)),
        "{e}"
    );
}

#[tokio::test]
async fn health_and_metrics_can_be_protected_by_the_auth_file() {
    let file = json!({
        "users": [{"username": "ops", "password_hash": hash_password(&Secret::new("ops-pw")).unwrap()}],
        "protect_health": true,
        "protect_metrics": true
    });
    let server = Server::start_in_memory(ServerConfig {
        router: RouterOptions {
            auth: Some(Arc::new(Auth::parse(&file.to_string()).unwrap())),
            ..RouterOptions::default()
        },
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    for path in ["/health", "/metrics"] {
        let url = format!("{}{path}", server.url());
        assert_eq!(http.get(&url).send().await.unwrap().status(), 401, "{path}");
        let ok = http
            .get(&url)
            .basic_auth("ops", Some("ops-pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn an_auth_file_with_a_plain_password_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    std::fs::write(
        &path,
        r#"{"users": [{"username": "ci", "password": "plain-pw-123"}]}"#,
    )
    .unwrap();
    let err = Auth::load(&path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("plain-text \"password\""), "{err}");
    assert!(!err.contains("plain-pw-123"), "{err}");
}

// ---- audit -----------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Audit lines of every test in this binary (one global subscriber), JSON, one per line.
fn audit_log() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("audit=info"))
            .with_writer(move || writer.clone())
            .init();
        captured
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_writes_one_audit_line_with_who_what_and_the_result() {
    let log = audit_log();
    let server = seeded(with_auth()).await;
    let http = reqwest::Client::new();
    let body = json!({"schema": order_schema(&["id", "audited"])}).to_string();
    let post = |subject: &str, user: &'static str, pw: &'static str| {
        http.post(format!("{}/subjects/{subject}/versions", server.url()))
            .header("content-type", "application/json")
            .basic_auth(user, Some(pw))
            .body(body.clone())
            .send()
    };
    assert_eq!(
        post("orders-audit-value", "ci", "ci-password")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post("payments-audit-value", "ci", "ci-password")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post("orders-audit-value", "ci", "wrong-audit-pw")
            .await
            .unwrap()
            .status(),
        401
    );
    // Reads leave no audit line.
    http.get(format!(
        "{}/subjects/orders-audit-value/versions",
        server.url()
    ))
    .basic_auth("ci", Some("ci-password"))
    .send()
    .await
    .unwrap();
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| {
            l["fields"]["subject"]
                .as_str()
                .is_some_and(|s| s.ends_with("-audit-value"))
        })
        .collect();
    let seen: Vec<(String, String, String, String, u64)> = lines
        .iter()
        .map(|l| {
            let f = &l["fields"];
            (
                f["user"].as_str().unwrap().to_owned(),
                f["method"].as_str().unwrap().to_owned(),
                f["route"].as_str().unwrap().to_owned(),
                f["subject"].as_str().unwrap().to_owned(),
                f["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let route = "/subjects/{subject}/versions".to_owned();
    assert_eq!(
        seen,
        vec![
            (
                "ci".into(),
                "POST".into(),
                route.clone(),
                "orders-audit-value".into(),
                200
            ),
            (
                "ci".into(),
                "POST".into(),
                route.clone(),
                "payments-audit-value".into(),
                403
            ),
            (
                "anonymous".into(),
                "POST".into(),
                route,
                "orders-audit-value".into(),
                401
            ),
        ],
        "{text}"
    );
    assert!(lines.iter().all(|l| l["target"] == "audit"));
    assert!(!text.contains("ci-password") && !text.contains("wrong-audit-pw"));
}

// ---- TLS: a private CA, client certificates ------------------------------------------------

struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Shop private CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = params.self_signed(&ca_key).unwrap();
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
            ca,
            ca_key,
        };
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).unwrap();
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes NAME.pem and NAME.key: a certificate signed by the CA.
    fn issue(
        &self,
        name: &str,
        common_name: &str,
        sans: &[&str],
        client: bool,
    ) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (cert_path, key_path) = (
            self.path(&format!("{name}.pem")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn server_tls(&self, client_ca: bool, required: bool) -> TlsFiles {
        let (cert, key) = self.issue("server", "registry", &["127.0.0.1", "localhost"], false);
        TlsFiles {
            client_ca: client_ca.then(|| self.path("ca.pem")),
            client_cert_required: required,
            ..TlsFiles::new(cert, key)
        }
    }
}

async fn https_registry(pki: &Pki, client_ca: bool, required: bool) -> Server {
    seeded(ServerConfig {
        tls: Some(pki.server_tls(client_ca, required)),
        ..with_auth()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_logs_in_as_the_user_its_common_name_names() {
    let pki = Pki::new();
    let server = https_registry(&pki, true, true).await;
    let (cert, key) = pki.issue("orders", "orders-service", &[], true);
    let client = Client::builder(&server.url())
        .ca_file(pki.path("ca.pem"))
        .client_cert_files(&cert, &key)
        .retries(0)
        .build()
        .unwrap();
    assert_eq!(client.versions("orders-value").await.unwrap(), vec![1]);
    let e = client.versions("payments-value").await.unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");

    // Required: no certificate, no connection, even with a valid password.
    let without = Client::builder(&server.url())
        .ca_file(pki.path("ca.pem"))
        .basic_auth("reader", "reader-pw")
        .retries(0)
        .build()
        .unwrap();
    let e = without.subjects(false).await.unwrap_err();
    assert_eq!(e.status(), None, "the handshake must fail: {e}");

    // A certificate from another CA is refused.
    let other = Pki::new();
    let (cert, key) = other.issue("stranger", "orders-service", &[], true);
    let stranger = Client::builder(&server.url())
        .ca_file(pki.path("ca.pem"))
        .client_cert_files(&cert, &key)
        .retries(0)
        .build()
        .unwrap();
    assert_eq!(stranger.subjects(false).await.unwrap_err().status(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_optional_client_certificates_a_password_still_works_and_a_san_names_the_user() {
    let pki = Pki::new();
    let server = https_registry(&pki, true, false).await;
    let with_password = Client::builder(&server.url())
        .ca_file(pki.path("ca.pem"))
        .basic_auth("reader", "reader-pw")
        .build()
        .unwrap();
    assert_eq!(
        with_password.subjects(false).await.unwrap(),
        ["orders-value", "payments-value"]
    );
    // The user named by a DNS SAN, the CN naming nobody.
    let (cert, key) = pki.issue("svc", "not-a-user", &["orders-service"], true);
    let by_san = Client::builder(&server.url())
        .ca_file(pki.path("ca.pem"))
        .client_cert_files(&cert, &key)
        .build()
        .unwrap();
    assert_eq!(by_san.subjects(false).await.unwrap(), ["orders-value"]);
    // Neither a certificate nor a password: 401.
    let nobody = Client::builder(&server.url())
        .ca_file(pki.path("ca.pem"))
        .build()
        .unwrap();
    assert_eq!(
        nobody.subjects(false).await.unwrap_err().status(),
        Some(401)
    );
    // Without the private CA the registry's certificate is not trusted.
    let untrusting = Client::builder(&server.url()).retries(0).build().unwrap();
    assert_eq!(untrusting.subjects(false).await.unwrap_err().status(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_python_client_uses_basic_auth_over_https_from_a_private_ca() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = repo.join(".oracles/clients/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run .ci/install-clients to install the pinned confluent-kafka",
        python.display()
    );
    let pki = Pki::new();
    let server = https_registry(&pki, false, false).await;
    let script = pki.path("auth_client.py");
    std::fs::write(&script, PYTHON_CLIENT).unwrap();
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(server.url())
        .arg(pki.path("ca.pem"))
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert!(server.url().starts_with("https://127.0.0.1:"));
}

const PYTHON_CLIENT: &str = r#"
import sys
from confluent_kafka.schema_registry import SchemaRegistryClient, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

url, ca = sys.argv[1], sys.argv[2]

def client(user, password):
    return SchemaRegistryClient({
        "url": url,
        "basic.auth.user.info": f"{user}:{password}",
        "ssl.ca.location": ca,
    })

def expect_error(status, code, call):
    try:
        call()
    except SchemaRegistryError as e:
        assert e.http_status_code == status, (e.http_status_code, e.error_code, e.error_message)
        assert e.error_code == code, (e.http_status_code, e.error_code, e.error_message)
        print(f"refused with {status}/{code} as expected: {e.error_message}")
        return
    raise AssertionError(f"expected {status}/{code}, the call succeeded")

schema = Schema('{"type":"record","name":"Order","fields":[{"name":"id","type":"string","default":""},{"name":"py","type":"string","default":""}]}', "AVRO")
ci = client("ci", "ci-password")
schema_id = ci.register_schema("orders-value", schema)
print("registered orders-value as", schema_id)
latest = ci.get_latest_version("orders-value")
assert latest.schema_id == schema_id, latest
assert ci.get_schema(schema_id).schema_str == schema.schema_str
assert ci.get_subjects() == ["orders-value"], ci.get_subjects()
expect_error(403, 40301, lambda: ci.register_schema("payments-value", schema))
expect_error(403, 40301, lambda: ci.set_compatibility("orders-value", "NONE"))
expect_error(401, 401, lambda: client("ci", "wrong").get_subjects())
admin = client("admin", "admin-pw")
admin.set_compatibility("orders-value", "NONE")
assert admin.get_compatibility("orders-value") == "NONE"
print("all checks passed")
"#;
