//! A Confluent-compatible schema registry server whose state lives in a Kafka topic.
//!
//! In the flow schemas → model → compat/build → events → core/runtime → services, the server stands
//! beside the build side: it parses schemas with `contracts-model` and decides compatibility with
//! `contracts-compat`. Its REST bodies are those of `contracts_registry_client::api`, which clients
//! (the CLI, the runtime) use without linking any of this.
//!
//! - [`server::router`]: the REST API on axum; [`Server`] runs it on a socket.
//! - [`registry::Registry`]: the operations, over a [`store::Log`]: [`store::MemoryLog`] or
//!   [`kafka::KafkaLog`] (a compacted single-partition topic, `_schemas` by default).
//! - [`record`]: the log's record format and the optimistic write scheme that lets any number of
//!   instances write to one topic.
//! - [`serve`]: the command-line arguments of `contracts registry serve` and the
//!   `contracts-registry` binary.
//!
//! Start one in-process against a broker:
//!
//! ```no_run
//! # async fn demo() -> Result<(), contracts_registry::Error> {
//! use contracts_registry::{Server, ServerConfig, kafka::KafkaConfig};
//! let server = Server::start_kafka(
//!     KafkaConfig::new("127.0.0.1:9092", "_schemas"),
//!     ServerConfig::default(), // 127.0.0.1, a free port
//! )
//! .await?;
//! println!("registry at {}", server.url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod error;
pub mod kafka;
mod metrics;
pub mod proto_text;
pub mod record;
pub mod registry;
pub mod schema;
pub mod serve;
pub mod server;
pub mod state;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use auth::Auth;
pub use error::{ApiError, Error, Result};
pub use registry::{Registry, RegistryConfig};
pub use server::RouterOptions;
pub use state::ReferenceLimits;
use tokio::task::JoinHandle;
use tracing::{error, info};

/// How a [`Server`] listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `127.0.0.1:0` (a free port) by default.
    pub listen: SocketAddr,
    pub router: RouterOptions,
    pub registry: RegistryConfig,
    /// PEM certificate chain and private key: serve HTTPS instead of HTTP.
    pub tls: Option<TlsFiles>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            router: RouterOptions::default(),
            registry: RegistryConfig::default(),
            tls: None,
        }
    }
}

/// PEM files for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA certificates that sign client certificates (mTLS). A verified client certificate
    /// authenticates as the auth file's user named by its CN or a SAN.
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: refuse connections without a client certificate (otherwise a client
    /// may still log in with a password or token).
    pub client_cert_required: bool,
}

impl TlsFiles {
    /// Server certificate and key, no client certificates.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsFiles {
        TlsFiles {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
            client_cert_required: false,
        }
    }
}

/// A running registry: its HTTP server and the registry behind it. Dropping it stops serving.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    registry: Arc<Registry>,
    serve: JoinHandle<()>,
    catch_up: JoinHandle<()>,
}

