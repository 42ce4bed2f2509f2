//! The order service on Kafka: its outbox rows go out through the generated producer set, and
//! the inventory's answers come in through the generated `InventoryHandler`.

use contracts_core::{Event, HandlerError, Publish, RecordMeta};
use events::orders::{v1, v3};
use events::services::order::{InventoryHandler, Producer};
use events::{inventory, order_created_pb};
use shop_service_kit::ops::Counters;
use shop_service_kit::outbox::{Classify, OutboxRow, PublishFailure, Sink};

use crate::domain::{Applied, Outcome};
use crate::store::{Error, OrderStore};

/// Publishes outbox rows as the events they hold.
#[derive(Debug)]
pub struct OrderSink<P> {
    producer: Producer<P>,
}

impl<P: Publish> OrderSink<P> {
    pub fn new(publisher: P) -> Self {
        OrderSink {
            producer: Producer::new(publisher),
        }
    }

    pub fn producer(&self) -> &Producer<P> {
        &self.producer
    }
}

fn undecodable(row: &OutboxRow, e: impl std::fmt::Display) -> PublishFailure {
    PublishFailure::permanent(format!(
        "outbox row {} ({} v{}) does not decode: {e}",
        row.id, row.event, row.version
    ))
}

impl<P: Classify> Sink for OrderSink<P> {
    async fn publish(&self, row: &OutboxRow) -> Result<(), PublishFailure> {
        let p = &self.producer;
        if let Some(event) = row.decode::<v3::OrderCreated>() {
            let event = event.map_err(|e| undecodable(row, e))?;
            p.order_created_on_orders(&event)
                .await
                .map_err(PublishFailure::of::<P, _>)?;
        } else if row.is::<order_created_pb::v2::OrderCreated>()
            || row.is::<order_created_pb::v1::OrderCreated>()
        {
            // A v1 row was written before an upgrade: v2 reads v1 (the build checks it), and
            // the topic gets the newest version.
            let event = order_created_pb::v2::OrderCreated::decode(&row.payload)
                .map_err(|e| undecodable(row, e))?;
            p.order_created_on_order_created_pb(&event)
                .await
                .map_err(PublishFailure::of::<P, _>)?;
        } else if let Some(event) = row.decode::<v1::OrderPaid>() {
            let event = event.map_err(|e| undecodable(row, e))?;
            p.order_paid(&event)
                .await
                .map_err(PublishFailure::of::<P, _>)?;
        } else if let Some(event) = row.decode::<v1::OrderShipped>() {
            let event = event.map_err(|e| undecodable(row, e))?;
            p.order_shipped(&event)
                .await
                .map_err(PublishFailure::of::<P, _>)?;
        } else {
            return Err(PublishFailure::permanent(format!(
                "outbox row {} holds {} v{}, which this version of order-service does not publish",
                row.id, row.event, row.version
            )));
        }
        Ok(())
    }
}

/// Moves orders to CONFIRMED or REJECTED on the inventory's answer, once.
#[derive(Debug, Clone)]
pub struct InventoryAnswers {
    store: OrderStore,
    counters: Counters,
}

impl InventoryAnswers {
    pub fn new(store: OrderStore, counters: Counters) -> Self {
        InventoryAnswers { store, counters }
    }

    pub fn store(&self) -> &OrderStore {
        &self.store
    }

    async fn apply(&self, order_id: &str, outcome: Outcome) -> Result<(), HandlerError> {
        match self.store.apply_outcome(order_id, &outcome).await {
            Ok(Applied::Moved(status)) => {
                tracing::info!(order_id, %status, "order decided by the inventory");
                self.counters.add(
                    "shop_orders_decided_total",
                    "Orders moved to CONFIRMED or REJECTED by the inventory's answer.",
                    &[("status", status.as_str())],
                    1,
                );
                Ok(())
            }
            Ok(Applied::AlreadyDecided(status)) => {
                tracing::debug!(order_id, %status, "inventory answer seen before; nothing to do");
                Ok(())
            }
            // Every order is stored before its event is published, so an answer for an order
            // we never stored is about someone else's order: it will never apply.
            Err(e @ Error::NotFound(_)) => Err(HandlerError::permanent(e)),
            Err(e) => Err(HandlerError::retriable(e)),
        }
    }
}

fn rejection_v2(event: &inventory::v3::InventoryRejected) -> String {
    if !event.detail.is_empty() {
        return event.detail.clone();
    }
    match event.reason() {
        inventory::v3::RejectionReason::OutOfStock => "out of stock".into(),
        inventory::v3::RejectionReason::UnknownProduct => "unknown product".into(),
        inventory::v3::RejectionReason::QuantityLimit => "quantity over the limit".into(),
        inventory::v3::RejectionReason::Unspecified => "stock could not be reserved".into(),
    }
}

impl InventoryHandler for InventoryAnswers {
    async fn inventory_reserved_v1(
        &self,
        event: inventory::v1::InventoryReserved,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.apply(&event.order_id, Outcome::Reserved).await
    }

    async fn inventory_reserved_v2(
        &self,
        event: inventory::v2::InventoryReserved,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        self.apply(&event.order_id, Outcome::Reserved).await
    }

    async fn inventory_rejected_v1(
        &self,
        event: inventory::v1::InventoryRejected,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        let reason = if event.reason.is_empty() {
            "stock could not be reserved".to_owned()
        } else {
            event.reason
        };
        self.apply(&event.order_id, Outcome::Rejected { reason })
            .await
    }

    async fn inventory_rejected_v2(
        &self,
        event: inventory::v3::InventoryRejected,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        let reason = rejection_v2(&event);
        self.apply(&event.order_id, Outcome::Rejected { reason })
            .await
    }
}
