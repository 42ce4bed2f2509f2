//! The inventory on one PostgreSQL database shared by several replicas, each handling orders at
//! the same time: stock is never oversold, and an order delivered to two replicas at once (a
//! rebalance) is handled once.

use std::collections::HashMap;
use std::time::Duration;

use contracts_core::types::Decimal;
use contracts_testkit::TestPostgres;
use events::orders::v3;
use inventory_service::domain::Reservation;
use inventory_service::store::{Handled, InventoryStore, MIGRATIONS};
use shop_service_kit::db::{Backend, Db, Location};
use shop_service_kit::outbox;

async fn replica(url: &str) -> InventoryStore {
    let location = Location::Url(contracts_core::secret::Secret::new(url));
    let db = Db::connect(&location, 4, MIGRATIONS).await.unwrap();
    assert_eq!(db.backend(), Backend::Postgres);
    InventoryStore::new(db, "w-1")
}

fn request(id: &str, lines: &[(&str, i32)]) -> Reservation {
    let mut e = v3::OrderCreated::new(id.into(), lines[0].0.into(), lines[0].1);
    e.line_items = lines
        .iter()
        .map(|(p, q)| v3::LineItem::new((*p).into(), *q, Decimal::new(350, 2)))
        .collect();
    Reservation::try_from(&e).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_on_one_database_never_oversell_and_handle_each_order_once() {
    let pg = TestPostgres::start().unwrap();
    let url = pg.create_database("inventory").unwrap();
    // Three replicas start together: their migrations take turns.
    let replicas = futures_util::future::join_all((0..3).map(|_| replica(&url))).await;
    replicas[0].set_stock("tea", 10).await.unwrap();
    replicas[0].set_stock("mug", 7).await.unwrap();

    // 40 orders, each for one tea and, every other one, a mug too (lines in both orders, so
    // transactions lock the same rows from both sides), each delivered to two replicas at once.
    let orders: Vec<Reservation> = (0..40)
        .map(|i| {
            let id = format!("o-{i}");
            if i % 2 == 0 {
                request(&id, &[("tea", 1), ("mug", 1)])
            } else {
                request(&id, &[("mug", 1), ("tea", 1)])
            }
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, order) in orders.iter().enumerate() {
        for copy in 0..2 {
            let store = replicas[(i + copy) % 3].clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                // A serialization or deadlock failure is retried, as the consumer would.
                loop {
                    match store.reserve(&order).await {
                        Ok(handled) => return (order.order_id.clone(), handled),
                        Err(e) => eprintln!("retrying {}: {e}", order.order_id),
                    }
                }
            }));
        }
    }
    let mut outcomes: HashMap<String, Vec<Handled>> = HashMap::new();
    for task in tasks {
        let (id, handled) = task.await.unwrap();
        outcomes.entry(id).or_default().push(handled);
    }

    let mut reserved = 0;
    for (id, handled) in &outcomes {
        let duplicates = handled.iter().filter(|h| **h == Handled::Duplicate).count();
        assert_eq!(
            duplicates, 1,
            "{id} handled once, seen as a duplicate once: {handled:?}"
        );
        if handled.contains(&Handled::Reserved) {
            reserved += 1;
        }
    }
    let store = &replicas[1];
    assert_eq!(reserved, 7, "the mugs run out first");
    assert_eq!(store.stock("mug").await.unwrap(), Some(0));
    assert_eq!(store.stock("tea").await.unwrap(), Some(3));
    assert_eq!(
        store.reserved_by_product().await.unwrap(),
        [("mug".to_owned(), 7), ("tea".to_owned(), 7)]
    );
    assert_eq!(store.processed_count().await.unwrap(), 40);
    let rows = outbox::all(store.db()).await.unwrap();
    assert_eq!(rows.len(), 40, "one answer per order");

    // Processed ids past the retention are pruned (on PostgreSQL, in chunks); unsent answers
    // stay in the outbox whatever their age.
    let counters = shop_service_kit::ops::Counters::new();
    let pruned = [(
        "processed_events",
        inventory_service::store::PRUNE_PROCESSED,
    )];
    shop_service_kit::runner::prune_once(store.db(), Duration::from_secs(3600), &pruned, &counters)
        .await;
    assert_eq!(
        store.processed_count().await.unwrap(),
        40,
        "nothing is old yet"
    );
    // Times are in milliseconds: let the last write fall before the cutoff.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    shop_service_kit::runner::prune_once(store.db(), Duration::ZERO, &pruned, &counters).await;
    assert_eq!(store.processed_count().await.unwrap(), 0);
    assert_eq!(outbox::pending_count(store.db()).await.unwrap(), 40);
    assert_eq!(
        counters.get(
            "shop_store_pruned_rows_total",
            &[("table", "processed_events")]
        ),
        40.0
    );
}
