//! OrderCreated v2 has customer_id: a v2 event cannot be built without it.

use events::orders;

fn main() {
    let _created = orders::v2::OrderCreated {
        order_id: "o-1".into(),
        product_name: "tea".into(),
        quantity: 1,
    };
}
