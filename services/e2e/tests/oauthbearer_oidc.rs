//! OAUTHBEARER with OIDC client credentials, as managed Kafka services (Confluent Cloud, Aiven,
//! Strimzi with Keycloak) hand it out: a shipped binary (inventory-service) gets its settings
//! from the `client.properties` a Java client would use (`sasl.login.callback.handler.class` and
//! an `OAuthBearerLoginModule` JAAS entry with `clientId` and `scope`), the client secret from
//! `KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_FILE`, and fetches its token from an identity
//! provider's token endpoint (here one in the test, over HTTPS with a certificate from a private
//! test CA that `https.ca.location` names) before it logs in to Tansu with `--authentication`
//! over SASL_PLAINTEXT, through a proxy that records what the client sends.
//!
//! Tansu 0.6 offers OAUTHBEARER but cannot complete an OAUTHBEARER login (its SASL callback
//! checks only PLAIN and SCRAM), so these tests prove the token fetch (client credentials grant,
//! client id, secret and scope) and the token's presentation to the broker
//! (`auth=Bearer <token>` in SaslAuthenticate), and that the refusal stops the process with the
//! cause; they cannot prove a broker accepting the token.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use contracts_process::Process;
use contracts_testkit::{TestCa, TlsProxy};
use serde_json::json;
use shop_e2e::{Service, free_port, service_env};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream as TokioStream};

const CLIENT_ID: &str = "shop-inventory";
const CLIENT_SECRET: &str = "oidc-client-secret-e2e-4f1c";
const SCOPE: &str = "kafka.shop";

/// One token request as the identity provider saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    client_id: String,
    client_secret: String,
    grant_type: String,
    scope: String,
}

/// An OIDC token endpoint: checks a client credentials grant (HTTP basic auth with the client
/// id and secret, `grant_type=client_credentials`) and answers with a JWT-shaped access token
/// (unsigned: librdkafka reads its `sub` and `exp`, the broker would check the signature).
#[derive(Clone, Default)]
struct TokenEndpoint {
    grants: Arc<Mutex<Vec<Grant>>>,
    issued: Arc<Mutex<Vec<String>>>,
}

impl TokenEndpoint {
    /// Serves plain HTTP on a free loopback port (a [`TlsProxy`] in front adds TLS); returns
    /// the address.
    async fn start(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/oauth2/token", post(token))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn grants(&self) -> Vec<Grant> {
        self.grants.lock().unwrap().clone()
    }

    fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }
}

