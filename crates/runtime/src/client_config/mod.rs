//! The librdkafka settings of a process's Kafka clients, from every place a user gives them, in
//! one order for every binary.
//!
//! Layers, a later one winning over an earlier one:
//! 0. a [`Profile`] (`--kafka-profile latency`): named settings tuned for latency or throughput,
//!    producer settings for producers and consumer settings for consumers;
//! 1. a properties file for every client (`client.properties`, the format Kafka's Java clients
//!    and command-line tools read; see [`ClientSettings::read_properties`]);
//! 2. single settings for every client (`-X key=value`, `KAFKA_CONFIG`);
//! 3. secrets from the environment or from files: `KAFKA_SASL_PASSWORD`,
//!    `KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET`, `KAFKA_SSL_KEY_PASSWORD`, each also as
//!    `..._FILE` ([`SECRET_VARIABLES`]);
//! 4. producer-only and consumer-only settings (a properties file, then single settings).
//!
//! ```
//! use contracts_runtime::client_config::{ClientSettings, Origin, Scope};
//!
//! let mut settings = ClientSettings::new();
//! settings.set(Scope::All, "security.protocol", "SASL_SSL", Origin::flag("-X"))?;
//! settings.set(
//!     Scope::All,
//!     "sasl.jaas.config",
//!     "org.apache.kafka.common.security.scram.ScramLoginModule required username='shop' password='pw';",
//!     Origin::flag("-X"),
//! )?;
//! settings.set(Scope::Producer, "compression.type", "zstd", Origin::flag("--producer-config"))?;
//! assert_eq!(settings.producer()["sasl.username"], "shop");
//! assert_eq!(settings.producer()["compression.type"], "zstd");
//! assert!(!settings.consumer().contains_key("compression.type"));
//! # Ok::<(), contracts_runtime::client_config::ConfigError>(())
//! ```
//!
//! Settings of Kafka's Java clients that librdkafka does not know are translated where they
//! mean the same (`sasl.jaas.config` with the PLAIN or SCRAM login module becomes `sasl.username`
//! and `sasl.password`) and refused otherwise, the error naming the file and line and what to
//! set instead (`ssl.truststore.location` → `ssl.ca.location` with a PEM file). Every value of a
//! setting whose name says it is a secret is registered with [`contracts_core::secret`], so no
//! log line or error prints it. [`ClientSettings::validate`] has librdkafka check every key and
//! value and names where a rejected one came from.

mod java;
mod profile;
mod properties;

#[cfg(feature = "clap")]
mod args;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use contracts_core::secret::{self, SecretError};
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;

#[cfg(feature = "clap")]
pub use args::KafkaClientArgs;
pub use profile::{Profile, ProfileSetting};
pub use properties::MAX_FILE_BYTES;

use crate::CONSUMER_ONLY_SETTINGS;

/// The secrets read from the environment: the variable (also read as `<variable>_FILE`, a file
/// holding the value) and the librdkafka setting it fills.
pub const SECRET_VARIABLES: &[(&str, &str)] = &[
    ("KAFKA_SASL_PASSWORD", "sasl.password"),
    (
        "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET",
        "sasl.oauthbearer.client.secret",
    ),
    ("KAFKA_SSL_KEY_PASSWORD", "ssl.key.password"),
];

/// Which clients a setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every client: producers, consumers, admin clients (consumer-only settings reach only
    /// consumers, see [`CONSUMER_ONLY_SETTINGS`]).
    All,
    /// Producers only (the services' publisher, the consumers' dead-letter producers).
    Producer,
    /// Consumers only.
    Consumer,
}

/// Where a setting came from, as errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of a properties file.
    File { path: PathBuf, line: usize },
    /// A flag and the environment variable that stands for it (`-X`, `KAFKA_CONFIG`).
    Flag(String),
    /// An environment variable.
    Env(String),
    /// A [`Profile`]'s settings.
    Profile(Profile),
}

