//! The registry client against a real registry (started by contracts-testkit on a Tansu broker),
//! and its retries against a server that answers 503 first.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contracts_registry_client::api::{Mode, RegisterSchemaRequest, SchemaReference, SchemaType};
use contracts_registry_client::client::{Client, Error, VersionId};
use contracts_testkit::{TestRegistry, shared_broker, unique_name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const V1: &str =
    r#"{"type":"record","name":"Ping","namespace":"t","fields":[{"name":"id","type":"string"}]}"#;
const V2: &str = r#"{"type":"record","name":"Ping","namespace":"t","fields":[{"name":"id","type":"string"},{"name":"n","type":"long","default":0}]}"#;
const BREAKING: &str = r#"{"type":"record","name":"Ping","namespace":"t","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}"#;

fn avro(schema: &str) -> RegisterSchemaRequest {
    RegisterSchemaRequest {
        schema: schema.to_string(),
        schema_type: Some(SchemaType::Avro),
        ..Default::default()
    }
}

async fn registry() -> (TestRegistry, Client) {
    let registry = TestRegistry::start(shared_broker())
        .await
        .expect("start a registry");
    let client = Client::new(&registry.url()).unwrap();
    (registry, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_lookup_and_read_back_by_subject_and_id() {
    let (_registry, client) = registry().await;
    let subject = unique_name("pings");
    let first = client.register(&subject, &avro(V1)).await.unwrap();
    let again = client.register(&subject, &avro(V1)).await.unwrap();
    assert_eq!(
        first.id, again.id,
        "registering the same schema twice gives one id"
    );
    let v2 = client.register(&subject, &avro(V2)).await.unwrap();
    assert_ne!(v2.id, first.id);

    assert_eq!(client.versions(&subject).await.unwrap(), vec![1, 2]);
    let latest = client.latest(&subject).await.unwrap();
    assert_eq!((latest.version, latest.id), (2, v2.id));
    let one = client.version(&subject, 1).await.unwrap();
    assert_eq!((one.version, one.id), (1, first.id));
    let found = client.lookup(&subject, &avro(V1)).await.unwrap().unwrap();
    assert_eq!((found.version, found.id), (1, first.id));
    assert!(
        client
            .lookup(&subject, &avro(BREAKING))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        client
            .lookup(&unique_name("nobody"), &avro(V1))
            .await
            .unwrap()
            .is_none()
    );

    let by_id = client.schema_by_id(first.id).await.unwrap();
    assert!(by_id.schema.contains("Ping"), "{}", by_id.schema);
    assert_eq!(by_id.schema_type(), SchemaType::Avro);
    let cached = client.schema_by_id(first.id).await.unwrap();
    assert!(
        Arc::ptr_eq(&by_id, &cached),
        "ids are immutable: the second read is cached"
    );
    let holders = client.versions_of_id(first.id).await.unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(
        (holders[0].subject.as_str(), holders[0].version),
        (subject.as_str(), 1)
    );
    assert!(client.subjects(false).await.unwrap().contains(&subject));
    assert!(
        client
            .schema_types()
            .await
            .unwrap()
            .contains(&"PROTOBUF".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_keep_the_registry_code_and_message() {
    let (_registry, client) = registry().await;
    let subject = unique_name("errors");
    let e = client.latest(&subject).await.unwrap_err();
    assert_eq!(
        (e.status(), e.error_code()),
        (Some(404), Some(40401)),
        "{e}"
    );
    client.register(&subject, &avro(V1)).await.unwrap();
    let e = client.version(&subject, 7).await.unwrap_err();
    assert_eq!(e.error_code(), Some(40402), "{e}");
    let e = client.schema_by_id(987_654).await.unwrap_err();
    assert_eq!(e.error_code(), Some(40403), "{e}");

    let e = client
        .register(&subject, &avro(BREAKING))
        .await
        .unwrap_err();
    assert!(e.is_incompatible(), "{e}");
    assert!(!e.is_retriable());
    let e = client
        .register(&subject, &avro(r#"{"type":"record","name":"X""#))
        .await
        .unwrap_err();
    assert_eq!(e.error_code(), Some(42201), "{e}");
    assert!(
        e.to_string().contains("42201"),
        "the message names the code: {e}"
    );
    let e = client
        .set_config(Some(&subject), "SIDEWAYS")
        .await
        .unwrap_err();
    assert_eq!(e.error_code(), Some(42203), "{e}");
    assert_eq!(
        client.versions(&subject).await.unwrap(),
        vec![1],
        "nothing refused was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatibility_checks_config_and_mode() {
    let (_registry, client) = registry().await;
    let subject = unique_name("compat");
    client.register(&subject, &avro(V1)).await.unwrap();
    let latest = Some(VersionId::Latest);
    let ok = client
        .check_compatibility(&subject, latest, &avro(V2), false)
        .await
        .unwrap();
    assert!(ok.is_compatible);
    let bad = client
        .check_compatibility(&subject, None, &avro(BREAKING), true)
        .await
        .unwrap();
    assert!(!bad.is_compatible);
    assert!(!bad.messages.is_empty(), "verbose answers say why");
    let bad_v1 = client
        .check_compatibility(&subject, Some(VersionId::Number(1)), &avro(BREAKING), false)
        .await
        .unwrap();
    assert!(!bad_v1.is_compatible);

    assert_eq!(
        client
            .global_config()
            .await
            .unwrap()
            .compatibility_level
            .as_deref(),
        Some("BACKWARD")
    );
    assert!(client.subject_config(&subject).await.unwrap().is_none());
    let echo = client.set_config(Some(&subject), "NONE").await.unwrap();
    assert_eq!(echo.compatibility.as_deref(), Some("NONE"));
    let own = client.subject_config(&subject).await.unwrap().unwrap();
    assert_eq!(own.compatibility_level.as_deref(), Some("NONE"));
    // At NONE the breaking schema goes in.
    client.register(&subject, &avro(BREAKING)).await.unwrap();
    client.delete_subject_config(&subject).await.unwrap();
    assert!(client.subject_config(&subject).await.unwrap().is_none());

    client
        .set_mode(Some(&subject), Mode::ReadOnly)
        .await
        .unwrap();
    assert_eq!(client.mode(Some(&subject)).await.unwrap(), Mode::ReadOnly);
    let e = client.register(&subject, &avro(V2)).await.unwrap_err();
    assert_eq!(e.error_code(), Some(42205), "{e}");
    client
        .set_mode(Some(&subject), Mode::ReadWrite)
        .await
        .unwrap();
    assert_eq!(client.mode(None).await.unwrap(), Mode::ReadWrite);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_with_slashes_and_references_round_trip() {
    let (_registry, client) = registry().await;
    // Protobuf imports are registered under their import path, slashes and all.
    let import = format!("{}/money.proto", unique_name("shop/common"));
    let money = RegisterSchemaRequest {
        schema:
            "syntax = \"proto3\";\npackage shop.common.v1;\nmessage Money { int64 cents = 1; }\n"
                .into(),
        schema_type: Some(SchemaType::Protobuf),
        ..Default::default()
    };
    let m = client.register(&import, &money).await.unwrap();
    assert_eq!(client.versions(&import).await.unwrap(), vec![1]);
    let order = RegisterSchemaRequest {
        schema: format!(
            "syntax = \"proto3\";\npackage shop.orders.v1;\nimport \"{import}\";\n\
             message Order {{ shop.common.v1.Money total = 1; }}\n"
        ),
        schema_type: Some(SchemaType::Protobuf),
        references: vec![SchemaReference {
            name: import.clone(),
            subject: import.clone(),
            version: 1,
        }],
        ..Default::default()
    };
    let subject = unique_name("orders");
    let o = client.register(&subject, &order).await.unwrap();
    assert_ne!(o.id, m.id);
    let back = client.latest(&subject).await.unwrap();
    assert_eq!(back.references, order.references);
    assert_eq!(back.schema_type(), SchemaType::Protobuf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_soft_then_permanent() {
    let (_registry, client) = registry().await;
    let subject = unique_name("deletes");
    client.register(&subject, &avro(V1)).await.unwrap();
    client.register(&subject, &avro(V2)).await.unwrap();
    let e = client.delete_version(&subject, 2, true).await.unwrap_err();
    assert_eq!(e.error_code(), Some(40407), "{e}");
    assert_eq!(client.delete_version(&subject, 2, false).await.unwrap(), 2);
    assert_eq!(client.versions(&subject).await.unwrap(), vec![1]);
    assert_eq!(
        client.delete_subject(&subject, false).await.unwrap(),
        vec![1]
    );
    // A permanent delete removes the soft-deleted version 2 too, and says so.
    assert_eq!(
        client.delete_subject(&subject, true).await.unwrap(),
        vec![1, 2]
    );
    let e = client.versions(&subject).await.unwrap_err();
    assert_eq!(e.error_code(), Some(40401), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_deleted_versions_are_listed_on_request_and_a_subject_without_a_mode_has_none() {
    let (_registry, client) = registry().await;
    let subject = unique_name("listing");
    client.register(&subject, &avro(V1)).await.unwrap();
    client.register(&subject, &avro(V2)).await.unwrap();
    client.delete_version(&subject, 1, false).await.unwrap();
    assert_eq!(client.versions(&subject).await.unwrap(), vec![2]);
    assert_eq!(
        client.versions_with_deleted(&subject, true).await.unwrap(),
        vec![1, 2]
    );
    assert_eq!(
        client.versions_with_deleted(&subject, false).await.unwrap(),
        vec![2]
    );

    assert_eq!(client.subject_mode(&subject).await.unwrap(), None);
    client
        .set_mode(Some(&subject), Mode::ReadOnly)
        .await
        .unwrap();
    assert_eq!(
        client.subject_mode(&subject).await.unwrap(),
        Some(Mode::ReadOnly)
    );
    assert_eq!(client.mode(None).await.unwrap(), Mode::ReadWrite);
}

/// A server that answers `503` to the first `failures` requests and a schema after that.
async fn flaky_server(failures: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0; 4096];
            let _ = socket.read(&mut buf).await;
            let (status, body) = if n < failures {
                (
                    "503 Service Unavailable",
                    r#"{"error_code":50002,"message":"busy"}"#,
                )
            } else {
                ("200 OK", r#"{"schema":"\"string\""}"#)
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (url, seen)
}

#[tokio::test]
async fn retriable_answers_are_retried_with_backoff_until_they_succeed() {
    let (url, seen) = flaky_server(2).await;
    let client = Client::builder(&url)
        .backoff(Duration::from_millis(10), Duration::from_millis(20))
        .build()
        .unwrap();
    let schema = client.schema_by_id(1).await.unwrap();
    assert_eq!(schema.schema, "\"string\"");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "two 503s, then the answer");
}

#[tokio::test]
async fn retries_stop_at_the_limit_and_keep_the_last_error() {
    let (url, seen) = flaky_server(usize::MAX).await;
    let client = Client::builder(&url)
        .retries(2)
        .backoff(Duration::from_millis(5), Duration::from_millis(5))
        .build()
        .unwrap();
    let e = client.schema_by_id(1).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Registry {
                status: 503,
                error_code: 50002,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_retriable());
    assert_eq!(seen.load(Ordering::SeqCst), 3, "one try and two retries");
}

#[tokio::test]
async fn no_server_is_a_transport_error_that_may_be_retried() {
    let port = contracts_testkit::free_port().unwrap();
    let client = Client::builder(&format!("http://127.0.0.1:{port}"))
        .retries(0)
        .build()
        .unwrap();
    let e = client.subjects(false).await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert!(e.is_retriable());
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_the_builder_or_the_url_and_bearer_tokens() {
    use contracts_core::secret::Secret;
    use contracts_registry::auth::{hash_password, token_digest};
    let token = "a-random-token-of-at-least-32-characters";
    let file = serde_json::json!({
        "users": [{
            "username": "ci",
            "password_hash": hash_password(&Secret::new("s:cret")).unwrap(),
            "token_sha256": [token_digest(&Secret::new(token))],
        }],
        "permissions": [{"username": "ci", "operation": "write", "resource": "Subject:*"}],
    });
    let mut config = contracts_registry::ServerConfig::default();
    config.router.auth = Some(std::sync::Arc::new(
        contracts_registry::Auth::parse(&file.to_string()).unwrap(),
    ));
    let registry = TestRegistry::start_with(shared_broker(), &unique_name("_schemas"), config)
        .await
        .expect("start a registry");
    let url = registry.url();
    let anonymous = Client::new(&url).unwrap();
    let e = anonymous.subjects(false).await.unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    assert!(!e.is_retriable());

    let built = Client::builder(&url)
        .basic_auth("ci", "s:cret")
        .build()
        .unwrap();
    built.subjects(false).await.unwrap();
    let in_url = url.replacen("http://", "http://ci:s%3Acret@", 1);
    let from_url = Client::new(&in_url).unwrap();
    from_url.subjects(false).await.unwrap();
    assert!(
        !from_url.url().contains("cret"),
        "credentials stay out of the URL"
    );
    let wrong = Client::builder(&url)
        .basic_auth("ci", "nope")
        .build()
        .unwrap();
    assert_eq!(wrong.subjects(false).await.unwrap_err().status(), Some(401));
    let bearer = Client::builder(&url)
        .bearer_token(Secret::new(token))
        .build()
        .unwrap();
    bearer.subjects(false).await.unwrap();
}
