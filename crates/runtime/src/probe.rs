//! The start-up check of a Kafka connection: one metadata request, bounded in time, with
//! librdkafka's error callback watched, so that a wrong password or an untrusted broker
//! certificate stops a process at once with the cause instead of a client retrying in the
//! background forever.
//!
//! ```no_run
//! # async fn demo(config: rdkafka::ClientConfig) {
//! use std::time::Duration;
//! use contracts_runtime::probe::{probe_cluster, ConnectError};
//!
//! match probe_cluster(&config, Duration::from_secs(20)).await {
//!     Ok(cluster) => println!("{} broker(s)", cluster.brokers.len()),
//!     // Kafka is down: the clients keep trying; not a reason to refuse to start.
//!     Err(e @ ConnectError::Unreachable { .. }) => eprintln!("{e}"),
//!     // A wrong password, an untrusted certificate: stop.
//!     Err(e) => panic!("{e}"),
//! }
//! # }
//! ```

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts_core::secret;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, NoCustomPartitioner, Producer as _, ProducerContext};

use crate::without_consumer_only;

/// What the cluster answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cluster {
    /// `host:port` of each broker in the metadata.
    pub brokers: Vec<String>,
}

/// Why the connection cannot be used. Messages say what failed and what to check; they never
/// hold a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The broker refused the SASL login.
    #[error("Kafka SASL authentication failed {who}: {hint} (librdkafka: {detail})")]
    Authentication {
        /// `for user 'shop' (SCRAM-SHA-512)`.
        who: String,
        hint: String,
        detail: String,
    },
    /// The OIDC token endpoint refused the client credentials (an HTTP 4xx answer), so there is
    /// no token to log in with.
    #[error(
        "the OIDC token endpoint {endpoint} refused the client credentials {who}(HTTP {status}): \
         check sasl.oauthbearer.client.id, the client secret \
         (KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET or its _FILE) and sasl.oauthbearer.scope \
         (the endpoint answered: {detail})"
    )]
    TokenRefused {
        endpoint: String,
        /// `for client 'shop' `.
        who: String,
        status: u16,
        detail: String,
    },
    /// The OIDC token endpoint answered, but not with a token librdkafka can use.
    #[error(
        "the OIDC token endpoint {endpoint} gave no usable OAUTHBEARER token: {detail} (a JSON \
         answer with access_token, a JWT with the `exp` and `sub` claims, is needed)"
    )]
    TokenUnusable { endpoint: String, detail: String },
    /// The broker's certificate is not signed by a CA the client trusts.
    #[error(
        "the broker's TLS certificate at {broker} is not trusted (certificate verify failed): \
         set ssl.ca.location to the CA that signed it (librdkafka: {detail})"
    )]
    UntrustedCertificate { broker: String, detail: String },
    /// Any other TLS handshake failure.
    #[error("the TLS handshake with {broker} failed: {hint} (librdkafka: {detail})")]
    Tls {
        broker: String,
        hint: String,
        detail: String,
    },
    /// librdkafka refused to create a client from the settings.
    #[error("cannot create a Kafka client from these settings: {0}")]
    Client(String),
    /// No broker answered in time; nothing says the settings are wrong.
    #[error("no Kafka broker at {bootstrap} answered within {timeout:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    Unreachable {
        bootstrap: String,
        timeout: Duration,
        last_error: Option<String>,
    },
}

impl ConnectError {
    /// Whether retrying later may succeed: the cluster did not answer, but nothing says the
    /// settings are wrong.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ConnectError::Unreachable { .. })
    }
}

/// Asks the cluster for its metadata with a client made of `config` (consumer-only settings
/// left out), within `timeout`. Returns as soon as librdkafka reports a failed SASL login or TLS
/// handshake, or every broker down.
pub async fn probe_cluster(
    config: &ClientConfig,
    timeout: Duration,
) -> Result<Cluster, ConnectError> {
    let config = without_consumer_only(config);
    tokio::task::spawn_blocking(move || probe_blocking(&config, timeout))
        .await
        .map_err(|e| ConnectError::Client(format!("the connection check did not finish: {e}")))?
}

/// After every broker was reported down, how long errors that explain why may still arrive.
const SETTLE: Duration = Duration::from_millis(300);

