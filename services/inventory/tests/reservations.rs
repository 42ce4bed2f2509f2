//! Reservations through the generated handler, without a broker.

use std::sync::Arc;

use contracts_core::types::Decimal;
use contracts_core::{Handle, RecordMeta, SchemaId};
use events::inventory::v2;
use events::inventory::v3 as inventory_v3;
use events::orders::v3;
use events::services::inventory::OrdersDispatcher;
use inventory_service::messaging::{InventorySink, Reserver};
use inventory_service::store::{InventoryStore, MIGRATIONS};
use shop_service_kit::db::Db;
use shop_service_kit::ops::Counters;
use shop_service_kit::outbox::{self, Relay};
use shop_service_kit::testing::Recorder;

async fn inventory() -> (OrdersDispatcher<Reserver>, InventoryStore) {
    let store = InventoryStore::open_in_memory("w-1").await.unwrap();
    store.set_stock("tea", 10).await.unwrap();
    store.set_stock("mug", 2).await.unwrap();
    let reserver = Reserver::new(store.clone(), Counters::new(), Arc::default());
    (OrdersDispatcher::new(reserver), store)
}

fn order(id: &str, lines: &[(&str, i32)]) -> v3::OrderCreated {
    let mut e = v3::OrderCreated::new(id.into(), lines[0].0.into(), lines[0].1);
    e.customer_id = Some("c@example.com".into());
    e.line_items = lines
        .iter()
        .map(|(p, q)| v3::LineItem::new((*p).into(), *q, Decimal::new(350, 2)))
        .collect();
    e
}

fn meta(offset: i64) -> RecordMeta {
    RecordMeta::new("orders", 0, offset, SchemaId(1))
}

