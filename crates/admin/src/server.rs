//! Assembling and running the admin server: the services a process has, health, reflection,
//! authentication and TLS.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use contracts_core::secret::Secret;
use tonic::transport::Certificate;

use crate::auth::{AdminAuth, AuthLayer, DiscoveryPolicy};
use crate::backend::{
    AdminBackend, InventoryBackend, NotificationBackend, OrderBackend, OutboxBackend,
};
use crate::service::{AdminSvc, InventorySvc, NotificationSvc, OrderSvc, OutboxSvc};
use crate::{Error, FILE_DESCRIPTOR_SET, Result, pb};

/// Adds a generated service to the routes and records its name for health checks. (A macro:
/// the bounds tonic puts on a routable service name axum types this crate does not otherwise
/// need.) Authentication is a layer in front of all routes ([`AuthLayer`]).
macro_rules! add {
    ($server:expr, $svc:expr) => {{
        let svc = $svc;
        $server.services.push(named_service_name(&svc));
        $server.routes.add_service(svc);
    }};
}

fn named_service_name<S: NamedService>(_: &S) -> &'static str {
    S::NAME
}

/// A server certificate chain and its private key, PEM-encoded.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    pub fn from_pem(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        TlsIdentity {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        }
    }

    pub(crate) fn to_identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }

    /// Reads both files; the error names the one that could not be read.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| Error::Read {
                path: path.to_owned(),
                source,
            })
        };
        Ok(Self::from_pem(read(cert)?, read(key)?))
    }
}

/// How the admin server protects itself. The default is plaintext without authentication,
/// fit for loopback and trusted networks only.
///
/// With a token set, every call must carry `authorization: Bearer <token>`: reads take the read
/// or the write token, calls that change something (SetStock, ReplayDeadLetters,
/// DropDeadLetters, PauseConsumer, ResumeConsumer) only the write token. With only a read token,
/// nothing can be changed.
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// The token that allows reads.
    pub read_token: Option<Secret>,
    /// The token that allows reads and writes.
    pub write_token: Option<Secret>,
    /// Whether health checking and reflection are open (the default) or need the read token.
    pub discovery: DiscoveryPolicy,
    /// When set, the server speaks TLS (rustls) with this identity.
    pub tls: Option<TlsIdentity>,
    /// PEM CA certificate(s): when set (with [`AdminConfig::tls`]), every client must present a
    /// certificate signed by one of them (mutual TLS).
    pub client_ca_pem: Option<Vec<u8>>,
}

/// The admin gRPC server of one process: [`AdminBackend`] always, plus the domain service the
/// process owns.
///
/// ```no_run
/// # async fn demo<A: contracts_admin::AdminBackend, O: contracts_admin::OrderBackend>(
/// #     admin: A, orders: O, shutdown: impl std::future::Future<Output = ()>,
/// # ) -> Result<(), contracts_admin::Error> {
/// use contracts_admin::{AdminConfig, AdminServer};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await.unwrap();
/// let config = AdminConfig {
///     write_token: contracts_core::secret::from_env("ADMIN_WRITE_TOKEN").unwrap(),
///     ..AdminConfig::default()
/// };
/// AdminServer::new(config, admin)
///     .with_orders(orders)
///     .serve(listener, shutdown)
///     .await
/// # }
/// ```
pub struct AdminServer {
    auth: AdminAuth,
    tls: Option<TlsIdentity>,
    client_ca_pem: Option<Vec<u8>>,
    routes: RoutesBuilder,
    health: HealthReporter,
    services: Vec<&'static str>,
}

impl std::fmt::Debug for AdminServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminServer")
            .field("auth", &self.auth)
            .field("tls", &self.tls.is_some())
            .field("mtls", &self.client_ca_pem.is_some())
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl AdminServer {
    pub fn new<B: AdminBackend>(config: AdminConfig, backend: B) -> Self {
        let mut server = AdminServer {
            auth: AdminAuth::new(
                config.read_token.as_ref(),
                config.write_token.as_ref(),
                config.discovery,
            ),
            tls: config.tls,
            client_ca_pem: config.client_ca_pem,
            routes: RoutesBuilder::default(),
            health: HealthReporter::new(),
            services: Vec::new(),
        };
        let svc = pb::admin_service_server::AdminServiceServer::new(AdminSvc(Arc::new(backend)));
        add!(server, svc);
        server
    }

    /// Serves `OrderAdminService` too (the order service).
    pub fn with_orders<B: OrderBackend>(mut self, backend: B) -> Self {
        let svc = pb::order_admin_service_server::OrderAdminServiceServer::new(OrderSvc(Arc::new(
            backend,
        )));
        add!(self, svc);
        self
    }

    /// Serves `InventoryAdminService` too (the inventory service).
    pub fn with_inventory<B: InventoryBackend>(mut self, backend: B) -> Self {
        let svc = pb::inventory_admin_service_server::InventoryAdminServiceServer::new(
            InventorySvc(Arc::new(backend)),
        );
        add!(self, svc);
        self
    }

    /// Serves `NotificationAdminService` too (the notification service).
    pub fn with_notifications<B: NotificationBackend>(mut self, backend: B) -> Self {
        let svc = pb::notification_admin_service_server::NotificationAdminServiceServer::new(
            NotificationSvc(Arc::new(backend)),
        );
        add!(self, svc);
        self
    }

    /// Serves `OutboxAdminService` too (a service with a transactional outbox). Its one call,
    /// `ListSetAsideOutboxRows`, only reads.
    pub fn with_outbox<B: OutboxBackend>(mut self, backend: B) -> Self {
        let svc = pb::outbox_admin_service_server::OutboxAdminServiceServer::new(OutboxSvc(
            Arc::new(backend),
        ));
        add!(self, svc);
        self
    }

    /// The health reporter behind `grpc.health.v1.Health`: every admin service is `SERVING`
    /// once [`AdminServer::serve`] starts (which replaces earlier statuses of those names); a
    /// process can then mark itself `NOT_SERVING` (say, while its broker is down).
    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// The fully-qualified names of the admin services this server has.
    pub fn services(&self) -> &[&'static str] {
        &self.services
    }

    /// Serves on `listener` until `shutdown` completes, then finishes in-flight calls.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let addr = listener.local_addr().ok();
        for name in &self.services {
            self.health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        let health = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(self.health.clone()),
        );
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| Error::Reflection(e.to_string()))?;
        // grpcurl and older clients still ask v1alpha.
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| Error::Reflection(e.to_string()))?;

        let mut routes = self.routes;
        routes
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        let mut builder = Server::builder();
        match (&self.tls, &self.client_ca_pem) {
            (Some(tls), client_ca) => {
                let mut config = ServerTlsConfig::new().identity(tls.to_identity());
                if let Some(ca) = client_ca {
                    // Required, not optional: a client without a certificate is refused in the
                    // handshake.
                    config = config
                        .client_ca_root(Certificate::from_pem(ca))
                        .client_auth_optional(false);
                }
                builder = builder
                    .tls_config(config)
                    .map_err(|e| Error::Tls(crate::error::chain(&e)))?;
            }
            (None, Some(_)) => {
                return Err(Error::Tls(
                    "client certificates (a client CA) need TLS: give the server a certificate and key too".into(),
                ));
            }
            (None, None) => {}
        }
        tracing::info!(
            addr = ?addr,
            tls = self.tls.is_some(),
            mtls = self.client_ca_pem.is_some(),
            auth = ?self.auth,
            services = ?self.services,
            "admin API serving"
        );
        builder
            .layer(AuthLayer(Arc::new(self.auth)))
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
            .await
            .map_err(Error::Serve)
    }
}
