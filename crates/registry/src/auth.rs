//! Who may do what: users from an auth file (Karapace's shape, with argon2id password hashes),
//! HTTP basic and bearer credentials, client-certificate identities, and permissions per user on
//! subjects and the global config.
//!
//! The file (`--auth-file`, `REGISTRY_AUTH_FILE`; in Kubernetes a mounted secret):
//!
//! ```json
//! {
//!   "users": [
//!     {"username": "admin", "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$..."},
//!     {"username": "ci", "password_hash": "$argon2id$...", "token_sha256": ["9f86d0..."]},
//!     {"username": "orders-service.shop.internal"}
//!   ],
//!   "permissions": [
//!     {"username": "admin", "operation": "admin", "resource": "Config:"},
//!     {"username": "admin", "operation": "admin", "resource": "Subject:*"},
//!     {"username": "ci", "operation": "write", "resource": "Subject:orders-*"},
//!     {"username": "orders-service.shop.internal", "operation": "read", "resource": "Subject:*"}
//!   ],
//!   "protect_health": false,
//!   "protect_metrics": false
//! }
//! ```
//!
//! - Passwords are argon2id PHC strings (`contracts registry hash-password` writes them); a file
//!   with a plain `password` is refused.
//! - Bearer tokens are random strings of at least 32 characters, stored as the hex SHA-256 of the
//!   token (`contracts registry hash-password --token`). A fast digest is enough for a random
//!   token, and it lets a token be found without trying every user's hash.
//! - A client certificate (with `--tls-client-ca`) authenticates as the user whose name equals
//!   its subject CN or one of its DNS, e-mail or URI subject alternative names.
//! - Operations: `read` < `write` (register schemas) < `admin` (config, mode, deletes); a
//!   permission for one operation grants the ones below it. Resources: `Subject:PATTERN` (`*`
//!   matches any run of characters: `orders-*`, `*-value`, `*`) and `Config:` (the global
//!   config and mode).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use contracts_core::secret::Secret;

/// What a request does. Each operation includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Read schemas, versions and settings; look schemas up; test compatibility.
    Read,
    /// Register schemas.
    Write,
    /// Change compatibility levels and modes; delete subjects and versions.
    Admin,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Read => "Read",
            Operation::Write => "Write",
            Operation::Admin => "Admin",
        })
    }
}

/// What a request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// One subject (and its config and mode).
    Subject(String),
    /// The global config and mode.
    Config,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Subject(s) => write!(f, "Subject:{s}"),
            Resource::Config => f.write_str("Config:"),
        }
    }
}

/// A pattern over subject names: `*` matches any run of characters, everything else itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        Pattern(pattern.to_owned())
    }

    /// Whether `name` matches; linear in the lengths of both (greedy `*` with backtracking to
    /// the last star only).
    pub fn matches(&self, name: &str) -> bool {
        let p = self.0.as_bytes();
        let n = name.as_bytes();
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, ni));
                pi += 1;
            } else if pi < p.len() && p[pi] == n[ni] {
                pi += 1;
                ni += 1;
            } else if let Some((sp, sn)) = star {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == b'*')
    }
}

/// One grant: `operation` on the resources `resource` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub operation: Operation,
    pub resource: ResourcePattern,
}

/// The resources a permission covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourcePattern {
    Subjects(Pattern),
    Config,
}

impl ResourcePattern {
    fn parse(text: &str) -> Option<ResourcePattern> {
        if let Some(pattern) = text.strip_prefix("Subject:") {
            return Some(ResourcePattern::Subjects(Pattern::new(pattern)));
        }
        (text == "Config:").then_some(ResourcePattern::Config)
    }

    fn covers(&self, resource: &Resource) -> bool {
        match (self, resource) {
            (ResourcePattern::Subjects(p), Resource::Subject(s)) => p.matches(s),
            (ResourcePattern::Config, Resource::Config) => true,
            _ => false,
        }
    }
}

/// An authenticated user and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub permissions: Vec<Permission>,
}

