//! The three services together, without a broker: their real stores, handlers, outbox relays
//! and notification delivery, connected by an in-memory log that redelivers records and
//! replays outbox rows, as Kafka and crashes do. What must hold: every order ends CONFIRMED or
//! REJECTED correctly, stock is exact, and each customer gets exactly the expected messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use contracts_core::{Handle, RecordMeta, SchemaId, TopicMessage, WriterSchema};
use events::services;
use events::{inventory, orders};
use http_body_util::BodyExt;
use inventory_service::messaging::{InventorySink, Reserver};
use inventory_service::store::InventoryStore;
use notification_service::messaging::Notifier;
use notification_service::postman::Postman;
use notification_service::store::NotificationStore;
use notification_service::transport::Mailbox;
use order_service::domain::{Catalog, Status};
use order_service::http::{AppState, DEFAULT_BODY_LIMIT, router};
use order_service::messaging::{InventoryAnswers, OrderSink};
use order_service::store::OrderStore;
use serde_json::{Value, json};
use shop_service_kit::ops::Counters;
use shop_service_kit::outbox::Relay;
use shop_service_kit::testing::{Recorder, Sent};
use tower::ServiceExt;

struct Shop {
    api: axum::Router,
    orders: OrderStore,
    stock: InventoryStore,
    notes: NotificationStore,
    order_relay: Relay,
    order_sink: OrderSink<Recorder>,
    order_log: Recorder,
    inventory_relay: Relay,
    inventory_sink: InventorySink<Recorder>,
    inventory_log: Recorder,
    reserver: services::inventory::OrdersDispatcher<Reserver>,
    answers: services::order::InventoryDispatcher<InventoryAnswers>,
    notify_orders: services::notification::OrdersDispatcher<Notifier>,
    notify_inventory: services::notification::InventoryDispatcher<Notifier>,
    postman: Postman<Mailbox>,
    mailbox: tempfile::TempDir,
    /// How far each consumer group has read each topic.
    cursors: BTreeMap<(&'static str, &'static str), usize>,
}

impl Shop {
    async fn new(stock: &[(&str, i64)]) -> Shop {
        let orders = OrderStore::open_in_memory().await.unwrap();
        let inventory = InventoryStore::open_in_memory("w-1").await.unwrap();
        for (product, units) in stock {
            inventory.set_stock(product, *units).await.unwrap();
        }
        let notes = NotificationStore::open_in_memory().await.unwrap();
        let mailbox = tempfile::tempdir().unwrap();
        let order_relay = Relay::new(orders.db().clone());
        let inventory_relay = Relay::new(inventory.db().clone());
        let postman = Postman::new(notes.clone(), Mailbox::new(mailbox.path()), Counters::new());
        let notifier = Notifier::new(notes.clone(), Counters::new(), postman.waker());
        let order_log = Recorder::new();
        let inventory_log = Recorder::new();
        Shop {
            api: router(AppState {
                store: orders.clone(),
                catalog: Arc::new(Catalog::default()),
                relay: order_relay.waker(),
                counters: Counters::new(),
                body_limit: DEFAULT_BODY_LIMIT,
            }),
            reserver: services::inventory::OrdersDispatcher::new(Reserver::new(
                inventory.clone(),
                Counters::new(),
                inventory_relay.waker(),
            )),
            answers: services::order::InventoryDispatcher::new(InventoryAnswers::new(
                orders.clone(),
                Counters::new(),
            )),
            notify_orders: services::notification::OrdersDispatcher::new(notifier.clone()),
            notify_inventory: services::notification::InventoryDispatcher::new(notifier),
            order_sink: OrderSink::new(order_log.clone()),
            inventory_sink: InventorySink::new(inventory_log.clone()),
            orders,
            stock: inventory,
            notes,
            order_relay,
            order_log,
            inventory_relay,
            inventory_log,
            postman,
            mailbox,
            cursors: BTreeMap::new(),
        }
    }

