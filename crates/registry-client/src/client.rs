//! An async client for the Confluent Schema Registry REST API.
//!
//! Speaks to any Confluent-compatible registry (Confluent, Karapace, Redpanda, ours) with the
//! bodies of [`crate::api`]. It is what the CLI registers and checks with, and what the runtime
//! resolves schema ids with, so it stays small: one `reqwest` client (rustls, no OpenSSL),
//! retries with exponential backoff on answers that say "try again" (408, 429, 500, 502, 503,
//! 504) and on connection failures, and a cache of schemas by id (ids are immutable, so it never
//! goes stale).
//!
//! ```no_run
//! # async fn demo() -> Result<(), contracts_registry_client::client::Error> {
//! use contracts_registry_client::api::{RegisterSchemaRequest, SchemaType};
//! use contracts_registry_client::client::Client;
//!
//! let registry = Client::new("http://127.0.0.1:8081")?;
//! let request = RegisterSchemaRequest {
//!     schema: r#"{"type":"record","name":"Ping","fields":[]}"#.into(),
//!     schema_type: Some(SchemaType::Avro),
//!     ..Default::default()
//! };
//! let id = registry.register("ping-value", &request).await?.id;
//! let schema = registry.schema_by_id(id).await?;
//! assert_eq!(schema.schema_type(), SchemaType::Avro);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use contracts_core::secret::{self, Secret};

use crate::api::{
    self, CompatibilityCheckResponse, Config, ConfigUpdateRequest, ErrorBody, Mode, ModeBody,
    RegisterSchemaRequest, RegisterSchemaResponse, Schema, SchemaString, SubjectVersion, codes,
};

/// What a subject may contain unescaped in a path segment: Python's `quote(safe='')` set, so
/// `/` in a subject (Protobuf import paths are subjects too) travels as `%2F`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry URL does not parse or is not http(s).
    #[error("invalid registry URL \"{url}\": {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The registry answered with an error: its HTTP status, Confluent `error_code` and message.
    #[error("{method} {url}: the registry answered {status} (error code {error_code}): {message}")]
    Registry {
        method: Method,
        url: String,
        status: u16,
        error_code: i32,
        message: String,
    },
    /// No answer: connection refused, timeout, broken connection.
    #[error("{method} {url}: no answer from the registry: {source}")]
    Transport {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A success status with a body that is not what the API promises.
    #[error("{method} {url}: unexpected answer from the registry: {reason}")]
    Decode {
        method: Method,
        url: String,
        reason: String,
    },
    /// The HTTP client could not be set up (TLS roots, settings).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(#[source] reqwest::Error),
    /// A CA bundle, client certificate or key cannot be read or used.
    #[error("registry TLS: {}: {reason}", path.display())]
    Tls { path: PathBuf, reason: String },
    /// Credentials from the environment or a file are unusable (the message never holds them).
    #[error("registry credentials: {0}")]
    Credentials(String),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The registry's `error_code` (`40401` for an unknown subject, …), when it answered.
    pub fn error_code(&self) -> Option<i32> {
        match self {
            Error::Registry { error_code, .. } => Some(*error_code),
            _ => None,
        }
    }

    /// The HTTP status, when the registry answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Registry { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry's message, when it answered.
    pub fn registry_message(&self) -> Option<&str> {
        match self {
            Error::Registry { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Whether the same request may succeed later: the statuses Confluent's clients retry
    /// (408, 429, 500, 502, 503, 504) and failures to get an answer at all.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Registry { status, .. } => is_retriable_status(*status),
            Error::Transport { source, .. } => {
                source.is_timeout() || source.is_connect() || source.is_request()
            }
            _ => false,
        }
    }

    /// A 404 of any kind: unknown subject, version, schema, or a subject without its own config.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The schema is incompatible with the subject's history (409; code 409 or 8.2's 40901).
    pub fn is_incompatible(&self) -> bool {
        self.status() == Some(409)
    }
}

fn is_retriable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A version of a subject: a number from 1, or the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionId {
    Latest,
    Number(i32),
}

impl From<i32> for VersionId {
    fn from(n: i32) -> Self {
        VersionId::Number(n)
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionId::Latest => f.write_str("latest"),
            VersionId::Number(n) => write!(f, "{n}"),
        }
    }
}

