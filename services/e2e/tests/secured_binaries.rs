//! The shipped binaries with their protection on, as an operator configures them: order-service
//! with an API token from a file and /metrics on its own listener; notification-service with an
//! SMTP URL whose password must never be logged; and a start-up error quoting a setting with a
//! password, printed without it.

use std::process::Command;
use std::time::Duration;

use contracts_testkit::{TestRegistry, shared_broker, unique_name};
use serde_json::json;
use shop_e2e::{Backends, Service, bin_dir, free_port, service_env};

const API_TOKEN: &str = "e2e-order-api-token-5d1";
const ADMIN_WRITE: &str = "e2e-admin-write-token-77a";
const SMTP_PASSWORD: &str = "e2e-smtp-pa55-b3c";

#[tokio::test]
async fn order_service_protects_orders_with_its_token_and_serves_metrics_only_on_the_metrics_listener()
 {
    let broker = shared_broker();
    let prefix = format!("{}.", unique_name("secured"));
    for topic in ["orders", "inventory", "order-created-pb"] {
        broker
            .create_topic(&format!("{prefix}{topic}"), 1)
            .await
            .unwrap();
    }
    let registry = TestRegistry::start(broker).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("api-token");
    std::fs::write(&token_file, format!("{API_TOKEN}\n")).unwrap();
    let metrics_port = free_port();
    let registry_url = registry.url();
    let backends = Backends {
        bootstrap_servers: broker.bootstrap_servers(),
        registry_url: &registry_url,
        topic_prefix: &prefix,
    };
    let mut env = service_env("order-service", dir.path(), Some(&backends));
    env.extend([
        ("ORDER_API_TOKEN_FILE", token_file.display().to_string()),
        ("ORDER_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
        ("ADMIN_WRITE_TOKEN", ADMIN_WRITE.to_owned()),
    ]);
    let mut order = Service::new("order-service", "ORDER_LISTEN", dir.path(), &env);
    order.start();
    order.wait_healthy(Duration::from_secs(120)).await;
    let client = reqwest::Client::new();

    let metrics = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("# TYPE"), "{text}");
    let public = client
        .get(format!("{}/metrics", order.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    assert!(
        public.text().await.unwrap().contains("--metrics-listen"),
        "the public 404 says where the metrics are"
    );

    let body =
        json!({"customer": "alice@example.com", "line_items": [{"product": "tea", "quantity": 1}]});
    let refused = client
        .post(format!("{}/orders", order.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = client
        .get(format!("{}/orders?status=PENDING", order.url()))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let placed = client
        .post(format!("{}/orders", order.url()))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);

    let stopped = order.terminate();
    let log = order.log_text();
    assert!(
        stopped,
        "order-service did not stop cleanly on SIGTERM:\n{log}"
    );
    assert!(log.contains("order-service started"), "{log}");
    for secret in [API_TOKEN, ADMIN_WRITE] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}

#[tokio::test]
async fn notification_service_logs_its_smtp_url_without_the_password_when_the_user_name_has_an_at()
{
    let broker = shared_broker();
    let prefix = format!("{}.", unique_name("smtp"));
    for topic in ["orders", "inventory"] {
        broker
            .create_topic(&format!("{prefix}{topic}"), 1)
            .await
            .unwrap();
    }
    let registry = TestRegistry::start(broker).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let registry_url = registry.url();
    let backends = Backends {
        bootstrap_servers: broker.bootstrap_servers(),
        registry_url: &registry_url,
        topic_prefix: &prefix,
    };
    let mut env = service_env("notification-service", dir.path(), Some(&backends));
    env.push((
        "SMTP_URL",
        format!("smtp://shop@example.com:{SMTP_PASSWORD}@127.0.0.1:2525"),
    ));
    let mut notification = Service::new(
        "notification-service",
        "NOTIFICATION_LISTEN",
        dir.path(),
        &env,
    );
    notification.start();
    notification.wait_healthy(Duration::from_secs(120)).await;
    assert!(notification.terminate());
    let log = notification.log_text();
    assert!(
        log.contains("SMTP smtp://shop%40example.com:***@127.0.0.1:2525"),
        "the transport is logged, its password masked:\n{log}"
    );
    assert!(!log.contains(SMTP_PASSWORD), "{log}");
}

#[test]
fn a_start_up_error_quoting_a_url_with_a_password_prints_it_masked() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin_dir().join("order-service"))
        .env("ORDER_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("ORDER_ADMIN_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("ORDER_DB", dir.path().join("order.db"))
        // Not a URL (a space in the host): the error quotes the setting.
        .env(
            "SCHEMA_REGISTRY_URL",
            "http://shop:e2e-registry-pw-41@reg istry:8081",
        )
        .env("ADMIN_READ_TOKEN", "e2e-admin-read-9f0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--registry http://shop:***@"), "{stderr}");
    assert!(stderr.contains("shop:***@"), "{stderr}");
    assert!(!stderr.contains("e2e-registry-pw-41"), "{stderr}");
    assert!(!stderr.contains("e2e-admin-read-9f0"), "{stderr}");
}