    async fn call(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .api
            .clone()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// Records of `topic` that `group` has not read yet; each is handed over `copies` times.
    fn unread(&mut self, group: &'static str, topic: &'static str) -> Vec<Sent> {
        let log = match topic {
            "orders" => self.order_log.sent(),
            _ => self.inventory_log.sent(),
        };
        let records: Vec<Sent> = log.into_iter().filter(|s| s.topic == topic).collect();
        let cursor = self.cursors.entry((group, topic)).or_default();
        let new = records[*cursor..].to_vec();
        *cursor = records.len();
        new
    }

    /// Publishes every outbox, then lets every consumer read what is new (each record
    /// `copies` times, the way a consumer that crashed before committing reads it again), then
    /// delivers notifications; until nothing moves.
    async fn settle(&mut self, copies: usize, inventory_first: bool) {
        loop {
            let mut moved = self.order_relay.run_once(&self.order_sink).await.unwrap();
            moved += self
                .inventory_relay
                .run_once(&self.inventory_sink)
                .await
                .unwrap();
            // With `inventory_first`, the notification group reads `orders` only once all else
            // is quiet: its confirmations arrive before the orders they confirm.
            let groups: &[(&str, &str)] = if inventory_first {
                &[
                    ("notification", "inventory"),
                    ("order", "inventory"),
                    ("inventory", "orders"),
                ]
            } else {
                &[
                    ("inventory", "orders"),
                    ("notification", "orders"),
                    ("order", "inventory"),
                    ("notification", "inventory"),
                ]
            };
            for &(group, topic) in groups {
                moved += self.read(group, topic, copies).await;
            }
            if inventory_first && moved == 0 {
                moved += self.read("notification", "orders", copies).await;
            }
            moved += self.postman.run_once().await.unwrap();
            if moved == 0 {
                return;
            }
        }
    }

    async fn read(&mut self, group: &'static str, topic: &'static str, copies: usize) -> usize {
        let records = self.unread(group, topic);
        for record in &records {
            for _ in 0..copies {
                self.deliver(group, record).await;
            }
        }
        records.len()
    }

    async fn deliver(&self, group: &str, record: &Sent) {
        let writer = WriterSchema::new(
            SchemaId(1),
            record.schema.format,
            record.schema.schema,
            Some(record.schema.name.into()),
            record.schema.message_indexes.to_vec(),
        );
        let meta = RecordMeta::new(record.topic, 0, 0, SchemaId(1));
        let result = match (group, record.topic) {
            ("inventory", "orders") => {
                let m = orders::Message::decode_from(&writer, &record.payload).unwrap();
                self.reserver.handle(m, &meta).await
            }
            ("notification", "orders") => {
                let m = orders::Message::decode_from(&writer, &record.payload).unwrap();
                self.notify_orders.handle(m, &meta).await
            }
            ("order", "inventory") => {
                let m = inventory::Message::decode_from(&writer, &record.payload).unwrap();
                self.answers.handle(m, &meta).await
            }
            ("notification", "inventory") => {
                let m = inventory::Message::decode_from(&writer, &record.payload).unwrap();
                self.notify_inventory.handle(m, &meta).await
            }
            other => panic!("no consumer {other:?}"),
        };
        result.unwrap();
    }

    /// Marks every outbox row unsent, as if each service crashed after publishing and before
    /// recording it: the relays publish everything again.
    async fn forget_sent_outbox_rows(&self) {
        for db in [self.orders.db(), self.stock.db()] {
            sqlx::query("UPDATE outbox SET sent_at_ms = NULL")
                .execute(db.pool())
                .await
                .unwrap();
        }
    }

    fn mailbox(&self, customer: &str) -> Vec<String> {
        let folder = Mailbox::new(self.mailbox.path()).folder(customer);
        let mut names: Vec<String> = std::fs::read_dir(folder)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

async fn run(copies: usize, inventory_first: bool, replay_outboxes: bool) {
    let mut shop = Shop::new(&[("tea", 10), ("mug", 3), ("coffee", 0)]).await;
    // (customer, lines, expected status after the inventory answered)
    let plan: Vec<(&str, Value, Status)> = vec![
        (
            "a@example.com",
            json!([{"product": "tea", "quantity": 4}]),
            Status::Confirmed,
        ),
        (
            "b@example.com",
            json!([{"product": "tea", "quantity": 4}, {"product": "mug", "quantity": 2}]),
            Status::Confirmed,
        ),
        (
            "c@example.com",
            json!([{"product": "tea", "quantity": 3}]),
            Status::Rejected,
        ),
        (
            "d@example.com",
            json!([{"product": "mug", "quantity": 1}, {"product": "tea", "quantity": 2}]),
            Status::Confirmed,
        ),
        (
            "e@example.com",
            json!([{"product": "coffee", "quantity": 1}]),
            Status::Rejected,
        ),
        (
            "f@example.com",
            json!([{"product": "mug", "quantity": 1}]),
            Status::Rejected,
        ),
    ];
    let mut ids = Vec::new();
    for (customer, lines, _) in &plan {
        let (status, body) = shop
            .call(
                "POST",
                "/orders",
                json!({"customer": customer, "line_items": lines}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
        // One order at a time reaches the inventory, so which ones fit is deterministic.
        shop.settle(copies, inventory_first).await;
    }
    if replay_outboxes {
        shop.forget_sent_outbox_rows().await;
        shop.settle(copies, inventory_first).await;
    }
    for (id, (customer, _, expected)) in ids.iter().zip(&plan) {
        let order = shop.orders.get(id).await.unwrap().unwrap();
        assert_eq!(order.status, *expected, "{customer}: {order:?}");
    }
    // Confirmed orders a, b are paid and shipped; d is paid only.
    for (i, ship) in [(0, true), (1, true), (3, false)] {
        let (status, body) = shop
            .call("POST", &format!("/orders/{}/pay", ids[i]), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if ship {
            let (status, body) = shop
                .call("POST", &format!("/orders/{}/ship", ids[i]), json!({}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    shop.settle(copies, inventory_first).await;
    if replay_outboxes {
        shop.forget_sent_outbox_rows().await;
        shop.settle(copies, inventory_first).await;
    }

    assert_eq!(
        shop.stock.all_stock().await.unwrap(),
        [
            ("coffee".to_owned(), 0),
            ("mug".to_owned(), 0),
            ("tea".to_owned(), 0)
        ],
        "10 tea: 4 (a) + 4 (b) + 2 (d); 3 mugs: 2 (b) + 1 (d)"
    );
    let expected: [(&str, &[&str]); 6] = [
        (
            "a@example.com",
            &["received", "confirmed", "paid", "shipped"],
        ),
        (
            "b@example.com",
            &["received", "confirmed", "paid", "shipped"],
        ),
        ("c@example.com", &["received", "rejected"]),
        ("d@example.com", &["received", "confirmed", "paid"]),
        ("e@example.com", &["received", "rejected"]),
        ("f@example.com", &["received", "rejected"]),
    ];
    for ((customer, kinds), id) in expected.iter().zip(&ids) {
        let want: Vec<String> = kinds
            .iter()
            .map(|k| {
                let step = match *k {
                    "received" => 0,
                    "confirmed" | "rejected" => 1,
                    "paid" => 2,
                    _ => 3,
                };
                format!("{id}.{step}.{k}.eml")
            })
            .collect();
        assert_eq!(shop.mailbox(customer), want, "{customer}");
        let delivered: Vec<_> = shop
            .notes
            .for_order(id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.delivered_at_ms.unwrap())
            .collect();
        assert!(
            delivered.is_sorted(),
            "{customer}: delivered in order {delivered:?}"
        );
    }
}

#[tokio::test]
async fn every_order_ends_decided_with_exact_stock_and_one_message_per_event() {
    run(1, false, false).await;
}

#[tokio::test]
async fn redelivered_records_change_nothing() {
    run(3, false, false).await;
}

#[tokio::test]
async fn outbox_rows_published_twice_change_nothing() {
    run(2, false, true).await;
}

#[tokio::test]
async fn notifications_keep_their_order_when_the_inventory_topic_is_read_first() {
    run(1, true, true).await;
}