impl Origin {
    pub fn flag(name: impl Into<String>) -> Origin {
        Origin::Flag(name.into())
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Flag(name) => f.write_str(name),
            Origin::Env(name) => write!(f, "${name}"),
            Origin::Profile(profile) => write!(f, "profile {profile}"),
        }
    }
}

/// Why the settings cannot be used. Never contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read the Kafka properties file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A line of a properties file that is not `key=value`.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Properties {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A setting librdkafka does not take, or takes differently.
    #[error("{origin}: {key}: {message}")]
    Setting {
        origin: Origin,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(
        "the Kafka bootstrap servers are given twice, differently: {flag} and {origin} \
         (bootstrap.servers); give them once"
    )]
    BootstrapTwice { flag: String, origin: Origin },
    #[error(
        "no Kafka bootstrap servers: give --bootstrap-servers (KAFKA_BOOTSTRAP_SERVERS) or \
         bootstrap.servers in the properties file"
    )]
    NoBootstrap,
}

#[derive(Clone)]
struct Setting {
    scope: Scope,
    key: String,
    value: String,
    origin: Origin,
}

/// The settings of a process's Kafka clients, layer by layer; see the [module docs](self).
#[derive(Clone, Default)]
pub struct ClientSettings {
    profile: Profile,
    /// The profile's settings: below every other layer.
    profile_settings: Vec<Setting>,
    /// In the order given: a later one wins within its scope.
    settings: Vec<Setting>,
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ClientSettings {
    pub fn new() -> Self {
        ClientSettings::default()
    }

    /// These settings over `profile`'s: the profile is the lowest layer, whenever it is set.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.set_profile(profile);
        self
    }

    /// Puts `profile`'s settings under every other layer, in place of another profile's.
    pub fn set_profile(&mut self, profile: Profile) {
        self.profile = profile;
        self.profile_settings = profile
            .settings()
            .iter()
            .map(|s| Setting {
                scope: s.scope,
                key: s.key.to_owned(),
                value: s.value.to_owned(),
                origin: Origin::Profile(profile),
            })
            .collect();
    }

    /// The profile under the other settings ([`Profile::Default`] when none was set).
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Adds `key = value` for the clients of `scope`, as given at `origin`; a setting of Kafka's
    /// Java clients is translated or refused (see the [module docs](self)). Values are trimmed,
    /// as Kafka's Java clients trim them, except secrets.
    pub fn set(
        &mut self,
        scope: Scope,
        key: &str,
        value: &str,
        origin: Origin,
    ) -> Result<(), ConfigError> {
        let key = key.trim();
        let secret = secret::is_secret_setting(key);
        if secret {
            secret::register(value);
        }
        let value = if secret { value } else { value.trim() };
        let refuse = |message: String| ConfigError::Setting {
            origin: origin.clone(),
            key: key.to_owned(),
            message,
        };
        if key.is_empty() {
            return Err(refuse("a value without a key (expected key=value)".into()));
        }
        if key.chars().chain(value.chars()).any(char::is_control) {
            return Err(refuse("contains a control character".into()));
        }
        match java::translate(key, value) {
            java::Translation::Keep(value) => self.push(scope, key, value, origin),
            java::Translation::Into(settings) => {
                for (key, value) in settings {
                    if secret::is_secret_setting(key) {
                        secret::register(&value);
                    }
                    self.push(scope, key, value, origin.clone());
                }
            }
            java::Translation::Drop => {}
            java::Translation::Refuse(why) => return Err(refuse(why)),
        }
        Ok(())
    }

    fn push(&mut self, scope: Scope, key: &str, value: String, origin: Origin) {
        self.settings.push(Setting {
            scope,
            key: key.to_owned(),
            value,
            origin,
        });
    }

    /// Adds every setting of the properties file at `path` for the clients of `scope`.
    pub fn read_properties(&mut self, scope: Scope, path: &Path) -> Result<(), ConfigError> {
        for entry in properties::read_file(path)? {
            let origin = Origin::File {
                path: path.to_owned(),
                line: entry.line,
            };
            self.set(scope, &entry.key, &entry.value, origin)?;
        }
        Ok(())
    }