/// How a client proves who it is to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP basic auth.
    Basic { user: String, password: Secret },
    /// `Authorization: Bearer TOKEN`.
    Bearer(Secret),
}

/// How [`Client`] talks to a registry; [`Client::builder`] starts from the defaults.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    credentials: Option<Credentials>,
    ca_files: Vec<PathBuf>,
    identity_files: Option<(PathBuf, PathBuf)>,
    timeout: Duration,
    connect_timeout: Duration,
    retries: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
}

impl ClientBuilder {
    /// HTTP basic auth. Credentials in the URL (`http://user:secret@host:8081`) work too.
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Basic {
            user: user.into(),
            password: Secret::new(password),
        });
        self
    }

    /// A bearer token, sent as `Authorization: Bearer TOKEN`.
    pub fn bearer_token(mut self, token: Secret) -> Self {
        self.credentials = Some(Credentials::Bearer(token));
        self
    }

    /// Basic or bearer credentials, replacing any given before.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Credentials from the environment: basic auth as `USER:PASSWORD` in `basic_var` (or the
    /// file `basic_var_FILE` names), or a bearer token in `token_var` (or `token_var_FILE`).
    /// Neither set leaves the credentials as they are; both set is an error.
    pub fn credentials_from_env(self, basic_var: &str, token_var: &str) -> Result<Self> {
        let invalid = |reason: String| Error::Credentials(reason);
        let basic = secret::from_env(basic_var).map_err(|e| invalid(e.to_string()))?;
        let token = secret::from_env(token_var).map_err(|e| invalid(e.to_string()))?;
        match (basic, token) {
            (Some(_), Some(_)) => Err(invalid(format!(
                "both {basic_var} and {token_var} are set; give basic credentials or a token"
            ))),
            (Some(basic), None) => {
                let (user, password) = basic.expose().split_once(':').ok_or_else(|| {
                    invalid(format!(
                        "{basic_var} must be USER:PASSWORD (a colon between user and password)"
                    ))
                })?;
                Ok(self.basic_auth(user, password))
            }
            (None, Some(token)) => Ok(self.bearer_token(token)),
            (None, None) => Ok(self),
        }
    }

    /// Trust the CA certificates in this PEM file (a private CA) besides the public ones.
    /// Repeatable.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Present this client certificate (PEM chain) with its PEM private key (mTLS).
    pub fn client_cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.identity_files = Some((cert.into(), key.into()));
        self
    }

    /// The limit for one attempt, from connecting to the last byte of the answer (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The limit for opening a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often a retriable failure is retried (default 3, so 4 attempts).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wait before the first retry, doubled for each next one up to `max`
    /// (default 200 ms up to 5 s).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    pub fn build(self) -> Result<Client> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: secret::redact_url(&self.url),
            reason: reason.to_string(),
        };
        let mut url = reqwest::Url::parse(self.url.trim())
            .map_err(|e| invalid(&format!("{e} (expected e.g. http://127.0.0.1:8081)")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a registry URL has no query or fragment"));
        }
        let mut credentials = self.credentials;
        if !url.username().is_empty() {
            let user = percent_encoding::percent_decode_str(url.username())
                .decode_utf8_lossy()
                .into_owned();
            let password = percent_encoding::percent_decode_str(url.password().unwrap_or(""))
                .decode_utf8_lossy()
                .into_owned();
            credentials.get_or_insert(Credentials::Basic {
                user,
                password: Secret::new(password),
            });
            // Keep credentials out of the URL that error messages and logs show.
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        let base = url.as_str().trim_end_matches('/').to_string();
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout);
        for path in &self.ca_files {
            let pem = read_pem(path, "CA certificates")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::Tls {
                path: path.clone(),
                reason: format!("not a PEM certificate bundle: {e}"),
            })?;
            if certs.is_empty() {
                return Err(Error::Tls {
                    path: path.clone(),
                    reason: "holds no PEM certificate".into(),
                });
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &self.identity_files {
            let mut pem = read_pem(cert, "the client certificate")?;
            pem.push(b'\n');
            pem.extend(read_pem(key, "the client key")?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| Error::Tls {
                path: cert.clone(),
                reason: format!(
                    "the client certificate and key ({}) are not a usable PEM pair: {e}",
                    key.display()
                ),
            })?;
            http = http.identity(identity);
        }
        let http = http.build().map_err(Error::Setup)?;
        Ok(Client {
            inner: Arc::new(ClientState {
                http,
                base,
                credentials,
                retries: self.retries,
                backoff_initial: self.backoff_initial,
                backoff_max: self.backoff_max,
                by_id: Mutex::new(HashMap::new()),
            }),
        })
    }
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Tls {
        path: path.to_owned(),
        reason: format!("cannot read {what}: {e}"),
    })
}

