//! `shop-demo` end to end: a real Tansu broker, the registry and the three service
//! processes, orders placed over HTTP; then a second run on the same data directory, which
//! continues where the first stopped.

use std::path::Path;
use std::process::Command;

fn demo(data_dir: &Path, orders: usize) -> (bool, String) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_shop-demo"))
        .current_dir(&workspace)
        .args(["--base-port", "0", "--orders", &orders.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("running shop-demo");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn the_demo_runs_the_shop_from_nothing_and_every_order_plays_out() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = demo(dir.path(), 4);
    assert!(ok, "the demo failed:\n{out}");

    // The four scripted orders: alice's is shipped, bob's asks for more teapots than there are,
    // carol's is paid, dave's confirmed.
    for line in [
        "created topic orders (6 partitions)",
        "registered 14 new version(s)",
        "is REJECTED",
        "POST /orders/",
        "this run's orders: 1 CONFIRMED, 1 PAID, 1 REJECTED, 1 SHIPPED",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // Every OrderCreated was read by both groups that consume `orders`, every answer by both
    // groups that consume `inventory`.
    assert_eq!(count(&out, "OrderCreated v3 (Avro"), 4, "{out}");
    // The Protobuf edition under the id `contracts register` gave its newest version: the
    // service's lookup finds the same schema, references and all.
    assert_eq!(
        count(&out, "OrderCreated v2 (Protobuf, schema id 14)"),
        4,
        "{out}"
    );
    // Four orders created, two paid, one shipped; each answered once by the inventory.
    assert_eq!(count(&out, "▸ order-service → orders["), 4 + 3, "{out}");
    assert_eq!(count(&out, "▸ inventory-service → inventory["), 4, "{out}");
    assert_eq!(
        count(&out, "✓ inventory-service read orders["),
        4 + 3,
        "{out}"
    );
    assert_eq!(
        count(&out, "✓ notification-service read orders["),
        4 + 3,
        "{out}"
    );
    assert_eq!(count(&out, "✓ order-service read inventory["), 4, "{out}");
    assert_eq!(
        count(&out, "✓ notification-service read inventory["),
        4,
        "{out}"
    );
    // received + confirmed/rejected, and paid/shipped where the order got that far.
    assert_eq!(count(&out, "mailed alice@example.com"), 4, "{out}");
    assert_eq!(count(&out, "mailed bob@example.com"), 2, "{out}");
    assert_eq!(count(&out, "mailed carol@example.com"), 3, "{out}");
    assert_eq!(count(&out, "mailed dave@example.com"), 2, "{out}");
    assert!(!out.contains("NOT everything played out"), "{out}");
    // The admin APIs answer with the registry's ids and no lag left.
    for line in [
        "produced: OrderCreated v3 (avro, id 5)",
        "group inventory on orders: lag 0 over 6 partitions",
        "stock: coffee 49 available, 1 reserved",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }

    // The same data directory again: topics and contracts are there, the stores keep counting.
    let (ok, out) = demo(dir.path(), 1);
    assert!(ok, "the second run failed:\n{out}");
    for line in [
        "topic orders exists",
        "nothing to do: the registry already holds all 14 versions",
        "GET /orders?status=SHIPPED: 2 order(s) in the store",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}