    /// Adds the secrets of [`SECRET_VARIABLES`] found in the environment (each as a value or as
    /// a file named by `<variable>_FILE`) for every client.
    pub fn secrets_from_env(&mut self) -> Result<(), ConfigError> {
        self.secrets_from(|name| std::env::var(name).ok())
    }

    fn secrets_from(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (name, key) in SECRET_VARIABLES {
            let Some(secret) = secret::from_lookup(name, &var)? else {
                continue;
            };
            let file_var = format!("{name}_FILE");
            let origin = Origin::Env(if var(&file_var).is_some_and(|v| !v.is_empty()) {
                file_var
            } else {
                (*name).to_owned()
            });
            self.push(Scope::All, key, secret.expose().to_owned(), origin);
        }
        Ok(())
    }

    /// The bootstrap servers: those of the flag, else `bootstrap.servers` from the settings for
    /// every client, else `default`. Both given and different is an error.
    pub fn bootstrap_servers(
        &self,
        flag: Option<&str>,
        default: Option<&str>,
    ) -> Result<String, ConfigError> {
        let from_settings = self
            .settings
            .iter()
            .rev()
            .find(|s| s.scope == Scope::All && s.key == "bootstrap.servers");
        match (flag, from_settings) {
            (Some(flag), Some(s)) if s.value != flag => Err(ConfigError::BootstrapTwice {
                flag: format!("--bootstrap-servers {flag}"),
                origin: s.origin.clone(),
            }),
            (Some(flag), _) => Ok(flag.to_owned()),
            (None, Some(s)) => Ok(s.value.clone()),
            (None, None) => default.map(str::to_owned).ok_or(ConfigError::NoBootstrap),
        }
    }

    /// The settings of `scopes`, later ones winning, with where each came from;
    /// `bootstrap.servers` is left out (see [`ClientSettings::bootstrap_servers`]).
    fn merged(&self, scope: Scope) -> BTreeMap<&str, &Setting> {
        let mut out = BTreeMap::new();
        // The profile under everything else; in each layer every client's first, then the
        // scope's own.
        for layer in [&self.profile_settings, &self.settings] {
            for s in layer.iter().filter(|s| s.scope == Scope::All) {
                if scope == Scope::Producer && CONSUMER_ONLY_SETTINGS.contains(&s.key.as_str()) {
                    continue;
                }
                out.insert(s.key.as_str(), s);
            }
            if scope != Scope::All {
                for s in layer.iter().filter(|s| s.scope == scope) {
                    out.insert(s.key.as_str(), s);
                }
            }
        }
        out.remove("bootstrap.servers");
        out
    }

    fn values(&self, scope: Scope) -> BTreeMap<String, String> {
        self.merged(scope)
            .into_iter()
            .map(|(k, s)| (k.to_owned(), s.value.clone()))
            .collect()
    }

    /// The settings every client takes (admin clients, probes): without the producer-only and
    /// consumer-only layers.
    pub fn common(&self) -> BTreeMap<String, String> {
        self.values(Scope::All)
    }

    /// A producer's settings: every client's without [`CONSUMER_ONLY_SETTINGS`], then the
    /// producer-only ones.
    pub fn producer(&self) -> BTreeMap<String, String> {
        self.values(Scope::Producer)
    }

    /// A consumer's settings: every client's, then the consumer-only ones.
    pub fn consumer(&self) -> BTreeMap<String, String> {
        self.values(Scope::Consumer)
    }

