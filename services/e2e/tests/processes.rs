//! The binaries as processes: help, graceful shutdown, and no acknowledged order lost to kill -9.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use shop_e2e::{Service, bin_dir, service_env};
use shop_service_kit::outbox;

#[test]
fn every_binary_explains_itself_and_its_environment_variables() {
    for (bin, var) in [
        ("order-service", "ORDER_CATALOG"),
        ("inventory-service", "INVENTORY_STOCK"),
        ("notification-service", "NOTIFICATION_MAILBOX_DIR"),
    ] {
        let out = Command::new(bin_dir().join(bin))
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{bin}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains(&format!("[env: {var}=")), "{bin}: {help}");
        assert!(help.contains("[env: LOG_FORMAT="), "{bin}: {help}");
    }
}

#[test]
fn a_bad_flag_value_is_refused_with_the_reason() {
    let out = Command::new(bin_dir().join("inventory-service"))
        .args(["--stock", "tea=lots"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("units \"lots\" is not a whole number"),
        "{err}"
    );
}

#[test]
fn a_port_in_use_stops_a_service_before_it_touches_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = Command::new(bin_dir().join("inventory-service"))
        .env("INVENTORY_DB", dir.path().join("inventory.db"))
        .env(
            "INVENTORY_LISTEN",
            format!("127.0.0.1:{}", shop_e2e::free_port()),
        )
        .env("INVENTORY_ADMIN_LISTEN", addr.to_string())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!("admin API: listening on {addr}")) && log.contains("in use"),
        "{log}"
    );
    assert!(
        !log.contains("contracts_runtime"),
        "nothing consumed or published before the port was found taken: {log}"
    );
}

async fn place(client: &reqwest::Client, base: &str, i: usize) -> String {
    let body = json!({"customer": format!("c{i}@example.com"), "line_items": [{"product": "tea", "quantity": 1}]});
    let r = client
        .post(format!("{base}/orders"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn orders_acknowledged_before_a_kill_9_are_there_with_their_events_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("order.db");
    let mut order = Service::new(
        "order-service",
        "ORDER_LISTEN",
        dir.path(),
        &service_env("order-service", dir.path(), None),
    );
    order.start();
    order.wait_live(Duration::from_secs(60)).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(place(&client, &order.url(), i).await);
    }
    order.kill9();
    order.start();
    order.wait_live(Duration::from_secs(60)).await;
    for id in &ids {
        let r = client
            .get(format!("{}/orders/{id}", order.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{id}");
    }
    let store = order_service::store::OrderStore::open(&db).await.unwrap();
    let rows = outbox::all(store.db()).await.unwrap();
    assert_eq!(
        rows.len(),
        2 * ids.len(),
        "OrderCreated in Avro and Protobuf per order"
    );
    for id in &ids {
        assert_eq!(
            rows.iter().filter(|r| r.key == id.as_bytes()).count(),
            2,
            "{id}"
        );
    }
}

#[tokio::test]
async fn sigterm_stops_a_service_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut notification = Service::new(
        "notification-service",
        "NOTIFICATION_LISTEN",
        dir.path(),
        &service_env("notification-service", dir.path(), None),
    );
    notification.start();
    notification.wait_live(Duration::from_secs(60)).await;
    let metrics = reqwest::get(format!("{}/metrics", notification.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("shop_notifications_undelivered 0"),
        "{metrics}"
    );
    assert!(
        notification.terminate(),
        "exit status; log: {}",
        notification.log_text()
    );
    assert!(notification.log_text().contains("shutdown requested"));
}
