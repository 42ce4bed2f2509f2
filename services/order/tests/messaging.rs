//! The inventory's answers and the outbox relay, without a broker.

use contracts_core::{Event, Handle, RecordMeta, SchemaId, Topic};
use events::orders::{self, v1, v3};
use events::services::order::InventoryDispatcher;
use events::{inventory, order_created_pb};
use order_service::domain::{Catalog, LineRequest, OrderRequest, Status};
use order_service::messaging::{InventoryAnswers, OrderSink};
use order_service::store::OrderStore;
use shop_service_kit::ops::Counters;
use shop_service_kit::outbox::{self, Relay};
use shop_service_kit::testing::Recorder;

fn meta() -> RecordMeta {
    RecordMeta::new("inventory", 0, 1, SchemaId(1))
}

async fn placed(store: &OrderStore, id: &str) {
    let new = OrderRequest {
        customer: "bob@example.com".into(),
        line_items: vec![LineRequest {
            product: "coffee".into(),
            quantity: 3,
        }],
    }
    .validate(&Catalog::default())
    .unwrap();
    store.create(id, &new).await.unwrap();
}

async fn answers() -> (InventoryDispatcher<InventoryAnswers>, OrderStore) {
    let store = OrderStore::open_in_memory().await.unwrap();
    (
        InventoryDispatcher::new(InventoryAnswers::new(store.clone(), Counters::new())),
        store,
    )
}

