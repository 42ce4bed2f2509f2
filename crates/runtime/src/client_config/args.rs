//! The command-line flags (and environment variables) that give a binary's Kafka client
//! settings; every binary that talks to Kafka flattens [`KafkaClientArgs`] into its own.

use std::path::PathBuf;
use std::time::Duration;

use super::{ClientSettings, ConfigError, Origin, Profile, Scope};

/// Kafka client settings: a profile, files, single settings, secrets from the environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KafkaClientArgs {
    /// Named librdkafka settings to start from: `latency` (consumers fetch every 5 ms, producers
    /// send at once: each hop in milliseconds, for many more fetch requests), `throughput`
    /// (lingering lz4 batches, fuller fetches) or `default` (librdkafka's own). Every other
    /// Kafka setting (properties files, -X, --producer-config, --consumer-config) wins over
    /// the profile's; the start-up log line "Kafka client settings" shows the profile and its
    /// settings.
    #[arg(
        long,
        env = "KAFKA_PROFILE",
        value_enum,
        default_value_t = Profile::Default,
        value_name = "PROFILE"
    )]
    pub kafka_profile: Profile,
    /// A Kafka client properties file for every Kafka client of the process: the
    /// `client.properties` that Kafka's Java clients and tools read (`key=value` lines, `#`
    /// comments). Java-only settings are translated (`sasl.jaas.config` with a user name and
    /// password) or refused with the librdkafka setting to use instead. Keep passwords out of
    /// it: see KAFKA_SASL_PASSWORD_FILE.
    #[arg(long, env = "KAFKA_PROPERTIES_FILE", value_name = "FILE")]
    pub kafka_properties: Option<PathBuf>,
    /// A librdkafka setting for every Kafka client, `-X key=value`, repeatable, over the
    /// properties file; the value is taken whole (`-X debug=cgrp,topic`). For example
    /// `-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512`. Without -X, the
    /// environment's KAFKA_CONFIG: settings one per line or comma-separated, where a part with
    /// no `=` continues the value before it (`debug=cgrp,topic,linger.ms=5` is two settings).
    #[arg(short = 'X', long = "kafka-config", value_parser = parse_setting, value_name = "KEY=VALUE")]
    pub kafka_config: Vec<(String, String)>,
    /// A properties file for the producers only, over the settings for every client.
    #[arg(long, env = "KAFKA_PRODUCER_PROPERTIES_FILE", value_name = "FILE")]
    pub producer_properties: Option<PathBuf>,
    /// A librdkafka setting for the producers only, over everything else (repeatable, taken
    /// whole), e.g. `--producer-config compression.type=zstd`. Without it, the environment's
    /// KAFKA_PRODUCER_CONFIG, a list as KAFKA_CONFIG.
    #[arg(long, value_parser = parse_setting, value_name = "KEY=VALUE")]
    pub producer_config: Vec<(String, String)>,
    /// A properties file for the consumers only, over the settings for every client.
    #[arg(long, env = "KAFKA_CONSUMER_PROPERTIES_FILE", value_name = "FILE")]
    pub consumer_properties: Option<PathBuf>,
    /// A librdkafka setting for the consumers only, over everything else (repeatable, taken
    /// whole), e.g. `--consumer-config fetch.wait.max.ms=100`. Without it, the environment's
    /// KAFKA_CONSUMER_CONFIG, a list as KAFKA_CONFIG.
    #[arg(long, value_parser = parse_setting, value_name = "KEY=VALUE")]
    pub consumer_config: Vec<(String, String)>,
    /// How long the start-up check of the Kafka connection (a metadata request) may take.
    /// A failed SASL login or an untrusted broker certificate stops the process at once,
    /// before anything is consumed or published; a cluster that does not answer in this time
    /// is logged and the process starts anyway (its clients keep trying).
    #[arg(
        long,
        env = "KAFKA_CONNECT_TIMEOUT_SECS",
        default_value_t = 20,
        value_name = "SECS"
    )]
    pub kafka_connect_timeout_secs: u64,
}

/// Secrets never come as flag values: passwords go in KAFKA_SASL_PASSWORD(_FILE),
/// KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET(_FILE) and KAFKA_SSL_KEY_PASSWORD(_FILE).
fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!(
            "expected key=value, such as linger.ms=5 (got {:?})",
            contracts_core::secret::redact(s)
        )),
    }
}

/// The settings given as flags, else those of the environment variable `var`. A flag's value is
/// never split; the variable holds several settings, one per line or separated by commas, where
/// a part with no `=` continues the value before it (`debug=cgrp,topic,linger.ms=5` is two).
fn from_flags_or_env<'a>(
    flags: &'a [(String, String)],
    var: &str,
) -> Result<std::borrow::Cow<'a, [(String, String)]>, ConfigError> {
    if !flags.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(flags));
    }
    match std::env::var(var) {
        Ok(list) => split_settings(&list)
            .map(std::borrow::Cow::Owned)
            .map_err(|message| ConfigError::Setting {
                origin: Origin::flag(var),
                key: var.to_owned(),
                message,
            }),
        Err(_) => Ok(std::borrow::Cow::Borrowed(flags)),
    }
}

