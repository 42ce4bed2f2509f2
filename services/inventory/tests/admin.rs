//! The inventory's admin answers: stock per product with what is reserved, and setting it.

use std::sync::Arc;

use contracts_admin::{BackendError, InventoryBackend};
use contracts_core::{Handle, RecordMeta, SchemaId};
use events::orders::v3;
use events::services::inventory::OrdersDispatcher;
use inventory_service::admin::InventoryAdmin;
use inventory_service::messaging::Reserver;
use inventory_service::store::InventoryStore;
use shop_service_kit::ops::Counters;

#[tokio::test]
async fn stock_shows_available_and_reserved_units_and_can_be_set() {
    let store = InventoryStore::open_in_memory("w").await.unwrap();
    store.set_stock("tea", 10).await.unwrap();
    let handler = OrdersDispatcher::new(Reserver::new(
        store.clone(),
        Counters::new(),
        Arc::default(),
    ));
    handler
        .handle(
            v3::OrderCreated::new("o-1".into(), "tea".into(), 3).into(),
            &RecordMeta::new("orders", 0, 0, SchemaId(1)),
        )
        .await
        .unwrap();
    let admin = InventoryAdmin::new(store);

    let tea = admin.stock("tea").await.unwrap().unwrap();
    assert_eq!((tea.available, tea.reserved), (7, 3));
    assert!(admin.stock("kettle").await.unwrap().is_none());

    let kettle = admin.set_stock("kettle", 4).await.unwrap();
    assert_eq!(
        (
            kettle.product_id.as_str(),
            kettle.available,
            kettle.reserved
        ),
        ("kettle", 4, 0)
    );
    let all: Vec<_> = admin
        .all_stock()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.product_id, s.available))
        .collect();
    assert_eq!(all, [("kettle".to_owned(), 4), ("tea".to_owned(), 7)]);

    let err = admin.set_stock("tea", -1).await.unwrap_err();
    assert!(matches!(err, BackendError::InvalidArgument(_)), "{err}");
    assert_eq!(admin.stock("tea").await.unwrap().unwrap().available, 7);
}