async fn status(store: &OrderStore, id: &str) -> Status {
    store.get(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn a_reservation_in_either_version_confirms_the_order() {
    let (handler, store) = answers().await;
    placed(&store, "o-1").await;
    placed(&store, "o-2").await;
    let v1 = inventory::v1::InventoryReserved {
        order_id: "o-1".into(),
        ..Default::default()
    };
    let v2 = inventory::v2::InventoryReserved {
        order_id: "o-2".into(),
        warehouse_id: "w".into(),
        ..Default::default()
    };
    handler.handle(v1.into(), &meta()).await.unwrap();
    handler.handle(v2.into(), &meta()).await.unwrap();
    assert_eq!(
        (status(&store, "o-1").await, status(&store, "o-2").await),
        (Status::Confirmed, Status::Confirmed)
    );
}

#[tokio::test]
async fn a_rejection_rejects_the_order_with_its_reason() {
    let (handler, store) = answers().await;
    placed(&store, "o-1").await;
    placed(&store, "o-2").await;
    let v2 = inventory::v3::InventoryRejected {
        order_id: "o-1".into(),
        reason: inventory::v3::RejectionReason::OutOfStock as i32,
        detail: "\"coffee\": 3 wanted, 1 in stock".into(),
        ..Default::default()
    };
    let v1 = inventory::v1::InventoryRejected {
        order_id: "o-2".into(),
        reason: "no beans".into(),
        ..Default::default()
    };
    handler.handle(v2.into(), &meta()).await.unwrap();
    handler.handle(v1.into(), &meta()).await.unwrap();
    let o1 = store.get("o-1").await.unwrap().unwrap();
    assert_eq!(
        (o1.status, o1.rejection_reason.as_deref()),
        (Status::Rejected, Some("\"coffee\": 3 wanted, 1 in stock"))
    );
    assert_eq!(
        store
            .get("o-2")
            .await
            .unwrap()
            .unwrap()
            .rejection_reason
            .as_deref(),
        Some("no beans")
    );
}

#[tokio::test]
async fn the_same_answer_twice_changes_nothing() {
    let (handler, store) = answers().await;
    placed(&store, "o-1").await;
    let reserved = inventory::v2::InventoryReserved {
        order_id: "o-1".into(),
        ..Default::default()
    };
    handler
        .handle(reserved.clone().into(), &meta())
        .await
        .unwrap();
    let first = store.get("o-1").await.unwrap().unwrap();
    handler.handle(reserved.into(), &meta()).await.unwrap();
    assert_eq!(store.get("o-1").await.unwrap().unwrap(), first);
    // A late contradicting answer does not undo the decision either.
    let rejected = inventory::v3::InventoryRejected {
        order_id: "o-1".into(),
        ..Default::default()
    };
    handler.handle(rejected.into(), &meta()).await.unwrap();
    assert_eq!(status(&store, "o-1").await, Status::Confirmed);
}

#[tokio::test]
async fn an_answer_about_an_unknown_order_is_dead_lettered() {
    let (handler, _) = answers().await;
    let reserved = inventory::v2::InventoryReserved {
        order_id: "ghost".into(),
        ..Default::default()
    };
    let err = handler.handle(reserved.into(), &meta()).await.unwrap_err();
    assert!(!err.is_retriable(), "{err}");
    assert!(
        err.to_string().contains("no order with id \"ghost\""),
        "{err}"
    );
}

#[tokio::test]
async fn the_relay_publishes_in_order_keyed_by_order_id_and_marks_rows_sent() {
    let store = OrderStore::open_in_memory().await.unwrap();
    placed(&store, "o-1").await;
    placed(&store, "o-2").await;
    let recorder = Recorder::new();
    let relay = Relay::new(store.db().clone());
    let sink = OrderSink::new(recorder.clone());
    assert_eq!(relay.run_once(&sink).await.unwrap(), 4);

    // Sends of different orders overlap; each order's own events keep the order written.
    let sent = recorder.sent();
    let of = |key: &str| -> Vec<(&str, &str)> {
        sent.iter()
            .filter(|s| s.key == key.as_bytes())
            .map(|s| (s.topic, s.schema.name))
            .collect()
    };
    for key in ["o-1", "o-2"] {
        assert_eq!(
            of(key),
            [
                ("orders", "shop.orders.OrderCreated"),
                ("order-created-pb", "shop.orders.v1.OrderCreated"),
            ],
            "{key}"
        );
    }
    let created: v3::OrderCreated = sent[0].decode().unwrap();
    assert_eq!(created.line_items[0].quantity, 3);
    assert_eq!(outbox::pending_count(store.db()).await.unwrap(), 0);
    assert_eq!(
        relay.run_once(&sink).await.unwrap(),
        0,
        "nothing is sent twice"
    );
    assert_eq!(<orders::Topic as Topic>::NAME, "orders");
    assert_eq!(
        <v1::OrderPaid as Event>::SCHEMA.subject,
        "shop.orders.OrderPaid"
    );
}

#[tokio::test]
async fn a_protobuf_order_created_left_in_the_outbox_by_the_previous_version_goes_out_as_v2() {
    let store = OrderStore::open_in_memory().await.unwrap();
    // What the service wrote before OrderCreated (Protobuf) v2 existed.
    let mut tx = store.db().begin().await.unwrap();
    outbox::enqueue(
        &mut tx,
        &order_created_pb::v1::OrderCreated {
            order_id: "o-1".into(),
            customer_id: "bob@example.com".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let recorder = Recorder::new();
    let relay = Relay::new(store.db().clone());
    assert_eq!(
        relay
            .run_once(&OrderSink::new(recorder.clone()))
            .await
            .unwrap(),
        1
    );
    let sent = recorder.sent();
    let created: order_created_pb::v2::OrderCreated = sent[0].decode().expect("published as v2");
    assert_eq!(
        (created.order_id.as_str(), created.customer_id.as_str()),
        ("o-1", "bob@example.com")
    );
    assert_eq!(created.total, None, "v1 did not send a total");
    assert_eq!(sent[0].key, b"o-1");
}

#[tokio::test]
async fn rows_stay_pending_while_the_broker_is_down_and_go_out_once_it_is_back() {
    let store = OrderStore::open_in_memory().await.unwrap();
    placed(&store, "o-1").await;
    let recorder = Recorder::new();
    let relay = Relay::new(store.db().clone());
    let sink = OrderSink::new(recorder.clone());
    recorder.set_down(true);
    assert_eq!(relay.run_once(&sink).await.unwrap(), 0);
    assert_eq!(outbox::pending_count(store.db()).await.unwrap(), 2);
    let first = outbox::all(store.db()).await.unwrap()[0].id;
    assert_eq!(
        outbox::last_error(store.db(), first)
            .await
            .unwrap()
            .as_deref(),
        Some("broker unavailable (test)")
    );

    recorder.set_down(false);
    assert_eq!(relay.run_once(&sink).await.unwrap(), 2);
    assert_eq!(recorder.sent().len(), 2);
    assert_eq!(outbox::pending_count(store.db()).await.unwrap(), 0);
}
