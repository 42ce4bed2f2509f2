//! `shop-demo --database-url --inventory-replicas`: the services keep their state in one
//! PostgreSQL server, a database each, and three inventory replicas share the orders.

use std::path::Path;
use std::process::Command;

use contracts_testkit::TestPostgres;
use sqlx::Connection;

async fn count(url: &str, sql: &'static str) -> i64 {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut db).await.unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_inventory_replicas_on_postgres_handle_every_order_once() {
    let pg = TestPostgres::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let orders = 24;
    let out = Command::new(env!("CARGO_BIN_EXE_shop-demo"))
        .current_dir(&workspace)
        .args(["--base-port", "0", "--quiet", "--concurrency", "6"])
        .args(["--orders", &orders.to_string(), "--inventory-replicas", "3"])
        .args(["--database-url", &pg.url("postgres")])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("running shop-demo");
    let out = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.contains("inventory-service 3 on http://"), "{out}");
    assert!(
        out.contains("state in PostgreSQL:") && out.contains("shop_inventory"),
        "{out}"
    );
    assert!(out.contains(&format!("{orders} orders in")), "{out}");
    assert!(!out.contains("NOT everything played out"), "{out}");

    // Every order is in PostgreSQL, and each was handled once by one of the replicas.
    let placed = count(&pg.url("shop_order"), "SELECT COUNT(*) FROM orders").await;
    assert_eq!(placed, orders);
    let handled = count(
        &pg.url("shop_inventory"),
        "SELECT COUNT(*) FROM processed_events",
    )
    .await;
    assert_eq!(handled, orders, "{out}");
    // No service kept a SQLite file on the side.
    for service in ["order", "inventory", "notification"] {
        let db = dir.path().join(service).join(format!("{service}.db"));
        assert!(!db.exists(), "{} exists", db.display());
    }
}

#[test]
fn more_than_one_inventory_replica_needs_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shop-demo"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args([
            "--base-port",
            "0",
            "--orders",
            "1",
            "--inventory-replicas",
            "2",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--inventory-replicas 2 needs --database-url"),
        "{err}"
    );
}
