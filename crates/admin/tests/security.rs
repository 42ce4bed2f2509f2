//! Bearer-token authentication and TLS on a real admin server.

mod common;

use contracts_admin::{AdminClient, AdminConfig, AdminServer, ClientConfig, TlsIdentity};
use tonic::Code;

fn with_token() -> AdminConfig {
    AdminConfig {
        token: Some("s3cret-token".into()),
        tls: None,
    }
}

#[tokio::test]
async fn with_auth_on_calls_without_a_token_are_unauthenticated_and_change_nothing() {
    let server = common::start(with_token()).await;
    let client = server.client().await;

    let err = client.contracts().await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unauthenticated));
    assert!(err.to_string().contains("requires a bearer token"), "{err}");
    assert!(err.to_string().contains("--token"), "{err}");

    assert_eq!(
        client.pause("inventory-events").await.unwrap_err().code(),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        client.set_stock("apple", 0).await.unwrap_err().code(),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        client
            .replay(vec!["orders.DLT:0:7".into()])
            .await
            .unwrap_err()
            .code(),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        client
            .drop_dead_letters(vec!["orders.DLT:0:7".into()])
            .await
            .unwrap_err()
            .code(),
        Some(Code::Unauthenticated)
    );
    assert!(!server.backend.consumer("inventory-events").unwrap().paused);
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 10);
    assert!(server.backend.replayed().is_empty());
    assert_eq!(server.backend.dead_letter_ids().len(), 3);
}

#[tokio::test]
async fn with_auth_on_a_wrong_token_is_unauthenticated_and_changes_nothing() {
    let server = common::start(with_token()).await;
    let client = server.client_with_token("guess").await;
    let err = client.set_stock("apple", 0).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::Unauthenticated));
    assert!(err.to_string().contains("not valid"), "{err}");
    assert_eq!(
        client.pause("inventory-events").await.unwrap_err().code(),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        client.order("o-1").await.unwrap_err().code(),
        Some(Code::Unauthenticated)
    );
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 10);
    assert!(!server.backend.consumer("inventory-events").unwrap().paused);
}

#[tokio::test]
async fn with_auth_on_the_right_token_is_served() {
    let server = common::start(with_token()).await;
    let client = server.client_with_token("s3cret-token").await;
    assert_eq!(client.contracts().await.unwrap().len(), 2);
    assert_eq!(client.set_stock("apple", 1).await.unwrap().available, 1);
    assert_eq!(server.backend.stock_of("apple").unwrap().available, 1);
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
        token: Some("tls-token".into()),
        tls: Some(TlsIdentity::from_pem(cert, key)),
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
        token: None,
        tls: Some(TlsIdentity::from_pem(cert, "not a key")),
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
