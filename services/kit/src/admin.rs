//! The admin API's serving side shared by the three binaries: [`AdminArgs`] (tokens, TLS, mutual
//! TLS, the health/reflection policy) and [`serve`]. The Kafka backend behind it is
//! `contracts_admin::kafka::KafkaAdmin`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use contracts_admin::{AdminConfig, AdminServer, DiscoveryPolicy, TlsIdentity};
use contracts_core::secret;

use crate::shutdown::Shutdown;

/// Whether health checking and reflection need a token (`--admin-discovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Discovery {
    /// Anyone may call them: Kubernetes probes and grpcurl work without a token.
    #[default]
    Open,
    /// They need the read token (or the write token), like any read.
    Token,
}

/// How the admin API protects itself; shared by the three binaries (each adds its own
/// `--admin-listen`).
///
/// The tokens are secrets and are never flags: they come from the environment or from a file,
/// `ADMIN_READ_TOKEN` / `ADMIN_READ_TOKEN_FILE` (reads: contracts, consumers, lag, dead letters,
/// orders, stock, notifications) and `ADMIN_WRITE_TOKEN` / `ADMIN_WRITE_TOKEN_FILE` (reads and
/// everything that changes state: set stock, replay and drop dead letters, pause and resume).
/// With neither set, the admin API has no authentication.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// Whether gRPC health checking and reflection are `open` to anyone or need the read `token`
    /// (ADMIN_READ_TOKEN or ADMIN_WRITE_TOKEN).
    #[arg(long, env = "ADMIN_DISCOVERY", value_enum, default_value_t)]
    pub admin_discovery: Discovery,
    /// PEM certificate chain: the admin API speaks TLS (needs --admin-tls-key).
    #[arg(long, env = "ADMIN_TLS_CERT", requires = "admin_tls_key")]
    pub admin_tls_cert: Option<PathBuf>,
    /// PEM private key of --admin-tls-cert.
    #[arg(long, env = "ADMIN_TLS_KEY", requires = "admin_tls_cert")]
    pub admin_tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): every admin client must present a certificate signed by one of them
    /// (mutual TLS; needs --admin-tls-cert).
    #[arg(long, env = "ADMIN_TLS_CLIENT_CA", requires = "admin_tls_cert")]
    pub admin_tls_client_ca: Option<PathBuf>,
}

impl AdminArgs {
    /// The admin server's configuration, its tokens read from the process's environment.
    pub fn config(&self) -> anyhow::Result<AdminConfig> {
        self.config_from(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// [`AdminArgs::config`] with the environment given as a lookup (tests).
    pub fn config_from(&self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<AdminConfig> {
        for old in ["ADMIN_TOKEN", "ADMIN_TOKEN_FILE"] {
            anyhow::ensure!(
                env(old).is_none_or(|v| v.is_empty()),
                "{old} is no longer read: the admin API has a read token and a write token; set \
                 ADMIN_WRITE_TOKEN (or ADMIN_WRITE_TOKEN_FILE) for full access and \
                 ADMIN_READ_TOKEN (or ADMIN_READ_TOKEN_FILE) for read-only access"
            );
        }
        let read_token = secret::from_lookup("ADMIN_READ_TOKEN", &env)?;
        let write_token = secret::from_lookup("ADMIN_WRITE_TOKEN", &env)?;
        if let (Some(read), Some(write)) = (&read_token, &write_token) {
            anyhow::ensure!(
                read.expose() != write.expose(),
                "ADMIN_READ_TOKEN and ADMIN_WRITE_TOKEN are the same token: a read-only client \
                 could then write; give them different values"
            );
        }
        let tls = match (&self.admin_tls_cert, &self.admin_tls_key) {
            (Some(cert), Some(key)) => Some(
                TlsIdentity::from_pem_files(cert, key)
                    .context("--admin-tls-cert/--admin-tls-key")?,
            ),
            _ => None,
        };
        let client_ca_pem = self
            .admin_tls_client_ca
            .as_deref()
            .map(|path: &Path| {
                std::fs::read(path)
                    .with_context(|| format!("--admin-tls-client-ca: reading {}", path.display()))
            })
            .transpose()?;
        Ok(AdminConfig {
            read_token,
            write_token,
            discovery: match self.admin_discovery {
                Discovery::Open => DiscoveryPolicy::Open,
                Discovery::Token => DiscoveryPolicy::ReadToken,
            },
            tls,
            client_ca_pem,
        })
    }
}

/// Binds `listen` (so a taken port fails the start-up, not later) and serves `server` there
/// until `shutdown`.
pub fn serve(
    listener: tokio::net::TcpListener,
    server: AdminServer,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<Result<(), contracts_admin::Error>>> {
    tracing::info!(admin_listen = %listener.local_addr()?, "admin API listening");
    Ok(tokio::spawn(async move {
        server
            .serve(listener, async move { shutdown.wait().await })
            .await
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        admin: AdminArgs,
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn tokens_come_from_the_environment_or_a_file_and_never_from_a_flag() {
        let cli = Cli::try_parse_from(["svc"]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("write");
        std::fs::write(&file, "kit-write-from-file\n").unwrap();
        let config = cli
            .admin
            .config_from(env(&[
                ("ADMIN_READ_TOKEN", "kit-read"),
                ("ADMIN_WRITE_TOKEN_FILE", file.to_str().unwrap()),
            ]))
            .unwrap();
        assert_eq!(config.read_token.unwrap().expose(), "kit-read");
        assert_eq!(config.write_token.unwrap().expose(), "kit-write-from-file");

        let empty = cli
            .admin
            .config_from(env(&[("ADMIN_READ_TOKEN", "")]))
            .unwrap();
        assert!(empty.read_token.is_none() && empty.write_token.is_none());

        for flag in ["--admin-token", "--admin-read-token", "--admin-write-token"] {
            assert!(Cli::try_parse_from(["svc", flag, "x"]).is_err(), "{flag}");
        }
    }

    #[test]
    fn the_retired_single_token_and_a_shared_read_write_token_are_refused_with_a_reason() {
        let cli = Cli::try_parse_from(["svc"]).unwrap();
        let err = cli
            .admin
            .config_from(env(&[("ADMIN_TOKEN", "t")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ADMIN_WRITE_TOKEN"), "{err}");
        let err = cli
            .admin
            .config_from(env(&[
                ("ADMIN_READ_TOKEN", "shared-7x"),
                ("ADMIN_WRITE_TOKEN", "shared-7x"),
            ]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("same token"), "{err}");
        assert!(!err.contains("shared-7x"), "{err}");
    }

    #[test]
    fn half_a_tls_pair_or_a_client_ca_without_tls_is_refused() {
        let err = Cli::try_parse_from(["svc", "--admin-tls-cert", "cert.pem"]).unwrap_err();
        assert!(err.to_string().contains("--admin-tls-key"), "{err}");
        let err = Cli::try_parse_from(["svc", "--admin-tls-client-ca", "ca.pem"]).unwrap_err();
        assert!(err.to_string().contains("--admin-tls-cert"), "{err}");
        let cli = Cli::try_parse_from(["svc", "--admin-discovery", "token"]).unwrap();
        assert_eq!(
            cli.admin.config_from(env(&[])).unwrap().discovery,
            DiscoveryPolicy::ReadToken
        );
    }
}
