//! Read and write tokens, TLS and mutual TLS on a real admin server over TCP.

mod common;

use contracts_admin::{
    AdminClient, AdminConfig, AdminServer, ClientConfig, DiscoveryPolicy, TlsIdentity,
};
use contracts_core::secret::Secret;
use tonic::Code;

const READ: &str = "sec-read-token";
const WRITE: &str = "sec-write-token";

fn with_tokens() -> AdminConfig {
    AdminConfig {
        read_token: Some(Secret::new(READ)),
        write_token: Some(Secret::new(WRITE)),
        ..AdminConfig::default()
    }
}

/// Every call that changes something, each asserting the backend did not change.
async fn assert_no_write_passes(server: &common::Running, client: &AdminClient, code: Code) {
    let refused = |r: Result<String, contracts_admin::Error>, what: &str| {
        let err = r.expect_err(what);
        assert_eq!(err.code(), Some(code), "{what}: {err}");
        err.to_string()
    };
    let set = refused(
        client.set_stock("apple", 0).await.map(|_| String::new()),
        "SetStock",
    );
    refused(
        client
            .pause("inventory-events")
            .await
            .map(|_| String::new()),
        "PauseConsumer",
    );
    refused(
        client
            .resume("inventory-events")
            .await
            .map(|_| String::new()),
        "ResumeConsumer",
    );
    refused(
        client
            .replay(vec!["orders.DLT:0:7".into()])
            .await
            .map(|_| String::new()),
        "ReplayDeadLetters",
    );
    refused(
        client
            .drop_dead_letters(vec!["orders.DLT:0:7".into()])
            .await
            .map(|_| String::new()),
        "DropDeadLetters",
    );
    if code == Code::PermissionDenied {
        assert!(set.contains("SetStock"), "{set}");
        assert!(set.contains("write token"), "{set}");
        assert!(set.contains("read token"), "{set}");
    }
    assert!(!server.backend.consumer("inventory-events").unwrap().paused);
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 10);
    assert!(server.backend.replayed().is_empty());
    assert_eq!(server.backend.dead_letter_ids().len(), 3);
}

#[tokio::test]
async fn without_a_token_every_call_is_unauthenticated_and_changes_nothing() {
    let server = common::start(with_tokens()).await;
    let client = server.client().await;
    let err = client.contracts().await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unauthenticated));
    assert!(err.to_string().contains("requires a bearer token"), "{err}");
    assert!(err.to_string().contains("CONTRACTS_ADMIN_TOKEN"), "{err}");
    assert_no_write_passes(&server, &client, Code::Unauthenticated).await;
}

#[tokio::test]
async fn a_wrong_token_is_unauthenticated_for_reads_and_writes_and_changes_nothing() {
    let server = common::start(with_tokens()).await;
    let client = server.client_with_token("guess").await;
    let err = client.order("o-1").await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unauthenticated));
    assert!(err.to_string().contains("not valid"), "{err}");
    assert_no_write_passes(&server, &client, Code::Unauthenticated).await;
}

#[tokio::test]
async fn the_read_token_reads_everything_but_every_write_is_permission_denied() {
    let server = common::start(with_tokens()).await;
    let client = server.client_with_token(READ).await;
    assert_eq!(client.contracts().await.unwrap().len(), 2);
    assert!(!client.consumers().await.unwrap().is_empty());
    client.lag(None).await.unwrap();
    assert_eq!(
        client
            .dead_letters(None, 0)
            .await
            .unwrap()
            .dead_letters
            .len(),
        3
    );
    assert!(!client.all_stock().await.unwrap().is_empty());
    assert_no_write_passes(&server, &client, Code::PermissionDenied).await;
}

#[tokio::test]
async fn the_write_token_reads_and_writes() {
    let server = common::start(with_tokens()).await;
    let client = server.client_with_token(WRITE).await;
    assert_eq!(client.contracts().await.unwrap().len(), 2);
    assert_eq!(client.set_stock("apple", 1).await.unwrap().available, 1);
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 1);
    assert!(client.pause("inventory-events").await.unwrap().paused);
    assert!(server.backend.consumer("inventory-events").unwrap().paused);
    assert!(!client.resume("inventory-events").await.unwrap().paused);
    let ids = server.backend.dead_letter_ids();
    client
        .drop_dead_letters(vec![ids[0].to_string()])
        .await
        .unwrap();
    assert_eq!(server.backend.dead_letter_ids().len(), 2);
    let rest: Vec<String> = ids[1..].iter().map(ToString::to_string).collect();
    assert_eq!(client.replay(rest).await.unwrap().len(), 2);
    assert!(!server.backend.replayed().is_empty());
}

#[tokio::test]
async fn with_only_a_read_token_nothing_can_be_changed() {
    let server = common::start(AdminConfig {
        read_token: Some(Secret::new(READ)),
        ..AdminConfig::default()
    })
    .await;
    let client = server.client_with_token(READ).await;
    assert_eq!(client.contracts().await.unwrap().len(), 2);
    assert_no_write_passes(&server, &client, Code::PermissionDenied).await;
}

/// A self-signed certificate for `localhost`, PEM: (certificate, private key).
fn self_signed() -> (String, String) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (cert.pem(), key_pair.serialize_pem())
}