fn probe_blocking(config: &ClientConfig, timeout: Duration) -> Result<Cluster, ConnectError> {
    let bootstrap = config.get("bootstrap.servers").unwrap_or("").to_owned();
    let producer: BaseProducer<Watch> = config
        .create_with_context(Watch::default())
        .map_err(|e| ConnectError::Client(describe_creation(&e)))?;
    let producer = Arc::new(producer);
    let (tx, rx) = mpsc::channel();
    {
        let producer = producer.clone();
        // Blocks up to `timeout`; the events it causes are polled below.
        std::thread::spawn(move || {
            let result = producer.client().fetch_metadata(None, timeout);
            let _ = tx.send(result.map(|m| {
                Cluster {
                    brokers: m
                        .brokers()
                        .iter()
                        .map(|b| format!("{}:{}", b.host(), b.port()))
                        .collect(),
                }
            }));
        });
    }
    let deadline = Instant::now() + timeout;
    let mut all_down_at: Option<Instant> = None;
    loop {
        producer.poll(Duration::from_millis(50));
        let errors = producer.context().take();
        for (code, reason) in &errors {
            let token_fetch = producer.context().token_fetch();
            if let Some(fatal) = classify(*code, reason, token_fetch.as_deref(), config) {
                return Err(fatal);
            }
            if *code == RDKafkaErrorCode::AllBrokersDown {
                all_down_at.get_or_insert_with(Instant::now);
            }
        }
        let unreachable = |last_error: Option<String>| ConnectError::Unreachable {
            bootstrap: bootstrap.clone(),
            timeout,
            last_error,
        };
        match rx.try_recv() {
            Ok(Ok(cluster)) => return Ok(cluster),
            Ok(Err(e)) => {
                // The request failed; errors polled with it may say why.
                producer.poll(Duration::from_millis(50));
                for (code, reason) in producer.context().take() {
                    let token_fetch = producer.context().token_fetch();
                    if let Some(fatal) = classify(code, &reason, token_fetch.as_deref(), config) {
                        return Err(fatal);
                    }
                }
                return Err(unreachable(Some(producer.context().last_or(&e))));
            }
            Err(_) => {}
        }
        let settled = all_down_at.is_some_and(|t| t.elapsed() >= SETTLE);
        if settled || Instant::now() >= deadline {
            return Err(unreachable(producer.context().last()));
        }
    }
}

/// librdkafka's error callback, kept for the probe to read.
#[derive(Default)]
struct Watch {
    errors: Mutex<Vec<(RDKafkaErrorCode, String)>>,
    last: Mutex<Option<String>>,
    /// librdkafka's last log line about a failed OIDC token request, which alone has the
    /// HTTP status: `Failed to retrieve OIDC token from "URL": BODY (401)`.
    token_fetch: Mutex<Option<String>>,
}

