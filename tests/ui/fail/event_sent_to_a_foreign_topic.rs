//! An inventory event cannot be produced to `orders`: its contract names its topic.

use contracts_core::Event;
use events::{inventory, orders};

/// A producer bound to `orders`, as a typed runtime producer is: it takes the events whose
/// contract puts them on that topic.
struct OrdersProducer;

impl OrdersProducer {
    fn send<E: Event<Topic = orders::Topic>>(&self, _event: &E) {}
}

fn main() {
    let reserved = inventory::v2::InventoryReserved::default();
    OrdersProducer.send(&reserved);
}
