//! Notifications through the generated handlers, delivered into a mailbox directory.

use std::sync::Arc;

use contracts_core::types::{DateTime, Decimal};
use contracts_core::{Handle, RecordMeta, SchemaId};
use events::inventory;
use events::orders::{v1, v3};
use events::services::notification::{InventoryDispatcher, OrdersDispatcher};
use notification_service::domain::{Kind, Mail};
use notification_service::messaging::Notifier;
use notification_service::postman::Postman;
use notification_service::store::NotificationStore;
use notification_service::transport::{Mailbox, Transport, TransportError};
use shop_service_kit::ops::Counters;

struct Shop {
    orders: OrdersDispatcher<Notifier>,
    inventory: InventoryDispatcher<Notifier>,
    store: NotificationStore,
    postman: Postman<Mailbox>,
    dir: tempfile::TempDir,
}

async fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let store = NotificationStore::open_in_memory().await.unwrap();
    let postman = Postman::new(store.clone(), Mailbox::new(dir.path()), Counters::new());
    let notifier = Notifier::new(store.clone(), Counters::new(), postman.waker());
    Shop {
        orders: OrdersDispatcher::new(notifier.clone()),
        inventory: InventoryDispatcher::new(notifier),
        store,
        postman,
        dir,
    }
}

fn meta() -> RecordMeta {
    RecordMeta::new("orders", 0, 0, SchemaId(1))
}

fn created(id: &str, customer: &str) -> v3::OrderCreated {
    let mut e = v3::OrderCreated::new(id.into(), "tea".into(), 2);
    e.customer_id = Some(customer.into());
    e.line_items = vec![v3::LineItem::new("tea".into(), 2, Decimal::new(350, 2))];
    e
}

fn paid(id: &str) -> v1::OrderPaid {
    v1::OrderPaid {
        order_id: id.into(),
        payment_id: "psp-1".into(),
        amount: Decimal::new(700, 2),
        currency: v1::Currency::Eur,
        paid_at: DateTime::from_timestamp_millis(0).unwrap(),
    }
}

fn shipped(id: &str) -> v1::OrderShipped {
    v1::OrderShipped {
        order_id: id.into(),
        carrier: "DHL".into(),
        tracking_number: Some("JD1".into()),
        shipped_at: DateTime::from_timestamp_millis(0).unwrap(),
    }
}

fn reserved(id: &str) -> inventory::v2::InventoryReserved {
    inventory::v2::InventoryReserved {
        order_id: id.into(),
        ..Default::default()
    }
}

/// The mailbox's files for `customer`, sorted by name (order id, step, kind).
fn mailbox(shop: &Shop, customer: &str) -> Vec<String> {
    let folder = Mailbox::new(shop.dir.path()).folder(customer);
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn a_customer_is_told_each_step_of_an_order_once_in_order() {
    let s = shop().await;
    s.orders
        .handle(created("o-1", "ann@example.com").into(), &meta())
        .await
        .unwrap();
    s.inventory
        .handle(reserved("o-1").into(), &meta())
        .await
        .unwrap();
    s.orders.handle(paid("o-1").into(), &meta()).await.unwrap();
    s.orders
        .handle(shipped("o-1").into(), &meta())
        .await
        .unwrap();
    assert_eq!(s.postman.run_once().await.unwrap(), 4);
    assert_eq!(
        mailbox(&s, "ann@example.com"),
        [
            "o-1.0.received.eml",
            "o-1.1.confirmed.eml",
            "o-1.2.paid.eml",
            "o-1.3.shipped.eml"
        ]
    );
    let text =
        std::fs::read_to_string(s.dir.path().join("ann@example.com/o-1.2.paid.eml")).unwrap();
    assert!(
        text.contains("Subject: Payment received for order o-1"),
        "{text}"
    );
    assert!(text.contains("payment of 7.00 EUR"), "{text}");
    let kinds: Vec<_> = s
        .store
        .for_order("o-1")
        .await
        .unwrap()
        .iter()
        .map(|r| (r.kind, r.delivered_at_ms.is_some()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::Received, true),
            (Kind::Confirmed, true),
            (Kind::Paid, true),
            (Kind::Shipped, true)
        ]
    );
}

#[tokio::test]
async fn redelivered_events_send_nothing_more() {
    let s = shop().await;
    for _ in 0..3 {
        s.orders
            .handle(created("o-1", "ann@example.com").into(), &meta())
            .await
            .unwrap();
        s.inventory
            .handle(reserved("o-1").into(), &meta())
            .await
            .unwrap();
    }
    assert_eq!(s.postman.run_once().await.unwrap(), 2);
    s.inventory
        .handle(reserved("o-1").into(), &meta())
        .await
        .unwrap();
    assert_eq!(s.postman.run_once().await.unwrap(), 0);
    assert_eq!(mailbox(&s, "ann@example.com").len(), 2);
}