/// A Confluent Schema Registry client. Cheap to clone: clones share connections and the id cache.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<ClientState>,
}

#[derive(Debug)]
struct ClientState {
    http: reqwest::Client,
    /// Scheme, host, port and path prefix, without a trailing slash or credentials.
    base: String,
    credentials: Option<Credentials>,
    retries: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    by_id: Mutex<HashMap<i32, Arc<SchemaString>>>,
}

/// A request body, already serialized.
type Body = Option<Vec<u8>>;

impl Client {
    /// A client with the default settings for the registry at `url`.
    pub fn new(url: &str) -> Result<Client> {
        Client::builder(url).build()
    }

    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder {
            url: url.to_string(),
            credentials: None,
            ca_files: Vec::new(),
            identity_files: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retries: 3,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }

    /// The registry's base URL, without credentials.
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    /// `POST /subjects/{s}/versions`: registers a schema under a subject, or returns the id of
    /// the identical schema already registered there. Retried like every call: registering is
    /// idempotent.
    pub async fn register(
        &self,
        subject: &str,
        schema: &RegisterSchemaRequest,
    ) -> Result<RegisterSchemaResponse> {
        let path = format!("/subjects/{}/versions", seg(subject));
        self.send(Method::POST, &path, "", json(schema)?).await
    }

    /// `POST /subjects/{s}`: the version and id under which this schema is registered in the
    /// subject. `Ok(None)` when the subject or the schema is unknown (40401, 40403).
    pub async fn lookup(
        &self,
        subject: &str,
        schema: &RegisterSchemaRequest,
    ) -> Result<Option<Schema>> {
        let path = format!("/subjects/{}", seg(subject));
        not_found_as_none(self.send(Method::POST, &path, "", json(schema)?).await)
    }

    /// `GET /schemas/ids/{id}`: the schema with this id, from the cache after the first call.
    pub async fn schema_by_id(&self, id: i32) -> Result<Arc<SchemaString>> {
        if let Some(hit) = self.cache().get(&id) {
            return Ok(Arc::clone(hit));
        }
        let fetched: SchemaString = self
            .send(Method::GET, &format!("/schemas/ids/{id}"), "", None)
            .await?;
        let fetched = Arc::new(fetched);
        self.cache().insert(id, Arc::clone(&fetched));
        Ok(fetched)
    }

    /// `GET /schemas/ids/{id}/versions`: every subject and version that holds this schema.
    pub async fn versions_of_id(&self, id: i32) -> Result<Vec<SubjectVersion>> {
        let path = format!("/schemas/ids/{id}/versions");
        self.send(Method::GET, &path, "", None).await
    }

    /// `GET /schemas/types`.
    pub async fn schema_types(&self) -> Result<Vec<String>> {
        self.send(Method::GET, "/schemas/types", "", None).await
    }

    /// `GET /subjects`: the live subjects (with `deleted`, soft-deleted ones too).
    pub async fn subjects(&self, deleted: bool) -> Result<Vec<String>> {
        self.send(Method::GET, "/subjects", &flag("deleted", deleted), None)
            .await
    }

    /// `GET /subjects/{s}/versions`: the subject's live version numbers, oldest first.
    pub async fn versions(&self, subject: &str) -> Result<Vec<i32>> {
        let path = format!("/subjects/{}/versions", seg(subject));
        self.send(Method::GET, &path, "", None).await
    }