    /// A librdkafka client configuration for `scope` with `bootstrap.servers`.
    pub fn client_config(&self, scope: Scope, bootstrap_servers: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap_servers);
        for (k, v) in self.values(scope) {
            config.set(k, v);
        }
        config
    }

    /// Has librdkafka check every setting of the producers and consumers these settings make;
    /// a rejected one is named with where it came from. Also refuses SASL without a mechanism
    /// this build has.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for scope in [Scope::Producer, Scope::Consumer] {
            let merged = self.merged(scope);
            let mut config = ClientConfig::new();
            for (k, s) in &merged {
                config.set(*k, &s.value);
            }
            if let Err(KafkaError::ClientConfig(_, description, key, _)) =
                config.create_native_config()
            {
                let setting = merged.get(key.as_str());
                return Err(ConfigError::Setting {
                    origin: setting
                        .map(|s| s.origin.clone())
                        .unwrap_or_else(|| Origin::flag("the settings")),
                    message: rejected(&key, &description),
                    key,
                });
            }
            check_mechanism(&merged)?;
        }
        Ok(())
    }

    /// The profile, then every setting given, `key=value (origin)` layer by layer, secrets
    /// masked: for a start-up log line.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("profile={}", self.profile)];
        for layer in [&self.profile_settings, &self.settings] {
            for (label, scope) in [
                ("", Scope::All),
                ("producer ", Scope::Producer),
                ("consumer ", Scope::Consumer),
            ] {
                for s in layer.iter().filter(|s| s.scope == scope) {
                    parts.push(format!(
                        "{label}{}={} ({})",
                        s.key,
                        secret::redact_setting(&s.key, &s.value),
                        s.origin
                    ));
                }
            }
        }
        parts.join(", ")
    }
}

/// librdkafka's reason for refusing a setting, with the way out.
fn rejected(key: &str, description: &str) -> String {
    if description.starts_with("No such configuration property") {
        format!(
            "librdkafka has no setting named `{key}` (its settings are listed in librdkafka's \
             CONFIGURATION.md)"
        )
    } else {
        // librdkafka quotes the value it refused, which may be a secret.
        secret::redact(description).into_owned()
    }
}