#[tokio::test]
async fn messages_wait_for_the_earlier_steps_whatever_order_the_topics_arrive_in() {
    let s = shop().await;
    // The inventory topic ran ahead of the orders topic: the customer is not known yet.
    s.inventory
        .handle(reserved("o-1").into(), &meta())
        .await
        .unwrap();
    s.orders
        .handle(shipped("o-1").into(), &meta())
        .await
        .unwrap();
    assert_eq!(s.postman.run_once().await.unwrap(), 0);
    s.orders
        .handle(created("o-1", "ann@example.com").into(), &meta())
        .await
        .unwrap();
    assert_eq!(
        s.postman.run_once().await.unwrap(),
        2,
        "received and confirmed; shipped waits for paid"
    );
    assert_eq!(
        mailbox(&s, "ann@example.com"),
        ["o-1.0.received.eml", "o-1.1.confirmed.eml"]
    );
    s.orders.handle(paid("o-1").into(), &meta()).await.unwrap();
    assert_eq!(s.postman.run_once().await.unwrap(), 2);
    assert_eq!(s.store.undelivered_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_rejected_order_is_told_why_and_a_late_confirmation_is_ignored() {
    let s = shop().await;
    s.orders
        .handle(created("o-9", "bo@example.com").into(), &meta())
        .await
        .unwrap();
    let rejected = inventory::v3::InventoryRejected {
        order_id: "o-9".into(),
        reason: inventory::v3::RejectionReason::OutOfStock as i32,
        detail: "\"tea\": 2 wanted, 0 in stock".into(),
        ..Default::default()
    };
    s.inventory.handle(rejected.into(), &meta()).await.unwrap();
    s.inventory
        .handle(reserved("o-9").into(), &meta())
        .await
        .unwrap();
    s.postman.run_once().await.unwrap();
    assert_eq!(
        mailbox(&s, "bo@example.com"),
        ["o-9.0.received.eml", "o-9.1.rejected.eml"]
    );
    let text =
        std::fs::read_to_string(s.dir.path().join("bo@example.com/o-9.1.rejected.eml")).unwrap();
    assert!(text.contains("\"tea\": 2 wanted, 0 in stock"), "{text}");
}

#[tokio::test]
async fn an_event_naming_no_order_is_dead_lettered() {
    let s = shop().await;
    let err = s.orders.handle(paid("").into(), &meta()).await.unwrap_err();
    assert!(!err.is_retriable());
    assert!(
        err.to_string().contains("OrderPaid: order_id is empty"),
        "{err}"
    );
}

/// A transport that fails its first `n` deliveries.
struct Flaky(std::sync::Mutex<u32>, Mailbox);

impl Transport for Flaky {
    async fn deliver(&self, mail: &Mail) -> Result<(), TransportError> {
        let fail = {
            let mut n = self.0.lock().unwrap();
            let fail = *n > 0;
            *n = n.saturating_sub(1);
            fail
        };
        if fail {
            return Err(TransportError::Build {
                id: mail.id.clone(),
                reason: "relay refused (test)".into(),
            });
        }
        self.1.deliver(mail).await
    }
    fn describe(&self) -> String {
        "flaky".into()
    }
}

#[tokio::test]
async fn a_failed_delivery_is_retried_and_later_steps_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = NotificationStore::open_in_memory().await.unwrap();
    let postman = Postman::new(
        store.clone(),
        Flaky(std::sync::Mutex::new(1), Mailbox::new(dir.path())),
        Counters::new(),
    );
    let notifier = OrdersDispatcher::new(Notifier::new(
        store.clone(),
        Counters::new(),
        Arc::default(),
    ));
    notifier
        .handle(created("o-1", "cy@example.com").into(), &meta())
        .await
        .unwrap();
    let inventory = InventoryDispatcher::new(Notifier::new(
        store.clone(),
        Counters::new(),
        Arc::default(),
    ));
    inventory
        .handle(reserved("o-1").into(), &meta())
        .await
        .unwrap();

    assert_eq!(
        postman.run_once().await.unwrap(),
        0,
        "received failed; confirmed must wait"
    );
    let records = store.for_order("o-1").await.unwrap();
    assert_eq!(
        records[0].last_error.as_deref(),
        Some("message o-1.0.received: relay refused (test)")
    );
    assert_eq!(postman.run_once().await.unwrap(), 2);
}

#[tokio::test]
async fn writing_the_same_message_twice_leaves_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let mailbox = Mailbox::new(dir.path());
    let mail = Mail::new("o-1", Kind::Received, "ann@example.com", "hello");
    mailbox.deliver(&mail).await.unwrap();
    mailbox.deliver(&mail).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(mailbox.folder("ann@example.com"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);
}

#[tokio::test]
async fn a_recipient_cannot_escape_the_mailbox_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mailbox = Mailbox::new(dir.path().join("box"));
    let mail = Mail::new("o-1", Kind::Received, "../../etc/passwd", "x");
    mailbox.deliver(&mail).await.unwrap();
    assert!(
        mailbox
            .folder("../../etc/passwd")
            .starts_with(dir.path().join("box"))
    );
    assert!(!dir.path().join("etc").exists());
}