async fn start_tls(
    cert: &str,
    key: &str,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let backend = contracts_admin::memory::MemoryBackend::sample();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = AdminConfig {
        write_token: Some(Secret::new("tls-token")),
        tls: Some(TlsIdentity::from_pem(cert, key)),
        ..AdminConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(AdminServer::new(config, backend).serve(listener, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

#[tokio::test]
async fn over_tls_a_client_trusting_the_self_signed_cert_is_served() {
    let (cert, key) = self_signed();
    let (addr, _stop) = start_tls(&cert, &key).await;
    let client = AdminClient::connect(
        ClientConfig::new(format!("https://{addr}"))
            .ca_cert_pem(cert.as_bytes())
            .tls_domain("localhost")
            .token("tls-token"),
    )
    .await
    .expect("TLS handshake");
    assert_eq!(client.contracts().await.unwrap().len(), 2);
}

#[tokio::test]
async fn over_tls_a_client_that_does_not_trust_the_cert_or_speaks_plaintext_is_refused() {
    let (cert, key) = self_signed();
    let (addr, _stop) = start_tls(&cert, &key).await;
    let (other_cert, _) = self_signed();
    let untrusted = async {
        let client = AdminClient::connect(
            ClientConfig::new(format!("https://{addr}"))
                .ca_cert_pem(other_cert.as_bytes())
                .tls_domain("localhost")
                .token("tls-token"),
        )
        .await?;
        client.contracts().await
    }
    .await;
    assert!(untrusted.is_err(), "an untrusted certificate was accepted");

    let plaintext = async {
        let client =
            AdminClient::connect(ClientConfig::new(format!("http://{addr}")).token("tls-token"))
                .await?;
        client.contracts().await
    }
    .await;
    assert!(plaintext.is_err(), "plaintext reached a TLS server");
}

#[tokio::test]
async fn a_bad_key_fails_at_startup_with_a_tls_error() {
    let (cert, _) = self_signed();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = AdminConfig {
        tls: Some(TlsIdentity::from_pem(cert, "not a key")),
        ..AdminConfig::default()
    };
    let backend = contracts_admin::memory::MemoryBackend::new();
    let err = AdminServer::new(config, backend)
        .serve(listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, contracts_admin::Error::Tls(_)), "{err}");
}

#[tokio::test]
async fn a_missing_pem_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "x").unwrap();
    let key = dir.path().join("missing-key.pem");
    let err = TlsIdentity::from_pem_files(&cert, &key).unwrap_err();
    assert!(err.to_string().contains("missing-key.pem"), "{err}");
}

/// A CA, and a leaf certificate for `name` signed by it: (CA PEM, leaf PEM, leaf key PEM).
fn ca_and_leaf(name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "admin test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

struct Mtls {
    addr: std::net::SocketAddr,
    server_ca: String,
    client_ca: String,
    client_cert: String,
    client_key: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A TLS server that requires client certificates signed by its client CA.
async fn start_mtls() -> Mtls {
    let (server_ca, server_cert, server_key) = ca_and_leaf("localhost");
    let (client_ca, client_cert, client_key) = ca_and_leaf("admin-client");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = AdminConfig {
        tls: Some(TlsIdentity::from_pem(server_cert, server_key)),
        client_ca_pem: Some(client_ca.clone().into_bytes()),
        ..AdminConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let backend = contracts_admin::memory::MemoryBackend::sample();
    tokio::spawn(AdminServer::new(config, backend).serve(listener, async {
        let _ = stopped.await;
    }));
    Mtls {
        addr,
        server_ca,
        client_ca,
        client_cert,
        client_key,
        _stop: stop,
    }
}

async fn mtls_call(server: &Mtls, identity: Option<TlsIdentity>) -> contracts_admin::Result<usize> {
    let mut config = ClientConfig::new(format!("https://{}", server.addr))
        .ca_cert_pem(server.server_ca.as_bytes())
        .tls_domain("localhost");
    config.identity = identity;
    let client = AdminClient::connect(config).await?;
    Ok(client.contracts().await?.len())
}

#[tokio::test]
async fn with_mutual_tls_a_client_with_a_certificate_from_the_client_ca_is_served() {
    let server = start_mtls().await;
    let identity = TlsIdentity::from_pem(server.client_cert.clone(), server.client_key.clone());
    assert_eq!(mtls_call(&server, Some(identity)).await.unwrap(), 2);
}

#[tokio::test]
async fn with_mutual_tls_a_client_without_a_certificate_or_with_a_foreign_one_is_refused() {
    let server = start_mtls().await;
    let without = mtls_call(&server, None).await;
    assert!(without.is_err(), "served without a client certificate");

    let (_, foreign_cert, foreign_key) = ca_and_leaf("admin-client");
    let foreign = mtls_call(
        &server,
        Some(TlsIdentity::from_pem(foreign_cert, foreign_key)),
    )
    .await;
    assert!(
        foreign.is_err(),
        "served a certificate the client CA did not sign"
    );
    assert!(!server.client_ca.is_empty());
}

#[tokio::test]
async fn a_client_ca_without_a_server_certificate_fails_at_startup() {
    let (ca, _, _) = ca_and_leaf("x");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = AdminConfig {
        client_ca_pem: Some(ca.into_bytes()),
        ..AdminConfig::default()
    };
    let err = AdminServer::new(config, contracts_admin::memory::MemoryBackend::new())
        .serve(listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("need TLS"), "{err}");
}

#[tokio::test]
async fn discovery_behind_the_read_token_refuses_health_and_reflection_without_it() {
    let server = common::start(AdminConfig {
        discovery: DiscoveryPolicy::ReadToken,
        ..with_tokens()
    })
    .await;
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let err = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            channel.clone(),
        );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let err = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // With the read token, health answers.
    let mut health = tonic_health::pb::health_client::HealthClient::with_interceptor(
        channel,
        |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {READ}").parse().unwrap());
            Ok(request)
        },
    );
    let status = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}
