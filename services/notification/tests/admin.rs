//! The notification service's admin answers: messages per order with their delivery state.

use contracts_admin::NotificationBackend;
use notification_service::admin::NotificationAdmin;
use notification_service::domain::{Kind, Notice};
use notification_service::store::NotificationStore;

#[tokio::test]
async fn notifications_of_an_order_show_what_was_sent_and_what_waits() {
    let store = NotificationStore::open_in_memory().await.unwrap();
    store
        .record(&Notice {
            order_id: "o-1".into(),
            kind: Kind::Received,
            customer: Some("ann@example.com".into()),
            detail: "got it".into(),
        })
        .await
        .unwrap();
    store
        .record(&Notice {
            order_id: "o-1".into(),
            kind: Kind::Shipped,
            customer: None,
            detail: "on its way".into(),
        })
        .await
        .unwrap();
    let received = store.deliverable(10).await.unwrap().remove(0);
    store.mark_delivered(&received).await.unwrap();

    let admin = NotificationAdmin::new(store, "mailbox");
    let notes = admin.notifications("o-1").await.unwrap();
    let summary: Vec<_> = notes
        .iter()
        .map(|n| {
            (
                n.kind.as_str(),
                n.recipient.as_str(),
                n.transport.as_str(),
                n.sent_at.is_some(),
                n.event_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "order_received",
                "ann@example.com",
                "mailbox",
                true,
                "OrderCreated/o-1"
            ),
            (
                "order_shipped",
                "ann@example.com",
                "mailbox",
                false,
                "OrderShipped/o-1"
            ),
        ]
    );
    assert!(admin.notifications("o-2").await.unwrap().is_empty());
}