    /// `GET /subjects/{s}/versions?deleted=true`: the version numbers, soft-deleted ones
    /// included, oldest first. (Without `deleted` this is [`Client::versions`].)
    pub async fn versions_with_deleted(&self, subject: &str, deleted: bool) -> Result<Vec<i32>> {
        let path = format!("/subjects/{}/versions", seg(subject));
        self.send(Method::GET, &path, &flag("deleted", deleted), None)
            .await
    }

    /// `GET /subjects/{s}/versions/{v}`.
    pub async fn version(&self, subject: &str, version: impl Into<VersionId>) -> Result<Schema> {
        let path = format!("/subjects/{}/versions/{}", seg(subject), version.into());
        self.send(Method::GET, &path, "", None).await
    }

    /// `GET /subjects/{s}/versions/latest`.
    pub async fn latest(&self, subject: &str) -> Result<Schema> {
        self.version(subject, VersionId::Latest).await
    }

    /// `POST /compatibility/subjects/{s}/versions[/{v}]`: whether `schema` may follow one version
    /// (`Some`) or the versions the subject's level names (`None`). With `verbose`, the registry
    /// says why not in `messages`.
    pub async fn check_compatibility(
        &self,
        subject: &str,
        version: Option<VersionId>,
        schema: &RegisterSchemaRequest,
        verbose: bool,
    ) -> Result<CompatibilityCheckResponse> {
        let mut path = format!("/compatibility/subjects/{}/versions", seg(subject));
        if let Some(v) = version {
            path.push_str(&format!("/{v}"));
        }
        let query = flag("verbose", verbose);
        self.send(Method::POST, &path, &query, json(schema)?).await
    }

    /// `GET /config`: the global compatibility level.
    pub async fn global_config(&self) -> Result<Config> {
        self.send(Method::GET, "/config", "", None).await
    }

    /// `GET /config/{s}`: the subject's own level; `Ok(None)` when it has none (40408, or 40401
    /// from registries before Confluent 7).
    pub async fn subject_config(&self, subject: &str) -> Result<Option<Config>> {
        let path = format!("/config/{}", seg(subject));
        not_found_as_none(self.send(Method::GET, &path, "", None).await)
    }

    /// `PUT /config` (`subject` = `None`) or `PUT /config/{s}`: sets a compatibility level
    /// (`BACKWARD`, `FULL_TRANSITIVE`, …). Returns the registry's echo.
    pub async fn set_config(
        &self,
        subject: Option<&str>,
        level: &str,
    ) -> Result<ConfigUpdateRequest> {
        let body = ConfigUpdateRequest {
            compatibility: Some(level.to_string()),
            normalize: None,
        };
        self.send(Method::PUT, &config_path(subject), "", json(&body)?)
            .await
    }

    /// `DELETE /config/{s}`: drops the subject's own level (it falls back to the global one) and
    /// returns the old one.
    pub async fn delete_subject_config(&self, subject: &str) -> Result<Config> {
        self.send(Method::DELETE, &config_path(Some(subject)), "", None)
            .await
    }

    /// `GET /mode` or `GET /mode/{s}`.
    pub async fn mode(&self, subject: Option<&str>) -> Result<Mode> {
        let body: ModeBody = self
            .send(Method::GET, &mode_path(subject), "", None)
            .await?;
        body.parse().map_err(|reason| Error::Decode {
            method: Method::GET,
            url: self.url_of(&mode_path(subject), ""),
            reason,
        })
    }