impl Server {
    /// Serves `log` on `config.listen`; returns at once, while the registry reads its log
    /// (`/health` answers 503 until it is caught up). Use [`Server::wait_ready`] to wait.
    pub async fn start(log: Arc<dyn store::Log>, config: ServerConfig) -> Result<Server> {
        let registry = Arc::new(Registry::new(log, config.registry.clone()));
        let app = server::router(registry.clone(), config.router.clone());
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: config.listen.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: config.listen.to_string(),
            source,
        })?;
        let serve = match &config.tls {
            None => tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    error!(error = %e, "the registry's HTTP server stopped");
                }
            }),
            Some(files) => tls::spawn(listener, app, files)?,
        };
        let r = registry.clone();
        let catch_up = tokio::spawn(async move {
            // Keep trying: a broker that is not up yet may come up.
            loop {
                match r.start().await {
                    Ok(()) => return,
                    Err(e) => {
                        error!(error = %e, "reading the registry log failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        info!(%addr, tls = config.tls.is_some(), "schema registry listening");
        Ok(Server {
            addr,
            tls: config.tls.is_some(),
            registry,
            serve,
            catch_up,
        })
    }

    /// Connects to Kafka (creating the topic if needed), then [`Server::start`]s and waits
    /// until the registry is caught up with the topic.
    pub async fn start_kafka(kafka: kafka::KafkaConfig, config: ServerConfig) -> Result<Server> {
        let log = Arc::new(kafka::KafkaLog::connect(kafka).await?);
        let server = Server::start(log, config).await?;
        server.wait_ready().await;
        Ok(server)
    }

    /// A registry on an in-memory log (nothing survives it).
    pub async fn start_in_memory(config: ServerConfig) -> Result<Server> {
        let server = Server::start(Arc::new(store::MemoryLog::new()), config).await?;
        server.wait_ready().await;
        Ok(server)
    }

    /// Waits until the registry has read its log up to the end it had at start.
    pub async fn wait_ready(&self) {
        while !self.registry.is_ready() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Stops serving at once (open connections are dropped), like a crashed instance.
    pub fn abort(&self) {
        self.catch_up.abort();
        self.serve.abort();
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.abort();
        let serve = std::mem::replace(&mut self.serve, tokio::spawn(async {}));
        let _ = serve.await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.catch_up.abort();
        self.serve.abort();
    }
}

mod tls {
    use std::future::Future;
    use std::pin::Pin;

    use axum_server::accept::Accept;
    use axum_server::tls_rustls::RustlsAcceptor;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncRead, AsyncWrite};
    use tower::Layer;

    use super::*;
    use crate::auth::PeerNames;

    fn read_certs(path: &std::path::Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect())
            .map_err(|e| Error::Tls(format!("cannot read {what} from {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error::Tls(format!(
                "{} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(certs)
    }

    /// Serves `app` over TLS (rustls with the ring provider) with the PEM files' certificate;
    /// with a client CA, verifies client certificates and gives each request the names of its
    /// connection's certificate ([`PeerNames`]).
    pub fn spawn(
        listener: tokio::net::TcpListener,
        app: axum::Router,
        files: &TlsFiles,
    ) -> Result<JoinHandle<()>> {
        let certs = read_certs(&files.cert, "certificates")?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
            Error::Tls(format!(
                "cannot read a private key from {}: {e}",
                files.key.display()
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs(ca, "client CA certificates")? {
                    roots.add(cert).map_err(|e| {
                        Error::Tls(format!(
                            "{}: not a usable CA certificate: {e}",
                            ca.display()
                        ))
                    })?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                );
                let verifier = if files.client_cert_required {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| Error::Tls(format!("client CA {}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| Error::Tls(format!("certificate and key do not fit: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
        let std_listener = listener.into_std().map_err(|source| Error::Listen {
            addr: "the TLS listener".into(),
            source,
        })?;
        let acceptor = PeerAcceptor(RustlsAcceptor::new(rustls_config));
        Ok(tokio::spawn(async move {
            if let Err(e) = axum_server::from_tcp(std_listener)
                .acceptor(acceptor)
                .serve(app.into_make_service())
                .await
            {
                error!(error = %e, "the registry's HTTPS server stopped");
            }
        }))
    }

    /// The TLS handshake, then the client certificate's names into every request of the
    /// connection.
    #[derive(Clone)]
    struct PeerAcceptor(RustlsAcceptor);

    impl std::fmt::Debug for PeerAcceptor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("PeerAcceptor")
        }
    }

    impl<I, S> Accept<I, S> for PeerAcceptor
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Send + 'static,
    {
        type Stream = tokio_rustls::server::TlsStream<I>;
        type Service = axum::middleware::AddExtension<S, PeerNames>;
        type Future =
            Pin<Box<dyn Future<Output = std::io::Result<(Self::Stream, Self::Service)>> + Send>>;

        fn accept(&self, stream: I, service: S) -> Self::Future {
            let inner = self.0.clone();
            Box::pin(async move {
                let (stream, service) = inner.accept(stream, service).await?;
                let names = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .map(|cert| PeerNames::of_certificate(cert))
                    .unwrap_or_default();
                Ok((stream, axum::Extension(names).layer(service)))
            })
        }
    }
}