async fn token(
    State(endpoint): State<TokenEndpoint>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let (client_id, client_secret) = basic.split_once(':').unwrap_or(("", ""));
    let grant = Grant {
        client_id: client_id.to_owned(),
        client_secret: client_secret.to_owned(),
        grant_type: form.get("grant_type").cloned().unwrap_or_default(),
        scope: form.get("scope").cloned().unwrap_or_default(),
    };
    endpoint.grants.lock().unwrap().push(grant.clone());
    if grant.client_id != CLIENT_ID || grant.client_secret != CLIENT_SECRET {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"error": "invalid_client", "error_description": "bad client credentials"}),
            ),
        )
            .into_response();
    }
    if grant.grant_type != "client_credentials" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!(
        "{}.{}.{}",
        part(json!({"alg": "none", "typ": "JWT"})),
        part(json!({
            "sub": grant.client_id,
            "iss": "e2e-identity-provider",
            "scope": grant.scope,
            "iat": now,
            "exp": now + 3600,
            "jti": format!("{now}-{}", endpoint.issued().len()),
        })),
        URL_SAFE_NO_PAD.encode("unsigned-test-token")
    );
    endpoint.issued.lock().unwrap().push(jwt.clone());
    axum::Json(json!({"access_token": jwt, "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

/// A TCP proxy in front of the broker that records every byte clients send.
#[derive(Clone, Default)]
struct RecordingProxy {
    sent: Arc<Mutex<Vec<u8>>>,
}

impl RecordingProxy {
    async fn start(&self, listener: TcpListener, upstream: SocketAddr) {
        let sent = self.sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let sent = sent.clone();
                tokio::spawn(async move {
                    let Ok(broker) = TokioStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_rx, mut client_tx) = client.into_split();
                    let (mut broker_rx, mut broker_tx) = broker.into_split();
                    let up = async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            match client_rx.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    sent.lock().unwrap().extend_from_slice(&buf[..n]);
                                    if broker_tx.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = broker_tx.shutdown().await;
                    };
                    let down = async move {
                        let _ = tokio::io::copy(&mut broker_rx, &mut client_tx).await;
                        let _ = client_tx.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
    }

    fn sent(&self) -> Vec<u8> {
        self.sent.lock().unwrap().clone()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Tansu requiring a SASL login on every connection (`--authentication`), advertising the
/// proxy's port; its output in `dir/tansu.log`.
fn authenticating_broker(dir: &Path, advertised_port: u16) -> (Process, u16) {
    let port = free_port();
    let data = dir.join("tansu");
    std::fs::create_dir_all(&data).unwrap();
    let tansu = contracts_process::tansu_binary().expect("the Tansu broker");
    let mut cmd = contracts_testkit::broker_command(&tansu, &data);
    cmd.args([
        "broker",
        "--listener-url",
        &format!("tcp://127.0.0.1:{port}"),
        "--advertised-listener-url",
        &format!("tcp://127.0.0.1:{advertised_port}"),
        "--storage-engine",
        "sqlite://broker.db",
        "--authentication",
    ]);
    let mut process = Process::spawn("tansu", cmd, &dir.join("tansu.log")).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        process.check_alive().unwrap();
        assert!(
            Instant::now() < deadline,
            "Tansu did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (process, port)
}

/// What a user of a managed cluster writes: the Java client's `client.properties` for OIDC,
/// without the secret, and the secret in a file of its own.
fn credentials(
    dir: &Path,
    bootstrap: &str,
    token_url: &str,
    idp_ca: &Path,
    secret: &str,
) -> (PathBuf, PathBuf) {
    let properties = dir.join("client.properties");
    std::fs::write(
        &properties,
        format!(
            "# OAUTHBEARER with OIDC client credentials, as written for a Java client\n\
             bootstrap.servers={bootstrap}\n\
             security.protocol=SASL_PLAINTEXT\n\
             sasl.mechanism=OAUTHBEARER\n\
             sasl.oauthbearer.token.endpoint.url={token_url}\n\
             sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n\
             sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \\\n\
             \x20   clientId=\"{CLIENT_ID}\" scope=\"{SCOPE}\";\n\
             # The identity provider's private CA (Java clients use their truststore)\n\
             https.ca.location={}\n",
            idp_ca.display()
        ),
    )
    .unwrap();
    let secret_file = dir.join("oidc-client-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    (properties, secret_file)
}

/// Everything one run needs, dropped at the end of the test.
struct Setup {
    endpoint: TokenEndpoint,
    _tls: TlsProxy,
    proxy: RecordingProxy,
    inventory: Service,
    _broker: Process,
    _dir: tempfile::TempDir,
}

/// Starts the token endpoint, the broker behind the recording proxy, and inventory-service
/// with `secret` as its client secret; returns once inventory-service exited, having checked
/// that it failed and never logged the secret.
async fn run_inventory(secret: &str) -> (Setup, String) {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = TokenEndpoint::default();
    let http = endpoint.start().await;
    let ca = TestCa::new("e2e identity provider CA").unwrap();
    let idp_ca = ca.write_cert(dir.path(), "idp-ca.pem").unwrap();
    let tls = TlsProxy::start(0, &ca.issue_for_loopback().unwrap(), http).unwrap();
    let token_url = format!("https://127.0.0.1:{}/oauth2/token", tls.port());
    let proxy_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy_listener.local_addr().unwrap().port();
    let (broker, broker_port) = authenticating_broker(dir.path(), proxy_port);
    let proxy = RecordingProxy::default();
    proxy
        .start(proxy_listener, ([127, 0, 0, 1], broker_port).into())
        .await;
    let bootstrap = format!("127.0.0.1:{proxy_port}");
    let (properties, secret_file) =
        credentials(dir.path(), &bootstrap, &token_url, &idp_ca, secret);
    let mut env = service_env("inventory-service", dir.path(), None);
    env.extend([
        ("KAFKA_PROPERTIES_FILE", properties.display().to_string()),
        (
            "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_FILE",
            secret_file.display().to_string(),
        ),
        ("KAFKA_CONNECT_TIMEOUT_SECS", "60".to_owned()),
        ("KAFKA_TOPIC_PREFIX", "oidc.".to_owned()),
        // Nothing may get as far as the registry.
        ("SCHEMA_REGISTRY_URL", "http://127.0.0.1:9".to_owned()),
        ("RUST_BACKTRACE", "0".to_owned()),
    ]);
    let mut inventory = Service::new("inventory-service", "INVENTORY_LISTEN", dir.path(), &env);
    inventory.start();
    let status = inventory
        .wait_exit(Duration::from_secs(90))
        .await
        .unwrap_or_else(|| panic!("still running: {}", inventory.log_text()));
    let log = inventory.log_text();
    assert!(!status.success(), "{status}: {log}");
    assert!(!log.contains("inventory-service started"), "{log}");
    assert!(
        !log.contains(secret),
        "the log shows the client secret:\n{log}"
    );
    (
        Setup {
            endpoint,
            _tls: tls,
            proxy,
            inventory,
            _broker: broker,
            _dir: dir,
        },
        log,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_fetches_an_oidc_token_with_its_client_credentials_and_presents_it_to_the_broker()
{
    let (setup, log) = run_inventory(CLIENT_SECRET).await;

    let grants = setup.endpoint.grants();
    assert!(!grants.is_empty(), "no token request; log:\n{log}");
    assert_eq!(
        grants[0],
        Grant {
            client_id: CLIENT_ID.to_owned(),
            client_secret: CLIENT_SECRET.to_owned(),
            grant_type: "client_credentials".to_owned(),
            scope: SCOPE.to_owned(),
        }
    );
    let issued = setup.endpoint.issued();
    let sent = setup.proxy.sent();
    assert!(
        contains(&sent, b"OAUTHBEARER"),
        "the client asked for OAUTHBEARER"
    );
    let presented = issued
        .iter()
        .any(|token| contains(&sent, format!("auth=Bearer {token}\x01").as_bytes()));
    assert!(
        presented,
        "none of the {} issued token(s) reached the broker in a SaslAuthenticate request",
        issued.len()
    );
    // The broker refused the login, and the process says so and stops.
    assert!(
        log.contains(&format!(
            "Kafka SASL authentication failed for client '{CLIENT_ID}' (OAUTHBEARER): the broker \
             refused the token the OIDC token endpoint issued"
        )),
        "{log}"
    );
    assert!(!contains(&sent, CLIENT_SECRET.as_bytes()));
    drop(setup.inventory);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_stops_a_service_saying_the_token_endpoint_refused_the_credentials() {
    let wrong = "not-the-oidc-secret-93";
    let (setup, log) = run_inventory(wrong).await;

    let grants = setup.endpoint.grants();
    assert!(!grants.is_empty(), "no token request; log:\n{log}");
    assert!(
        grants
            .iter()
            .all(|g| g.client_id == CLIENT_ID && g.client_secret == wrong),
        "{grants:?}"
    );
    assert!(setup.endpoint.issued().is_empty());
    assert!(
        log.contains(&format!(
            "refused the client credentials of client '{CLIENT_ID}' (HTTP 401): check \
             sasl.oauthbearer.client.id, the client secret"
        )),
        "{log}"
    );
    assert!(
        log.contains("the OIDC token endpoint https://127.0.0.1:"),
        "{log}"
    );
    assert!(
        !contains(&setup.proxy.sent(), b"auth=Bearer"),
        "a token was presented without one"
    );
}
