//! The admin API's serving side shared by the three binaries: [`AdminArgs`] (token and TLS)
//! and [`serve`]. The Kafka backend behind it is `contracts_admin::kafka::KafkaAdmin`.

use std::path::PathBuf;

use anyhow::Context as _;
use contracts_admin::{AdminConfig, AdminServer, TlsIdentity};

use crate::shutdown::Shutdown;

/// How the admin API protects itself; shared by the three binaries (each adds its own
/// `--admin-listen`).
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// When set, every admin call must carry `authorization: Bearer <token>`; health checks
    /// and reflection stay open.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// PEM certificate chain: the admin API speaks TLS (needs --admin-tls-key).
    #[arg(long, env = "ADMIN_TLS_CERT", requires = "admin_tls_key")]
    pub admin_tls_cert: Option<PathBuf>,
    /// PEM private key of --admin-tls-cert.
    #[arg(long, env = "ADMIN_TLS_KEY", requires = "admin_tls_cert")]
    pub admin_tls_key: Option<PathBuf>,
}

impl AdminArgs {
    pub fn config(&self) -> anyhow::Result<AdminConfig> {
        let token = self.admin_token.clone().filter(|t| !t.is_empty());
        let tls = match (&self.admin_tls_cert, &self.admin_tls_key) {
            (Some(cert), Some(key)) => Some(
                TlsIdentity::from_pem_files(cert, key)
                    .context("--admin-tls-cert/--admin-tls-key")?,
            ),
            _ => None,
        };
        Ok(AdminConfig { token, tls })
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

    #[test]
    fn an_empty_admin_token_means_no_authentication_and_a_half_tls_pair_is_refused() {
        let args = AdminArgs {
            admin_token: Some(String::new()),
            admin_tls_cert: None,
            admin_tls_key: None,
        };
        assert!(args.config().unwrap().token.is_none());
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            admin: AdminArgs,
        }
        let err = Cli::try_parse_from(["svc", "--admin-tls-cert", "cert.pem"]).unwrap_err();
        assert!(err.to_string().contains("--admin-tls-key"), "{err}");
        let cli = Cli::try_parse_from(["svc", "--admin-token", "t0k"]).unwrap();
        assert_eq!(cli.admin.config().unwrap().token.as_deref(), Some("t0k"));
    }
}