impl Principal {
    /// Whether this user may do `operation` on `resource`.
    pub fn may(&self, operation: Operation, resource: &Resource) -> bool {
        self.permissions
            .iter()
            .any(|p| p.operation >= operation && p.resource.covers(resource))
    }

    /// Whether this user may read at least one subject (so may ask about schema ids).
    pub fn reads_any_subject(&self) -> bool {
        self.permissions
            .iter()
            .any(|p| matches!(p.resource, ResourcePattern::Subjects(_)))
    }
}

/// Why the auth file cannot be used. Never contains a password, hash or token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFileError {
    #[error("cannot read the auth file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the auth file {path} is not valid: {reason}")]
    Invalid { path: String, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileData {
    users: Vec<UserData>,
    #[serde(default)]
    permissions: Vec<PermissionData>,
    #[serde(default)]
    protect_health: bool,
    #[serde(default)]
    protect_metrics: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserData {
    username: String,
    #[serde(default)]
    password_hash: Option<String>,
    /// Refused with a message that says what to do instead.
    #[serde(default)]
    password: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    token_sha256: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionData {
    username: String,
    operation: Operation,
    resource: String,
}

impl fmt::Debug for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserData")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

struct User {
    password_hash: Option<String>,
    principal: Arc<Principal>,
}

/// The users, their credentials and permissions, and a cache of verified credentials.
pub struct Auth {
    users: HashMap<String, User>,
    /// Hex SHA-256 of a bearer token → its user.
    tokens: HashMap<String, Arc<Principal>>,
    protect_health: bool,
    protect_metrics: bool,
    /// Verified basic credentials (keyed by their SHA-256) → user; failures are never cached.
    verified: moka::sync::Cache<[u8; 32], Arc<Principal>>,
    /// At most this many argon2 verifications at once: wrong passwords cost CPU and memory.
    verifying: tokio::sync::Semaphore,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("tokens", &self.tokens.len())
            .field("protect_health", &self.protect_health)
            .field("protect_metrics", &self.protect_metrics)
            .finish()
    }
}

/// Why a request's credentials were not accepted (answered with 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// No credentials at all.
    Missing,
    /// Credentials that match no user (unknown user, wrong password, unknown token).
    Wrong,
    /// An `Authorization` header this registry does not read.
    Malformed,
}

/// The names of a verified client certificate (subject CN, then DNS, e-mail and URI SANs),
/// put in each request's extensions by the TLS listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerNames(pub Vec<String>);

impl PeerNames {
    /// The names in a DER certificate; none when it cannot be parsed.
    pub fn of_certificate(der: &[u8]) -> PeerNames {
        use x509_parser::extensions::GeneralName;
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return PeerNames::default();
        };
        let mut names: Vec<String> = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
            .collect();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                        names.push((*s).to_owned())
                    }
                    _ => {}
                }
            }
        }
        PeerNames(names)
    }
}

/// How long verified credentials are remembered; a user removed from the file is refused once
/// the registry restarts, a changed password at the latest after this.
const VERIFIED_TTL: Duration = Duration::from_secs(300);
const VERIFIED_CAPACITY: u64 = 10_000;
/// Shortest bearer token accepted in the file's tooling: a SHA-256 digest is only safe for
/// random tokens.
pub const MIN_TOKEN_LEN: usize = 32;

