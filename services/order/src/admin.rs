//! The order service's answers to the admin API (`OrderAdminService`).

use contracts_admin::{BackendError, BackendResult, OrderBackend, OrderLine, OrderStatus};
use contracts_core::types::DateTime;

use crate::domain::{Order, Status};
use crate::store::OrderStore;

/// Orders by id and by status, from the store.
#[derive(Debug, Clone)]
pub struct OrderAdmin {
    store: OrderStore,
}

impl OrderAdmin {
    pub fn new(store: OrderStore) -> Self {
        OrderAdmin { store }
    }
}

impl From<Status> for OrderStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => OrderStatus::Pending,
            Status::Confirmed => OrderStatus::Confirmed,
            Status::Rejected => OrderStatus::Rejected,
            Status::Paid => OrderStatus::Paid,
            Status::Shipped => OrderStatus::Shipped,
        }
    }
}

impl From<OrderStatus> for Status {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::Pending => Status::Pending,
            OrderStatus::Confirmed => Status::Confirmed,
            OrderStatus::Rejected => Status::Rejected,
            OrderStatus::Paid => Status::Paid,
            OrderStatus::Shipped => Status::Shipped,
        }
    }
}

impl From<&Order> for contracts_admin::Order {
    fn from(o: &Order) -> Self {
        contracts_admin::Order {
            order_id: o.id.clone(),
            customer_id: o.customer.clone(),
            status: o.status.into(),
            lines: o
                .lines
                .iter()
                .map(|l| OrderLine {
                    product_id: l.product.clone(),
                    quantity: l.quantity,
                    unit_price: format!("{:.2}", l.unit_price),
                })
                .collect(),
            created_at: DateTime::from_timestamp_millis(o.created_at_ms),
            updated_at: DateTime::from_timestamp_millis(o.updated_at_ms),
            rejection_reason: o.rejection_reason.clone().unwrap_or_default(),
            currency: o.currency.clone(),
        }
    }
}

fn internal(e: crate::store::Error) -> BackendError {
    BackendError::internal(e)
}

impl OrderBackend for OrderAdmin {
    async fn order(&self, order_id: &str) -> BackendResult<Option<contracts_admin::Order>> {
        Ok(self
            .store
            .get(order_id)
            .await
            .map_err(internal)?
            .as_ref()
            .map(Into::into))
    }

    async fn orders_by_status(
        &self,
        status: OrderStatus,
        limit: usize,
    ) -> BackendResult<Vec<contracts_admin::Order>> {
        let orders = self
            .store
            .list(Some(status.into()), limit)
            .await
            .map_err(internal)?;
        Ok(orders.iter().map(Into::into).collect())
    }
}