async fn answers(
    store: &InventoryStore,
) -> Vec<(
    String,
    Option<v2::InventoryReserved>,
    Option<inventory_v3::InventoryRejected>,
)> {
    outbox::all(store.db())
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                String::from_utf8(row.key.clone()).unwrap(),
                row.decode::<v2::InventoryReserved>().map(Result::unwrap),
                row.decode::<inventory_v3::InventoryRejected>()
                    .map(Result::unwrap),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_order_that_fits_takes_every_line_and_announces_the_reservation() {
    let (handler, store) = inventory().await;
    handler
        .handle(order("o-1", &[("tea", 3), ("mug", 2)]).into(), &meta(0))
        .await
        .unwrap();
    assert_eq!(
        store.all_stock().await.unwrap(),
        [("mug".to_owned(), 0), ("tea".to_owned(), 7)]
    );
    assert_eq!(
        store.reservation("o-1").await.unwrap(),
        [("mug".to_owned(), 2), ("tea".to_owned(), 3)]
    );
    let answers = answers(&store).await;
    assert_eq!(answers.len(), 1);
    let reserved = answers[0].1.as_ref().expect("InventoryReserved");
    assert_eq!(
        (answers[0].0.as_str(), reserved.warehouse_id.as_str()),
        ("o-1", "w-1")
    );
    assert_eq!(reserved.line_items.len(), 2);
}

#[tokio::test]
async fn an_order_with_one_line_short_takes_nothing_and_says_why() {
    let (handler, store) = inventory().await;
    handler
        .handle(order("o-1", &[("tea", 3), ("mug", 5)]).into(), &meta(0))
        .await
        .unwrap();
    assert_eq!(
        store.stock("tea").await.unwrap(),
        Some(10),
        "all or nothing"
    );
    assert_eq!(store.stock("mug").await.unwrap(), Some(2));
    assert!(store.reservation("o-1").await.unwrap().is_empty());
    let answers = answers(&store).await;
    let rejected = answers[0].2.as_ref().expect("InventoryRejected");
    assert_eq!(rejected.reason(), inventory_v3::RejectionReason::OutOfStock);
    assert_eq!(rejected.detail, "\"mug\": 5 wanted, 2 in stock");
    assert_eq!(rejected.line_items.len(), 1, "only the refused line");
    assert_eq!(
        rejected.stock_on_hand,
        [("mug".to_owned(), 2)].into(),
        "what is left of the refused product"
    );
}

#[tokio::test]
async fn an_unknown_product_is_rejected_as_such() {
    let (handler, store) = inventory().await;
    handler
        .handle(order("o-1", &[("tea", 1), ("kettle", 1)]).into(), &meta(0))
        .await
        .unwrap();
    let rejected = answers(&store).await[0].2.clone().unwrap();
    assert_eq!(
        rejected.reason(),
        inventory_v3::RejectionReason::UnknownProduct
    );
    assert!(
        rejected.stock_on_hand.is_empty(),
        "no stock figure for a product the inventory does not carry: {:?}",
        rejected.stock_on_hand
    );
    assert_eq!(store.stock("tea").await.unwrap(), Some(10));
}

#[tokio::test]
async fn a_redelivered_order_changes_nothing_and_announces_nothing_more() {
    let (handler, store) = inventory().await;
    let event = order("o-1", &[("tea", 4)]);
    handler
        .handle(event.clone().into(), &meta(0))
        .await
        .unwrap();
    // The order service's outbox may publish the same event again at another offset.
    handler
        .handle(event.clone().into(), &meta(7))
        .await
        .unwrap();
    handler.handle(event.into(), &meta(0)).await.unwrap();
    assert_eq!(store.stock("tea").await.unwrap(), Some(6));
    assert_eq!(answers(&store).await.len(), 1);
    assert_eq!(store.processed_count().await.unwrap(), 1);
}

#[tokio::test]
async fn a_v1_order_without_line_items_reserves_its_single_product() {
    let (handler, store) = inventory().await;
    let v1_shaped = v3::OrderCreated::new("o-1".into(), "mug".into(), 1);
    handler.handle(v1_shaped.into(), &meta(0)).await.unwrap();
    assert_eq!(store.stock("mug").await.unwrap(), Some(1));
}

#[tokio::test]
async fn an_order_naming_no_product_is_dead_lettered() {
    let (handler, store) = inventory().await;
    let broken = v3::OrderCreated::new("o-1".into(), String::new(), 1);
    let err = handler.handle(broken.into(), &meta(0)).await.unwrap_err();
    assert!(!err.is_retriable());
    assert!(err.to_string().contains("a line names no product"), "{err}");
    assert_eq!(store.processed_count().await.unwrap(), 0);
}

#[tokio::test]
async fn stock_is_never_oversold_across_orders() {
    let (handler, store) = inventory().await;
    for i in 0..5 {
        handler
            .handle(order(&format!("o-{i}"), &[("mug", 1)]).into(), &meta(i))
            .await
            .unwrap();
    }
    assert_eq!(store.stock("mug").await.unwrap(), Some(0));
    let answers = answers(&store).await;
    let reserved = answers.iter().filter(|a| a.1.is_some()).count();
    assert_eq!((reserved, answers.len()), (2, 5));
    assert_eq!(
        store.reserved_by_product().await.unwrap(),
        [("mug".to_owned(), 2)]
    );
}

#[tokio::test]
async fn seeding_keeps_the_stock_a_restart_finds() {
    let (handler, store) = inventory().await;
    handler
        .handle(order("o-1", &[("tea", 4)]).into(), &meta(0))
        .await
        .unwrap();
    assert!(!store.seed_stock("tea", 10).await.unwrap());
    assert!(store.seed_stock("teapot", 3).await.unwrap());
    assert_eq!(store.stock("tea").await.unwrap(), Some(6));
    assert!(store.set_stock("tea", -1).await.is_err());
}

#[tokio::test]
async fn the_relay_publishes_answers_as_protobuf_v2_keyed_by_order() {
    let (handler, store) = inventory().await;
    handler
        .handle(order("o-1", &[("tea", 1)]).into(), &meta(0))
        .await
        .unwrap();
    handler
        .handle(order("o-2", &[("mug", 9)]).into(), &meta(1))
        .await
        .unwrap();
    let recorder = Recorder::new();
    let sink = InventorySink::new(recorder.clone());
    assert_eq!(
        Relay::new(store.db().clone())
            .run_once(&sink)
            .await
            .unwrap(),
        2
    );
    let subjects: Vec<_> = recorder
        .sent()
        .iter()
        .map(|s| (s.topic, s.schema.subject, s.key.clone()))
        .collect();
    assert_eq!(
        subjects,
        [
            (
                "inventory",
                "inventory-shop.inventory.v2.InventoryReserved",
                b"o-1".to_vec()
            ),
            (
                "inventory",
                "inventory-shop.inventory.v2.InventoryRejected",
                b"o-2".to_vec()
            ),
        ]
    );
    assert_eq!(outbox::pending_count(store.db()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_rejection_left_in_the_outbox_by_the_previous_version_goes_out_as_the_newest() {
    let (_, store) = inventory().await;
    // What the service wrote before InventoryRejected v3 existed.
    let mut tx = store.db().begin().await.unwrap();
    outbox::enqueue(
        &mut tx,
        &v2::InventoryRejected {
            order_id: "o-1".into(),
            reason: v2::RejectionReason::OutOfStock as i32,
            detail: "\"mug\": 5 wanted, 2 in stock".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let recorder = Recorder::new();
    let sink = InventorySink::new(recorder.clone());
    let relay = Relay::new(store.db().clone());
    assert_eq!(relay.run_once(&sink).await.unwrap(), 1);
    let sent = recorder.sent();
    let rejected = sent[0]
        .decode::<inventory_v3::InventoryRejected>()
        .expect("published as v3");
    assert_eq!(
        (rejected.order_id.as_str(), rejected.reason()),
        ("o-1", inventory_v3::RejectionReason::OutOfStock)
    );
    assert!(rejected.stock_on_hand.is_empty());
    assert_eq!(outbox::pending_count(store.db()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_store_file_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inventory.db");
    let open = || async { InventoryStore::new(Db::open(&path, MIGRATIONS).await.unwrap(), "w") };
    {
        let store = open().await;
        store.set_stock("tea", 5).await.unwrap();
        store.db().pool().close().await;
    }
    let store = open().await;
    assert_eq!(store.stock("tea").await.unwrap(), Some(5));
}
