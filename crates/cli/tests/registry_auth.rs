//! The shipped `contracts` binary against a registry with users, over HTTPS from a private CA:
//! `registry hash-password` writes the auth file's entries, `register` logs in with a token from a
//! file and trusts the CA given with `--registry-ca`.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use common::copy_dir;
use contracts_registry::{Auth, RouterOptions, Server, ServerConfig, TlsFiles};
use contracts_registry_client::client::Client;
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "ci-token-6b1f0c2e9d4a47f3b8e5a1c7d0f2e4b6";

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `contracts registry hash-password ARGS` with `input` on stdin; its one line of output.
async fn hash_password(args: &[&str], input: &str) -> String {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(["registry", "hash-password"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let line = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!line.contains(input.trim()), "the secret is echoed: {line}");
    line
}

async fn register(dir: &Path, url: &str, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_contracts"));
    for name in [
        "SCHEMA_REGISTRY_AUTH",
        "SCHEMA_REGISTRY_AUTH_FILE",
        "SCHEMA_REGISTRY_TOKEN",
        "SCHEMA_REGISTRY_TOKEN_FILE",
        "SCHEMA_REGISTRY_CA",
        "CONTRACTS_MANIFEST",
    ] {
        command.env_remove(name);
    }
    command
        .args(["register", "--registry", url])
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_logs_in_with_a_token_file_and_trusts_the_private_ca_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    copy_dir(&root.join("schemas"), &dir.path().join("schemas"));
    let _ = std::fs::remove_dir_all(dir.path().join("schemas/.registry"));

    // The auth file, written with the CLI's own tool.
    let admin: serde_json::Value =
        serde_json::from_str(&hash_password(&["--user", "admin"], "admin-pw\n").await).unwrap();
    let digest = hash_password(&["--token"], TOKEN).await;
    let file = serde_json::json!({
        "users": [admin, {"username": "ci", "token_sha256": [digest]}],
        "permissions": [
            {"username": "admin", "operation": "admin", "resource": "Subject:*"},
            {"username": "ci", "operation": "admin", "resource": "Subject:*"}
        ]
    });

    // HTTPS with a certificate from a private CA.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let pki = tempfile::tempdir().unwrap();
    let path = |name: &str| pki.path().join(name);
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("cert.pem"), cert.pem()).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(path("token"), format!("{TOKEN}\n")).unwrap();
    let server = Server::start_in_memory(ServerConfig {
        tls: Some(TlsFiles::new(path("cert.pem"), path("key.pem"))),
        router: RouterOptions {
            auth: Some(Arc::new(Auth::parse(&file.to_string()).unwrap())),
            ..RouterOptions::default()
        },
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let url = server.url();
    let ca_flag = path("ca.pem").display().to_string();
    let token_file = path("token").display().to_string();

    // Without the CA the certificate is not trusted; without credentials, 401.
    let untrusted = register(
        dir.path(),
        &url,
        &[("SCHEMA_REGISTRY_TOKEN_FILE", &token_file)],
        &[],
    )
    .await;
    assert!(!untrusted.status.success(), "{}", text(&untrusted));
    let anonymous = register(dir.path(), &url, &[], &["--registry-ca", &ca_flag]).await;
    assert!(!anonymous.status.success(), "{}", text(&anonymous));
    assert!(text(&anonymous).contains("401"), "{}", text(&anonymous));

    let out = register(
        dir.path(),
        &url,
        &[("SCHEMA_REGISTRY_TOKEN_FILE", &token_file)],
        &["--registry-ca", &ca_flag],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(TOKEN));

    let admin = Client::builder(&url)
        .ca_file(path("ca.pem"))
        .basic_auth("admin", "admin-pw")
        .build()
        .unwrap();
    assert_eq!(
        admin.versions("shop.orders.OrderCreated").await.unwrap(),
        vec![1, 2, 3]
    );
}