    /// `GET /mode/{s}`: the subject's own mode; `Ok(None)` when it has none (40409, or 40401
    /// from registries that answer so for a subject without settings).
    pub async fn subject_mode(&self, subject: &str) -> Result<Option<Mode>> {
        match self.mode(Some(subject)).await {
            Ok(mode) => Ok(Some(mode)),
            Err(e)
                if matches!(
                    e.error_code(),
                    Some(codes::SUBJECT_LEVEL_MODE_NOT_CONFIGURED | codes::SUBJECT_NOT_FOUND)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `PUT /mode` or `PUT /mode/{s}`.
    pub async fn set_mode(&self, subject: Option<&str>, mode: Mode) -> Result<()> {
        let body = ModeBody::new(mode);
        let _: ModeBody = self
            .send(Method::PUT, &mode_path(subject), "", json(&body)?)
            .await?;
        Ok(())
    }

    /// `DELETE /subjects/{s}`: soft delete, or with `permanent` (after a soft delete) removal.
    /// Returns the versions deleted.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>> {
        let path = format!("/subjects/{}", seg(subject));
        self.send(Method::DELETE, &path, &flag("permanent", permanent), None)
            .await
    }

    /// `DELETE /subjects/{s}/versions/{v}`, soft or permanent. Returns the version deleted.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: impl Into<VersionId>,
        permanent: bool,
    ) -> Result<i32> {
        let path = format!("/subjects/{}/versions/{}", seg(subject), version.into());
        self.send(Method::DELETE, &path, &flag("permanent", permanent), None)
            .await
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Arc<SchemaString>>> {
        // A panic while holding the lock cannot leave the map half-written: recover it.
        self.inner
            .by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn url_of(&self, path: &str, query: &str) -> String {
        if query.is_empty() {
            format!("{}{path}", self.inner.base)
        } else {
            format!("{}{path}?{query}", self.inner.base)
        }
    }

    /// One call with retries; `path` is already percent-encoded.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Body,
    ) -> Result<T> {
        let url = self.url_of(path, query);
        let mut wait = self.inner.backoff_initial;
        let mut attempt = 0;
        loop {
            match self.attempt(&method, &url, &body).await {
                Err(e) if e.is_retriable() && attempt < self.inner.retries => {
                    attempt += 1;
                    tracing::debug!(%method, %url, attempt, error = %e, "retrying registry call");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.inner.backoff_max);
                }
                other => return other,
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: &Method,
        url: &str,
        body: &Body,
    ) -> Result<T> {
        let transport = |source| Error::Transport {
            method: method.clone(),
            url: url.to_string(),
            source,
        };
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .header(header::ACCEPT, api::ACCEPT);
        match &self.inner.credentials {
            Some(Credentials::Basic { user, password }) => {
                request = request.basic_auth(user, Some(password.expose()));
            }
            Some(Credentials::Bearer(token)) => request = request.bearer_auth(token.expose()),
            None => {}
        }
        if let Some(bytes) = body {
            request = request
                .header(header::CONTENT_TYPE, api::MEDIA_TYPE)
                .body(bytes.clone());
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
                method: method.clone(),
                url: url.to_string(),
                reason: format!("{e}: {}", snippet(&bytes)),
            });
        }
        Err(registry_error(method, url, status, &bytes))
    }
}

/// The registry's `{"error_code", "message"}`, or the status and body text from anything else
/// on the way (a proxy's HTML page).
fn registry_error(method: &Method, url: &str, status: StatusCode, body: &[u8]) -> Error {
    let (error_code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (e.error_code, e.message),
        Err(_) => (
            i32::from(status.as_u16()),
            match snippet(body) {
                s if s.is_empty() => status.canonical_reason().unwrap_or("").to_string(),
                s => s,
            },
        ),
    };
    Error::Registry {
        method: method.clone(),
        url: url.to_string(),
        status: status.as_u16(),
        error_code,
        message,
    }
}

/// The start of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn not_found_as_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if matches!(
                e.error_code(),
                Some(
                    codes::SUBJECT_NOT_FOUND
                        | codes::SCHEMA_NOT_FOUND
                        | codes::SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED
                )
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn json(body: &impl Serialize) -> Result<Body> {
    // Serializing the api types cannot fail (string keys, no maps with other keys); still, no
    // panic in a library.
    serde_json::to_vec(body)
        .map(Some)
        .map_err(|e| Error::Decode {
            method: Method::POST,
            url: String::new(),
            reason: format!("cannot serialize the request body: {e}"),
        })
}

fn seg(subject: &str) -> String {
    utf8_percent_encode(subject, SEGMENT).to_string()
}

fn flag(name: &str, on: bool) -> String {
    if on {
        format!("{name}=true")
    } else {
        String::new()
    }
}

fn config_path(subject: Option<&str>) -> String {
    match subject {
        Some(s) => format!("/config/{}", seg(s)),
        None => "/config".to_string(),
    }
}

fn mode_path(subject: Option<&str>) -> String {
    match subject {
        Some(s) => format!("/mode/{}", seg(s)),
        None => "/mode".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_one_path_segment() {
        assert_eq!(
            seg("shop/common/v1/money.proto"),
            "shop%2Fcommon%2Fv1%2Fmoney.proto"
        );
        assert_eq!(seg("orders-value"), "orders-value");
        assert_eq!(seg("a b?c#d%"), "a%20b%3Fc%23d%25");
        assert_eq!(
            seg("inventory-shop.inventory.v1.X"),
            "inventory-shop.inventory.v1.X"
        );
    }

    #[test]
    fn credentials_in_the_url_become_basic_auth_and_leave_the_url() {
        let c = Client::new("http://alice:s%3Acret@127.0.0.1:8081/").unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:8081");
        assert_eq!(
            c.inner.credentials,
            Some(Credentials::Basic {
                user: "alice".to_string(),
                password: Secret::new("s:cret")
            })
        );
        let err = Client::new("ftp://alice:hunter2-in-url@host/").unwrap_err();
        assert!(!err.to_string().contains("hunter2-in-url"), "{err}");
    }

    #[test]
    fn unreadable_tls_files_name_the_file() {
        let err = Client::builder("https://registry:8081")
            .ca_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let dir = std::env::temp_dir().join(format!("client-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let err = Client::builder("https://registry:8081")
            .ca_file(&not_pem)
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("no PEM certificate") || err.to_string().contains("not a PEM"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_path_prefix_is_kept() {
        let c = Client::new("https://example.test/registry/").unwrap();
        assert_eq!(
            c.url_of("/subjects", ""),
            "https://example.test/registry/subjects"
        );
    }

    #[test]
    fn bad_urls_say_what_is_expected() {
        for bad in ["127.0.0.1:8081", "ftp://host", "http://h/?x=1", "not a url"] {
            let e = Client::new(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidUrl { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn confluent_error_bodies_keep_their_code_and_message() {
        let e = registry_error(
            &Method::GET,
            "http://r/subjects/x/versions",
            StatusCode::NOT_FOUND,
            br#"{"error_code":40401,"message":"Subject 'x' not found."}"#,
        );
        assert_eq!(e.error_code(), Some(40401));
        assert_eq!(e.registry_message(), Some("Subject 'x' not found."));
        assert!(e.is_not_found());
        assert!(!e.is_retriable());
        assert!(e.to_string().contains("40401"), "{e}");
    }

    #[test]
    fn other_error_bodies_keep_the_status() {
        let e = registry_error(
            &Method::GET,
            "http://r/x",
            StatusCode::BAD_GATEWAY,
            b"<html>bad gateway</html>",
        );
        assert_eq!(e.error_code(), Some(502));
        assert_eq!(e.registry_message(), Some("<html>bad gateway</html>"));
        assert!(e.is_retriable());
    }

    #[test]
    fn retriable_statuses_are_the_ones_confluent_clients_retry() {
        let retriable: Vec<u16> = (400..600).filter(|s| is_retriable_status(*s)).collect();
        assert_eq!(retriable, vec![408, 429, 500, 502, 503, 504]);
    }

    #[test]
    fn unknown_subject_and_schema_are_none_for_lookups_but_other_errors_are_kept() {
        let err = |code: i32| {
            registry_error(
                &Method::POST,
                "u",
                StatusCode::from_u16(codes::http_status(code)).unwrap(),
                format!(r#"{{"error_code":{code},"message":"m"}}"#).as_bytes(),
            )
        };
        assert!(not_found_as_none::<()>(Err(err(40401))).unwrap().is_none());
        assert!(not_found_as_none::<()>(Err(err(40403))).unwrap().is_none());
        assert!(not_found_as_none::<()>(Err(err(40408))).unwrap().is_none());
        assert!(not_found_as_none::<()>(Err(err(40402))).is_err());
        assert!(not_found_as_none::<()>(Err(err(42201))).is_err());
    }
}
