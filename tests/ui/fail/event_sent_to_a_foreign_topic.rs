//! An inventory event cannot be produced to `orders`: the runtime's `Producer<E>` sends only
//! `E`, to the topic `E`'s contract names, so a producer of an `orders` event refuses an
//! inventory event at compile time.

use contracts_runtime::Producer;
use events::{inventory, orders};

async fn publish(producer: &Producer<orders::v3::OrderCreated>) {
    let reserved = inventory::v2::InventoryReserved::default();
    let _ = producer.send(&reserved).await;
}

fn main() {
    let _ = publish;
}
