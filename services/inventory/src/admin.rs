//! The inventory's answers to the admin API (`InventoryAdminService`).

use contracts_admin::{BackendError, BackendResult, InventoryBackend, Stock};

use crate::store::{Error, InventoryStore};

/// Stock per product, and setting it.
#[derive(Debug, Clone)]
pub struct InventoryAdmin {
    store: InventoryStore,
}

impl InventoryAdmin {
    pub fn new(store: InventoryStore) -> Self {
        InventoryAdmin { store }
    }
}

fn backend(e: Error) -> BackendError {
    match e {
        e @ Error::NegativeStock { .. } => BackendError::invalid_argument(e.to_string()),
        e => BackendError::internal(e),
    }
}

impl InventoryBackend for InventoryAdmin {
    async fn stock(&self, product_id: &str) -> BackendResult<Option<Stock>> {
        let Some(available) = self.store.stock(product_id).await.map_err(backend)? else {
            return Ok(None);
        };
        let reserved = self
            .store
            .reserved_by_product()
            .await
            .map_err(backend)?
            .into_iter()
            .find(|(p, _)| p == product_id)
            .map_or(0, |(_, n)| n);
        Ok(Some(Stock {
            product_id: product_id.to_owned(),
            available,
            reserved,
        }))
    }

    async fn all_stock(&self) -> BackendResult<Vec<Stock>> {
        let reserved = self.store.reserved_by_product().await.map_err(backend)?;
        Ok(self
            .store
            .all_stock()
            .await
            .map_err(backend)?
            .into_iter()
            .map(|(product_id, available)| {
                let reserved = reserved
                    .iter()
                    .find(|(p, _)| *p == product_id)
                    .map_or(0, |(_, n)| *n);
                Stock {
                    product_id,
                    available,
                    reserved,
                }
            })
            .collect())
    }

    async fn set_stock(&self, product_id: &str, available: i64) -> BackendResult<Stock> {
        self.store
            .set_stock(product_id, available)
            .await
            .map_err(backend)?;
        tracing::info!(product = product_id, available, "stock set by an admin");
        self.stock(product_id)
            .await?
            .ok_or_else(|| BackendError::internal(format!("{product_id} vanished after being set")))
    }
}