impl Watch {
    fn take(&self) -> Vec<(RDKafkaErrorCode, String)> {
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn token_fetch(&self) -> Option<String> {
        self.token_fetch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn last(&self) -> Option<String> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn last_or(&self, e: &KafkaError) -> String {
        self.last()
            .unwrap_or_else(|| secret::redact(&e.to_string()).into_owned())
    }
}

impl ClientContext for Watch {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // The probe reports what matters itself; librdkafka's own lines stay at debug.
        let message = secret::redact(message);
        tracing::debug!(target: "librdkafka", ?level, "{fac} {message}");
        // The message starts with the thread, `[thrd:background]: `.
        if matches!(fac, "OIDC" | "JWT")
            && let Some(start) = message.find("Failed to retrieve ")
        {
            *self.token_fetch.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(message[start..].to_owned());
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let reason = secret::redact(reason).into_owned();
        let code = error
            .rdkafka_error_code()
            .unwrap_or(RDKafkaErrorCode::Unknown);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((code, reason));
    }
}

impl ProducerContext<NoCustomPartitioner> for Watch {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

/// A failure that retrying will not fix, told apart by librdkafka's error code and reason;
/// `token_fetch` is librdkafka's last log line about a failed OIDC token request.
fn classify(
    code: RDKafkaErrorCode,
    reason: &str,
    token_fetch: Option<&str>,
    config: &ClientConfig,
) -> Option<ConnectError> {
    let detail = reason.to_owned();
    match code {
        RDKafkaErrorCode::Authentication
            if reason.starts_with("Failed to acquire SASL OAUTHBEARER token") =>
        {
            token_failure(reason, token_fetch, config)
        }
        RDKafkaErrorCode::Authentication => {
            let mechanism = config
                .get("sasl.mechanisms")
                .or_else(|| config.get("sasl.mechanism"))
                .unwrap_or("GSSAPI")
                .to_ascii_uppercase();
            let lower = reason.to_ascii_lowercase();
            let (who, hint) = if lower.contains("unsupported sasl mechanism")
                || (lower.contains("mechanism") && lower.contains("not supported"))
            {
                (
                    format!("({mechanism})"),
                    format!(
                        "the broker does not offer {mechanism}: set sasl.mechanism to one it \
                         offers"
                    ),
                )
            } else if mechanism == "OAUTHBEARER" {
                let client = config
                    .get("sasl.oauthbearer.client.id")
                    .map(|c| format!("for client '{c}' "))
                    .unwrap_or_default();
                let oidc = config
                    .get("sasl.oauthbearer.method")
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("oidc"));
                let hint = if oidc {
                    // The token endpoint gave a token (else the login would not have been
                    // tried): the broker does not accept it.
                    "the broker refused the token the OIDC token endpoint issued: check that \
                     the broker trusts that identity provider (issuer, JWKS, audience), \
                     sasl.oauthbearer.scope and the client's permissions"
                } else {
                    "check sasl.oauthbearer.client.id, the client secret, \
                     sasl.oauthbearer.token.endpoint.url and sasl.oauthbearer.scope"
                };
                (format!("{client}(OAUTHBEARER)"), hint.to_owned())
            } else {
                let user = config.get("sasl.username").unwrap_or("");
                (
                    format!("for user '{user}' ({mechanism})"),
                    "check sasl.username / the password".to_owned(),
                )
            };
            Some(ConnectError::Authentication { who, hint, detail })
        }
        RDKafkaErrorCode::SSL => {
            let broker = broker_of(reason)
                .unwrap_or_else(|| config.get("bootstrap.servers").unwrap_or("").to_owned());
            let lower = reason.to_ascii_lowercase();
            if lower.contains("mismatch") {
                Some(ConnectError::Tls {
                    broker,
                    hint: "the certificate does not name the host connected to: connect with a \
                           name the certificate holds (ssl.endpoint.identification.algorithm=none \
                           turns the check off, for tests only)"
                        .to_owned(),
                    detail,
                })
            } else if lower.contains("certificate verify failed")
                || lower.contains("certificate could not be verified")
            {
                Some(ConnectError::UntrustedCertificate { broker, detail })
            } else {
                Some(ConnectError::Tls {
                    broker,
                    hint: "check that this listener speaks TLS (security.protocol SSL and \
                           SASL_SSL need one; PLAINTEXT and SASL_PLAINTEXT need one without) \
                           and the ssl.* settings"
                        .to_owned(),
                    detail,
                })
            }
        }
        _ => None,
    }
}

/// Why no OAUTHBEARER token could be had: refused credentials (HTTP 4xx) and answers that are
/// no token are fatal; an endpoint that cannot be reached or answers 5xx, 408 or 429 may recover
/// (librdkafka asks again), so that is left to the time-out.
fn token_failure(
    reason: &str,
    token_fetch: Option<&str>,
    config: &ClientConfig,
) -> Option<ConnectError> {
    let endpoint = secret::redact_url(
        config
            .get("sasl.oauthbearer.token.endpoint.url")
            .unwrap_or("(sasl.oauthbearer.token.endpoint.url)"),
    );
    let answer = reason
        .strip_prefix("Failed to acquire SASL OAUTHBEARER token")
        .unwrap_or(reason)
        .trim_start_matches([':', ' '])
        .to_owned();
    // The log line ends with the HTTP status, -1 when there was no answer.
    let status = token_fetch.and_then(|line| {
        let open = line.rfind(" (")?;
        line[open + 2..].strip_suffix(')')?.parse::<i32>().ok()
    });
    match status {
        Some(status @ 400..=499) if status != 408 && status != 429 => {
            let who = config
                .get("sasl.oauthbearer.client.id")
                .or_else(|| config.get("sasl.oauthbearer.client.credentials.client.id"))
                .map(|c| format!("of client '{c}' "))
                .unwrap_or_default();
            Some(ConnectError::TokenRefused {
                endpoint,
                who,
                status: status as u16,
                detail: answer,
            })
        }
        Some(_) => None,
        None => Some(ConnectError::TokenUnusable {
            endpoint,
            detail: answer,
        }),
    }
}

/// `HOST:PORT` of a librdkafka reason such as `sasl_ssl://127.0.0.1:9093/bootstrap: SSL
/// handshake failed: ...`.
fn broker_of(reason: &str) -> Option<String> {
    let start = reason.find("://")? + 3;
    let rest = &reason[start..];
    let end = rest.find(['/', ':'].as_slice()).map(|first| {
        // Skip the port's colon: the name ends at the first `/`, or at `: ` after the port.
        rest[first..]
            .find('/')
            .map(|slash| first + slash)
            .unwrap_or(rest.len())
    })?;
    let broker = &rest[..end];
    (!broker.is_empty() && !broker.contains(' ')).then(|| broker.to_owned())
}

/// A client creation error without the value librdkafka may quote (it may be a secret).
fn describe_creation(e: &KafkaError) -> String {
    match e {
        KafkaError::ClientConfig(_, description, key, _) => {
            format!("{key}: {}", secret::redact(description))
        }
        KafkaError::ClientCreation(message) => secret::redact(message).into_owned(),
        other => secret::redact(&other.to_string()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "10.1.2.3:9093");
        for (k, v) in pairs {
            c.set(*k, *v);
        }
        c
    }

    #[test]
    fn a_refused_scram_login_names_the_user_and_the_mechanism() {
        let c = config(&[
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "shop"),
        ]);
        let err = classify(
            RDKafkaErrorCode::Authentication,
            "sasl_ssl://127.0.0.1:9093/bootstrap: SASL authentication error: SASL SCRAM \
             authentication failed",
            None,
            &c,
        )
        .unwrap();
        assert!(
            err.to_string().starts_with(
                "Kafka SASL authentication failed for user 'shop' (SCRAM-SHA-512): check \
                 sasl.username / the password (librdkafka: sasl_ssl://"
            ),
            "{err}"
        );
        assert!(!err.is_unreachable());
    }

    #[test]
    fn an_untrusted_certificate_names_the_broker_and_ssl_ca_location() {
        let err = classify(
            RDKafkaErrorCode::SSL,
            "ssl://127.0.0.1:40123/bootstrap: SSL handshake failed: error:0A000086:SSL \
             routines::certificate verify failed: broker certificate could not be verified",
            None,
            &config(&[]),
        )
        .unwrap();
        assert!(
            err.to_string().starts_with(
                "the broker's TLS certificate at 127.0.0.1:40123 is not trusted (certificate \
                 verify failed): set ssl.ca.location to the CA that signed it"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_token_endpoint_refusing_the_credentials_is_named_with_the_client_and_the_status() {
        let c = config(&[
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.method", "oidc"),
            ("sasl.oauthbearer.client.id", "shop"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://login.example.com/token",
            ),
        ]);
        let reason = "Failed to acquire SASL OAUTHBEARER token: {\"error\":\"invalid_client\"}";
        let refused = classify(
            RDKafkaErrorCode::Authentication,
            reason,
            Some(
                "Failed to retrieve OIDC token from \"https://login.example.com/token\": \
                 {\"error\":\"invalid_client\"} (401)",
            ),
            &c,
        )
        .unwrap();
        assert_eq!(
            refused.to_string(),
            "the OIDC token endpoint https://login.example.com/token refused the client \
             credentials of client 'shop' (HTTP 401): check sasl.oauthbearer.client.id, the \
             client secret (KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET or its _FILE) and \
             sasl.oauthbearer.scope (the endpoint answered: {\"error\":\"invalid_client\"})"
        );
        // An endpoint that is down or overloaded may come back: not fatal.
        for status in ["-1", "503", "429"] {
            let line = format!("Failed to retrieve OIDC token from \"u\": x ({status})");
            assert!(
                classify(RDKafkaErrorCode::Authentication, reason, Some(&line), &c).is_none(),
                "{status}"
            );
        }
        // An answer that is no token.
        let unusable = classify(
            RDKafkaErrorCode::Authentication,
            "Failed to acquire SASL OAUTHBEARER token: Expected JSON JWT response with \
             \"access_token\" field",
            None,
            &c,
        )
        .unwrap();
        assert!(
            unusable
                .to_string()
                .starts_with("the OIDC token endpoint https://login.example.com/token gave no"),
            "{unusable}"
        );
    }

    #[test]
    fn a_broker_refusing_an_oidc_token_is_told_apart_from_a_refused_token_request() {
        let c = config(&[
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.method", "oidc"),
            ("sasl.oauthbearer.client.id", "shop"),
        ]);
        let err = classify(
            RDKafkaErrorCode::Authentication,
            "sasl_plaintext://127.0.0.1:9092/bootstrap: SASL authentication error: SASL \
             Authentication failed. (after 0ms in state AUTH_REQ)",
            None,
            &c,
        )
        .unwrap();
        assert!(
            err.to_string().starts_with(
                "Kafka SASL authentication failed for client 'shop' (OAUTHBEARER): the broker \
                 refused the token the OIDC token endpoint issued"
            ),
            "{err}"
        );
    }

    #[test]
    fn broker_addresses_are_read_from_librdkafka_reasons() {
        assert_eq!(
            broker_of("sasl_ssl://b-1.kafka.example.com:9096/1: SSL handshake failed").as_deref(),
            Some("b-1.kafka.example.com:9096")
        );
        assert_eq!(
            broker_of("ssl://[::1]:9093/bootstrap: x").as_deref(),
            Some("[::1]:9093")
        );
        assert_eq!(broker_of("no address here"), None);
    }

    #[test]
    fn transient_errors_are_not_fatal() {
        for code in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::Resolve,
        ] {
            assert!(
                classify(code, "x", None, &config(&[])).is_none(),
                "{code:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_unreachable_with_librdkafkas_reason() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", format!("127.0.0.1:{port}"));
        let err = probe_cluster(&c, Duration::from_secs(60))
            .await
            .unwrap_err();
        let ConnectError::Unreachable { last_error, .. } = &err else {
            panic!("{err}");
        };
        assert!(last_error.is_some(), "librdkafka said why: {err}");
    }
}
