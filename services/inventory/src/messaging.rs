//! The inventory on Kafka: `OrderCreated` in through the generated `OrdersHandler`, answers out
//! through the outbox and the generated producer set.

use contracts_core::{Event, HandlerError, Publish, RecordMeta};
use events::inventory::v2;
use events::inventory::v3 as inventory_v3;
use events::orders::v3;
use events::services::inventory::{OrdersHandler, Producer};
use shop_service_kit::ops::Counters;
use shop_service_kit::outbox::{Classify, OutboxRow, PublishFailure, Sink};
use std::sync::Arc;
use tokio::sync::Notify;

use crate::domain::Reservation;
use crate::store::{Handled, InventoryStore};

/// Reserves stock for each new order.
#[derive(Debug, Clone)]
pub struct Reserver {
    store: InventoryStore,
    counters: Counters,
    relay: Arc<Notify>,
}

impl Reserver {
    /// `relay` is woken after each commit so the answer leaves at once.
    pub fn new(store: InventoryStore, counters: Counters, relay: Arc<Notify>) -> Self {
        Reserver {
            store,
            counters,
            relay,
        }
    }

    pub fn store(&self) -> &InventoryStore {
        &self.store
    }
}

impl OrdersHandler for Reserver {
    async fn order_created(
        &self,
        event: v3::OrderCreated,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        // An order that names no product will not name one on the next try: dead-letter it.
        let request = Reservation::try_from(&event).map_err(HandlerError::permanent)?;
        let handled = self
            .store
            .reserve(&request)
            .await
            .map_err(HandlerError::retriable)?;
        let outcome = match &handled {
            Handled::Reserved => "reserved",
            Handled::Rejected(_) => "rejected",
            Handled::Duplicate => "duplicate",
        };
        tracing::info!(order_id = %request.order_id, outcome, "order handled");
        self.counters.add(
            "shop_inventory_orders_total",
            "OrderCreated events handled, by outcome (duplicate: seen before, nothing changed).",
            &[("outcome", outcome)],
            1,
        );
        if handled != Handled::Duplicate {
            self.relay.notify_one();
        }
        Ok(())
    }
}

/// Publishes the inventory's outbox rows.
#[derive(Debug)]
pub struct InventorySink<P> {
    producer: Producer<P>,
}

impl<P: Publish> InventorySink<P> {
    pub fn new(publisher: P) -> Self {
        InventorySink {
            producer: Producer::new(publisher),
        }
    }

    pub fn producer(&self) -> &Producer<P> {
        &self.producer
    }
}

impl<P: Classify> Sink for InventorySink<P> {
    async fn publish(&self, row: &OutboxRow) -> Result<(), PublishFailure> {
        let undecodable = |e: contracts_core::DecodeError| {
            PublishFailure::permanent(format!(
                "outbox row {} ({}) does not decode: {e}",
                row.id, row.event
            ))
        };
        if let Some(event) = row.decode::<v2::InventoryReserved>() {
            let event = event.map_err(undecodable)?;
            self.producer
                .inventory_reserved(&event)
                .await
                .map_err(PublishFailure::of::<P, _>)?;
        } else if row.is::<inventory_v3::InventoryRejected>() || row.is::<v2::InventoryRejected>() {
            // A v2 row was written before an upgrade: v3 reads v2 (the build checks it), and
            // the topic gets the newest version.
            let event =
                inventory_v3::InventoryRejected::decode(&row.payload).map_err(undecodable)?;
            self.producer
                .inventory_rejected(&event)
                .await
                .map_err(PublishFailure::of::<P, _>)?;
        } else {
            return Err(PublishFailure::permanent(format!(
                "outbox row {} holds {} v{}, which this version of inventory-service does not publish",
                row.id, row.event, row.version
            )));
        }
        Ok(())
    }
}
