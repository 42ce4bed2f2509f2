//! The notification service's answers to the admin API (`NotificationAdminService`).

use contracts_admin::{BackendError, BackendResult, Notification, NotificationBackend};
use contracts_core::types::DateTime;

use crate::domain::Kind;
use crate::store::NotificationStore;

/// Messages per order with their delivery state.
#[derive(Debug, Clone)]
pub struct NotificationAdmin {
    store: NotificationStore,
    transport: &'static str,
}

impl NotificationAdmin {
    /// `transport` names how messages go out: `mailbox` or `smtp`.
    pub fn new(store: NotificationStore, transport: &'static str) -> Self {
        NotificationAdmin { store, transport }
    }
}

/// The admin API's name for a kind, and the event it reports (identified by its order, as the
/// store dedupes it).
fn names(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Received => ("order_received", "OrderCreated"),
        Kind::Confirmed => ("order_confirmed", "InventoryReserved"),
        Kind::Rejected => ("order_rejected", "InventoryRejected"),
        Kind::Paid => ("order_paid", "OrderPaid"),
        Kind::Shipped => ("order_shipped", "OrderShipped"),
    }
}

impl NotificationBackend for NotificationAdmin {
    async fn notifications(&self, order_id: &str) -> BackendResult<Vec<Notification>> {
        let records = self
            .store
            .for_order(order_id)
            .await
            .map_err(BackendError::internal)?;
        Ok(records
            .into_iter()
            .map(|r| {
                let (kind, event) = names(r.kind);
                Notification {
                    event_id: format!("{event}/{}", r.order_id),
                    order_id: r.order_id,
                    kind: kind.to_owned(),
                    detail: r.detail,
                    recipient: r.recipient.unwrap_or_default(),
                    transport: self.transport.to_owned(),
                    sent_at: r.delivered_at_ms.and_then(DateTime::from_timestamp_millis),
                    attempts: r.attempts,
                    last_error: r.last_error.unwrap_or_default(),
                }
            })
            .collect())
    }
}