/// Splits a list of settings from the environment (see [`from_flags_or_env`]).
pub fn split_settings(list: &str) -> Result<Vec<(String, String)>, String> {
    let separator = if list.contains('\n') { '\n' } else { ',' };
    let mut settings: Vec<(String, String)> = Vec::new();
    for part in list.split(separator) {
        if part.trim().is_empty() {
            continue;
        }
        match (part.contains('='), settings.last_mut()) {
            (false, Some((_, value))) if separator == ',' => {
                value.push(',');
                value.push_str(part);
            }
            _ => settings.push(parse_setting(part.trim_start())?),
        }
    }
    Ok(settings)
}

impl KafkaClientArgs {
    /// Reads the files and the secrets from the environment, and layers everything in the
    /// order of the [module docs](super).
    pub fn load(&self) -> Result<ClientSettings, ConfigError> {
        let mut settings = ClientSettings::new().with_profile(self.kafka_profile);
        if let Some(path) = &self.kafka_properties {
            settings.read_properties(Scope::All, path)?;
        }
        for (k, v) in from_flags_or_env(&self.kafka_config, "KAFKA_CONFIG")?.iter() {
            settings.set(Scope::All, k, v, Origin::flag("-X/KAFKA_CONFIG"))?;
        }
        settings.secrets_from_env()?;
        if let Some(path) = &self.producer_properties {
            settings.read_properties(Scope::Producer, path)?;
        }
        for (k, v) in from_flags_or_env(&self.producer_config, "KAFKA_PRODUCER_CONFIG")?.iter() {
            settings.set(
                Scope::Producer,
                k,
                v,
                Origin::flag("--producer-config/KAFKA_PRODUCER_CONFIG"),
            )?;
        }
        if let Some(path) = &self.consumer_properties {
            settings.read_properties(Scope::Consumer, path)?;
        }
        for (k, v) in from_flags_or_env(&self.consumer_config, "KAFKA_CONSUMER_CONFIG")?.iter() {
            settings.set(
                Scope::Consumer,
                k,
                v,
                Origin::flag("--consumer-config/KAFKA_CONSUMER_CONFIG"),
            )?;
        }
        warn_about_secrets_in_arguments(&settings);
        settings.validate()?;
        Ok(settings)
    }

    /// The bound of the start-up connection check.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.kafka_connect_timeout_secs.max(1))
    }
}

/// A secret given as a flag value can be read by any user of the machine (`ps`): say so, and
/// where it belongs instead.
fn warn_about_secrets_in_arguments(settings: &ClientSettings) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    for s in &settings.settings {
        if contracts_core::secret::is_secret_setting(&s.key)
            && matches!(s.origin, Origin::Flag(_))
            && !s.value.is_empty()
            && args.iter().any(|a| a.contains(&s.value))
        {
            tracing::warn!(
                setting = %s.key,
                "a secret was given on the command line, where other users of the machine can \
                 read it: give it in the environment or a file instead (KAFKA_SASL_PASSWORD_FILE, \
                 KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_FILE, KAFKA_SSL_KEY_PASSWORD_FILE)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Flags {
        #[command(flatten)]
        kafka: KafkaClientArgs,
    }

    #[test]
    fn the_profile_flag_sets_the_lowest_layer() {
        let flags = Flags::parse_from([
            "svc",
            "--kafka-profile",
            "latency",
            "--consumer-config",
            "fetch.wait.max.ms=20",
        ]);
        let settings = flags.kafka.load().unwrap();
        assert_eq!(settings.profile(), Profile::Latency);
        assert_eq!(settings.consumer()["fetch.wait.max.ms"], "20");
        assert_eq!(settings.producer()["linger.ms"], "0");
        let settings = Flags::parse_from(["svc"]).kafka.load().unwrap();
        assert_eq!(settings.profile(), Profile::Default);
        assert!(settings.consumer().is_empty());
    }

    #[test]
    fn a_flag_value_with_commas_is_taken_whole() {
        let flags = Flags::parse_from([
            "svc",
            "-X",
            "debug=cgrp,topic",
            "--consumer-config",
            "isolation.level=read_committed",
        ]);
        let settings = flags.kafka.load().unwrap();
        assert_eq!(settings.consumer()["debug"], "cgrp,topic");
        assert_eq!(settings.producer()["debug"], "cgrp,topic");
        assert_eq!(settings.consumer()["isolation.level"], "read_committed");
    }

    #[test]
    fn a_list_from_the_environment_splits_between_settings_not_inside_values() {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            split_settings("debug=cgrp,topic,linger.ms=5").unwrap(),
            pairs(&[("debug", "cgrp,topic"), ("linger.ms", "5")])
        );
        assert_eq!(
            split_settings("session.timeout.ms=10000,heartbeat.interval.ms=2000").unwrap(),
            pairs(&[
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", "2000")
            ])
        );
        // One per line: commas and `=` stay inside the value.
        assert_eq!(
            split_settings("sasl.oauthbearer.config=scope=a,b=c\nlinger.ms=5\n").unwrap(),
            pairs(&[
                ("sasl.oauthbearer.config", "scope=a,b=c"),
                ("linger.ms", "5")
            ])
        );
        let err = split_settings("cgrp,linger.ms=5").unwrap_err();
        assert!(err.contains("expected key=value"), "{err}");
    }

    #[test]
    fn an_unknown_profile_is_refused_with_the_known_ones() {
        let err = Flags::try_parse_from(["svc", "--kafka-profile", "fast"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid value 'fast' for '--kafka-profile <PROFILE>'")
                && err.contains("[possible values: default, latency, throughput]"),
            "{err}"
        );
    }
}
