//! Who may call what: a read token and a write token, checked on every call (a tower layer in
//! front of every service, so the check sees which method is called).
//!
//! - Every RPC has a scope in [`RPC_SCOPES`]: reads need the read or the write token; calls that
//!   change something (SetStock, ReplayDeadLetters, DropDeadLetters, PauseConsumer,
//!   ResumeConsumer) need the write token. A method missing from the table needs the write token.
//! - Health checking and reflection are open, or need the read token, as [`DiscoveryPolicy`]
//!   says.
//! - Without any token configured, every call passes (loopback and trusted networks only).
//!
//! Tokens are compared in constant time (SHA-256 digests compared with `subtle`), so neither the
//! time taken nor the length of a guess tells anything about the token.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use contracts_core::secret::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::codegen::http;

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reading: the read token or the write token.
    Read,
    /// Changing something: the write token.
    Write,
}

/// Every RPC of `contracts.admin.v1` with the scope it needs. A test walks the proto and fails
/// when an RPC is missing here; at run time a missing one needs the write token.
pub const RPC_SCOPES: &[(&str, &str, Scope)] = &[
    ("AdminService", "ListContracts", Scope::Read),
    ("AdminService", "ListConsumers", Scope::Read),
    ("AdminService", "GetConsumerLag", Scope::Read),
    ("AdminService", "ListDeadLetters", Scope::Read),
    ("AdminService", "ReplayDeadLetters", Scope::Write),
    ("AdminService", "DropDeadLetters", Scope::Write),
    ("AdminService", "PauseConsumer", Scope::Write),
    ("AdminService", "ResumeConsumer", Scope::Write),
    ("OrderAdminService", "GetOrder", Scope::Read),
    ("OrderAdminService", "ListOrders", Scope::Read),
    ("InventoryAdminService", "GetStock", Scope::Read),
    ("InventoryAdminService", "ListStock", Scope::Read),
    ("InventoryAdminService", "SetStock", Scope::Write),
    ("NotificationAdminService", "ListNotifications", Scope::Read),
    ("OutboxAdminService", "ListSetAsideOutboxRows", Scope::Read),
];

const PACKAGE: &str = "contracts.admin.v1";

/// Whether health checking (`grpc.health.v1.Health`) and reflection need a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscoveryPolicy {
    /// Anyone may call them (probes, grpcurl without credentials). The default.
    #[default]
    Open,
    /// They need the read token (or the write token), like any read.
    ReadToken,
}

/// What a path needs: nothing (discovery, when open) or a scope.
fn required(path: &str, discovery: DiscoveryPolicy) -> (Option<Scope>, &str) {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    if service == "grpc.health.v1.Health" || service.starts_with("grpc.reflection.") {
        return match discovery {
            DiscoveryPolicy::Open => (None, method),
            DiscoveryPolicy::ReadToken => (Some(Scope::Read), method),
        };
    }
    let short = service
        .strip_prefix(PACKAGE)
        .and_then(|s| s.strip_prefix('.'))
        .unwrap_or("");
    let scope = RPC_SCOPES
        .iter()
        .find(|(s, m, _)| *s == short && *m == method)
        .map_or(Scope::Write, |(_, _, scope)| *scope);
    (Some(scope), method)
}

