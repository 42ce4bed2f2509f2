//! The order service's admin answers, from its store.

use contracts_admin::{OrderBackend, OrderStatus};
use order_service::admin::OrderAdmin;
use order_service::domain::{Catalog, LineRequest, OrderRequest, Outcome};
use order_service::store::OrderStore;

#[tokio::test]
async fn orders_are_answered_by_id_and_by_status_with_prices() {
    let store = OrderStore::open_in_memory().await.unwrap();
    for id in ["o-1", "o-2"] {
        let new = OrderRequest {
            customer: "ann@example.com".into(),
            line_items: vec![LineRequest {
                product: "mug".into(),
                quantity: 2,
            }],
        }
        .validate(&Catalog::default())
        .unwrap();
        store.create(id, &new).await.unwrap();
    }
    store
        .apply_outcome(
            "o-2",
            &Outcome::Rejected {
                reason: "out of stock".into(),
            },
        )
        .await
        .unwrap();
    let admin = OrderAdmin::new(store);

    let o1 = admin.order("o-1").await.unwrap().unwrap();
    assert_eq!(
        (o1.status, o1.customer_id.as_str(), o1.currency.as_str()),
        (OrderStatus::Pending, "ann@example.com", "EUR")
    );
    assert_eq!(
        (
            o1.lines[0].product_id.as_str(),
            o1.lines[0].quantity,
            o1.lines[0].unit_price.as_str()
        ),
        ("mug", 2, "12.00")
    );
    assert!(o1.created_at.is_some());
    assert!(admin.order("nope").await.unwrap().is_none());

    let rejected = admin
        .orders_by_status(OrderStatus::Rejected, 10)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (
            rejected[0].order_id.as_str(),
            rejected[0].rejection_reason.as_str()
        ),
        ("o-2", "out of stock")
    );
    assert!(
        admin
            .orders_by_status(OrderStatus::Shipped, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
