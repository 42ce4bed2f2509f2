//! The notification service on Kafka: order and inventory events in, through the generated
//! handler traits.

use std::sync::Arc;

use contracts_core::{HandlerError, RecordMeta};
use events::inventory;
use events::orders::{v1, v3};
use events::services::notification::{InventoryHandler, OrdersHandler};
use shop_service_kit::ops::Counters;
use tokio::sync::Notify;

use crate::domain::{NoOrder, Notice};
use crate::store::NotificationStore;

/// Records one message per event, once.
#[derive(Debug, Clone)]
pub struct Notifier {
    store: NotificationStore,
    counters: Counters,
    postman: Arc<Notify>,
}

impl Notifier {
    /// `postman` is woken after each new message.
    pub fn new(store: NotificationStore, counters: Counters, postman: Arc<Notify>) -> Self {
        Notifier {
            store,
            counters,
            postman,
        }
    }

    pub fn store(&self) -> &NotificationStore {
        &self.store
    }

    async fn note(&self, notice: Result<Notice, NoOrder>) -> Result<(), HandlerError> {
        let notice = notice.map_err(HandlerError::permanent)?;
        let new = self
            .store
            .record(&notice)
            .await
            .map_err(HandlerError::retriable)?;
        self.counters.add(
            "shop_notification_events_total",
            "Events handled, by kind and whether they were new (false: a redelivery, ignored).",
            &[
                ("kind", notice.kind.as_str()),
                ("new", if new { "true" } else { "false" }),
            ],
            1,
        );
        if new {
            self.postman.notify_one();
        } else {
            tracing::debug!(order_id = %notice.order_id, kind = %notice.kind, "event seen before; nothing to do");
        }
        Ok(())
    }
}

impl OrdersHandler for Notifier {
    async fn order_created(&self, e: v3::OrderCreated, _: &RecordMeta) -> Result<(), HandlerError> {
        self.note(Notice::try_from(&e)).await
    }

    async fn order_paid(&self, e: v1::OrderPaid, _: &RecordMeta) -> Result<(), HandlerError> {
        self.note(Notice::try_from(&e)).await
    }

    async fn order_shipped(&self, e: v1::OrderShipped, _: &RecordMeta) -> Result<(), HandlerError> {
        self.note(Notice::try_from(&e)).await
    }
}

impl InventoryHandler for Notifier {
    async fn inventory_reserved_v1(
        &self,
        e: inventory::v1::InventoryReserved,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(Notice::try_from(&e)).await
    }

    async fn inventory_reserved_v2(
        &self,
        e: inventory::v2::InventoryReserved,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(Notice::try_from(&e)).await
    }

    async fn inventory_rejected_v1(
        &self,
        e: inventory::v1::InventoryRejected,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(Notice::try_from(&e)).await
    }

    async fn inventory_rejected_v2(
        &self,
        e: inventory::v3::InventoryRejected,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.note(Notice::try_from(&e)).await
    }
}
