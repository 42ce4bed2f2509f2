//! The inventory's answers and the outbox relay, without a broker.

use contracts_core::{Event, Handle, RecordMeta, SchemaId, Topic};
use events::inventory;
use events::orders::{self, v1, v3};
use events::services::order::InventoryDispatcher;
use order_service::domain::{Catalog, LineRequest, OrderRequest, Status};
use order_service::messaging::{InventoryAnswers, OrderSink};
use order_service::store::OrderStore;
use shop_service_kit::ops::Counters;
use shop_service_kit::outbox::{self, Relay};
use shop_service_kit::testing::Recorder;

fn meta() -> RecordMeta {
    RecordMeta::new("inventory", 0, 1, SchemaId(1))
}

fn placed(store: &OrderStore, id: &str) {
    let new = OrderRequest {
        customer: "bob@example.com".into(),
        line_items: vec![LineRequest {
            product: "coffee".into(),
            quantity: 3,
        }],
    }
    .validate(&Catalog::default())
    .unwrap();
    store.create(id, &new).unwrap();
}

fn answers() -> (InventoryDispatcher<InventoryAnswers>, OrderStore) {
    let store = OrderStore::open_in_memory().unwrap();
    (
        InventoryDispatcher::new(InventoryAnswers::new(store.clone(), Counters::new())),
        store,
    )
}

fn status(store: &OrderStore, id: &str) -> Status {
    store.get(id).unwrap().unwrap().status
}

#[tokio::test]
async fn a_reservation_in_either_version_confirms_the_order() {
    let (handler, store) = answers();
    placed(&store, "o-1");
    placed(&store, "o-2");
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
        (status(&store, "o-1"), status(&store, "o-2")),
        (Status::Confirmed, Status::Confirmed)
    );
}

#[tokio::test]
async fn a_rejection_rejects_the_order_with_its_reason() {
    let (handler, store) = answers();
    placed(&store, "o-1");
    placed(&store, "o-2");
    let v2 = inventory::v2::InventoryRejected {
        order_id: "o-1".into(),
        reason: inventory::v2::RejectionReason::OutOfStock as i32,
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
    let o1 = store.get("o-1").unwrap().unwrap();
    assert_eq!(
        (o1.status, o1.rejection_reason.as_deref()),
        (Status::Rejected, Some("\"coffee\": 3 wanted, 1 in stock"))
    );
    assert_eq!(
        store
            .get("o-2")
            .unwrap()
            .unwrap()
            .rejection_reason
            .as_deref(),
        Some("no beans")
    );
}

#[tokio::test]
async fn the_same_answer_twice_changes_nothing() {
    let (handler, store) = answers();
    placed(&store, "o-1");
    let reserved = inventory::v2::InventoryReserved {
        order_id: "o-1".into(),
        ..Default::default()
    };
    handler
        .handle(reserved.clone().into(), &meta())
        .await
        .unwrap();
    let first = store.get("o-1").unwrap().unwrap();
    handler.handle(reserved.into(), &meta()).await.unwrap();
    assert_eq!(store.get("o-1").unwrap().unwrap(), first);
    // A late contradicting answer does not undo the decision either.
    let rejected = inventory::v2::InventoryRejected {
        order_id: "o-1".into(),
        ..Default::default()
    };
    handler.handle(rejected.into(), &meta()).await.unwrap();
    assert_eq!(status(&store, "o-1"), Status::Confirmed);
}

#[tokio::test]
async fn an_answer_about_an_unknown_order_is_dead_lettered() {
    let (handler, _) = answers();
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
    let store = OrderStore::open_in_memory().unwrap();
    placed(&store, "o-1");
    placed(&store, "o-2");
    let recorder = Recorder::new();
    let relay = Relay::new(store.db().clone());
    let sink = OrderSink::new(recorder.clone());
    assert_eq!(relay.run_once(&sink).await.unwrap(), 4);

    let sent = recorder.sent();
    let seen: Vec<_> = sent
        .iter()
        .map(|s| {
            (
                s.topic,
                s.schema.name,
                String::from_utf8(s.key.clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("orders", "shop.orders.OrderCreated", "o-1".to_owned()),
            (
                "order-created-pb",
                "shop.orders.v1.OrderCreated",
                "o-1".to_owned()
            ),
            ("orders", "shop.orders.OrderCreated", "o-2".to_owned()),
            (
                "order-created-pb",
                "shop.orders.v1.OrderCreated",
                "o-2".to_owned()
            ),
        ]
    );
    let created: v3::OrderCreated = sent[0].decode().unwrap();
    assert_eq!(created.line_items[0].quantity, 3);
    assert_eq!(outbox::pending_count(store.db()).unwrap(), 0);
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
async fn rows_stay_pending_while_the_broker_is_down_and_go_out_once_it_is_back() {
    let store = OrderStore::open_in_memory().unwrap();
    placed(&store, "o-1");
    let recorder = Recorder::new();
    let relay = Relay::new(store.db().clone());
    let sink = OrderSink::new(recorder.clone());
    recorder.set_down(true);
    assert_eq!(relay.run_once(&sink).await.unwrap(), 0);
    assert_eq!(outbox::pending_count(store.db()).unwrap(), 2);
    let first = outbox::all(store.db()).unwrap()[0].id;
    assert_eq!(
        outbox::last_error(store.db(), first).unwrap().as_deref(),
        Some("broker unavailable (test)")
    );

    recorder.set_down(false);
    assert_eq!(relay.run_once(&sink).await.unwrap(), 2);
    assert_eq!(recorder.sent().len(), 2);
    assert_eq!(outbox::pending_count(store.db()).unwrap(), 0);
}
