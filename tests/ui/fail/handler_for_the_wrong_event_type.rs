//! A handler method takes the event the contract says, not another one.

use contracts_core::{HandlerError, RecordMeta};
use events::services::notification::OrdersHandler;
use events::{inventory, orders};

struct Notifier;

impl OrdersHandler for Notifier {
    async fn order_created(
        &self,
        _: orders::v3::OrderCreated,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
    async fn order_paid(
        &self,
        _: inventory::v2::InventoryReserved,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
    async fn order_shipped(
        &self,
        _: orders::v1::OrderShipped,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn main() {}
