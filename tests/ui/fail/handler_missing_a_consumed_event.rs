//! The manifest says notification consumes OrderShipped: the service does not compile until it
//! handles it.

use contracts_core::{HandlerError, RecordMeta};
use events::orders;
use events::services::notification::OrdersHandler;

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
        _: orders::v1::OrderPaid,
        _: &RecordMeta,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn main() {}