/// The admin server's tokens and discovery policy. `Debug` never shows a token.
#[derive(Clone, Default)]
pub struct AdminAuth {
    read: Option<[u8; 32]>,
    write: Option<[u8; 32]>,
    discovery: DiscoveryPolicy,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("read_token", &self.read.is_some())
            .field("write_token", &self.write.is_some())
            .field("discovery", &self.discovery)
            .finish()
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl AdminAuth {
    /// With neither token, authentication is off. With only a read token, no call can write.
    pub fn new(read: Option<&Secret>, write: Option<&Secret>, discovery: DiscoveryPolicy) -> Self {
        let hash = |s: Option<&Secret>| {
            s.map(Secret::expose)
                .filter(|t| !t.is_empty())
                .map(|t| digest(t.as_bytes()))
        };
        AdminAuth {
            read: hash(read),
            write: hash(write),
            discovery,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.read.is_some() || self.write.is_some()
    }

    /// Checks a call to `path` (`/package.Service/Method`) carrying `headers`.
    pub fn check(&self, path: &str, headers: &http::HeaderMap) -> Result<(), Status> {
        if !self.is_enabled() {
            return Ok(());
        }
        let (Some(needed), method) = required(path, self.discovery) else {
            return Ok(());
        };
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(Status::unauthenticated(
                "this admin server requires a bearer token: send metadata `authorization: Bearer <token>` (contracts admin: set CONTRACTS_ADMIN_TOKEN or CONTRACTS_ADMIN_TOKEN_FILE)",
            ));
        };
        let value = value.to_str().map_err(|_| {
            Status::unauthenticated("the authorization metadata is not printable ASCII")
        })?;
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(Status::unauthenticated(
                "the authorization metadata must be `Bearer <token>`",
            ));
        };
        let sent = digest(token.trim().as_bytes());
        let matches = |expected: &Option<[u8; 32]>| -> bool {
            match expected {
                Some(e) => bool::from(e.ct_eq(&sent)),
                None => false,
            }
        };
        // Both comparisons always run, so the time does not tell which token was close.
        let (is_read, is_write) = (matches(&self.read), matches(&self.write));
        match (needed, is_read, is_write) {
            (_, _, true) | (Scope::Read, true, _) => Ok(()),
            (Scope::Write, true, false) => {
                tracing::warn!(method, "admin call refused: the read token cannot write");
                Err(Status::permission_denied(format!(
                    "{method} changes the service's state and needs the write token (ADMIN_WRITE_TOKEN on the server); the token sent is the read token, which allows only reads"
                )))
            }
            _ => {
                tracing::warn!(method, "admin call refused: wrong bearer token");
                Err(Status::unauthenticated("the bearer token is not valid"))
            }
        }
    }
}

/// The tower layer that puts [`AdminAuth`] in front of every service of the server.
#[derive(Debug, Clone)]
pub struct AuthLayer(pub(crate) Arc<AdminAuth>);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<AdminAuth>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.auth.check(request.uri().path(), request.headers()) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn headers(token: Option<&str>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        if let Some(t) = token {
            h.insert(http::header::AUTHORIZATION, t.parse().unwrap());
        }
        h
    }

    /// Every RPC the proto declares has a scope: adding an RPC without one fails here.
    #[test]
    fn every_rpc_in_the_proto_has_a_scope_and_no_scope_names_a_missing_rpc() {
        let set = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let mut declared = Vec::new();
        for file in set.file.iter().filter(|f| f.package() == PACKAGE) {
            for service in &file.service {
                for method in &service.method {
                    declared.push((service.name().to_owned(), method.name().to_owned()));
                }
            }
        }
        assert!(declared.len() >= 14, "{declared:?}");
        let missing: Vec<_> = declared
            .iter()
            .filter(|(s, m)| !RPC_SCOPES.iter().any(|(rs, rm, _)| rs == s && rm == m))
            .collect();
        assert!(
            missing.is_empty(),
            "add these RPCs to RPC_SCOPES in crates/admin/src/auth.rs: {missing:?}"
        );
        for (s, m, _) in RPC_SCOPES {
            assert!(
                declared.iter().any(|(ds, dm)| ds == s && dm == m),
                "RPC_SCOPES names {s}/{m}, which the proto does not declare"
            );
        }
    }

    #[test]
    fn an_unknown_method_needs_the_write_token() {
        let read = Secret::new("unit-read");
        let auth = AdminAuth::new(Some(&read), None, DiscoveryPolicy::Open);
        let err = auth
            .check(
                "/contracts.admin.v1.AdminService/SomethingNew",
                &headers(Some("Bearer unit-read")),
            )
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn the_debug_form_does_not_show_a_token() {
        let write = Secret::new("unit-debug-write");
        let shown = format!(
            "{:?}",
            AdminAuth::new(None, Some(&write), DiscoveryPolicy::Open)
        );
        assert!(!shown.contains("unit-debug-write"), "{shown}");
    }
}