#[tokio::test]
async fn pruning_deletes_delivered_messages_past_the_retention_and_keeps_the_undelivered() {
    let s = shop().await;
    s.orders
        .handle(created("o-1", "ann@example.com").into(), &meta())
        .await
        .unwrap();
    s.orders.handle(paid("o-1").into(), &meta()).await.unwrap();
    // Received goes out; paid waits for the confirmation.
    assert_eq!(s.postman.run_once().await.unwrap(), 1);
    let counters = Counters::new();
    let pruned = [("messages", notification_service::store::PRUNE_DELIVERED)];
    let retention = std::time::Duration::from_secs(3600);
    shop_service_kit::runner::prune_once(s.store.db(), retention, &pruned, &counters).await;
    assert_eq!(
        s.store.for_order("o-1").await.unwrap().len(),
        2,
        "nothing is old yet"
    );

    // Times are in milliseconds: let the last write fall before the cutoff.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    shop_service_kit::runner::prune_once(
        s.store.db(),
        std::time::Duration::ZERO,
        &pruned,
        &counters,
    )
    .await;
    let left: Vec<Kind> = s
        .store
        .for_order("o-1")
        .await
        .unwrap()
        .iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(left, [Kind::Paid], "the undelivered message stays");
    assert_eq!(
        counters.get("shop_store_pruned_rows_total", &[("table", "messages")]),
        1.0
    );
    assert_eq!(
        counters.get("shop_store_rows", &[("table", "messages")]),
        1.0
    );
}

/// A mailbox that records how many deliveries overlapped and the order they finished in.
struct Watched {
    inner: Mailbox,
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
    finished: std::sync::Mutex<Vec<(String, Kind)>>,
}

impl Transport for Watched {
    async fn deliver(&self, mail: &Mail) -> Result<(), TransportError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most_in_flight.fetch_max(now, SeqCst);
        // A transport waits on the network: let the other deliveries in.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        let result = self.inner.deliver(mail).await;
        self.in_flight.fetch_sub(1, SeqCst);
        self.finished
            .lock()
            .unwrap()
            .push((mail.order_id.clone(), mail.kind));
        result
    }
    fn describe(&self) -> String {
        "watched".into()
    }
}

#[tokio::test]
async fn mails_of_different_orders_go_out_together_and_each_order_keeps_its_life_order() {
    use notification_service::postman::CONCURRENT_DELIVERIES;
    let dir = tempfile::tempdir().unwrap();
    let store = NotificationStore::open_in_memory().await.unwrap();
    let postman = Postman::new(
        store.clone(),
        Watched {
            inner: Mailbox::new(dir.path()),
            in_flight: Default::default(),
            most_in_flight: Default::default(),
            finished: Default::default(),
        },
        Counters::new(),
    );
    let orders = OrdersDispatcher::new(Notifier::new(
        store.clone(),
        Counters::new(),
        Arc::default(),
    ));
    let inventory = InventoryDispatcher::new(Notifier::new(
        store.clone(),
        Counters::new(),
        Arc::default(),
    ));
    let ids: Vec<String> = (0..40).map(|i| format!("o-{i}")).collect();
    for id in &ids {
        orders
            .handle(created(id, &format!("{id}@example.com")).into(), &meta())
            .await
            .unwrap();
        inventory
            .handle(reserved(id).into(), &meta())
            .await
            .unwrap();
        orders.handle(paid(id).into(), &meta()).await.unwrap();
    }

    assert_eq!(postman.run_once().await.unwrap(), 3 * ids.len());
    let watched = postman.transport();
    let most = watched
        .most_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=CONCURRENT_DELIVERIES).contains(&most),
        "{most} deliveries overlapped"
    );
    let finished = watched.finished.lock().unwrap().clone();
    for id in &ids {
        let kinds: Vec<Kind> = finished
            .iter()
            .filter(|(o, _)| o == id)
            .map(|(_, k)| *k)
            .collect();
        assert_eq!(
            kinds,
            [Kind::Received, Kind::Confirmed, Kind::Paid],
            "order {id}"
        );
    }
}