impl Auth {
    /// Reads and checks the auth file at `path`.
    pub fn load(path: &Path) -> Result<Auth, AuthFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Auth::parse(&text).map_err(|reason| AuthFileError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Checks the text of an auth file; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Auth, String> {
        let data: FileData = serde_json::from_str(text).map_err(|e| {
            // serde_json's messages quote unknown field names, never values.
            format!("{e}")
        })?;
        let mut grants: HashMap<&str, Vec<Permission>> = HashMap::new();
        for (i, p) in data.permissions.iter().enumerate() {
            let resource = ResourcePattern::parse(&p.resource).ok_or_else(|| {
                format!(
                    "permissions[{i}] (user \"{}\"): resource \"{}\" is neither \"Config:\" nor \"Subject:PATTERN\" (such as \"Subject:orders-*\")",
                    p.username, p.resource
                )
            })?;
            if !data.users.iter().any(|u| u.username == p.username) {
                return Err(format!(
                    "permissions[{i}] names user \"{}\", who is not in \"users\"",
                    p.username
                ));
            }
            grants
                .entry(p.username.as_str())
                .or_default()
                .push(Permission {
                    operation: p.operation,
                    resource,
                });
        }
        let mut users = HashMap::new();
        let mut tokens = HashMap::new();
        for (i, u) in data.users.iter().enumerate() {
            let at = format!("users[{i}] (\"{}\")", u.username);
            if u.username.is_empty() || u.username.contains(':') {
                return Err(format!(
                    "{at}: a user name must be non-empty and have no colon"
                ));
            }
            if u.password.is_some() {
                return Err(format!(
                    "{at} has a plain-text \"password\"; store its argon2id hash as \"password_hash\" instead (print one with `contracts registry hash-password`)"
                ));
            }
            if let Some(hash) = &u.password_hash {
                let parsed = PasswordHash::new(hash).map_err(|e| {
                    format!("{at}: \"password_hash\" is not a PHC string ({e}); print one with `contracts registry hash-password`")
                })?;
                if parsed.algorithm.as_str() != "argon2id" {
                    return Err(format!(
                        "{at}: \"password_hash\" uses {}; only argon2id is accepted",
                        parsed.algorithm
                    ));
                }
            }
            let principal = Arc::new(Principal {
                name: u.username.clone(),
                permissions: grants.remove(u.username.as_str()).unwrap_or_default(),
            });
            for (j, digest) in u.token_sha256.iter().enumerate() {
                let digest = digest.to_ascii_lowercase();
                if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "{at}: token_sha256[{j}] is not a hex SHA-256 digest (64 hex digits); print one with `contracts registry hash-password --token`"
                    ));
                }
                if tokens.insert(digest, principal.clone()).is_some() {
                    return Err(format!("{at}: token_sha256[{j}] is given to two users"));
                }
            }
            let user = User {
                password_hash: u.password_hash.clone(),
                principal,
            };
            if users.insert(u.username.clone(), user).is_some() {
                return Err(format!("{at}: the user is listed twice"));
            }
        }
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Auth {
            users,
            tokens,
            protect_health: data.protect_health,
            protect_metrics: data.protect_metrics,
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_CAPACITY)
                .time_to_live(VERIFIED_TTL)
                .build(),
            verifying: tokio::sync::Semaphore::new(parallel),
        })
    }

    /// Whether `/health` and `/ready` need credentials.
    pub fn protects_health(&self) -> bool {
        self.protect_health
    }

    /// Whether `/metrics` needs credentials.
    pub fn protects_metrics(&self) -> bool {
        self.protect_metrics
    }

    /// The user an `Authorization` header (or, without one, a client certificate) names.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        peer: Option<&PeerNames>,
    ) -> Result<Arc<Principal>, Rejected> {
        let Some(header) = authorization else {
            return peer
                .and_then(|names| names.0.iter().find_map(|n| self.users.get(n)))
                .map(|u| u.principal.clone())
                .ok_or(Rejected::Missing);
        };
        let header = std::str::from_utf8(header).map_err(|_| Rejected::Malformed)?;
        let (scheme, value) = header.split_once(' ').ok_or(Rejected::Malformed)?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            let digest = hex(&Sha256::digest(value.as_bytes()));
            return self.tokens.get(&digest).cloned().ok_or(Rejected::Wrong);
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Rejected::Malformed);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| Rejected::Malformed)?;
        let decoded = String::from_utf8(decoded).map_err(|_| Rejected::Malformed)?;
        let (user, password) = decoded.split_once(':').ok_or(Rejected::Malformed)?;
        let key: [u8; 32] = Sha256::new()
            .chain_update(b"basic\0")
            .chain_update(decoded.as_bytes())
            .finalize()
            .into();
        if let Some(principal) = self.verified.get(&key) {
            return Ok(principal);
        }
        let entry = self.users.get(user).ok_or(Rejected::Wrong)?;
        let hash = entry.password_hash.clone().ok_or(Rejected::Wrong)?;
        let permit = self
            .verifying
            .acquire()
            .await
            .map_err(|_| Rejected::Wrong)?;
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        drop(permit);
        if !ok {
            return Err(Rejected::Wrong);
        }
        self.verified.insert(key, entry.principal.clone());
        Ok(entry.principal.clone())
    }

    /// How many verified credentials are remembered (for tests of the cache).
    pub fn cached_credentials(&self) -> u64 {
        self.verified.run_pending_tasks();
        self.verified.entry_count()
    }
}

fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id PHC string of `password` with a random salt and argon2's default cost
/// (19 MiB, 2 passes).
pub fn hash_password(password: &Secret) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// The hex SHA-256 of a bearer token, as the auth file's `token_sha256` holds it.
pub fn token_digest(token: &Secret) -> String {
    hex(&Sha256::digest(token.expose().as_bytes()))
}

/// `contracts registry hash-password`: reads a password (or, with `--token`, a bearer token)
/// from stdin and prints what the auth file stores for it.
#[derive(Debug, Clone, clap::Args)]
pub struct HashPasswordArgs {
    /// Print a whole user entry for the auth file's "users" list, for this user name.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Read a bearer token instead of a password and print its SHA-256 for "token_sha256".
    /// Tokens must be random and at least 32 characters (e.g. `openssl rand -hex 32`).
    #[arg(long)]
    pub token: bool,
}

impl HashPasswordArgs {
    /// Reads the first line of `input` and returns the line to print.
    pub fn run(&self, input: &mut dyn std::io::BufRead) -> anyhow::Result<String> {
        let mut line = String::new();
        input.read_line(&mut line)?;
        let value = line.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            anyhow::bail!(
                "no {} on stdin: pipe it in, e.g. `printf %s \"$PASSWORD\" | contracts registry hash-password`",
                if self.token { "token" } else { "password" }
            );
        }
        let secret = Secret::new(value);
        let (field, stored) = if self.token {
            if value.len() < MIN_TOKEN_LEN {
                anyhow::bail!(
                    "the token has {} characters; use a random one of at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)",
                    value.len()
                );
            }
            ("token_sha256", serde_json::json!([token_digest(&secret)]))
        } else {
            (
                "password_hash",
                serde_json::json!(hash_password(&secret).map_err(anyhow::Error::msg)?),
            )
        };
        Ok(match &self.user {
            Some(user) => serde_json::json!({ "username": user, field: stored }).to_string(),
            None => match stored {
                serde_json::Value::Array(mut a) => a.remove(0).as_str().unwrap_or("").to_owned(),
                other => other.as_str().unwrap_or("").to_owned(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
        .into_bytes()
    }

    #[test]
    fn patterns_match_with_stars_anywhere() {
        let p = Pattern::new("orders-*");
        assert!(p.matches("orders-value"));
        assert!(p.matches("orders-"));
        assert!(!p.matches("payments-value"));
        assert!(!p.matches("xorders-value"));
        assert!(Pattern::new("*").matches(""));
        assert!(Pattern::new("*-value").matches("orders-value"));
        assert!(!Pattern::new("*-value").matches("orders-key"));
        assert!(Pattern::new("a*b*c").matches("aXXbYYbc"));
        assert!(!Pattern::new("exact").matches("exactly"));
    }

    #[test]
    fn a_plain_text_password_is_refused_with_what_to_do() {
        let err =
            Auth::parse(r#"{"users": [{"username": "ci", "password": "hunter2"}]}"#).unwrap_err();
        assert!(err.contains("plain-text \"password\""), "{err}");
        assert!(err.contains("hash-password"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_hash_that_is_not_argon2id_or_a_bad_resource_is_refused() {
        let err = Auth::parse(r#"{"users": [{"username": "ci", "password_hash": "5f4dcc3b"}]}"#)
            .unwrap_err();
        assert!(err.contains("not a PHC string"), "{err}");
        let err = Auth::parse(
            r#"{"users": [{"username": "ci"}], "permissions": [{"username": "ci", "operation": "read", "resource": "orders"}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("permissions[0]"), "{err}");
        let err = Auth::parse(
            r#"{"users": [], "permissions": [{"username": "ghost", "operation": "read", "resource": "Config:"}]}"#,
        )
        .unwrap_err();
        assert!(err.contains("ghost"), "{err}");
    }

    #[tokio::test]
    async fn passwords_verify_against_argon2id_and_only_successes_are_cached() {
        let hash = hash_password(&Secret::new("correct horse")).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let auth = Auth::parse(&format!(
            r#"{{"users": [{{"username": "ci", "password_hash": "{hash}"}}],
                "permissions": [{{"username": "ci", "operation": "write", "resource": "Subject:orders-*"}}]}}"#
        ))
        .unwrap();
        assert_eq!(
            auth.authenticate(Some(&basic("ci", "wrong")), None).await,
            Err(Rejected::Wrong)
        );
        assert_eq!(auth.cached_credentials(), 0);
        let ci = auth
            .authenticate(Some(&basic("ci", "correct horse")), None)
            .await
            .unwrap();
        assert_eq!(auth.cached_credentials(), 1);
        assert!(ci.may(Operation::Read, &Resource::Subject("orders-value".into())));
        assert!(ci.may(Operation::Write, &Resource::Subject("orders-value".into())));
        assert!(!ci.may(Operation::Admin, &Resource::Subject("orders-value".into())));
        assert!(!ci.may(
            Operation::Write,
            &Resource::Subject("payments-value".into())
        ));
        assert!(!ci.may(Operation::Read, &Resource::Config));
        assert_eq!(
            auth.authenticate(Some(&basic("nobody", "x")), None).await,
            Err(Rejected::Wrong)
        );
        assert_eq!(auth.authenticate(None, None).await, Err(Rejected::Missing));
        assert_eq!(
            auth.authenticate(Some(b"Digest abc"), None).await,
            Err(Rejected::Malformed)
        );
    }

    #[tokio::test]
    async fn tokens_and_certificate_names_find_their_user() {
        let token = "0123456789abcdef0123456789abcdef-token";
        let digest = token_digest(&Secret::new(token));
        let auth = Auth::parse(&format!(
            r#"{{"users": [{{"username": "svc", "token_sha256": ["{digest}"]}}, {{"username": "orders.internal"}}]}}"#
        ))
        .unwrap();
        let svc = auth
            .authenticate(Some(format!("Bearer {token}").as_bytes()), None)
            .await
            .unwrap();
        assert_eq!(svc.name, "svc");
        assert_eq!(
            auth.authenticate(Some(b"Bearer not-a-known-token"), None)
                .await,
            Err(Rejected::Wrong)
        );
        let peer = PeerNames(vec!["someone".into(), "orders.internal".into()]);
        let user = auth.authenticate(None, Some(&peer)).await.unwrap();
        assert_eq!(user.name, "orders.internal");
        // A user without a password cannot log in with an empty one.
        assert_eq!(
            auth.authenticate(Some(&basic("orders.internal", "")), None)
                .await,
            Err(Rejected::Wrong)
        );
    }

    #[test]
    fn hash_password_prints_a_hash_or_a_user_entry_and_never_the_password() {
        let args = HashPasswordArgs {
            user: Some("ci".into()),
            token: false,
        };
        let line = args.run(&mut "s3cret-pw\n".as_bytes()).unwrap();
        assert!(!line.contains("s3cret-pw"), "{line}");
        let auth = Auth::parse(&format!(r#"{{"users": [{line}]}}"#)).unwrap();
        assert!(auth.users["ci"].password_hash.is_some());
        let short = HashPasswordArgs {
            user: None,
            token: true,
        };
        let err = short.run(&mut "short".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
        let empty = HashPasswordArgs {
            user: None,
            token: false,
        };
        assert!(empty.run(&mut "".as_bytes()).is_err());
    }
}