/// SASL needs a mechanism this build has: librdkafka's default, GSSAPI, needs the `gssapi`
/// feature.
fn check_mechanism(merged: &BTreeMap<&str, &Setting>) -> Result<(), ConfigError> {
    let sasl = merged
        .get("security.protocol")
        .is_some_and(|s| s.value.to_ascii_uppercase().starts_with("SASL_"));
    let mechanism = merged
        .get("sasl.mechanisms")
        .or_else(|| merged.get("sasl.mechanism"));
    let gssapi = match mechanism {
        None => sasl,
        Some(m) => m.value.trim().eq_ignore_ascii_case("GSSAPI"),
    };
    if gssapi && !cfg!(feature = "gssapi") {
        let (origin, key) = match (mechanism, merged.get("security.protocol")) {
            (Some(m), _) => (m.origin.clone(), m.key.clone()),
            (None, Some(p)) => (p.origin.clone(), p.key.clone()),
            (None, None) => (Origin::flag("the settings"), "sasl.mechanism".to_owned()),
        };
        return Err(ConfigError::Setting {
            origin,
            key,
            message: format!(
                "SASL with {} needs Kerberos (GSSAPI), which this build leaves out: set \
                 sasl.mechanism to PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, or build \
                 with the `gssapi` feature (needs libsasl2-dev)",
                if mechanism.is_some() {
                    "sasl.mechanism=GSSAPI"
                } else {
                    "no sasl.mechanism, librdkafka's default GSSAPI,"
                }
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> Origin {
        Origin::flag("-X")
    }

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn later_layers_win_and_producer_and_consumer_settings_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let common = file(
            dir.path(),
            "client.properties",
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nlinger.ms=5\n\
             group.instance.id=a\n",
        );
        let producer = file(dir.path(), "producer.properties", "linger.ms=20\n");
        let mut s = ClientSettings::new();
        s.read_properties(Scope::All, &common).unwrap();
        s.set(Scope::All, "linger.ms", "10", flag()).unwrap();
        s.read_properties(Scope::Producer, &producer).unwrap();
        s.set(Scope::Producer, "compression.type", "zstd", flag())
            .unwrap();
        s.set(Scope::Consumer, "fetch.wait.max.ms", "50", flag())
            .unwrap();

        let p = s.producer();
        assert_eq!(p["linger.ms"], "20");
        assert_eq!(p["compression.type"], "zstd");
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert!(!p.contains_key("group.instance.id"), "consumer-only");
        assert!(!p.contains_key("fetch.wait.max.ms"));
        let c = s.consumer();
        assert_eq!(c["linger.ms"], "10");
        assert_eq!(c["group.instance.id"], "a");
        assert_eq!(c["fetch.wait.max.ms"], "50");
        assert!(!c.contains_key("compression.type"));
        assert_eq!(s.common()["linger.ms"], "10");
        s.validate().unwrap();
    }

    #[test]
    fn a_profile_is_the_lowest_layer_under_files_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let common = file(dir.path(), "client.properties", "linger.ms=7\n");
        let mut s = ClientSettings::new().with_profile(Profile::Latency);
        s.read_properties(Scope::All, &common).unwrap();
        s.set(Scope::All, "fetch.wait.max.ms", "100", flag())
            .unwrap();
        s.set(Scope::Producer, "compression.type", "zstd", flag())
            .unwrap();

        let p = s.producer();
        assert_eq!(p["linger.ms"], "7", "the properties file beats the profile");
        assert_eq!(p["compression.type"], "zstd", "--producer-config beats it");
        let c = s.consumer();
        assert_eq!(
            c["fetch.wait.max.ms"], "100",
            "-X beats the profile's consumer setting"
        );
        assert_eq!(c["fetch.min.bytes"], "1", "what nothing overrides stays");
        assert_eq!(c["fetch.queue.backoff.ms"], "10");

        // Set after the other layers, the profile is still under them.
        let mut s = ClientSettings::new();
        s.set(Scope::Consumer, "fetch.wait.max.ms", "50", flag())
            .unwrap();
        s.set_profile(Profile::Throughput);
        assert_eq!(s.consumer()["fetch.wait.max.ms"], "50");
        assert_eq!(s.consumer()["fetch.min.bytes"], "65536");
        assert_eq!(s.producer()["compression.type"], "lz4");
        s.validate().unwrap();
    }

    #[test]
    fn a_profiles_consumer_settings_reach_only_consumers_and_its_producer_settings_only_producers()
    {
        for profile in Profile::ALL {
            let s = ClientSettings::new().with_profile(profile);
            let (p, c, common) = (s.producer(), s.consumer(), s.common());
            for setting in profile.settings() {
                let key = setting.key;
                assert!(
                    !common.contains_key(key),
                    "{profile}: {key} reaches admin clients"
                );
                match setting.scope {
                    Scope::Consumer => {
                        assert!(CONSUMER_ONLY_SETTINGS.contains(&key), "{profile}: {key}");
                        assert_eq!(c[key], setting.value, "{profile}: {key}");
                        assert!(!p.contains_key(key), "{profile}: {key} reaches producers");
                    }
                    Scope::Producer => {
                        assert_eq!(p[key], setting.value, "{profile}: {key}");
                        assert!(!c.contains_key(key), "{profile}: {key} reaches consumers");
                    }
                    Scope::All => panic!("{profile}: {key} is for every client"),
                }
            }
        }
        assert!(Profile::Default.settings().is_empty());
        assert!(ClientSettings::new().consumer().is_empty());
    }

    #[test]
    fn every_profile_is_accepted_by_a_real_producer_and_consumer() {
        use rdkafka::consumer::BaseConsumer;
        use rdkafka::producer::BaseProducer;
        for profile in Profile::ALL {
            let s = ClientSettings::new().with_profile(profile);
            s.validate().unwrap();
            let producer: Result<BaseProducer, _> =
                s.client_config(Scope::Producer, "127.0.0.1:1").create();
            assert!(producer.is_ok(), "{profile}: {:?}", producer.err());
            let consumer: Result<BaseConsumer, _> = s
                .client_config(Scope::Consumer, "127.0.0.1:1")
                .set("group.id", "g")
                .create();
            assert!(consumer.is_ok(), "{profile}: {:?}", consumer.err());
        }
    }

    #[test]
    fn the_description_names_the_profile_and_which_settings_came_from_it() {
        assert_eq!(ClientSettings::new().describe(), "profile=default");
        let mut s = ClientSettings::new().with_profile(Profile::Latency);
        s.set(Scope::Consumer, "fetch.wait.max.ms", "20", flag())
            .unwrap();
        let described = s.describe();
        assert!(described.starts_with("profile=latency, "), "{described}");
        assert!(
            described.contains("consumer fetch.wait.max.ms=5 (profile latency)")
                && described.contains("producer linger.ms=0 (profile latency)")
                && described.ends_with("consumer fetch.wait.max.ms=20 (-X)"),
            "{described}"
        );
    }

    #[test]
    fn a_setting_librdkafka_rejects_is_named_with_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            dir.path(),
            "client.properties",
            "security.protocol=SSL\n# comment\nlinger.mss=5\n",
        );
        let mut s = ClientSettings::new();
        s.read_properties(Scope::All, &path).unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:3: linger.mss: librdkafka has no setting named `linger.mss` (its settings \
                 are listed in librdkafka's CONFIGURATION.md)",
                path.display()
            )
        );

        let mut s = ClientSettings::new();
        s.set(
            Scope::Producer,
            "compression.type",
            "zstandard",
            Origin::flag("--producer-config"),
        )
        .unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("--producer-config: compression.type: Invalid value \"zstandard\""),
            "{err}"
        );
    }

    #[test]
    fn java_only_settings_are_refused_with_file_line_and_the_librdkafka_equivalent() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            dir.path(),
            "client.properties",
            "security.protocol=SSL\nssl.truststore.location=/etc/kafka/truststore.jks\n",
        );
        let err = ClientSettings::new()
            .read_properties(Scope::All, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}:2: ssl.truststore.location: librdkafka reads CA certificates from PEM files: \
                 set ssl.ca.location",
                path.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_jaas_password_becomes_sasl_password_and_is_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            dir.path(),
            "client.properties",
            "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n\
             \x20 username='ABCKEY' password='jaas-secret-93';\n",
        );
        let mut s = ClientSettings::new();
        s.read_properties(Scope::All, &path).unwrap();
        assert_eq!(s.common()["sasl.username"], "ABCKEY");
        assert_eq!(s.common()["sasl.password"], "jaas-secret-93");
        assert!(!s.common().contains_key("sasl.jaas.config"));
        let described = format!("{s:?}");
        assert!(!described.contains("jaas-secret-93"), "{described}");
        assert!(
            described.contains(&format!("sasl.password=*** ({}:3)", path.display())),
            "{described}"
        );
        assert_eq!(
            secret::redact("auth with jaas-secret-93 failed"),
            "auth with *** failed"
        );
    }

    #[test]
    fn secrets_come_from_the_environment_or_a_file_and_win_over_the_properties() {
        let dir = tempfile::tempdir().unwrap();
        let password_file = file(dir.path(), "password", "from-file-pw-41\n");
        let mut s = ClientSettings::new();
        s.set(Scope::All, "sasl.password", "from-x-flag-17", flag())
            .unwrap();
        let env: BTreeMap<String, String> = [
            (
                "KAFKA_SASL_PASSWORD_FILE".to_owned(),
                password_file.display().to_string(),
            ),
            (
                "KAFKA_SSL_KEY_PASSWORD".to_owned(),
                "key-pw-from-env-5".to_owned(),
            ),
        ]
        .into();
        s.secrets_from(|name| env.get(name).cloned()).unwrap();
        assert_eq!(s.common()["sasl.password"], "from-file-pw-41");
        assert_eq!(s.common()["ssl.key.password"], "key-pw-from-env-5");
        let described = s.describe();
        assert!(
            described.contains("sasl.password=*** ($KAFKA_SASL_PASSWORD_FILE)"),
            "{described}"
        );
        for secret in ["from-file-pw-41", "from-x-flag-17", "key-pw-from-env-5"] {
            assert_eq!(secret::redact(secret), "***", "{secret} is registered");
        }

        let both: BTreeMap<String, String> = [
            ("KAFKA_SASL_PASSWORD".to_owned(), "x".to_owned()),
            (
                "KAFKA_SASL_PASSWORD_FILE".to_owned(),
                password_file.display().to_string(),
            ),
        ]
        .into();
        let err = ClientSettings::new()
            .secrets_from(|name| both.get(name).cloned())
            .unwrap_err()
            .to_string();
        assert!(err.contains("given twice"), "{err}");
    }

    #[test]
    fn values_are_trimmed_as_java_clients_trim_them_but_secrets_are_not() {
        let mut s = ClientSettings::new();
        s.set(Scope::All, " security.protocol ", " SSL  ", flag())
            .unwrap();
        s.set(Scope::All, "sasl.password", " pw with spaces ", flag())
            .unwrap();
        assert_eq!(s.common()["security.protocol"], "SSL");
        assert_eq!(s.common()["sasl.password"], " pw with spaces ");
    }

    #[test]
    fn sasl_without_a_mechanism_this_build_has_is_refused_with_the_choices() {
        let mut s = ClientSettings::new();
        s.set(Scope::All, "security.protocol", "SASL_SSL", flag())
            .unwrap();
        let result = s.validate();
        if cfg!(feature = "gssapi") {
            result.unwrap();
        } else {
            let err = result.unwrap_err().to_string();
            assert!(
                err.starts_with("-X: security.protocol: SASL with no sasl.mechanism")
                    && err.contains("SCRAM-SHA-512")
                    && err.contains("`gssapi` feature"),
                "{err}"
            );
        }
    }

    #[test]
    fn bootstrap_servers_come_from_the_flag_or_the_file_but_not_two_different_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            dir.path(),
            "client.properties",
            "bootstrap.servers=pkc-1.example.com:9092\n",
        );
        let mut s = ClientSettings::new();
        assert_eq!(
            s.bootstrap_servers(None, Some("127.0.0.1:9092")).unwrap(),
            "127.0.0.1:9092"
        );
        assert!(matches!(
            s.bootstrap_servers(None, None),
            Err(ConfigError::NoBootstrap)
        ));
        s.read_properties(Scope::All, &path).unwrap();
        assert_eq!(
            s.bootstrap_servers(None, Some("127.0.0.1:9092")).unwrap(),
            "pkc-1.example.com:9092"
        );
        assert_eq!(
            s.bootstrap_servers(Some("pkc-1.example.com:9092"), None)
                .unwrap(),
            "pkc-1.example.com:9092"
        );
        let err = s
            .bootstrap_servers(Some("10.0.0.1:9092"), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "the Kafka bootstrap servers are given twice, differently: --bootstrap-servers \
                 10.0.0.1:9092 and {}:1 (bootstrap.servers); give them once",
                path.display()
            )
        );
        assert!(!s.common().contains_key("bootstrap.servers"));
        assert_eq!(
            s.client_config(Scope::All, "b:1").get("bootstrap.servers"),
            Some("b:1")
        );
    }

    #[test]
    fn every_codec_and_sasl_ssl_are_accepted_by_a_real_producer() {
        use rdkafka::producer::BaseProducer;
        for codec in ["zstd", "lz4", "snappy", "gzip"] {
            let mut s = ClientSettings::new();
            for (k, v) in [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "shop"),
                ("sasl.password", "codec-test-password"),
                ("compression.type", codec),
            ] {
                s.set(Scope::Producer, k, v, flag()).unwrap();
            }
            s.validate().unwrap();
            let producer: Result<BaseProducer, _> =
                s.client_config(Scope::Producer, "127.0.0.1:1").create();
            assert!(producer.is_ok(), "{codec}: {:?}", producer.err());
        }
    }

    /// The `client.properties` a Java client uses for OIDC client credentials (as Confluent
    /// Cloud and Strimzi document it), the secret moved to a file.
    const JAVA_OIDC: &str = "security.protocol=SASL_SSL\n\
         sasl.mechanism=OAUTHBEARER\n\
         sasl.oauthbearer.token.endpoint.url=https://login.example.com/oauth2/token\n\
         sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n\
         sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \\\n\
         \x20 clientId='shop-app' scope='kafka' extension_logicalCluster='lkc-1';\n";

    #[test]
    fn a_java_oidc_client_properties_becomes_librdkafkas_oidc_login_with_the_secret_from_a_file() {
        use rdkafka::producer::BaseProducer;
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "client.properties", JAVA_OIDC);
        let secret_file = file(dir.path(), "oidc-secret", "oidc-client-secret-58\n");
        let mut s = ClientSettings::new();
        s.read_properties(Scope::All, &path).unwrap();
        let env: BTreeMap<String, String> = [(
            "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_FILE".to_owned(),
            secret_file.display().to_string(),
        )]
        .into();
        s.secrets_from(|name| env.get(name).cloned()).unwrap();
        let common = s.common();
        for (key, value) in [
            ("sasl.oauthbearer.method", "oidc"),
            ("sasl.oauthbearer.client.id", "shop-app"),
            ("sasl.oauthbearer.client.secret", "oidc-client-secret-58"),
            ("sasl.oauthbearer.scope", "kafka"),
            ("sasl.oauthbearer.extensions", "logicalCluster=lkc-1"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://login.example.com/oauth2/token",
            ),
        ] {
            assert_eq!(common.get(key).map(String::as_str), Some(value), "{key}");
        }
        // This build of librdkafka has OIDC (libcurl), and checks the settings.
        let features = ClientConfig::new()
            .create_native_config()
            .unwrap()
            .get("builtin.features")
            .unwrap();
        assert!(features.split(',').any(|f| f == "oidc"), "{features}");
        s.validate().unwrap();
        let producer: Result<BaseProducer, _> =
            s.client_config(Scope::Producer, "127.0.0.1:1").create();
        assert!(producer.is_ok(), "{:?}", producer.err());

        let described = s.describe();
        assert!(
            described.contains(
                "sasl.oauthbearer.client.secret=*** ($KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_FILE)"
            ),
            "{described}"
        );
        assert!(
            described.contains(
                "sasl.oauthbearer.token.endpoint.url=https://login.example.com/oauth2/token"
            ),
            "the endpoint is shown: {described}"
        );
        assert!(!described.contains("oidc-client-secret-58"), "{described}");
        assert_eq!(
            secret::redact("token request with oidc-client-secret-58"),
            "token request with ***"
        );
    }

    #[test]
    fn an_oidc_setting_librdkafka_cannot_honour_is_refused_with_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{JAVA_OIDC}sasl.oauthbearer.expected.audience=kafka-broker\n");
        let path = file(dir.path(), "client.properties", &text);
        let err = ClientSettings::new()
            .read_properties(Scope::All, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}:7: sasl.oauthbearer.expected.audience: a setting of the Java OIDC login",
                path.display()
            )),
            "{err}"
        );
        let path = file(
            dir.path(),
            "custom.properties",
            "sasl.mechanism=OAUTHBEARER\n\
             sasl.login.callback.handler.class=com.example.VaultTokenHandler\n",
        );
        let err = ClientSettings::new()
            .read_properties(Scope::All, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}:2: sasl.login.callback.handler.class: librdkafka fetches OAUTHBEARER tokens \
                 itself with OIDC client credentials",
                path.display()
            )),
            "{err}"
        );
    }
}
