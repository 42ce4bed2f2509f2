//! HTTPS with a certificate from PEM files, and basic auth over a real socket.

use std::sync::Arc;

use contracts_core::secret::Secret;
use contracts_registry::auth::hash_password;
use contracts_registry::{Auth, RouterOptions, Server, ServerConfig, TlsFiles};

#[tokio::test]
async fn serves_https_with_the_given_certificate_and_refuses_plain_http() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let server = Server::start_in_memory(ServerConfig {
        tls: Some(TlsFiles::new(cert_path, key_path)),
        router: RouterOptions {
            auth: Some(Arc::new(Auth::parse(&serde_json::json!({
                "users": [{"username": "ci", "password_hash": hash_password(&Secret::new("pw")).unwrap()}]
            }).to_string()).unwrap())),
            ..RouterOptions::default()
        },
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    assert!(server.url().starts_with("https://"));
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", server.addr())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/schemas/types", server.addr().port());
    let denied = client.get(&url).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let ok = client
        .get(&url)
        .basic_auth("ci", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), r#"["AVRO","PROTOBUF"]"#);
    let plain = reqwest::get(format!("http://{}/schemas/types", server.addr())).await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP must not be served"
    );
}

#[tokio::test]
async fn unreadable_tls_files_are_a_clear_startup_error() {
    let err = Server::start_in_memory(ServerConfig {
        tls: Some(TlsFiles::new(
            "/nonexistent/cert.pem",
            "/nonexistent/key.pem",
        )),
        ..ServerConfig::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}
